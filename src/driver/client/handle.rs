//! [`Client`]: the application's handle on a reconnecting connection.

use super::task::ClientTask;
use super::{lock, Attempt, SendError, SessionEvent, Shared, DEFAULT_CAPACITY};
use crate::codec::HeartbeatCodec;
use crate::driver::alarm::Alarm;
use crate::driver::error::Cause;
use crate::driver::{Runtime, Timer, Transport};
use crate::{Clock, Config, Event, HeartbeatMachine};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::Stream;
use std::sync::{Arc, Mutex};

/// The application's handle on a reconnecting connection: a `Stream` of
/// [`SessionEvent`]s, and [`send`](Client::send).
///
/// Its [`ClientTask`] runs the connection in its own task ([`Client::spawn`] spawns it),
/// so pings are answered and silence is measured while the application is busy. Events
/// wait in a buffer of `capacity`; when it is full the task stops reading the connection
/// until the application catches up (the peer is held back by TCP, and this side's
/// silence checks wait too, so a slow application never makes the client call a live
/// server dead).
///
/// The connect function is called for each attempt with an [`Attempt`]: wrap the TCP
/// stream in `attempt.meter().tcp(..)` and bytes count as life on that connection.
///
/// The stream ends after [`SessionEvent::GaveUp`], or after a [`shutdown`](Client::shutdown)
/// has closed the connection (code 1000). Dropping the handle shuts down too.
pub struct Client<M> {
    shared: Arc<Mutex<Shared<M>>>,
}

impl<M> fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("Client")
            .field("buffered", &s.events.len())
            .field("shutdown", &s.shutdown)
            .field("finished", &s.finished)
            .finish()
    }
}

impl<M> Client<M> {
    /// A client for `config` (use `Config::client()`), connecting with `connect`, and the
    /// task that runs it, to be spawned on your runtime. `capacity` events are buffered
    /// (at least 1; see [`DEFAULT_CAPACITY`]).
    pub fn new<S, C, T, F, Fut, CE>(
        config: Config,
        codec: C,
        connect: F,
        capacity: usize,
    ) -> (Client<M>, ClientTask<S, C, T, F, Fut>)
    where
        C: HeartbeatCodec<Message = M> + Clone,
        S: Transport<M>,
        T: Timer,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S, CE>>,
        CE: fmt::Display,
    {
        let shared = Arc::new(Mutex::new(Shared::new(capacity)));
        let clock = Clock::with_epoch(T::now());
        let machine = HeartbeatMachine::new(config, Alarm::<T>::now(&clock));
        let task = ClientTask::new(Arc::clone(&shared), machine, clock, codec, connect);
        (Client { shared }, task)
    }

    /// Creates the client and spawns its task on `runtime` (for example
    /// `keepalive::tokio::Tokio`), buffering [`DEFAULT_CAPACITY`] events. The first
    /// attempt starts at once.
    pub fn spawn<R, S, C, F, Fut, CE>(runtime: R, config: Config, codec: C, connect: F) -> Client<M>
    where
        R: Runtime,
        M: Send + 'static,
        C: HeartbeatCodec<Message = M> + Clone + Send + 'static,
        S: Transport<M> + Send + 'static,
        S::Error: fmt::Display + Send,
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S, CE>> + Send + 'static,
        CE: fmt::Display,
    {
        let (client, task) =
            Client::new::<S, C, R::Timer, F, Fut, CE>(config, codec, connect, DEFAULT_CAPACITY);
        runtime.spawn(task);
        client
    }

    /// Sends `message` on the open connection; completes once it is flushed. Fails with
    /// [`SendError::NotConnected`] (the message returned) while connecting or waiting to
    /// reconnect: nothing is queued behind your back.
    pub fn send(&mut self, message: M) -> SendFuture<'_, M> {
        SendFuture {
            client: self,
            message: Some(message),
            placed: false,
        }
    }

    /// The application goes to the background: no pings, no deadlines, and no new
    /// connection attempts until [`resume`](Client::resume).
    pub fn pause(&self) {
        self.signal(Event::Pause);
    }

    /// Back from a pause: an open connection is probed at once; a client waiting to
    /// reconnect reconnects at once.
    pub fn resume(&self) {
        self.signal(Event::Resume);
    }

    /// The network path changed: an open connection is probed at once; a client waiting
    /// to reconnect reconnects at once.
    pub fn network_changed(&self) {
        self.signal(Event::NetworkChanged);
    }

    fn signal(&self, event: Event) {
        let mut s = lock(&self.shared);
        // Only the last few matter; a flood of signals must not grow without bound.
        if s.signals.len() >= 8 {
            s.signals.pop_front();
        }
        s.signals.push_back(event);
        s.wake_task();
    }

    /// Closes the connection with code 1000 and stops; the stream then yields the last
    /// events ([`SessionEvent::Closed`] with [`Cause::Shutdown`]) and ends.
    pub fn shutdown(&self) {
        let mut s = lock(&self.shared);
        s.shutdown = true;
        s.wake_task();
    }
}

impl<M> Drop for Client<M> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.shutdown = true;
        s.detached = true;
        s.events.clear();
        s.wake_task();
    }
}

impl<M> Stream for Client<M> {
    type Item = SessionEvent<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent<M>>> {
        let mut s = lock(&self.shared);
        if let Some(event) = s.events.pop_front() {
            s.wake_task(); // there is room again
            return Poll::Ready(Some(event));
        }
        if s.finished {
            return Poll::Ready(None);
        }
        s.app = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// The future of [`Client::send`].
#[must_use = "a send does nothing unless awaited"]
pub struct SendFuture<'a, M> {
    client: &'a mut Client<M>,
    message: Option<M>,
    placed: bool,
}

impl<M> fmt::Debug for SendFuture<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture")
            .field("placed", &self.placed)
            .finish()
    }
}

impl<M> Unpin for SendFuture<'_, M> {}

impl<M> Future for SendFuture<'_, M> {
    type Output = Result<(), SendError<M>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut s = lock(&this.client.shared);
        if !this.placed {
            let Some(message) = this.message.take() else {
                return Poll::Ready(Err(SendError::Unconfirmed(Cause::Error)));
            };
            if s.finished || s.shutdown {
                return Poll::Ready(Err(SendError::Stopped(message)));
            }
            s.outbox = Some(message);
            s.outcome = None;
            this.placed = true;
            s.wake_task();
        } else if let Some(outcome) = s.outcome.take() {
            return Poll::Ready(outcome);
        } else if s.finished {
            let outcome = match s.outbox.take() {
                Some(m) => Err(SendError::Stopped(m)),
                None => Err(SendError::Unconfirmed(Cause::Shutdown)),
            };
            return Poll::Ready(outcome);
        }
        s.app = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<M> Drop for SendFuture<'_, M> {
    fn drop(&mut self) {
        if self.placed {
            // Abandoned: take the message back if the task has not started sending it.
            let mut s = lock(&self.client.shared);
            s.outbox = None;
            s.outcome = None;
        }
    }
}
