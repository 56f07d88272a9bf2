//! [`Heartbeat`]: drives one connection's heartbeat over any `Stream + Sink` transport.

use super::error::{Cause, Error};
use super::{Alarm, Timer};
use crate::codec::{HeartbeatCodec, Inbound};
use crate::{
    Action, Actions, Clock, CloseReason, Config, Event, HeartbeatMachine, Instant, PingId,
};
use core::fmt;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use futures_core::Stream;
use futures_sink::Sink;

/// Inbound messages handled in one poll before yielding to the runtime, so a peer that
/// floods pings cannot starve the other tasks of a thread.
const BUDGET: u32 = 64;

/// What [`Heartbeat::poll_update`] reports: the application's messages, and the
/// heartbeat's own traffic for those who want to show it.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Update<M> {
    /// A message for the application.
    Message(M),
    /// A ping went out with this id.
    PingSent(PingId),
    /// A pong acknowledged the ping in flight, after `rtt`.
    Pong {
        /// The id it echoed (`None` for application-level pongs).
        id: Option<PingId>,
        /// The measured round trip.
        rtt: Duration,
    },
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Phase {
    Open,
    /// Our close (or the peer's) is under way. `linger`: wait for the peer's close before
    /// dropping the transport (a clean shutdown); otherwise drop once ours is flushed.
    Closing {
        cause: Cause,
        code: Option<u16>,
        linger: bool,
    },
    Ended {
        cause: Cause,
        code: Option<u16>,
    },
}

/// One connection with its heartbeat: a `Stream` of the application's messages and a
/// `Sink` for them, over a transport that is a `Stream<Item = Result<M, E>> + Sink<M>`.
///
/// Reading and sending go through it; it reports every message to its
/// [`HeartbeatMachine`], sends the pings and pongs the machine asks for, arms one timer at
/// the machine's deadline, and closes the connection when the machine says so. The
/// stream's last item is an [`Error`] saying why the connection ended.
///
/// # What you must keep doing
///
/// The heartbeat runs while the stream is polled (`next()`, or `poll_update` /
/// `poll_next`, or a pending `send`/`flush`/`close`): that is when pings go out, pongs are
/// answered and silence is measured. A `Heartbeat` left unpolled answers no pings, so
/// the *peer* may time it out after its own bound; it never makes *this* side call a live
/// peer dead, because every message waiting in the transport is read (and proves the
/// peer alive) before any deadline is checked. So:
///
/// - poll it in a loop (for example in `select!` with your other work), and do not hold
///   a message longer than the peer's pong timeout before polling again; or
/// - hand slow work to another task; or
/// - use [`Client`](super::Client), which drives the connection from its own task.
///
/// A message is sent only when a `send` (or `flush`) completes; a send on a connection
/// that ended fails with the cause. Messages that arrive after you called `close` are
/// discarded.
pub struct Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    transport: Option<S>,
    codec: C,
    /// One timer, at the machine's deadline.
    alarm: Alarm<T>,
    machine: HeartbeatMachine,
    clock: Clock,
    /// Control messages waiting for the sink: at most one of each.
    pong: Option<C::Message>,
    ping: Option<C::Message>,
    close: Option<C::Message>,
    unflushed: bool,
    /// Data arrived / was sent since the machine last heard of it.
    traffic_in: bool,
    traffic_out: bool,
    /// The timer fired; the tick waits until what was read is reported.
    timer_fired: bool,
    phase: Phase,
    ping_note: Option<PingId>,
    end: Option<Error<S::Error>>,
    follow_up: Option<Action>,
}

// Nothing is ever pinned through a `Heartbeat`: the transport is polled as `Pin<&mut S>`
// with `S: Unpin`, the rest is plain data.
impl<S: Sink<C::Message>, C: HeartbeatCodec, T> Unpin for Heartbeat<S, C, T> {}

impl<S, C, T> fmt::Debug for Heartbeat<S, C, T>
where
    C: HeartbeatCodec,
    S: Sink<C::Message>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Heartbeat")
            .field("phase", &self.phase)
            .field("machine", &self.machine)
            .field("wake", &self.alarm.at())
            .finish_non_exhaustive()
    }
}

type Step<M, E> = Poll<Option<Result<Update<M>, Error<E>>>>;

impl<S, C, T, M, E> Heartbeat<S, C, T>
where
    C: HeartbeatCodec<Message = M>,
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    T: Timer,
{
    /// Drives `transport`, which is open now, with a new machine for `config` (use
    /// `Config::server()` on the accepting side).
    pub fn new(transport: S, codec: C, config: Config) -> Self {
        let clock = Clock::new();
        Heartbeat::with_machine(
            transport,
            codec,
            HeartbeatMachine::new(config, clock.now()),
            clock,
        )
    }

    /// Drives `transport`, which is open now, with an existing `machine` (reported
    /// [`Event::Connected`] here) whose times come from `clock`. A reconnecting client
    /// passes the same machine from connection to connection, so the backoff carries on.
    pub fn with_machine(
        transport: S,
        codec: C,
        mut machine: HeartbeatMachine,
        clock: Clock,
    ) -> Self {
        let actions = machine.handle(clock.now(), Event::Connected);
        let mut hb = Heartbeat {
            transport: Some(transport),
            codec,
            alarm: Alarm::default(),
            machine,
            clock,
            pong: None,
            ping: None,
            close: None,
            unflushed: false,
            traffic_in: false,
            traffic_out: false,
            timer_fired: false,
            phase: Phase::Open,
            ping_note: None,
            end: None,
            follow_up: None,
        };
        hb.apply(actions, None);
        hb
    }

    /// The machine, for its state, round-trip time and statistics.
    pub fn machine(&self) -> &HeartbeatMachine {
        &self.machine
    }

    /// The clock the machine's times come from.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The transport, until the connection ends.
    pub fn get_ref(&self) -> Option<&S> {
        self.transport.as_ref()
    }

    /// What the machine asked for when the connection ended: `Reconnect { after }` or
    /// `GiveUp` for a client, `None` for a server or after a shutdown.
    pub fn follow_up(&self) -> Option<Action> {
        self.follow_up
    }

    /// Takes the machine back (for the next connection of a reconnecting client).
    pub fn into_machine(self) -> HeartbeatMachine {
        self.machine
    }

    /// Whether the connection has ended (the stream has yielded, or is about to yield,
    /// its final error).
    pub fn is_ended(&self) -> bool {
        matches!(self.phase, Phase::Ended { .. })
    }

    /// Drives the connection and returns its next update: a message, or the heartbeat's
    /// own traffic. The last item is the [`Error`] that ended the connection.
    pub fn poll_update(&mut self, cx: &mut Context<'_>) -> Step<M, E> {
        let mut budget = BUDGET;
        loop {
            if let Some(id) = self.ping_note.take() {
                return Poll::Ready(Some(Ok(Update::PingSent(id))));
            }
            if let Phase::Ended { .. } = self.phase {
                return Poll::Ready(self.end.take().map(Err));
            }
            // 1. Our control messages go first: a pong must not wait behind anything.
            if let Err(e) = self.poll_control(cx) {
                self.failed(e);
                continue;
            }
            if let Phase::Closing { linger: false, .. } = self.phase {
                if self.close.is_none() && !self.unflushed {
                    self.finish(true, None);
                    continue;
                }
            }
            // 2. The timer, without reading the clock: a continuous stream of messages
            //    must not keep our keepalive pings from going out.
            if !self.timer_fired {
                self.arm(); // a field compare unless the deadline moved
                self.timer_fired = self.alarm.poll(cx).is_ready();
            }
            // Fired, and the peer spoke since the last report: that counts first
            // (liveness before deadlines), then the deadline.
            if self.timer_fired && self.traffic_in {
                self.tick(self.clock.now());
                self.arm(); // the stream may never run dry: the next tick must not wait for it
                continue;
            }
            // 3. Everything the peer sent, before any deadline: it proves the peer alive.
            let Some(transport) = self.transport.as_mut() else {
                self.finish(true, None);
                continue;
            };
            match Pin::new(transport).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => {
                    if let Some(update) = self.inbound(message, cx) {
                        return Poll::Ready(Some(Ok(update)));
                    }
                    budget -= 1;
                    if budget == 0 {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    continue;
                }
                Poll::Ready(Some(Err(e))) => {
                    self.failed(e);
                    continue;
                }
                Poll::Ready(None) => {
                    self.finish(true, None);
                    continue;
                }
                Poll::Pending => {}
            }
            // 4. Nothing more to read: the deadline, against the clock before the timer.
            match self.poll_deadline(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Reports the traffic seen since the last clock read, at `now`. Data messages are
    /// not timed one by one (a clock read costs more than the rest of the per-message
    /// work): they are reported at the next read, which comes before any deadline is
    /// checked and at least once per burst, so a deadline never sees stale liveness.
    fn report_traffic(&mut self, now: Instant) {
        if self.traffic_in {
            self.traffic_in = false;
            let actions = self.machine.handle(now, Event::DataReceived);
            self.apply(actions, None);
        }
        if self.traffic_out {
            self.traffic_out = false;
            let actions = self.machine.handle(now, Event::DataSent);
            self.apply(actions, None);
        }
    }

    /// Sets the timer to the machine's deadline (a no-op unless that changed).
    fn arm(&mut self) {
        if let Some(d) = self.machine.next_deadline() {
            self.alarm.set(&self.clock, d);
        }
    }

    /// Tells the machine `event` at `now`, after the traffic not yet reported, and
    /// carries out what it says.
    fn feed(&mut self, now: Instant, event: Event) {
        self.report_traffic(now);
        let actions = self.machine.handle(now, event);
        self.apply(actions, None);
    }

    /// The timer fired (or the deadline passed): report the traffic, then tick.
    fn tick(&mut self, now: Instant) {
        self.timer_fired = false;
        self.feed(now, Event::Tick);
    }

    fn inbound(&mut self, message: M, cx: &mut Context<'_>) -> Option<Update<M>> {
        let kind = self.codec.classify(&message);
        if kind == Inbound::Data {
            self.traffic_in = true;
            return match self.phase {
                Phase::Closing { linger: true, .. } => None,
                _ => Some(Update::Message(message)),
            };
        }
        let now = self.clock.now();
        self.report_traffic(now);
        match kind {
            Inbound::Ping => {
                let actions = self.machine.handle(now, Event::PingReceived);
                // Transports that answer pings themselves (tungstenite) send on a flush.
                self.unflushed = true;
                self.apply(actions, Some(&message));
                None
            }
            Inbound::Pong(id) => {
                let before = self.machine.stats().pongs_received;
                let actions = self.machine.handle(now, Event::PongReceived(id));
                self.apply(actions, None);
                let stats = self.machine.stats();
                (stats.pongs_received != before).then(|| Update::Pong {
                    id,
                    rtt: stats.rtt.unwrap_or_default(),
                })
            }
            Inbound::Close(code) => {
                // Let the transport send its answer if it queued one, then we are done.
                if let Some(t) = self.transport.as_mut() {
                    let _ = Pin::new(t).poll_flush(cx);
                }
                self.finish(true, Some(code));
                None
            }
            Inbound::Data => None, // handled above
        }
    }

    /// Carries out what the machine said. `ping` is the message being answered.
    fn apply(&mut self, actions: Actions, ping: Option<&M>) {
        for action in actions {
            match action {
                Action::SendPing(id) if self.phase == Phase::Open => {
                    self.ping = Some(self.codec.ping(id));
                    self.ping_note = Some(id);
                }
                Action::SendPong if self.phase == Phase::Open => {
                    if let Some(pong) = ping.and_then(|p| self.codec.pong(p)) {
                        self.pong = Some(pong);
                    }
                }
                Action::Close(reason) => self.begin_close(reason),
                Action::ForceClose => self.finish(false, None),
                Action::Reconnect { .. } | Action::GiveUp => self.follow_up = Some(action),
                _ => {}
            }
        }
    }

    fn begin_close(&mut self, reason: CloseReason) {
        if self.phase != Phase::Open {
            return;
        }
        // Nothing more goes out on this connection but the close.
        self.ping = None;
        self.pong = None;
        self.close = self.codec.close(reason);
        self.phase = Phase::Closing {
            cause: reason.into(),
            code: Some(reason.code()),
            // A clean shutdown waits for the peer's close (bounded by close_timeout), so
            // our close is not lost to a reset; a dead peer is not waited for.
            linger: reason == CloseReason::Shutdown && self.close.is_some(),
        };
    }

    /// The connection is over. `disconnected`: tell the machine (not after a
    /// `ForceClose`, which it already counted). `peer_close`: the peer's close frame
    /// arrived, with this code.
    fn finish(&mut self, disconnected: bool, peer_close: Option<Option<u16>>) {
        let (cause, code) = match (self.phase, peer_close) {
            (Phase::Ended { .. }, _) => return,
            (Phase::Closing { cause, code, .. }, _) => (cause, code),
            (Phase::Open, code) => (Cause::PeerClosed, code.flatten()),
        };
        self.end_with(disconnected, Error::new(cause, code, None));
    }

    /// The transport failed.
    fn failed(&mut self, e: E) {
        match self.phase {
            // An error while closing (a reset after our close) ends the close.
            Phase::Closing { .. } => self.finish(true, None),
            Phase::Open => self.end_with(true, Error::new(Cause::Error, None, Some(e))),
            Phase::Ended { .. } => {}
        }
    }

    fn end_with(&mut self, disconnected: bool, end: Error<E>) {
        if disconnected {
            self.feed(self.clock.now(), Event::Disconnected);
        }
        self.phase = Phase::Ended {
            cause: end.cause(),
            code: end.code(),
        };
        self.end = Some(end);
        self.transport = None;
        self.ping = None;
        self.pong = None;
        self.close = None;
        self.alarm.clear();
    }

    /// Sends the queued control messages as far as the sink takes them, then flushes.
    fn poll_control(&mut self, cx: &mut Context<'_>) -> Result<(), E> {
        let Some(transport) = self.transport.as_mut() else {
            return Ok(());
        };
        let mut t = Pin::new(transport);
        for slot in [&mut self.pong, &mut self.ping, &mut self.close] {
            if slot.is_none() {
                continue;
            }
            match t.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(m) = slot.take() {
                        t.as_mut().start_send(m)?;
                        self.unflushed = true;
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(()),
            }
        }
        if self.unflushed {
            match t.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {}
            }
        }
        Ok(())
    }

    /// Ticks the machine if its deadline has passed; otherwise arms the timer (only if
    /// the deadline changed) and waits on it.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.clock.now();
        self.report_traffic(now);
        let Some(deadline) = self.machine.next_deadline() else {
            self.alarm.clear();
            self.timer_fired = false;
            return Poll::Pending;
        };
        if now >= deadline || self.timer_fired {
            self.tick(now);
            if now >= deadline {
                return Poll::Ready(());
            }
        }
        self.arm();
        // Fired: the clock decides on the next pass (and re-arms if it was early).
        self.alarm.poll(cx)
    }

    /// The application goes to the background (or the OS throttles it): no pings, no
    /// deadlines, until [`resume`](Self::resume). A close under way still completes.
    pub fn pause(&mut self) {
        self.notify(Event::Pause);
    }

    /// Back from a pause: the peer is probed at once (one ping, a fresh
    /// `pong_timeout`). The ping goes out on the next poll.
    pub fn resume(&mut self) {
        self.notify(Event::Resume);
    }

    /// The network path changed (Wi-Fi to cellular, a new address): the peer is probed at
    /// once, on the next poll.
    pub fn network_changed(&mut self) {
        self.notify(Event::NetworkChanged);
    }

    fn notify(&mut self, event: Event) {
        if self.phase == Phase::Open {
            self.feed(self.clock.now(), event);
        }
    }

    /// Starts a clean close (code 1000); the stream ends when it completes.
    pub(crate) fn shut_down(&mut self) {
        self.notify(Event::Shutdown);
    }

    /// The error for a send that cannot be made, when the connection is closing or over.
    fn refused(&self) -> Option<Error<E>> {
        match self.phase {
            Phase::Open => None,
            Phase::Closing { cause, code, .. } | Phase::Ended { cause, code } => {
                Some(Error::new(cause, code, None))
            }
        }
    }

    /// A sink operation's outcome: a transport error ends the connection, and the send
    /// fails with the cause (the error itself goes to the stream's final item).
    fn sink_outcome(&mut self, outcome: Poll<Result<(), E>>) -> Poll<Result<(), Error<E>>> {
        match outcome {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.failed(e);
                Poll::Ready(Err(self.gone()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The error for a send on a connection that is closing or over.
    fn gone(&self) -> Error<E> {
        self.refused()
            .unwrap_or_else(|| Error::new(Cause::Error, None, None))
    }
}

impl<S, C, T, M, E> Stream for Heartbeat<S, C, T>
where
    C: HeartbeatCodec<Message = M>,
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    T: Timer,
{
    type Item = Result<M, Error<E>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            return match this.poll_update(cx) {
                Poll::Ready(Some(Ok(Update::Message(m)))) => Poll::Ready(Some(Ok(m))),
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

impl<S, C, T, M, E> Sink<M> for Heartbeat<S, C, T>
where
    C: HeartbeatCodec<Message = M>,
    S: Stream<Item = Result<M, E>> + Sink<M, Error = E> + Unpin,
    T: Timer,
{
    type Error = Error<E>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if let Some(e) = this.refused() {
            return Poll::Ready(Err(e));
        }
        // Our pings and pongs go before the application's next message.
        if let Err(e) = this.poll_control(cx) {
            return this.sink_outcome(Poll::Ready(Err(e)));
        }
        if this.pong.is_some() || this.ping.is_some() {
            return Poll::Pending; // the sink wakes us when it has room
        }
        match this.transport.as_mut() {
            Some(t) => {
                let outcome = Pin::new(t).poll_ready(cx);
                this.sink_outcome(outcome)
            }
            None => Poll::Ready(Err(this.gone())),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: M) -> Result<(), Self::Error> {
        let this = self.get_mut();
        if let Some(e) = this.refused() {
            return Err(e);
        }
        let outcome = match this.transport.as_mut() {
            Some(t) => Pin::new(t).start_send(item),
            None => return Err(this.gone()),
        };
        match this.sink_outcome(Poll::Ready(outcome)) {
            Poll::Ready(Err(e)) => return Err(e),
            _ => this.traffic_out = true, // reported at the next clock read (a flush at the latest)
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        if let Phase::Ended { .. } = this.phase {
            return Poll::Ready(Err(this.gone()));
        }
        if this.traffic_out {
            let now = this.clock.now();
            this.report_traffic(now);
        }
        if let Err(e) = this.poll_control(cx) {
            this.failed(e);
        }
        match this.transport.as_mut() {
            Some(t) => {
                let outcome = Pin::new(t).poll_flush(cx);
                this.sink_outcome(outcome)
            }
            None => Poll::Ready(Err(this.gone())),
        }
    }

    /// Closes with [`CloseReason::Shutdown`] (code 1000), waits for the peer's close
    /// (at most `close_timeout`), and completes. The stream then yields the final
    /// [`Error`] (cause [`Cause::Shutdown`]) and ends.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let this = self.get_mut();
        this.shut_down();
        loop {
            match this.poll_update(cx) {
                Poll::Ready(Some(Ok(_))) => continue, // after close: discarded
                Poll::Ready(Some(Err(end))) => {
                    this.end = Some(end); // kept for the stream
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
