//! Integration tests: one binary, running the real `budget` executable.
// Test and benchmark code may panic on a broken fixture and print what it measured; the
// library's lints (Cargo.toml) are for code that runs in users' hands.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod support;

mod action;
mod architecture;
mod baseline;
mod bounds;
mod browser;
mod calibrate;
mod ci;
mod conformance;
mod contract;
mod docs;
mod finance;
mod gate;
mod golden;
mod guard;
mod guard_admin;
mod guard_faults;
mod guard_ops;
mod guard_router;
mod help;
mod hostile;
mod live;
mod mcp;
mod packaging;
mod plan;
mod reconcile;
mod report;
mod schema;
mod secrets;
