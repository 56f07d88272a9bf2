//! The async driver (feature `driver`): one [`Heartbeat`] for every runtime and codec,
//! and the reconnecting [`Client`] built on it.
//!
//! The machine decides; the driver only carries out what it says. A runtime contributes
//! a [`Timer`] (features `tokio`, `async-std`, `smol`) and, for the client, a way to spawn.

mod client;
mod error;
mod heartbeat;

pub use client::{
    Client, ClientTask, ConnectError, SendError, SendFuture, SessionEvent, DEFAULT_CAPACITY,
};
pub use error::{Cause, Error};
pub use heartbeat::{Heartbeat, Update};

use core::task::{Context, Poll};

/// One resettable timer, from the runtime.
///
/// The driver arms it at the machine's deadline only when that changes, and compares the
/// clock with the deadline itself before trusting it (a timer may report late under
/// cooperative scheduling, or fire early by a rounding), so an implementation only has
/// to wake the task at or after `deadline`.
pub trait Timer: Default + Unpin {
    /// Fire at `deadline`, replacing any earlier setting.
    fn reset(&mut self, deadline: std::time::Instant);
    /// `Ready` once the deadline set by the last `reset` has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// A runtime: its timer, and how to spawn a [`ClientTask`].
pub trait Runtime {
    /// The runtime's timer.
    type Timer: Timer + Send + 'static;
    /// Runs `task` in the background until it finishes.
    fn spawn<F: core::future::Future<Output = ()> + Send + 'static>(&self, task: F);
}
