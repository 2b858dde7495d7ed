//! Integration tests: one binary, running the real `budget` executable.

mod support;

mod finance;
mod live;
mod plan;
