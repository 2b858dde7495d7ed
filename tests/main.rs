//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod baseline;
mod ci;
mod finance;
mod gate;
mod golden;
mod guard;
mod help;
mod hostile;
mod live;
mod plan;
mod schema;
