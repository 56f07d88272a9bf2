//! async-io's timer (feature `async-io`), shared by the `async-std` and `smol` runtimes
//! and usable under any executor.

use crate::driver;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// [`driver::Heartbeat`] on async-io's timer.
pub type Heartbeat<S, C> = driver::Heartbeat<S, C, AsyncIoTimer>;

/// One `async_io::Timer`, reset in place.
#[derive(Debug)]
pub struct AsyncIoTimer(::async_io::Timer);

impl Default for AsyncIoTimer {
    fn default() -> Self {
        AsyncIoTimer(::async_io::Timer::never())
    }
}

impl driver::Timer for AsyncIoTimer {
    fn reset(&mut self, deadline: std::time::Instant) {
        self.0.set_at(deadline);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}
