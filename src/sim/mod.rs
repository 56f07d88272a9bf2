//! Replay timing scenarios and simulate links on a virtual clock (feature `sim`).
//!
//! The tools this crate's own tests use, public so that your property tests can check
//! your settings the same way:
//!
//! - [`Scenario`]: plain-text scenarios, one `(time, event) -> actions` step per line
//!   ([the format](Scenario)), with expectations of the machine along the way;
//! - [`Recorder`]: drives a machine and writes what happens as scenario text, so that a
//!   failing trace of your property test becomes a scenario file;
//! - [`Pair`]: a client and a server joined by a link with latency, bandwidth, message
//!   sizes, loss, a cut switch, a server that goes down and a peer that freezes, stepped
//!   from deadline to deadline; [`Pair::watched`] runs a check of yours on every call,
//!   and a broken rule stops it with a [`Violation`];
//! - [`Tcp`]: one connection of the async driver's logic (the machine and what the
//!   driver decides beside it) over a model of kernel TCP: buffers, acknowledgements, a
//!   zero window, a peer process that stops while its kernel runs, and our own process
//!   stalling.
//!
//! Nothing here sleeps: a simulated day takes milliseconds.

mod pair;
mod scenario;
mod tcp;
pub(crate) mod text;

pub use pair::{Pair, Side, Violation};
pub use scenario::{Recorder, Scenario, ScenarioError};
pub use tcp::Tcp;
