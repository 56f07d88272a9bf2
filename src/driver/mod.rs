//! The async driver (feature `driver`): one [`Heartbeat`] for every runtime and codec,
//! and the reconnecting [`Client`] built on it.
//!
//! The machine decides; the driver only carries out what it says, with one timer at the
//! machine's deadline. A runtime contributes a [`Timer`] (features `tokio`, `async-std`,
//! `smol`) and, for the client, a way to spawn. Wrap the byte stream under the WebSocket
//! in a [`Meter`](crate::meter::Meter) and bytes count as life, not only messages.

mod alarm;
mod client;
mod error;
mod heartbeat;
mod outbox;
mod trace;
mod unheard;

pub use client::{
    Attempt, Built, Client, ClientBuilder, ClientTask, ConnectError, NoSetup, SendError,
    SendFuture, SessionEvent, Setup, Step, StepFuture, DEFAULT_CAPACITY,
};
pub use error::{Cause, Error, Failure, Refused};
pub use heartbeat::{Heartbeat, Update};

use core::task::{Context, Poll};
use futures_core::Stream;
use futures_sink::Sink;

/// A transport of messages `M`: a `Stream` of `Result<M, E>` and a `Sink<M, Error = E>`,
/// as tokio-tungstenite's and async-tungstenite's `WebSocketStream` are. Every such type
/// is one; write your own for other transports (see [`crate::codec`]).
pub trait Transport<M>:
    Stream<Item = Result<M, <Self as Sink<M>>::Error>> + Sink<M> + Unpin
{
}

impl<M, S> Transport<M> for S where
    S: Stream<Item = Result<M, <S as Sink<M>>::Error>> + Sink<M> + Unpin
{
}

/// One resettable timer, and the clock it runs on, from the runtime.
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
    /// The current time on the runtime's clock (default: the operating system's). A
    /// runtime whose clock can be paused or mocked in tests returns its own, so that the
    /// driver's deadlines follow it.
    fn now() -> std::time::Instant {
        std::time::Instant::now()
    }
}

/// A runtime: its timer, and how to spawn a [`ClientTask`].
pub trait Runtime {
    /// The runtime's timer.
    type Timer: Timer + Send + 'static;
    /// Runs `task` in the background until it finishes.
    fn spawn<F: core::future::Future<Output = ()> + Send + 'static>(&self, task: F);
}
