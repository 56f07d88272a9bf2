//! The on-connect step: what runs on each new connection before the application's sends
//! are accepted (authenticate, subscribe again).

use crate::driver::error::Failure;
use core::future::{ready, Future, Ready};
use core::pin::Pin;
use core::task::{Context, Poll};

/// What runs on each new connection before it is handed to the heartbeat and the
/// application ([`ClientBuilder::on_connect`](super::ClientBuilder::on_connect)): it
/// gets the transport, may send and read on it, and gives it back, or fails the attempt.
pub trait Setup<S> {
    /// The step's future.
    type Future: Future<Output = Result<S, Failure>>;
    /// Starts the step on a fresh transport.
    fn run(&mut self, transport: S) -> Self::Future;
}

/// No on-connect step: the connection is handed over as it opens.
#[derive(Copy, Clone, Debug, Default)]
pub struct NoSetup;

impl<S> Setup<S> for NoSetup {
    type Future = Ready<Result<S, Failure>>;
    fn run(&mut self, transport: S) -> Self::Future {
        ready(Ok(transport))
    }
}

/// An on-connect step from an async function of the transport.
#[derive(Copy, Clone, Debug)]
pub struct Step<G>(pub(super) G);

impl<S, G, Fut, E> Setup<S> for Step<G>
where
    G: FnMut(S) -> Fut,
    Fut: Future<Output = Result<S, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Future = StepFuture<Fut>;
    fn run(&mut self, transport: S) -> Self::Future {
        StepFuture(Box::pin((self.0)(transport)))
    }
}

/// The future of a [`Step`]: its error becomes a [`Failure`]. (Boxed: one allocation
/// per connection, so that no pinning needs unsafe code.)
pub struct StepFuture<Fut>(Pin<Box<Fut>>);

impl<Fut> core::fmt::Debug for StepFuture<Fut> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StepFuture")
    }
}

impl<S, E, Fut> Future for StepFuture<Fut>
where
    Fut: Future<Output = Result<S, E>>,
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    type Output = Result<S, Failure>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .0
            .as_mut()
            .poll(cx)
            .map(|r| r.map_err(Failure::new))
    }
}
