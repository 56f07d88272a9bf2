//! The smol runtime (feature `smol`): async-io's timer and smol's spawning.

use crate::driver::Runtime;
use core::future::Future;

pub use crate::async_io::{AsyncIoTimer, Heartbeat};

/// The smol runtime, for [`Client::spawn`](crate::driver::Client::spawn).
#[derive(Copy, Clone, Debug, Default)]
pub struct Smol;

impl Runtime for Smol {
    type Timer = AsyncIoTimer;
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, task: F) {
        ::smol::spawn(task).detach();
    }
}
