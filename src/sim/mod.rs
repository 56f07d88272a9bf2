//! Replay timing scenarios and simulate links on a virtual clock (feature `sim`).
//!
//! The tools this crate's own tests use, public so that you can check your settings the
//! same way:
//!
//! - [`Scenario`] / [`replay`]: plain-text scenarios, one `(time, event) -> actions` step
//!   per line ([the format](Scenario)), every call checked against the
//!   [rules](crate::rules#invariants-checked-on-every-call);
//! - [`Recorder`]: turns a run into scenario text, so a failing trace becomes a file;
//! - [`Pair`]: a client and a server joined by a link with latency, bandwidth, message
//!   sizes, loss, a cut switch, a server that goes down and a peer that freezes, stepped
//!   from deadline to deadline; a broken rule stops it with a [`Violation`].
//!
//! Nothing here sleeps: a simulated day takes milliseconds.

// `Oracle` is public only with `__internal`.
#[cfg_attr(not(feature = "__internal"), allow(unreachable_pub))]
mod oracle;
mod pair;
mod scenario;
#[cfg(feature = "__internal")]
mod setcheck;
mod text;

pub use oracle::Violation;
pub use pair::{Pair, Record, Side};
pub use scenario::{replay, ErrorKind, Recorder, Scenario, ScenarioError};

// The crate's self-checks, for its own property tests and fuzz targets: not part of the
// API (feature `__internal`).
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub use oracle::Oracle;
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub use setcheck::{SetCheck, SetOp};
