//! The async-std runtime (feature `async-std`): async-io's timer and async-std's
//! spawning, for the [`driver`](crate::driver). async-std is deprecated upstream in
//! favour of smol; both share this code.

super::async_io::async_io_runtime!(
    /// The async-std runtime: `Heartbeat::new(AsyncStd, ..)`,
    /// `Client::builder(..).spawn(AsyncStd)`.
    AsyncStd,
    |task| drop(::async_std::task::spawn(task))
);
