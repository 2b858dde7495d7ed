//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod live;
mod plan;
