//! Replay timing scenarios and simulate links on a virtual clock (feature `sim`).
//!
//! The tools this crate's own tests use, public so that you can check your settings the
//! same way:
//!
//! - [`Scenario`] / [`replay`]: plain-text scenarios, one `(time, event) -> actions` step
//!   per line ([the format](Scenario));
//! - [`Recorder`]: turns a run into scenario text, so a failing trace becomes a file;
//! - [`Oracle`]: the contract's invariants, checked call by call;
//! - [`Pair`]: a client and a server joined by a link with latency, loss, a cut switch,
//!   a server that goes down and a peer that freezes, stepped from deadline to deadline;
//! - [`SetCheck`]: a [`HeartbeatSet`](crate::HeartbeatSet) run beside one machine per
//!   key, which must agree call by call.
//!
//! Nothing here sleeps: a simulated day takes milliseconds.

mod oracle;
mod pair;
mod scenario;
mod setcheck;
mod text;

pub use oracle::{Oracle, Violation};
pub use pair::{Pair, Record, Side};
pub use scenario::{replay, ErrorKind, Recorder, Scenario, ScenarioError};
pub use setcheck::{SetCheck, SetOp};
