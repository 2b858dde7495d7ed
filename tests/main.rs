//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod architecture;
mod baseline;
mod ci;
mod finance;
mod gate;
mod guard;
mod live;
mod plan;
mod schema;
mod secrets;
