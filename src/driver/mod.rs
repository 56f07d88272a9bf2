//! The async driver (feature `driver`): one [`Heartbeat`] for every runtime and codec,
//! and the reconnecting [`Client`] built on it.
//!
//! The machine decides; the driver only carries out what it says, with one timer at the
//! machine's deadline. A [`Runtime`] contributes that timer and, for the client, a way to
//! spawn (features `tokio`, `smol`, `async-std`; or implement it for your own). Wrap the
//! byte stream under the WebSocket in a [`Meter`](meter::Meter) and bytes count as
//! life, not only messages.
//!
//! # Hostile peers
//!
//! Nothing a peer sends grows our memory through the heartbeat. While a pong we owe
//! cannot be flushed (the peer does not read), nothing more is read: the transport holds
//! one pending pong, the latest ping's (RFC 6455, 5.5.3), and TCP holds the peer back.
//! That covers our own pongs and those the transport queues itself (tungstenite, axum,
//! tokio-websockets), with every codec. A server polices pings besides: see
//! [`ConfigBuilder::min_ping_interval`](crate::ConfigBuilder::min_ping_interval).

mod alarm;
mod client;
mod error;
mod heartbeat;
pub mod meter;
mod metrics;
mod outbox;
mod set_loop;
mod trace;

// The runtimes: a timer and spawning each (also at the crate's root).
#[cfg(any(feature = "smol", feature = "async-std"))]
mod async_io;
#[cfg(feature = "async-std")]
pub mod async_std;
#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use client::{Attempt, Client, ClientBuilder, Events, SessionEvent};
pub use error::{Error, SendError};
pub use heartbeat::Heartbeat;
pub use set_loop::{Beat, LoopStats, Member, SetLoop};

use core::future::Future;
use core::task::{Context, Poll};
use futures_core::Stream;
use futures_sink::Sink;

/// A transport of messages: a `Stream` of `Result<Message, E>` and a `Sink<Message,
/// Error = E>`, as tokio-tungstenite's and async-tungstenite's `WebSocketStream`, axum's
/// and tokio-websockets' `WebSocket` are. Every such type is one; write your own for other
/// transports (see [`crate::codec`]).
pub trait Transport:
    Stream<Item = Result<Self::Message, <Self as Sink<Self::Message>>::Error>>
    + Sink<Self::Message>
    + Unpin
{
    /// The message type.
    type Message;
}

impl<S, M, E> Transport for S
where
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
{
    type Message = M;
}

/// A runtime: its clock, one resettable timer, spawning, and (where it has one) its
/// cooperative budget.
///
/// The driver arms the timer at the machine's deadline only when that changes, and
/// compares the clock with the deadline itself before trusting it (a timer may report
/// late under cooperative scheduling, or fire early by a rounding), so an implementation
/// only has to wake the task at or after the deadline. Features `tokio`, `smol` and
/// `async-std` provide one each.
pub trait Runtime: Clone + Send + Sync + Unpin + 'static {
    /// The runtime's timer.
    type Timer: Send + Unpin;
    /// A timer that fires at `deadline`.
    fn timer(&self, deadline: std::time::Instant) -> Self::Timer;
    /// Re-arms `timer` to fire at `deadline` instead.
    fn reset(&self, timer: &mut Self::Timer, deadline: std::time::Instant);
    /// `Ready` once `timer`'s deadline has passed.
    fn poll_timer(&self, timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()>;
    /// The current time on the runtime's clock (default: the operating system's). A
    /// runtime whose clock can be paused in tests returns its own, so that the driver's
    /// deadlines follow it.
    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }
    /// Runs `task` in the background until it finishes (a [`Client`]'s connections).
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F);
    /// Runs `step` without charging the calling task's cooperative budget (default: it
    /// just runs it). A [`Client`]'s send that the connection's wake-up finds under way,
    /// and its [`Events`] catching up, take the connection's next step themselves (a
    /// bounded batch of reads) instead of waking the client's task: work the task would
    /// have done on its own budget. Were it charged to the caller's, a budget spent on
    /// the caller's own writes or events would turn that step into a wake-up of another
    /// thread after all. A runtime with a budget (tokio's cooperative scheduling) lifts
    /// it here.
    fn unbudgeted(&self, step: &mut dyn FnMut()) {
        step();
    }
    /// Spends a unit of the calling task's cooperative budget, or, with none left,
    /// `Pending` (the task is woken to go on after a turn of the runtime). Default:
    /// always `Ready`. A [`Client`]'s [`Events`] spend one per event, as a runtime's own
    /// channels do, so that an application finding event after event ready still lets
    /// the runtime's other tasks run.
    fn poll_budget(cx: &mut Context<'_>) -> Poll<()>
    where
        Self: Sized,
    {
        let _ = cx;
        Poll::Ready(())
    }
}

/// The error a connect function or an on-connect step may return.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A waker that wakes nobody: for polls whose `Pending` is someone else's to follow up.
pub(crate) fn nobody() -> &'static std::task::Waker {
    struct Nobody;
    impl std::task::Wake for Nobody {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    static NOBODY: std::sync::OnceLock<std::task::Waker> = std::sync::OnceLock::new();
    NOBODY.get_or_init(|| std::task::Waker::from(std::sync::Arc::new(Nobody)))
}

/// Locks `m`. A panic elsewhere while holding the lock leaves plain data: keep going.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime that keeps no cooperative budget (the trait's defaults).
    #[derive(Clone)]
    struct Unbudgeted;

    impl Runtime for Unbudgeted {
        type Timer = ();
        fn timer(&self, _: std::time::Instant) {}
        fn reset(&self, _: &mut (), _: std::time::Instant) {}
        fn poll_timer(&self, _: &mut (), _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
        fn spawn<F: Future<Output = ()> + Send + 'static>(&self, _: F) {}
    }

    /// Without a budget, a step in the task's stead runs as it is (once), and an event
    /// never waits for a turn.
    #[test]
    fn a_runtime_without_a_budget_runs_steps_and_never_waits() {
        let mut ran = 0;
        Unbudgeted.unbudgeted(&mut || ran += 1);
        assert_eq!(ran, 1);
        let mut cx = Context::from_waker(nobody());
        assert!(Unbudgeted::poll_budget(&mut cx).is_ready());
    }
}
