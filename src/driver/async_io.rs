//! async-io's timer, shared by the `smol` and `async-std` runtimes.

/// A [`Runtime`](crate::driver::Runtime) on async-io's timer, spawning with `$spawn`.
macro_rules! async_io_runtime {
    ($(#[$doc:meta])* $name:ident, $spawn:expr) => {
        $(#[$doc])*
        #[derive(Copy, Clone, Debug, Default)]
        pub struct $name;

        impl $crate::driver::Runtime for $name {
            /// One `async_io::Timer`, reset in place.
            type Timer = ::async_io::Timer;

            fn timer(&self, deadline: std::time::Instant) -> Self::Timer {
                ::async_io::Timer::at(deadline)
            }

            fn reset(&self, timer: &mut Self::Timer, deadline: std::time::Instant) {
                timer.set_at(deadline);
            }

            fn poll_timer(
                &self,
                timer: &mut Self::Timer,
                cx: &mut core::task::Context<'_>,
            ) -> core::task::Poll<()> {
                core::future::Future::poll(core::pin::Pin::new(timer), cx).map(drop)
            }

            fn spawn<F: core::future::Future<Output = ()> + Send + 'static>(&self, task: F) {
                let spawn: fn(core::pin::Pin<Box<dyn core::future::Future<Output = ()> + Send>>) =
                    $spawn;
                spawn(Box::pin(task));
            }
        }
    };
}
pub(crate) use async_io_runtime;
