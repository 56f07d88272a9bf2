//! The async-std runtime (feature `async-std`): async-io's timer and async-std's
//! spawning. async-std is deprecated upstream in favour of smol; both share this code.

use crate::driver::Runtime;
use core::future::Future;

pub use crate::async_io::{AsyncIoTimer, Heartbeat};

/// The async-std runtime, for [`Client::spawn`](crate::driver::Client::spawn).
#[derive(Copy, Clone, Debug, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
    type Timer = AsyncIoTimer;
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        drop(::async_std::task::spawn(task));
    }
}
