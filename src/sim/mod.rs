//! Replay timing scenarios and simulate links on a virtual clock (feature `sim`).
//!
//! The tools this crate's own tests use, public so that your property tests can check
//! your settings the same way:
//!
//! - [`Scenario`]: plain-text scenarios, one `(time, event) -> actions` step per line
//!   ([the format](Scenario)), every call checked against the
//!   [rules](crate::rules#invariants-checked-on-every-call);
//! - [`Recorder`]: drives a machine and writes what happens as scenario text, so that a
//!   failing trace of your property test becomes a scenario file;
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
pub(crate) mod text;

pub use oracle::Violation;
pub use pair::{Pair, Side};
pub use scenario::{Recorder, Scenario, ScenarioError};

// The crate's self-checks, for its own property tests and fuzz targets: not part of the
// API (feature `__internal`).
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub use oracle::Oracle;
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub use setcheck::{SetCheck, SetOp};
