//! The tokio runtime (feature `tokio`): its timer and spawning, for the
//! [`driver`](crate::driver).
//!
//! Everything here must run inside a tokio runtime (with its time driver enabled), as
//! every tokio timer must. The driver reads tokio's clock, so on tokio's paused test clock
//! (`#[tokio::test(start_paused = true)]`) every deadline follows virtual time.

use super::Runtime;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// The tokio runtime: `Heartbeat::new(Tokio, ..)`, `Client::builder(..).spawn(Tokio)`.
#[derive(Copy, Clone, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    /// One `tokio::time::Sleep`, boxed once and reset after.
    type Timer = Pin<Box<::tokio::time::Sleep>>;

    fn timer(&self, deadline: std::time::Instant) -> Self::Timer {
        Box::pin(::tokio::time::sleep_until(deadline.into()))
    }

    fn reset(&self, timer: &mut Self::Timer, deadline: std::time::Instant) {
        timer.as_mut().reset(deadline.into());
    }

    fn poll_timer(&self, timer: &mut Self::Timer, cx: &mut Context<'_>) -> Poll<()> {
        timer.as_mut().poll(cx)
    }

    /// tokio's clock: paused and advanced by tokio's test clock when that is on.
    fn now(&self) -> std::time::Instant {
        ::tokio::time::Instant::now().into_std()
    }

    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        drop(::tokio::spawn(task));
    }

    /// [`tokio::task::coop::poll_proceed`], the unit spent.
    fn poll_budget(cx: &mut Context<'_>) -> Poll<()> {
        ::tokio::task::coop::poll_proceed(cx).map(|unit| unit.made_progress())
    }

    /// `step` inside [`tokio::task::coop::unconstrained`], polled once (it is ready at
    /// once).
    fn unbudgeted(&self, step: &mut dyn FnMut()) {
        let unconstrained = ::tokio::task::coop::unconstrained(core::future::poll_fn(|_| {
            step();
            Poll::Ready(())
        }));
        let mut cx = Context::from_waker(super::nobody());
        let _ready = core::pin::pin!(unconstrained).poll(&mut cx);
    }
}
