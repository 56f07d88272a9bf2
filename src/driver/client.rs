//! [`Client`]: a connection that comes back. Connects with a timeout, keeps the heartbeat
//! from its own task, reconnects with the machine's backoff, and reports each step.

use super::error::Cause;
use super::heartbeat::{Heartbeat, Update};
use super::{Alarm, Runtime, Timer};
use crate::codec::HeartbeatCodec;
use crate::{Action, Actions, Clock, Config, Event, HeartbeatMachine, Instant, PingId};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use futures_core::Stream;
use futures_sink::Sink;
use std::collections::VecDeque;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard};

/// Events buffered for the application by default before the client stops reading.
pub const DEFAULT_CAPACITY: usize = 64;

/// One step in a client's life, from [`Client`]'s stream.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SessionEvent<M> {
    /// A connection is open (TCP and handshake done).
    Connected,
    /// A message from the peer.
    Message(M),
    /// A keepalive ping went out.
    PingSent(PingId),
    /// A pong acknowledged our ping after `rtt`.
    Pong {
        /// The measured round trip.
        rtt: Duration,
    },
    /// The connection ended.
    Closed {
        /// Why.
        cause: Cause,
        /// The close code we sent (our closes) or the peer sent ([`Cause::PeerClosed`]).
        code: Option<u16>,
        /// The transport's error, for [`Cause::Error`].
        error: Option<String>,
    },
    /// A connection attempt failed.
    ConnectFailed(ConnectError),
    /// The next attempt starts `after` from now.
    Reconnecting {
        /// The backoff delay.
        after: Duration,
    },
    /// `max_attempts` attempts failed in a row: the client stopped.
    GaveUp,
}

/// Why a connection attempt failed.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ConnectError {
    /// Neither connected nor failed within `connect_timeout` (for example a server that
    /// accepts TCP but never completes the handshake).
    TimedOut,
    /// The connect function returned this error.
    Failed(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::TimedOut => f.write_str("connect timed out"),
            ConnectError::Failed(e) => write!(f, "connect failed: {e}"),
        }
    }
}

/// A message that was not sent, and why. Every variant that can return the message does.
#[non_exhaustive]
#[derive(PartialEq, Eq)]
pub enum SendError<M> {
    /// No connection is open (connecting, or waiting to reconnect): try again after
    /// [`SessionEvent::Connected`].
    NotConnected(M),
    /// The client has stopped (shut down or gave up).
    Stopped(M),
    /// The message was handed to the transport, but the connection ended before it was
    /// flushed: it may or may not have arrived.
    Unconfirmed(Cause),
}

impl<M> SendError<M> {
    /// The message, when it was certainly not sent.
    pub fn into_message(self) -> Option<M> {
        match self {
            SendError::NotConnected(m) | SendError::Stopped(m) => Some(m),
            SendError::Unconfirmed(_) => None,
        }
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str("NotConnected(..)"),
            SendError::Stopped(_) => f.write_str("Stopped(..)"),
            SendError::Unconfirmed(c) => write!(f, "Unconfirmed({c:?})"),
        }
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotConnected(_) => f.write_str(
                "not sent: no connection is open; send again after the next Connected event",
            ),
            SendError::Stopped(_) => f.write_str("not sent: the client has stopped"),
            SendError::Unconfirmed(c) => write!(
                f,
                "unconfirmed: the connection ended ({c}) before the message was flushed"
            ),
        }
    }
}

impl<M> std::error::Error for SendError<M> {}

/// What the application's handle and the task share.
struct Shared<M> {
    events: VecDeque<SessionEvent<M>>,
    capacity: usize,
    /// A message the application wants sent, and then the outcome.
    outbox: Option<M>,
    outcome: Option<Result<(), SendError<M>>>,
    /// Pause, Resume, NetworkChanged from the application, not yet applied.
    signals: VecDeque<Event>,
    shutdown: bool,
    /// The application dropped its handle: events go nowhere.
    detached: bool,
    finished: bool,
    task: Option<Waker>,
    app: Option<Waker>,
}

fn lock<M>(shared: &Mutex<Shared<M>>) -> MutexGuard<'_, Shared<M>> {
    // A panic elsewhere while holding the lock leaves plain data: keep going.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<M> Shared<M> {
    fn push(&mut self, event: SessionEvent<M>) {
        if !self.detached {
            self.events.push_back(event);
            if let Some(w) = self.app.take() {
                w.wake();
            }
        }
    }
    fn settle(&mut self, outcome: Result<(), SendError<M>>) {
        self.outcome = Some(outcome);
        if let Some(w) = self.app.take() {
            w.wake();
        }
    }
    fn wake_task(&mut self) {
        if let Some(w) = self.task.take() {
            w.wake();
        }
    }
}

/// The application's handle on a reconnecting connection: a `Stream` of
/// [`SessionEvent`]s, and [`send`](Client::send).
///
/// Its [`ClientTask`] runs the connection in its own task (the runtime modules spawn it:
/// `keepalive::tokio::spawn_client` and the like), so pings are answered and silence is
/// measured while the application is busy. Events wait in a buffer of `capacity`; when
/// it is full the task stops reading the connection until the application catches up
/// (the peer is held back by TCP, and this side's silence checks wait too, so a slow
/// application never makes the client call a live server dead).
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
        S: Stream<Item = Result<M, S::Error>> + Sink<M> + Unpin,
        T: Timer,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<S, CE>>,
        CE: fmt::Display,
    {
        let shared = Arc::new(Mutex::new(Shared {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            outbox: None,
            outcome: None,
            signals: VecDeque::new(),
            shutdown: false,
            detached: false,
            finished: false,
            task: None,
            app: None,
        }));
        let clock = Clock::new();
        let task = ClientTask {
            shared: Arc::clone(&shared),
            machine: Some(HeartbeatMachine::new(config, clock.now())),
            clock,
            codec,
            connect,
            link: Link::Idle,
            alarm: Alarm::default(),
            sending: false,
            stopping: false,
            paused: false,
        };
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
        S: Stream<Item = Result<M, S::Error>> + Sink<M> + Unpin + Send + 'static,
        S::Error: fmt::Display + Send,
        F: FnMut() -> Fut + Send + 'static,
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

// `Open` is the state a client spends its life in, and the task lives on the heap
// (spawned) anyway: boxing it would add an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Link<S, C, T, Fut>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    /// Start an attempt now.
    Idle,
    /// Waiting to reconnect until then.
    Wait(Instant),
    Connecting(Pin<Box<Fut>>),
    Open(Heartbeat<S, C, T>),
    Done,
}

/// The task that runs a [`Client`]'s connections: spawn it on your runtime (the runtime
/// modules' `spawn_client` do). It finishes when the client gives up or shuts down.
#[must_use = "the client does nothing until its task is spawned"]
pub struct ClientTask<S, C, T, F, Fut>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    shared: Arc<Mutex<Shared<C::Message>>>,
    /// The machine, while no connection is open (the open connection's driver has it).
    machine: Option<HeartbeatMachine>,
    clock: Clock,
    codec: C,
    connect: F,
    link: Link<S, C, T, Fut>,
    /// One timer for the backoff wait and the connect timeout.
    alarm: Alarm<T>,
    /// A message of the application's is in the sink, not yet flushed.
    sending: bool,
    stopping: bool,
    paused: bool,
}

impl<S, C, T, F, Fut> fmt::Debug for ClientTask<S, C, T, F, Fut>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTask")
            .field("machine", &self.machine)
            .field("sending", &self.sending)
            .finish_non_exhaustive()
    }
}

// Only the connect future is pinned, and it is boxed.
impl<S: Sink<C::Message>, C: HeartbeatCodec, T, F, Fut> Unpin for ClientTask<S, C, T, F, Fut> {}

impl<S, C, T, F, Fut, M, CE> Future for ClientTask<S, C, T, F, Fut>
where
    C: HeartbeatCodec<Message = M> + Clone,
    S: Stream<Item = Result<M, S::Error>> + Sink<M> + Unpin,
    S::Error: fmt::Display,
    T: Timer,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S, CE>>,
    CE: fmt::Display,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let (shutdown, full, signals) = {
                let mut s = lock(&this.shared);
                s.task = Some(cx.waker().clone());
                let signals = core::mem::take(&mut s.signals);
                (
                    s.shutdown,
                    !s.detached && s.events.len() >= s.capacity,
                    signals,
                )
            };
            for event in signals {
                this.apply_signal(event);
            }
            if shutdown && !this.stopping {
                this.stopping = true;
                this.shut_down();
            }
            this.poll_send(cx);
            if full {
                return Poll::Pending; // the application takes an event, then wakes us
            }
            match this.poll_link(cx) {
                Poll::Ready(true) => continue,
                Poll::Ready(false) => {
                    let mut s = lock(&this.shared);
                    s.finished = true;
                    if let Some(m) = s.outbox.take() {
                        s.settle(Err(SendError::Stopped(m)));
                    }
                    if let Some(w) = s.app.take() {
                        w.wake();
                    }
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, C, T, F, Fut, M, CE> ClientTask<S, C, T, F, Fut>
where
    C: HeartbeatCodec<Message = M> + Clone,
    S: Stream<Item = Result<M, S::Error>> + Sink<M> + Unpin,
    S::Error: fmt::Display,
    T: Timer,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<S, CE>>,
    CE: fmt::Display,
{
    fn push(&self, event: SessionEvent<M>) {
        lock(&self.shared).push(event);
    }

    fn shut_down(&mut self) {
        match &mut self.link {
            Link::Open(hb) => hb.shut_down(),
            Link::Done => {}
            _ => {
                if let Some(m) = self.machine.as_mut() {
                    let _ = m.handle(self.clock.now(), Event::Shutdown);
                }
                self.link = Link::Done;
            }
        }
    }

    /// Pause, Resume or NetworkChanged, from the application.
    fn apply_signal(&mut self, event: Event) {
        let now = self.clock.now();
        match event {
            Event::Pause => self.paused = true,
            Event::Resume => self.paused = false,
            _ => {}
        }
        if let Link::Open(hb) = &mut self.link {
            match event {
                Event::Pause => hb.pause(),
                Event::Resume => hb.resume(),
                _ => hb.network_changed(),
            }
            return;
        }
        let Some(machine) = self.machine.as_mut() else {
            return;
        };
        for action in machine.handle(now, event) {
            // Resume or a network change while not connected: connect now (an attempt
            // begun before a pause starts over). Not counted as an attempt.
            if let Action::Reconnect { after } = action {
                self.link = Link::Wait(now + after);
            }
        }
    }

    /// Moves the application's message along: into the sink, then flushed.
    fn poll_send(&mut self, cx: &mut Context<'_>) {
        let Link::Open(hb) = &mut self.link else {
            let mut s = lock(&self.shared);
            if let Some(m) = s.outbox.take() {
                let e = if self.stopping {
                    SendError::Stopped(m)
                } else {
                    SendError::NotConnected(m)
                };
                s.settle(Err(e));
            }
            return;
        };
        let mut hb = Pin::new(hb);
        if !self.sending {
            let mut s = lock(&self.shared);
            if s.outbox.is_none() {
                return;
            }
            match hb.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(m) = s.outbox.take() {
                        match hb.as_mut().start_send(m) {
                            Ok(()) => self.sending = true,
                            Err(e) => s.settle(Err(SendError::Unconfirmed(e.cause()))),
                        }
                    }
                }
                Poll::Ready(Err(_)) => {
                    if let Some(m) = s.outbox.take() {
                        s.settle(Err(SendError::NotConnected(m)));
                    }
                }
                Poll::Pending => return,
            }
        }
        if self.sending {
            match hb.poll_flush(cx) {
                Poll::Ready(result) => {
                    self.sending = false;
                    lock(&self.shared)
                        .settle(result.map_err(|e| SendError::Unconfirmed(e.cause())));
                }
                Poll::Pending => {}
            }
        }
    }

    /// Advances the connection by one step: `Ready(true)` progress, `Ready(false)` done.
    fn poll_link(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let now = self.clock.now();
        match &mut self.link {
            Link::Done => Poll::Ready(false),
            Link::Idle => {
                self.link = Link::Connecting(Box::pin((self.connect)()));
                Poll::Ready(true)
            }
            Link::Wait(_) if self.paused => Poll::Pending, // resume wakes us
            Link::Wait(until) => {
                let until = *until;
                if now >= until {
                    self.link = Link::Idle;
                    return Poll::Ready(true);
                }
                self.poll_timer(until, cx)
            }
            Link::Connecting(attempt) => {
                let result = match attempt.as_mut().poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return self.poll_connect_deadline(now, cx),
                };
                let Some(mut machine) = self.machine.take() else {
                    self.link = Link::Done;
                    return Poll::Ready(true);
                };
                match result {
                    Ok(transport) => {
                        let hb = Heartbeat::with_machine(
                            transport,
                            self.codec.clone(),
                            machine,
                            self.clock,
                        );
                        self.link = Link::Open(hb);
                        self.push(SessionEvent::Connected);
                    }
                    Err(e) => {
                        let actions = machine.handle(now, Event::ConnectFailed);
                        self.machine = Some(machine);
                        self.push(SessionEvent::ConnectFailed(ConnectError::Failed(
                            e.to_string(),
                        )));
                        self.follow(now, actions);
                    }
                }
                Poll::Ready(true)
            }
            Link::Open(hb) => {
                let step = match hb.poll_update(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(step) => step,
                };
                match step {
                    Some(Ok(Update::Message(m))) => self.push(SessionEvent::Message(m)),
                    Some(Ok(Update::PingSent(id))) => self.push(SessionEvent::PingSent(id)),
                    Some(Ok(Update::Pong { rtt, .. })) => self.push(SessionEvent::Pong { rtt }),
                    Some(Err(end)) => {
                        self.push(SessionEvent::Closed {
                            cause: end.cause(),
                            code: end.code(),
                            error: end.transport_error().map(|e| e.to_string()),
                        });
                        self.connection_ended(now, end.cause());
                    }
                    None => self.connection_ended(now, Cause::Error),
                }
                Poll::Ready(true)
            }
        }
    }

    /// The open connection ended: take the machine back and do what it said.
    fn connection_ended(&mut self, now: Instant, cause: Cause) {
        if self.sending {
            self.sending = false;
            lock(&self.shared).settle(Err(SendError::Unconfirmed(cause)));
        }
        let Link::Open(hb) = core::mem::replace(&mut self.link, Link::Done) else {
            return;
        };
        let follow_up = hb.follow_up();
        self.machine = Some(hb.into_machine());
        match follow_up {
            Some(Action::Reconnect { after }) => self.reconnect_after(now, after),
            Some(Action::GiveUp) => self.push(SessionEvent::GaveUp),
            _ => {}
        }
    }

    fn reconnect_after(&mut self, now: Instant, after: Duration) {
        self.push(SessionEvent::Reconnecting { after });
        self.link = Link::Wait(now + after);
    }

    /// The machine's verdict on a failed or timed-out attempt.
    fn follow(&mut self, now: Instant, actions: Actions) {
        self.link = Link::Done;
        for action in actions {
            match action {
                Action::AbortConnect => {
                    self.push(SessionEvent::ConnectFailed(ConnectError::TimedOut))
                }
                Action::Reconnect { after } => self.reconnect_after(now, after),
                Action::GiveUp => self.push(SessionEvent::GaveUp),
                _ => {}
            }
        }
    }

    /// While an attempt is pending, the machine's deadline is its connect timeout.
    fn poll_connect_deadline(&mut self, now: Instant, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(machine) = self.machine.as_mut() else {
            return Poll::Pending;
        };
        let Some(deadline) = machine.next_deadline() else {
            return Poll::Pending;
        };
        if now >= deadline {
            let actions = machine.handle(now, Event::Tick);
            if actions.as_slice().contains(&Action::AbortConnect) {
                self.follow(now, actions); // drops the attempt
            }
            return Poll::Ready(true);
        }
        self.poll_timer(deadline, cx)
    }

    fn poll_timer(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<bool> {
        self.alarm.set(&self.clock, at);
        self.alarm.poll(cx).map(|()| true)
    }
}
