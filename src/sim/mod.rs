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

/// A reconnect policy that says anything, extremes included (`GiveUp`,
/// `NotBefore(Duration::MAX)`, `NotBefore(0)`, ...), from a hash of the loss and the
/// attempt: for the crate's own property tests and fuzz targets, which check that no
/// decision makes the machine panic, burst, or reconnect after a shutdown.
#[cfg(feature = "__internal")]
#[doc(hidden)]
pub fn any_decision(loss: crate::policy::Loss, attempt: u32) -> crate::policy::Decision {
    use crate::policy::{Decision, Loss};
    use core::time::Duration;
    let kind = match loss {
        Loss::Transport => 1,
        Loss::Timeout => 2,
        Loss::ConnectTimeout => 3,
        Loss::PeerClose(code) => u32::from(code),
        Loss::Refused { status, .. } => u32::from(status) << 16,
    };
    let h = (attempt ^ kind).wrapping_mul(2_654_435_761);
    match h >> 29 {
        0 => Decision::Default,
        1 => Decision::Backoff,
        2 => Decision::Soon,
        3 => Decision::Later,
        4 => Decision::NotBefore(Duration::MAX),
        5 => Decision::NotBefore(Duration::ZERO),
        6 => Decision::NotBefore(Duration::from_millis(u64::from(h % 100_000))),
        _ => Decision::GiveUp,
    }
}
