//! [`Client`]: the application's handle on a reconnecting connection.

use super::setup::{NoSetup, Setup, Step};
use super::task::ClientTask;
use super::{lock, Attempt, SendError, SessionEvent, Shared, DEFAULT_CAPACITY};
use crate::codec::HeartbeatCodec;
use crate::driver::alarm::Alarm;
use crate::driver::error::Cause;
use crate::driver::{Runtime, Timer, Transport};
use crate::{Clock, Config, Event, HeartbeatMachine, Stats};
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::Stream;
use std::string::String;
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
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use keepalive::codec::WsCodec;
/// use keepalive::driver::{Attempt, Client};
/// use keepalive::tokio::Tokio;
/// use tokio_tungstenite::tungstenite::Message;
///
/// # async fn doc(config: keepalive::Config) {
/// let urls = ["ws://primary:9001", "ws://backup:9001"];
/// let mut client = Client::builder(config, WsCodec, move |attempt: Attempt| async move {
///     // Rotate endpoints: the attempt knows its number and what ended the last one.
///     let url = urls[(attempt.number() as usize - 1) % urls.len()];
///     let host = url.trim_start_matches("ws://");
///     let tcp = attempt.meter().tcp(tokio::net::TcpStream::connect(host).await?);
///     tokio_tungstenite::client_async(url, tcp).await.map(|(ws, _)| ws)
/// })
/// // On every new connection, before the application's sends are accepted:
/// .on_connect(|mut ws| async move {
///     ws.send(Message::text(r#"{"op":"auth","token":"..."}"#)).await?;
///     ws.send(Message::text(r#"{"op":"subscribe","channel":"prices"}"#)).await?;
///     Ok::<_, tokio_tungstenite::tungstenite::Error>(ws)
/// })
/// .spawn(Tokio);
/// while let Some(event) = client.next().await {
///     println!("{event:?}");
/// }
/// # }
/// ```
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
    /// A client for `config` (use `Config::client()`), connecting with `connect` (called
    /// for each attempt with its [`Attempt`]), to be set up further (an on-connect step,
    /// the event buffer) and then spawned.
    pub fn builder<S, C, F, Fut, CE>(config: Config, codec: C, connect: F) -> ClientBuilder<S, C, F>
    where
        C: HeartbeatCodec<Message = M> + Clone,
        S: Transport<M>,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S, CE>>,
        CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        ClientBuilder {
            config,
            codec,
            connect,
            setup: NoSetup,
            capacity: DEFAULT_CAPACITY,
            peer: None,
            transport: PhantomData,
        }
    }

    /// A client and the task that runs it, to be spawned on your runtime (with timer
    /// `T`): [`builder`](Self::builder)`(..).capacity(capacity).build()`.
    pub fn new<S, C, T, F, Fut, CE>(
        config: Config,
        codec: C,
        connect: F,
        capacity: usize,
    ) -> Built<S, C, T, F, Fut, NoSetup>
    where
        C: HeartbeatCodec<Message = M> + Clone,
        S: Transport<M>,
        S::Error: std::error::Error + Send + Sync + 'static,
        T: Timer,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S, CE>>,
        CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        Client::builder(config, codec, connect)
            .capacity(capacity)
            .build()
    }

    /// Creates the client and spawns its task on `runtime` (for example
    /// `keepalive::tokio::Tokio`), buffering [`DEFAULT_CAPACITY`] events, with no
    /// on-connect step. The first attempt starts at once.
    pub fn spawn<R, S, C, F, Fut, CE>(runtime: R, config: Config, codec: C, connect: F) -> Client<M>
    where
        R: Runtime,
        M: Send + 'static,
        C: HeartbeatCodec<Message = M> + Clone + Send + 'static,
        S: Transport<M> + Send + 'static,
        S::Error: std::error::Error + Send + Sync + 'static,
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S, CE>> + Send + 'static,
        CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        Client::builder(config, codec, connect).spawn(runtime)
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

    /// Counters and round trips over the client's life (pings, pongs, timeouts,
    /// reconnects, the current streak of attempts, the last and smoothed RTT), as of the
    /// task's last step: for a service's metrics. Reading them stops nothing.
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats
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

/// A client and the task that runs it.
pub type Built<S, C, T, F, Fut, G> = (
    Client<<C as HeartbeatCodec>::Message>,
    ClientTask<S, C, T, F, Fut, G>,
);

/// Sets up a [`Client`]: its on-connect step and event buffer; then
/// [`spawn`](Self::spawn) it (or [`build`](Self::build) it for a runtime of your own).
#[must_use = "a builder does nothing until spawned or built"]
pub struct ClientBuilder<S, C, F, G = NoSetup> {
    config: Config,
    codec: C,
    connect: F,
    setup: G,
    capacity: usize,
    peer: Option<String>,
    transport: PhantomData<fn() -> S>,
}

impl<S, C, F, G> fmt::Debug for ClientBuilder<S, C, F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<S, C, F, G> ClientBuilder<S, C, F, G>
where
    C: HeartbeatCodec + Clone,
    S: Transport<C::Message>,
    S::Error: std::error::Error + Send + Sync + 'static,
    G: Setup<S>,
{
    /// A step run on each new connection before it is handed to the heartbeat and the
    /// application (authenticate, subscribe again): it gets the transport, may send and
    /// read on it, and gives it back. Until it does, the application's sends fail with
    /// [`SendError::NotConnected`]; if it fails, or outlasts `connect_timeout`, the
    /// attempt fails with [`ConnectError::Setup`](super::ConnectError::Setup) (or
    /// `TimedOut`) and the client backs off.
    pub fn on_connect<H, HFut, HE>(self, step: H) -> ClientBuilder<S, C, F, Step<H>>
    where
        H: FnMut(S) -> HFut,
        HFut: Future<Output = Result<S, HE>>,
        HE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        ClientBuilder {
            config: self.config,
            codec: self.codec,
            connect: self.connect,
            setup: Step(step),
            capacity: self.capacity,
            peer: self.peer,
            transport: PhantomData,
        }
    }

    /// Names the peer (a URL, a service) in the client's `tracing` span (feature
    /// `tracing`; without it, nothing).
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = Some(peer.into());
        self
    }

    /// How many events wait for the application before the client stops reading
    /// (at least 1; default [`DEFAULT_CAPACITY`]).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events;
        self
    }

    /// The client and the task that runs it, to be spawned on a runtime with timer `T`.
    pub fn build<T, Fut, CE>(self) -> Built<S, C, T, F, Fut, G>
    where
        T: Timer,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S, CE>>,
        CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    {
        let shared = Arc::new(Mutex::new(Shared::new(self.capacity)));
        let clock = Clock::with_epoch(T::now());
        let machine = HeartbeatMachine::new(self.config, Alarm::<T>::now(&clock));
        let task = ClientTask::new(
            Arc::clone(&shared),
            machine,
            clock,
            self.codec,
            self.connect,
            self.setup,
        );
        if let Some(peer) = &self.peer {
            task.record_peer(peer);
        }
        (Client { shared }, task)
    }

    /// Creates the client and spawns its task on `runtime`.
    pub fn spawn<R, Fut, CE>(self, runtime: R) -> Client<C::Message>
    where
        R: Runtime,
        C: Send + 'static,
        C::Message: Send + 'static,
        S: Send + 'static,
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S, CE>> + Send + 'static,
        CE: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        G: Send + 'static,
        G::Future: Send + 'static,
    {
        let (client, task) = self.build::<R::Timer, Fut, CE>();
        runtime.spawn(task);
        client
    }
}
