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

use crate::{Clock, Instant};
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

/// A [`Timer`] with the one rule both drivers follow: re-arm only when the wake-up time
/// changes, and forget it once fired (the clock, not the timer, decides what is due).
#[derive(Debug, Default)]
pub(crate) struct Alarm<T> {
    timer: T,
    at: Option<Instant>,
}

impl<T> Alarm<T> {
    /// Forget the wake-up (nothing to wait for).
    pub(crate) fn clear(&mut self) {
        self.at = None;
    }

    /// The wake-up time set, if any.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }
}

impl<T: Timer> Alarm<T> {
    /// Wake at `at` (a no-op when already set there).
    pub(crate) fn set(&mut self, clock: &Clock, at: Instant) {
        if self.at != Some(at) {
            self.timer.reset(clock.to_std(at));
            self.at = Some(at);
        }
    }

    /// `Ready` once the time set has passed (then it is forgotten); `Pending` when unset.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.at.is_none() {
            return Poll::Pending;
        }
        let fired = self.timer.poll_expired(cx);
        if fired.is_ready() {
            self.at = None;
        }
        fired
    }
}
