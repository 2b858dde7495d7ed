//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod guard;
mod live;
mod plan;
