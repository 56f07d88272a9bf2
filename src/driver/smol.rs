//! The smol runtime (feature `smol`): async-io's timer and smol's spawning, for the
//! [`driver`](crate::driver). async-io's timers work under any executor.

super::async_io::async_io_runtime!(
    /// The smol runtime: `Heartbeat::new(Smol, ..)`, `Client::builder(..).spawn(Smol)`.
    Smol,
    |task| ::smol::spawn(task).detach()
);
