//! Route handlers: each parses, calls one service, answers.

pub mod health;
pub mod packages;
pub mod repositories;
pub mod uploads;
