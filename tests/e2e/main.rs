//! End-to-end tests of `trove serve` over HTTP: every test starts the real binary on a free
//! loopback port with a fresh data dir (see `harness`), and talks to it like a client would.

mod access;
mod auth;
mod big_archives;
mod cargo;
mod cli;
mod console;
mod contract;
mod crash;
mod delete;
mod events;
mod fuzz;
mod happy;
mod harness;
mod inputs;
mod metrics;
mod npm;
mod openapi;
mod pipeline;
mod pypi;
mod race;
mod slow_clients;
mod webhook_crash;
