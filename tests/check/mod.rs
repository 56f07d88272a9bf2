//! The crate's self-checks, for its property tests, scenario tests and fuzz targets: the
//! rules as an oracle that watches a machine call by call, and the set checked against
//! one machine per key. They state the contract independently of the code under test,
//! and stay out of the library.
#![allow(dead_code)] // each suite uses what it needs

mod learning;
pub mod oracle;
pub mod setcheck;
pub mod settings;

use keepalive::sim::{Pair, Violation};
use keepalive::{Action, Config, Event, HeartbeatMachine, Instant};
use oracle::Oracle;

/// A machine whose every call the oracle checks; a broken rule panics, naming it.
pub struct Checked {
    pub machine: HeartbeatMachine,
    oracle: Oracle,
}

impl Checked {
    pub fn new(config: Config, now: Instant) -> Checked {
        let machine = HeartbeatMachine::new(config, now);
        let oracle = Oracle::new(&machine);
        Checked { machine, oracle }
    }

    /// `handle(now, event)`, checked; its actions.
    pub fn feed(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let actions: Vec<Action> = self.machine.handle(now, event).collect();
        if let Err(v) = self.oracle.check(now, event, &actions, &self.machine) {
            panic!("{v}");
        }
        actions
    }
}

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
