//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod baseline;
mod ci;
mod gate;
mod plan;
mod schema;
