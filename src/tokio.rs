//! The tokio runtime (feature `tokio`): a timer and spawning for the [`driver`].
//!
//! Everything here must run inside a tokio runtime (with its time driver enabled), as
//! every tokio timer must. The driver reads tokio's clock, so on tokio's paused test clock
//! (`#[tokio::test(start_paused = true)]`) every deadline follows virtual time.

use crate::driver::{self, Runtime};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// [`driver::Heartbeat`] on tokio's timer.
pub type Heartbeat<S, C> = driver::Heartbeat<S, C, TokioTimer>;

/// The tokio runtime, for [`Client::spawn`](driver::Client::spawn).
#[derive(Copy, Clone, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Timer = TokioTimer;
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        drop(::tokio::spawn(task));
    }
}

/// One `tokio::time::Sleep`, allocated at its first use and reset after.
#[derive(Debug, Default)]
pub struct TokioTimer {
    sleep: Option<Pin<Box<::tokio::time::Sleep>>>,
}

impl driver::Timer for TokioTimer {
    fn reset(&mut self, deadline: std::time::Instant) {
        let at = ::tokio::time::Instant::from_std(deadline);
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(::tokio::time::sleep_until(at))),
        }
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.sleep.as_mut() {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    /// tokio's clock: paused and advanced by tokio's test clock when that is on.
    fn now() -> std::time::Instant {
        ::tokio::time::Instant::now().into_std()
    }
}
