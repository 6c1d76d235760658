//! Route handlers: each parses, calls one service, answers.

pub mod access;
pub mod cargo;
pub mod client_pages;
pub mod health;
pub mod npm;
pub mod packages;
pub mod problems;
pub mod pypi;
pub mod reports;
pub mod repositories;
pub mod search;
pub mod uploads;
pub mod webhooks;
