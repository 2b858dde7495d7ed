//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod baseline;
mod ci;
mod finance;
mod gate;
mod guard;
mod hostile;
mod live;
mod plan;
mod schema;
