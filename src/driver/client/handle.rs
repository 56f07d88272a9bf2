//! [`Client`] and [`Events`]: the application's handles on a reconnecting connection, and
//! the [`ClientBuilder`] that makes them.

use super::ledger::Ticket;
use super::relay::{Relay, Sending};
use super::task::{Connect, Setup, Task};
use super::{begin, lock, Attempt, Begun, Inner, SessionEvent, Signal, DEFAULT_CAPACITY};
use crate::codec::HeartbeatCodec;
use crate::driver::error::SendError;
use crate::driver::{BoxError, Runtime, Transport};
use crate::{Config, ConfigError, Event, PathMemory, Role, Stats};
use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::Stream;
use futures_sink::Sink;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

/// A handle on a reconnecting connection: send through it from any number of tasks
/// (it is `Clone`, and a `Sink`), wait for the connection, pause, resume, shut down.
/// What happens comes out of the client's one [`Events`] stream.
///
/// The client runs its connections in its own task ([`ClientBuilder::spawn`]), so pings
/// are answered and silence is measured while the application is busy. A send needs no
/// trip through that task: when nothing is queued before it, the caller's own task
/// hands it to the transport and flushes it (waiting only while the client's task is
/// polling the connection); what cannot complete at once is queued, and the client's
/// task sends it in order. Nor does what arrives meanwhile: while a send is in the
/// connection, the connection's own wake-ups (an echo, a pong, the heartbeat's timer)
/// are the send's to carry out, and it reads what came before it returns; the client's
/// task, on another thread, is woken only when no send is there to do it, and a send
/// that waits for anything has left it to the task first. A message is
/// either sent or handed back: a send while no connection is open fails at once with
/// [`SendError::NotConnected`] (the message returned: nothing is queued behind your back);
/// one that the connection's end catches before it was handed to the transport fails the
/// same way; one that was handed over but not flushed fails with
/// [`SendError::Unconfirmed`], the message handed back too. `is_connected()` turns false,
/// and every send under way fails, as soon as a connection ends, whether or not the
/// application reads its events.
///
/// The client stops when [`shutdown`](Self::shutdown) is called (it closes with 1000),
/// when it gives up, or when every `Client` handle and the `Events` stream are dropped.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use keepalive::codec::WsCodec;
/// use keepalive::driver::{Attempt, Client, SessionEvent};
/// use keepalive::tokio::Tokio;
/// use tokio_tungstenite::tungstenite::Message;
///
/// # async fn doc(config: keepalive::Config) -> Result<(), Box<dyn std::error::Error>> {
/// let (client, mut events) = Client::builder(config, WsCodec, |attempt: Attempt| async move {
///     let tcp = attempt.meter().tcp(tokio::net::TcpStream::connect("127.0.0.1:9001").await?);
///     tokio_tungstenite::client_async("ws://127.0.0.1:9001", tcp).await.map(|(ws, _)| ws)
/// })
/// .spawn(Tokio)?;
/// // Any task sends through its own clone.
/// let sender = client.clone();
/// tokio::spawn(async move {
///     if sender.connected().await {
///         let _ = sender.send(Message::text("hello")).await;
///     }
/// });
/// while let Some(event) = events.next().await {
///     if let SessionEvent::Message(m) = event {
///         println!("got {m}");
///     }
/// }
/// # Ok(()) }
/// ```
pub struct Client<M> {
    shared: Arc<Mutex<Inner<M>>>,
    /// The connection's wake-ups, which a send in progress carries out.
    relay: Arc<Relay>,
    /// Messages started through this handle's `Sink`, not yet flushed.
    sink: Vec<Ticket>,
}

/// The client's one stream of [`SessionEvent`]s.
///
/// What the application reads, or fails to read, never changes what the heartbeat
/// decides:
///
/// - Messages wait in a buffer of the builder's `capacity`. When it is full the client
///   stops reading the connection until the stream catches up: the peer is held back by
///   TCP. Meanwhile pings still go out, and the peer is judged only where the kernel can
///   vouch for it (a metered TCP stream on Linux, while our receive window is open: the
///   peer's bytes, a pong included, show in the kernel's record though unread); where it
///   cannot, the judgement waits with the reads. So a slow application never makes the
///   client call a live server dead, and a dead one is still found within the bound.
///   Once it catches up, what waited is read before any deadline is looked at, and a
///   deadline long past probes the peer before closing.
/// - Messages are never dropped. When a connection ends, the messages its transport
///   had already read, and those waiting in the kernel, are delivered before its
///   ending (at most 4,096; past the capacity if need be): what can still be lost is
///   what had not reached our kernel (in flight, or held back by a peer that died).
/// - The heartbeat's news ([`PingSent`](SessionEvent::PingSent),
///   [`Pong`](SessionEvent::Pong)) never waits for room: it is dropped, and counted
///   ([`dropped`](Self::dropped)), when the buffer is full.
/// - A connection's news (connected, closed, reconnecting, gave up) always arrives; for
///   an application that reads nothing at all, the oldest of it makes room past twice
///   `capacity`, so the newest ending is always there and the buffer stays bounded.
/// - Dropping the stream means nobody listens: events are discarded from then on, and
///   the heartbeat goes on.
///
/// Each event spends a unit of the polling task's cooperative budget where the runtime
/// keeps one ([`Runtime::poll_budget`]; tokio's), as the runtime's own channels do.
///
/// The stream ends after [`SessionEvent::GaveUp`], or once a shutdown has closed the
/// connection.
pub struct Events<M> {
    shared: Arc<Mutex<Inner<M>>>,
    /// The runtime's [`poll_budget`](Runtime::poll_budget).
    budget: fn(&mut Context<'_>) -> Poll<()>,
}

impl<M> fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("Client")
            .field("open", &s.open)
            .field("queued", &s.ledger.queued())
            .field("in_flight", &s.ledger.in_flight())
            .field("finished", &s.finished)
            .finish()
    }
}

impl<M> fmt::Debug for Events<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("Events")
            .field("buffered", &s.inbox.len())
            .field("finished", &s.finished)
            .finish()
    }
}

impl<M> Clone for Client<M> {
    fn clone(&self) -> Self {
        lock(&self.shared).clients += 1;
        Client {
            shared: Arc::clone(&self.shared),
            relay: Arc::clone(&self.relay),
            sink: Vec::new(),
        }
    }
}

impl<M> Drop for Client<M> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        for ticket in self.sink.drain(..) {
            s.ledger.withdraw(ticket);
        }
        s.clients -= 1;
        s.abandoned();
    }
}

impl<M> Drop for Events<M> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.inbox.stop_listening();
        s.wake_task(); // there is room again: events now go nowhere
        s.abandoned();
    }
}

impl<M> Client<M> {
    /// A client for `config` (built with `Config::client()`), connecting with `connect`
    /// (called for each attempt with its [`Attempt`]) and speaking `codec`, to be set up
    /// further and then spawned.
    pub fn builder<S, C, F, Fut, E>(config: Config, codec: C, connect: F) -> ClientBuilder<S, C, F>
    where
        S: Transport<Message = M> + Sink<M>,
        C: HeartbeatCodec<M> + Clone,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        E: Into<BoxError>,
    {
        ClientBuilder {
            config,
            codec,
            connect,
            setup: None,
            capacity: DEFAULT_CAPACITY,
            peer: None,
            memory: PathMemory::new(),
        }
    }

    /// Sends `message` on the open connection; completes once it is flushed. Fails at
    /// once with [`SendError::NotConnected`] (the message returned) while connecting or
    /// waiting to reconnect, and with [`SendError::Stopped`] once the client stopped.
    /// Messages from all handles go out in the order their sends began; when many wait,
    /// a send waits for room first.
    ///
    /// `Ok` means the message was flushed to our socket: the kernel has it, not the
    /// peer. If the connection dies right after, it is lost with everything else in
    /// flight, and no heartbeat can tell (TCP itself cannot). A send under way when the
    /// connection ends fails at once with the message handed back:
    /// [`Unconfirmed`](SendError::Unconfirmed) if it was handed to the transport (it may
    /// or may not arrive), [`NotConnected`](SendError::NotConnected) if not. To know that
    /// a message was delivered, have the peer acknowledge it in your protocol (an id
    /// echoed back), and send again what was not acknowledged after a reconnect.
    pub async fn send(&self, message: M) -> Result<(), SendError<M>> {
        // Inside the connection from here to the hand-over: the connection's wake-ups
        // meanwhile (an echo, a pong, the timer) are this send's to carry out, not a
        // reason to wake the client's task on another thread. A wait for room is outside.
        let mut inside = Some(Sending::enter(&self.relay));
        poll_fn(|cx| {
            let room = self.room(cx);
            if room.is_pending() {
                inside = None;
            }
            room
        })
        .await;
        let begun = {
            let sending = inside.unwrap_or_else(|| Sending::enter(&self.relay));
            let begun = begin(&self.shared, message);
            let flushes = matches!(begun, Ok(Begun::Flushing(_)));
            leave(sending, &self.shared, flushes);
            begun
        };
        let (ticket, flushing) = match begun? {
            Begun::Sent => return Ok(()),
            Begun::Waiting(ticket) => (ticket, false),
            Begun::Flushing(ticket) => (ticket, true),
        };
        let mut withdraw = Withdraw {
            shared: &self.shared,
            ticket,
            owes_flush: flushing,
        };
        if flushing {
            yield_once().await;
            // Back inside to finish it: a wake-up meanwhile (a flush that completes
            // hands the timer back to the reads) is this send's to carry out.
            let sending = Sending::enter(&self.relay);
            let direct = lock(&self.shared).direct.clone();
            match direct {
                Some(direct) => direct.flush(&self.shared),
                None => lock(&self.shared).owe_flush(),
            }
            leave(sending, &self.shared, false);
            withdraw.owes_flush = false; // finished, or the task was told
        }
        poll_fn(|cx| self.outcome(ticket, cx)).await
    }

    /// A handle on `shared`, with no task behind it (the caller plays the task).
    #[cfg(test)]
    pub(super) fn on(shared: Arc<Mutex<Inner<M>>>) -> Client<M> {
        let relay = Arc::clone(&lock(&shared).relay);
        Client {
            shared,
            relay,
            sink: Vec::new(),
        }
    }

    /// Waits until a connection is open (`true`), or the client has stopped (`false`).
    pub async fn connected(&self) -> bool {
        poll_fn(|cx| {
            let mut s = lock(&self.shared);
            if s.open {
                return Poll::Ready(true);
            }
            if s.finished || s.shutdown {
                return Poll::Ready(false);
            }
            s.waiters.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Whether a connection is open now.
    pub fn is_connected(&self) -> bool {
        lock(&self.shared).open
    }

    /// Counters, round trips and the timeouts in force over the client's life (pings,
    /// pongs, timeouts, reconnects, the current streak of attempts, the smoothed RTT, the
    /// dead-peer bound), as of the task's last step: for a service's metrics.
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats
    }

    /// What the client's connections learned about the path, as of the task's last
    /// step: store it per network ([`PathMemory::to_bytes`]) and give it to the next
    /// client ([`ClientBuilder::path_memory`]). After [`network_changed`](Self::network_changed)
    /// it is marked stale.
    pub fn path_memory(&self) -> PathMemory {
        lock(&self.shared).memory
    }

    /// The application goes to the background: no pings, no deadlines, and no new
    /// connection attempts until [`resume`](Client::resume).
    pub fn pause(&self) {
        self.signal(Signal::Event(Event::Pause));
    }

    /// Back from a pause: an open connection is probed at once; a client waiting to
    /// reconnect reconnects at once.
    pub fn resume(&self) {
        self.signal(Signal::Event(Event::Resume));
    }

    /// The network path changed, to a network the application cannot name: an open
    /// connection is probed at once; a client waiting to reconnect reconnects at once.
    /// The interval learned stays until the next loss after a silent gap, which then
    /// restarts learning from `ping_interval` (the path is another); the round trips
    /// stand until the next pongs. Where the application knows the network (an SSID, a
    /// carrier), [`moved_to`](Self::moved_to) does better.
    pub fn network_changed(&self) {
        self.signal(Signal::Event(Event::NetworkChanged));
    }

    /// The client moved to another network, and `memory` is what was learned there
    /// before (from [`path_memory`](Self::path_memory) while on it, stored per network
    /// with [`PathMemory::to_bytes`]), or `None` for one it has not been on. An open
    /// connection is probed at once; a client waiting to reconnect reconnects at once.
    /// Then:
    ///
    /// - **the interval**: with a memory, the one learned on that network (or
    ///   `ping_interval` if none was); without, `ping_interval` at once, and learning
    ///   starts over. It applies from the next ping.
    /// - **the bound**: that interval plus the pong timeout in force
    ///   ([`Stats::dead_peer_bound`](crate::Stats::dead_peer_bound)); the memory's round
    ///   trips seed the pong timeout's floor (without one, those measured on the last
    ///   network stand until the next pongs).
    /// - **the next loss** after a silent gap counts toward this network's learning, as
    ///   if the client had never left it: what it knew there is not lost.
    ///
    /// [`path_memory`](Self::path_memory) then describes this network: store it under
    /// its name before the next move.
    pub fn moved_to(&self, memory: Option<PathMemory>) {
        self.signal(Signal::MovedTo(memory));
    }

    fn signal(&self, event: Signal) {
        let mut s = lock(&self.shared);
        // Only the last few matter; a flood of signals must not grow without bound.
        if s.signals.len() >= 8 {
            s.signals.pop_front();
        }
        s.signals.push_back(event);
        s.wake_task();
    }

    /// Closes the connection with code 1000 and stops; the events then end with
    /// [`SessionEvent::Closed`] (reason [`Shutdown`](crate::CloseReason::Shutdown)).
    pub fn shutdown(&self) {
        let mut s = lock(&self.shared);
        s.shutdown = true;
        s.wake_task();
        s.wake_handles();
    }

    /// Ready when a send may be queued: there is room, or no connection to wait for (the
    /// send then fails at once).
    fn room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.shared);
        if s.has_room() {
            return Poll::Ready(());
        }
        s.waiters.push(cx.waker().clone());
        Poll::Pending
    }

    /// The outcome of the send with `ticket`, once the task settled it.
    fn outcome(&self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<Result<(), SendError<M>>> {
        let mut s = lock(&self.shared);
        match s.ledger.outcome(ticket) {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                s.waiters.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Takes a send back when its future is dropped before it settled; a flush it still
/// owed goes to the task.
struct Withdraw<'a, M> {
    shared: &'a Mutex<Inner<M>>,
    ticket: Ticket,
    /// The send's flush was left pending for the sender to finish, and it has not yet.
    owes_flush: bool,
}

impl<M> Drop for Withdraw<'_, M> {
    fn drop(&mut self) {
        let mut s = lock(self.shared);
        s.ledger.withdraw(self.ticket);
        if self.owes_flush {
            s.owe_flush();
        }
    }
}

/// Ends a send's stretch inside the connection: a wake-up owed to it is carried out
/// first (one that comes after is the task's, handed on as the stretch ends).
/// `flushes`: the send finishes its own flush next.
fn leave<M>(sending: Sending<'_>, shared: &Mutex<Inner<M>>, flushes: bool) {
    if sending.owed() {
        Inner::read_owed(shared, flushes);
    }
}

/// Lets the caller's task go round its runtime once (its waker woken at once): a budget
/// for its turn starts afresh.
async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

/// The client as a `Sink`: `start_send` fails at once, handing the message back, when no
/// connection is open; `poll_flush` completes when every message started through this
/// handle was flushed, or fails with the first that was not (again until none is left).
/// `poll_close` flushes: it does not stop the client, which other handles may share.
impl<M> Sink<M> for Client<M> {
    type Error = SendError<M>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<M>>> {
        let mut s = lock(&self.shared);
        if s.has_room() {
            return Poll::Ready(Ok(())); // start_send says why it cannot, with the message
        }
        s.waiters.push(cx.waker().clone());
        Poll::Pending
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> Result<(), SendError<M>> {
        let this = self.get_mut();
        match begin(&this.shared, item)? {
            Begun::Sent => {}
            Begun::Waiting(ticket) => this.sink.push(ticket),
            // A sink's caller may call `start_send` many times before a flush: the task
            // finishes this one at once.
            Begun::Flushing(ticket) => {
                lock(&this.shared).owe_flush();
                this.sink.push(ticket);
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<M>>> {
        let this = self.get_mut();
        let mut s = lock(&this.shared);
        while let Some(&ticket) = this.sink.first() {
            match s.ledger.outcome(ticket) {
                Some(outcome) => {
                    this.sink.remove(0);
                    outcome?;
                }
                None => {
                    s.waiters.push(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<M>>> {
        self.poll_flush(cx)
    }
}

impl<M> Events<M> {
    /// The events of `shared`, with no task behind them (the caller plays the task).
    #[cfg(all(test, feature = "tokio"))]
    pub(super) fn on(shared: Arc<Mutex<Inner<M>>>) -> Events<M> {
        Events {
            shared,
            budget: crate::driver::tokio::Tokio::poll_budget,
        }
    }

    /// How many events were dropped because the application did not keep up: pings and
    /// pongs once the buffer was full, and the oldest news of connections past twice its
    /// capacity. Messages are never dropped (the client stops reading instead).
    pub fn dropped(&self) -> u64 {
        lock(&self.shared).inbox.dropped()
    }
}

impl<M> Stream for Events<M> {
    type Item = SessionEvent<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent<M>>> {
        let mut s = lock(&self.shared);
        if s.inbox.len() > 0 && (self.budget)(cx).is_pending() {
            return Poll::Pending; // the runtime's other tasks first
        }
        let was_behind = s.inbox.behind();
        if let Some(event) = s.inbox.pop() {
            if was_behind && !s.inbox.behind() {
                // Room for a batch again: the reads the task held go on, here, as the
                // task's next pass would have them (not a wake-up for another thread).
                drop(s);
                Inner::read_owed(&self.shared, false);
            }
            return Poll::Ready(Some(event));
        }
        if s.finished {
            return Poll::Ready(None);
        }
        s.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A spawned client: the handle that sends, and the one stream of events.
type Spawned<M> = (Client<M>, Events<M>);

/// Sets up a [`Client`]: its on-connect step, its event buffer, its name in traces; then
/// [`spawn`](Self::spawn) it on a runtime.
#[must_use = "a builder does nothing until spawned"]
pub struct ClientBuilder<S, C, F> {
    config: Config,
    codec: C,
    connect: F,
    setup: Option<Setup<S>>,
    capacity: usize,
    peer: Option<String>,
    memory: PathMemory,
}

impl<S, C, F> fmt::Debug for ClientBuilder<S, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("capacity", &self.capacity)
            .field("on_connect", &self.setup.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, C, F> ClientBuilder<S, C, F>
where
    S: Transport + Send + 'static,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    S::Message: Clone + Send + 'static,
    C: HeartbeatCodec<S::Message> + Clone + Send + 'static,
{
    /// A step run on each new connection before it is handed to the heartbeat and the
    /// application (authenticate, subscribe again): it gets the transport, may send and
    /// read on it, and gives it back. Until it does, sends fail with
    /// [`SendError::NotConnected`]; if it fails, or outlasts `connect_timeout`, the
    /// attempt fails ([`SessionEvent::ConnectFailed`], the step's error as the source)
    /// and the client backs off.
    pub fn on_connect<H, HFut, HE>(mut self, mut step: H) -> Self
    where
        H: FnMut(S) -> HFut + Send + 'static,
        HFut: Future<Output = Result<S, HE>> + Send + 'static,
        HE: Into<BoxError>,
    {
        self.setup = Some(Box::new(move |transport| {
            let running = step(transport);
            Box::pin(async move { running.await.map_err(Into::into) })
        }));
        self
    }

    /// Names the peer (a URL, a service) in the client's `tracing` span (feature
    /// `tracing`; without it, nothing).
    pub fn peer(mut self, peer: impl Into<String>) -> Self {
        self.peer = Some(peer.into());
        self
    }

    /// Starts from what earlier clients learned about this path (stored per network:
    /// Wi-Fi SSID, carrier, endpoint): the keepalive interval learned (with
    /// [`keepalive_ceiling`](crate::ConfigBuilder::keepalive_ceiling)) and the round
    /// trip behind the pong timeout's floor. The client carries its memory from
    /// connection to connection by itself; read it back with [`Client::path_memory`].
    pub fn path_memory(mut self, memory: PathMemory) -> Self {
        self.memory = memory;
        self
    }

    /// How many events wait for the application before the client stops reading, and
    /// how many sends wait for the connection (at least 1; default 64).
    pub fn capacity(mut self, events: usize) -> Self {
        self.capacity = events;
        self
    }

    /// Starts the client on `runtime`: the first attempt starts at once. Returns a
    /// handle to send through (clone it for other tasks) and the one stream of events;
    /// refused ([`ConfigError::NotAClient`]) for a server's config.
    pub fn spawn<R, Fut, E>(self, runtime: R) -> Result<Spawned<S::Message>, ConfigError>
    where
        R: Runtime,
        R::Timer: Send,
        F: FnMut(Attempt) -> Fut + Send + 'static,
        Fut: Future<Output = Result<S, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        if self.config.role() != Role::Client {
            return Err(ConfigError::NotAClient);
        }
        let shared = Arc::new(Mutex::new(Inner::new(self.capacity)));
        let mut connect = self.connect;
        let connect: Connect<S> = Box::new(move |attempt| {
            let dialing = connect(attempt);
            Box::pin(async move { dialing.await.map_err(Into::into) })
        });
        let task = Task::new(
            Arc::clone(&shared),
            runtime.clone(),
            self.config,
            self.memory,
            self.codec,
            connect,
            self.setup,
        );
        if let Some(peer) = &self.peer {
            task.record_peer(peer);
        }
        runtime.spawn(task);
        let events = Events {
            shared: Arc::clone(&shared),
            budget: R::poll_budget,
        };
        let relay = Arc::clone(&lock(&shared).relay);
        let client = Client {
            shared,
            relay,
            sink: Vec::new(),
        };
        Ok((client, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A send dropped while it owed its flush (between its yield and its retry) tells
    /// the task, or the message would wait in the transport for the task's next reason to
    /// run; one dropped after its retry, or while queued, wakes nobody.
    #[test]
    fn a_send_dropped_owing_its_flush_tells_the_task() {
        for owes_flush in [true, false] {
            let shared = Mutex::new(Inner::<u32>::new(8));
            let task = Arc::new(Count(AtomicUsize::new(0)));
            let ticket = {
                let mut s = lock(&shared);
                s.relay.task_polls(&Arc::clone(&task).into());
                let ticket = s.ledger.ticket();
                s.ledger.handed(ticket, 7);
                ticket
            };
            drop(Withdraw {
                shared: &shared,
                ticket,
                owes_flush,
            });
            assert_eq!(task.0.load(Ordering::Relaxed), usize::from(owes_flush));
            assert_eq!(lock(&shared).ledger.in_flight(), 1, "still goes out");
        }
    }
}
