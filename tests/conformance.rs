//! One suite per trait, run against each backend: the same test, instantiated per backend, so a
//! behaviour one backend has and the other lacks fails by name (`conformance::ledger::redis::…`).
//! The backends' own matters (Redis leases and connections, file permissions) are tested beside
//! the suites (Redis, here: it needs a private `redis-server`) or in `src/` (files).

mod ledger;
mod state;
