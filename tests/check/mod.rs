//! The crate's self-checks, for its property tests, scenario tests and fuzz targets: the
//! rules as an oracle that watches a machine call by call, and the set checked against
//! one machine per key. They state the contract independently of the code under test,
//! and stay out of the library.
#![allow(dead_code)] // each suite uses what it needs

pub mod oracle;
pub mod setcheck;

use keepalive::sim::{Pair, Violation};
use keepalive::{Config, HeartbeatMachine};
use oracle::Oracle;

/// A [`Pair`] with every call of either machine checked by the oracle.
pub fn watched_pair(client: Config, server: Config) -> Pair {
    Pair::watched(client, server, |m: &HeartbeatMachine| {
        let mut oracle = Oracle::new(m);
        move |now,
              event,
              actions: &[keepalive::Action],
              m: &HeartbeatMachine|
              -> Result<(), Violation> { oracle.check(now, event, actions, m) }
    })
}
