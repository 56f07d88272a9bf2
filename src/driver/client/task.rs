//! The task that runs a [`Client`](super::Client)'s connections.
//!
//! It keeps no clock of its own: the machine says when to connect (`Connect` at the end
//! of a wait), when an attempt has taken too long (`AbortConnect`) and when to give up;
//! while no connection is open the task's one timer is the machine's deadline.

use super::{lock, Attempt, Begun, Direct, Inner, SessionEvent, Signal, Tried};
use crate::codec::HeartbeatCodec;
use crate::driver::alarm::Alarm;
use crate::driver::error::{refusal, Error, SendError, SetupFailed};
use crate::driver::heartbeat::{Heartbeat, Update};
use crate::driver::meter::Meter;
use crate::driver::trace::{event, Span};
use crate::driver::{BoxError, Runtime, Transport};
use crate::{
    Action, Actions, Clock, CloseReason, Config, Event, HeartbeatMachine, Instant, PathMemory,
    Stats,
};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use futures_sink::Sink;
use std::sync::{Arc, Mutex};

/// An attempt, or an on-connect step, under way.
type Pending<S> = Pin<Box<dyn Future<Output = Result<S, BoxError>> + Send>>;
/// The connect function, its error made uniform.
pub(super) type Connect<S> = Box<dyn FnMut(Attempt) -> Pending<S> + Send>;
/// The on-connect step.
pub(super) type Setup<S> = Box<dyn FnMut(S) -> Pending<S> + Send>;

/// Most messages handed to the transport before one flush, and most read in one pass.
const BATCH: usize = 64;

/// Batches a handle reads in the task's stead before the rest is the task's.
const HANDLE_BATCHES: usize = 4;

/// The open connection's driver, shared with the handles' direct sends (taken out when
/// the connection ends).
type Shared<S, C, R> = Arc<Mutex<Option<Heartbeat<S, C, R>>>>;

/// What the task is driving: the client's link to its server, from the first attempt
/// to the end.
// `Up` is where a client spends its life, and the task lives on the heap
// (spawned) anyway: boxing it would add an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Link<S: Transport, C, R: Runtime> {
    /// The first attempt starts at the first poll (a new machine is connecting).
    Start,
    /// No connection: the machine's deadline says when to connect.
    Waiting,
    /// An attempt under way, and the meter its transport may use.
    Dialing(Pending<S>, Meter),
    /// The connection is open; the on-connect step runs on it.
    SettingUp(Pending<S>, Meter),
    /// A connection is up, driven by its heartbeat (open, or closing).
    Up(Shared<S, C, R>),
    Done,
}

pub(super) struct Task<S: Transport, C, R: Runtime> {
    shared: Arc<Mutex<Inner<S::Message>>>,
    /// The machine, while no connection is open (the open connection's driver has it).
    machine: Option<HeartbeatMachine>,
    clock: Clock,
    codec: C,
    connect: Connect<S>,
    setup: Option<Setup<S>>,
    link: Link<S, C, R>,
    /// One timer, at the machine's deadline while no connection is open.
    alarm: Alarm<R>,
    /// Attempts started.
    attempts: u32,
    /// What ended the last connection or attempt.
    last_reason: Option<CloseReason>,
    stopping: bool,
    /// The open connection's reads and timer are polled with this waker: it wakes the
    /// task, unless a handle in the connection carries the wake-up out (see `Relay`).
    relay: Waker,
    /// The task's span (feature `tracing`; nothing otherwise).
    span: Span,
}

impl<S: Transport, C, R: Runtime> fmt::Debug for Task<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("machine", &self.machine)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

// Only the attempt and step futures are pinned, and they are boxed.
impl<S: Transport, C, R: Runtime> Unpin for Task<S, C, R> {}

impl<S, C, R> Task<S, C, R>
where
    S: Transport + Send + 'static,
    S::Message: Clone + Send,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message> + Clone + Send + 'static,
    R: Runtime,
{
    pub(super) fn new(
        shared: Arc<Mutex<Inner<S::Message>>>,
        runtime: R,
        config: Config,
        memory: PathMemory,
        codec: C,
        connect: Connect<S>,
        setup: Option<Setup<S>>,
    ) -> Self {
        let clock = Clock::with_epoch(runtime.now());
        let alarm = Alarm::new(runtime);
        let machine = HeartbeatMachine::new(config, alarm.now(&clock)).remember(memory);
        let relay = lock(&shared).relay_waker.clone();
        Task {
            relay,
            shared,
            machine: Some(machine),
            clock,
            codec,
            connect,
            setup,
            last_reason: None,
            link: Link::Start,
            alarm,
            attempts: 0,
            stopping: false,
            span: Span::client(),
        }
    }

    /// Names the peer in the task's span.
    pub(super) fn record_peer(&self, peer: &dyn fmt::Display) {
        self.span.record_peer(peer);
    }

    fn push(&self, event: SessionEvent<S::Message>) {
        lock(&self.shared).push(event);
    }

    fn now(&self) -> Instant {
        self.alarm.now(&self.clock)
    }

    /// The machine's statistics and path memory, wherever it is now.
    fn snapshot(&self) -> (Stats, PathMemory) {
        let taken = match &self.link {
            Link::Up(hb) => lock(hb).as_ref().map(|hb| figures(hb.machine())),
            _ => self.machine.as_ref().map(figures),
        };
        taken.unwrap_or((Stats::default(), PathMemory::new()))
    }

    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn stats(&self) -> Stats {
        self.snapshot().0
    }

    /// Advances the connection by one step: `Ready(true)` progress, `Ready(false)` done.
    fn poll_stage(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match &mut self.link {
            Link::Done => Poll::Ready(false),
            Link::Start => {
                self.dial();
                Poll::Ready(true)
            }
            Link::Waiting => self.poll_machine(cx),
            Link::Dialing(attempt, _) => match attempt.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.dialed(outcome);
                    Poll::Ready(true)
                }
                // The attempt's timeout is the machine's deadline.
                Poll::Pending => self.poll_machine(cx),
            },
            Link::SettingUp(step, _) => match step.as_mut().poll(cx) {
                Poll::Ready(outcome) => {
                    self.set_up(outcome);
                    Poll::Ready(true)
                }
                // The on-connect step counts toward the attempt's timeout.
                Poll::Pending => self.poll_machine(cx),
            },
            Link::Up(hb) => {
                let end = {
                    let mut guard = lock(hb);
                    let Some(hb) = guard.as_mut() else {
                        return Poll::Ready(false);
                    };
                    // An end a handle's read found (under this lock) comes first.
                    let found = lock(&self.shared).end.take();
                    let mut cx = Context::from_waker(&self.relay);
                    let read = || read(hb, &self.shared, &mut cx);
                    match found.map_or_else(read, |end| Poll::Ready(Some(end))) {
                        Poll::Ready(end) => end,
                        Poll::Pending => return Poll::Pending,
                    }
                };
                if let Some(end) = end {
                    self.ended(end);
                }
                Poll::Ready(true)
            }
        }
    }

    /// No connection is open: tick the machine at its deadline and do what it says.
    fn poll_machine(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let now = self.now();
        let Some(machine) = self.machine.as_mut() else {
            return Poll::Pending;
        };
        if !self
            .alarm
            .due(&self.clock, machine.next_deadline(), now, cx)
        {
            return Poll::Pending;
        }
        let actions = machine.handle(now, Event::Tick);
        self.act(actions, true);
        Poll::Ready(true)
    }

    /// Carries out the machine's word while no connection is open. `timed`: it came
    /// from a deadline (an abandoned attempt then timed out).
    fn act(&mut self, actions: Actions, timed: bool) {
        for action in actions {
            match action {
                Action::Connect => self.dial(),
                Action::AbortConnect => {
                    self.link = Link::Waiting; // drops the attempt
                    if timed {
                        self.last_reason = Some(CloseReason::ConnectTimeout);
                        let e = Error::new(CloseReason::ConnectTimeout);
                        event!(info, error = %e, "connect failed");
                        self.push(SessionEvent::ConnectFailed(e));
                    }
                }
                Action::Reconnect { after } => {
                    self.link = Link::Waiting;
                    self.reconnecting(after);
                }
                Action::GiveUp { reason, fatal } => self.gave_up(reason, fatal),
                _ => {}
            }
        }
    }

    fn gave_up(&mut self, reason: CloseReason, fatal: bool) {
        self.link = Link::Done;
        event!(warn, reason = reason.name(), fatal, "gave up");
        self.push(SessionEvent::GaveUp { reason, fatal });
    }

    /// The machine announced a wait.
    fn reconnecting(&mut self, after: Duration) {
        crate::driver::metrics::reconnecting(self.last_reason);
        event!(
            info,
            attempt = self.stats().attempt,
            after_ms = after.as_millis() as u64,
            "reconnecting"
        );
        self.push(SessionEvent::Reconnecting { after });
    }

    /// Starts an attempt.
    fn dial(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        event!(debug, attempt = self.attempts, "connecting");
        let meter = Meter::new();
        let attempt = (self.connect)(Attempt {
            number: self.attempts,
            last_reason: self.last_reason,
            meter: meter.clone(),
        });
        self.link = Link::Dialing(attempt, meter);
    }

    /// Leaves the attempt's stage (dialing or setting up) for waiting; returns the meter
    /// its transport was given.
    fn leave_attempt(&mut self) -> Meter {
        match core::mem::replace(&mut self.link, Link::Waiting) {
            Link::Dialing(_, meter) | Link::SettingUp(_, meter) => meter,
            _ => Meter::new(),
        }
    }

    /// The attempt ended: run the on-connect step on the new connection, or tell the
    /// machine it failed (a refusal with its status and `Retry-After`, found in the
    /// error's chain, or a transport failure).
    fn dialed(&mut self, outcome: Result<S, BoxError>) {
        let meter = self.leave_attempt();
        match outcome {
            Ok(transport) => match self.setup.as_mut() {
                Some(step) => self.link = Link::SettingUp(step(transport), meter),
                None => self.set_up_with(transport, meter),
            },
            Err(e) => {
                let reason = refusal(&*e).unwrap_or(CloseReason::Transport);
                self.failed(Error::new(reason).with_source(e));
            }
        }
    }

    /// The on-connect step ended: the connection is the application's, or the attempt
    /// failed.
    fn set_up(&mut self, outcome: Result<S, BoxError>) {
        let meter = self.leave_attempt();
        match outcome {
            Ok(transport) => self.set_up_with(transport, meter),
            Err(e) => self.failed(Error::new(CloseReason::Transport).with_source(SetupFailed(e))),
        }
    }

    /// The connection is open and set up: it is the application's now.
    fn set_up_with(&mut self, transport: S, meter: Meter) {
        let Some(machine) = self.machine.take() else {
            self.link = Link::Done;
            return;
        };
        let hb = Heartbeat::with_machine(
            self.alarm.runtime().clone(),
            transport,
            self.codec.clone(),
            machine,
            self.clock,
        )
        .with_meter(meter);
        let hb = Arc::new(Mutex::new(Some(hb)));
        let mut s = lock(&self.shared);
        s.direct = Some(Arc::clone(&hb) as Arc<dyn Direct<S::Message>>);
        self.link = Link::Up(hb);
        s.set_open(true);
        s.push(SessionEvent::Connected);
    }

    /// The attempt failed: the machine hears why and says what comes next.
    fn failed(&mut self, error: Error) {
        let reason = error.reason();
        self.last_reason = Some(reason);
        event!(info, error = %error, "connect failed");
        self.push(SessionEvent::ConnectFailed(error));
        self.tell(match reason {
            CloseReason::Transport => Event::ConnectFailed,
            reason => Event::Closed(reason),
        });
    }

    /// Tells the machine `event` while no connection is open (it is here, not with a
    /// connection's driver), and does what it says.
    fn tell(&mut self, event: Event) {
        let now = self.now();
        if let Some(machine) = self.machine.as_mut() {
            let actions = machine.handle(now, event);
            self.act(actions, false);
        }
    }

    /// The connection ended: take the machine back; it says what comes next. The
    /// application learns at once: not connected, and every send under way fails.
    fn ended(&mut self, end: Option<Error>) {
        let reason = end.as_ref().map_or(CloseReason::Transport, Error::reason);
        self.last_reason = Some(reason);
        {
            let mut s = lock(&self.shared);
            s.set_open(false); // no handle reaches the connection any more
            if let Some(end) = end {
                s.push(SessionEvent::Closed(end));
            }
            s.ledger.ended(reason, self.stopping);
            s.wake_handles();
        }
        let Link::Up(hb) = core::mem::replace(&mut self.link, Link::Waiting) else {
            return;
        };
        let Some(hb) = lock(&hb).take() else {
            self.link = Link::Done;
            return;
        };
        let follow_up = hb.follow_up();
        let slowed_down = hb.slowed_down();
        let machine = hb.into_machine();
        let ping_interval = machine.stats().ping_interval;
        self.machine = Some(machine);
        if slowed_down {
            event!(
                warn,
                ping_interval_ms = ping_interval.as_millis() as u64,
                "told: too many pings"
            );
            self.push(SessionEvent::SlowingDown { ping_interval });
        }
        match follow_up {
            // The wait is the machine's deadline; its tick says Connect.
            Some(Action::Reconnect { after }) => self.reconnecting(after),
            Some(Action::GiveUp { reason, fatal }) => self.gave_up(reason, fatal),
            _ => self.link = Link::Done,
        }
    }

    /// Pause, Resume, a network change, from the application.
    fn signal(&mut self, signal: Signal) {
        if let Link::Up(hb) = &self.link {
            if let Some(hb) = lock(hb).as_mut() {
                match signal {
                    Signal::Event(event) => hb.notify(event),
                    Signal::MovedTo(memory) => hb.moved_to(memory),
                }
            }
            return;
        }
        match signal {
            Signal::Event(event) => self.tell(event),
            Signal::MovedTo(memory) => {
                let now = self.now();
                if let Some(machine) = self.machine.as_mut() {
                    let actions = machine.moved_to(now, memory);
                    self.act(actions, false);
                }
            }
        }
    }

    fn shut_down(&mut self) {
        match &self.link {
            Link::Up(hb) => {
                if let Some(hb) = lock(hb).as_mut() {
                    hb.notify(Event::Shutdown);
                }
            }
            Link::Done => {}
            _ => {
                let now = self.now();
                if let Some(m) = self.machine.as_mut() {
                    let _ = m.handle(now, Event::Shutdown);
                }
                self.link = Link::Done;
            }
        }
    }

    /// Moves the handles' messages along: into the sink, as many as it takes, then one
    /// flush; while no connection is open, each fails at once with its message. The
    /// shared lock is taken for moments between the transport's calls, never across one.
    fn poll_send(&mut self, cx: &mut Context<'_>) {
        let Link::Up(hb) = &self.link else {
            let mut s = lock(&self.shared);
            s.ledger.refuse_queued(self.stopping);
            s.wake_handles();
            return;
        };
        let mut guard = lock(hb);
        let Some(hb) = guard.as_mut() else {
            return;
        };
        if !hb.is_open() {
            // Closing: over for sending at once (what was handed over is still flushed).
            let mut s = lock(&self.shared);
            if s.open {
                s.set_open(false);
            }
            s.ledger.refuse_queued(self.stopping);
            s.wake_handles();
        }
        let mut hb = Pin::new(hb);
        loop {
            let mut taken = 0;
            while taken < BATCH {
                if lock(&self.shared).ledger.queued() == 0 {
                    break;
                }
                match hb.as_mut().poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    // The connection is ending: what waits fails once it has.
                    Poll::Ready(Err(_)) | Poll::Pending => break,
                }
                let mut s = lock(&self.shared);
                let Some((ticket, m)) = s.ledger.take() else {
                    break;
                };
                let copy = m.clone();
                match hb.as_mut().start_send(m) {
                    Ok(()) => s.ledger.handed(ticket, copy),
                    // Refused before the transport had it: certainly not sent.
                    Err(_) => {
                        s.ledger.refused(ticket, copy);
                        s.wake_handles();
                    }
                }
                taken += 1;
            }
            if lock(&self.shared).ledger.in_flight() == 0 {
                return;
            }
            let Poll::Ready(result) = hb.as_mut().poll_flush(cx) else {
                return;
            };
            let mut s = lock(&self.shared);
            // A failure ends the connection: queued sends fail when the task sees it end.
            s.flushed(&result);
            if result.is_err() || s.ledger.queued() == 0 {
                return;
            }
        }
    }
}

/// Holds the connection's reads while the application is `behind` (lifts the hold
/// otherwise) and, held and open, takes the held step, polled with `relay`: read
/// nothing until the application takes enough (its catching up resumes the reads); our
/// pings and pongs go out, and the peer is judged only as far as the kernel can vouch
/// for it. Returns whether that was the step (held, and still open).
fn held<S, C, R>(hb: &mut Heartbeat<S, C, R>, behind: bool, relay: &Waker) -> bool
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    hb.hold(behind);
    if !behind || !hb.is_open() {
        return false;
    }
    hb.poll_held(&mut Context::from_waker(relay));
    hb.is_open()
}

/// What the handles see of `machine`: its statistics and path memory.
fn figures(machine: &HeartbeatMachine) -> (Stats, PathMemory) {
    (machine.stats(), machine.path_memory())
}

/// Reads what the connection has for the application, up to a batch, into the inbox
/// under one lock: `Ready(Some(end))` when the connection ended (`end` is its error, if
/// it has one), `Ready(None)` when something was read, `Pending` when nothing was.
#[allow(clippy::type_complexity)]
fn read<S, C, R>(
    hb: &mut Heartbeat<S, C, R>,
    shared: &Mutex<Inner<S::Message>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Option<Error>>>
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    let mut s = None;
    for _ in 0..BATCH {
        let step = match hb.poll_update(cx) {
            Poll::Ready(step) => step,
            Poll::Pending if s.is_some() => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let inner = s.get_or_insert_with(|| lock(shared));
        match step {
            Some(Ok(Update::Message(m))) => inner.push(SessionEvent::Message(m)),
            Some(Ok(Update::PingSent(id))) => inner.push(SessionEvent::PingSent(id)),
            Some(Ok(Update::Pong(rtt))) => inner.push(SessionEvent::Pong { rtt }),
            Some(Err(end)) => return Poll::Ready(Some(Some(end))),
            None => return Poll::Ready(Some(None)),
        }
        if inner.inbox.behind() {
            break; // the task holds the connection's reads before the next pass
        }
    }
    Poll::Ready(None)
}

/// A handle's step on the open connection in the task's stead (see [`Direct::read`]):
/// the held step while the application is `behind`; otherwise reads, as the task's
/// passes would, until nothing more is there (the relay then waits for the
/// connection's readiness), the application is behind (then the held step: the reads
/// are held before any deadline is looked at), or the connection is closing (the
/// task's to carry out, as is what is left after a few batches). Returns whether it was
/// taken (not when the connection began closing in the held step).
fn take_step<S, C, R>(
    hb: &mut Heartbeat<S, C, R>,
    shared: &Mutex<Inner<S::Message>>,
    relay: &Waker,
    behind: bool,
) -> bool
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    let held_open = held(hb, behind, relay);
    if behind {
        return held_open; // that was the step; closing meanwhile, it is the task's
    }
    let mut cx = Context::from_waker(relay);
    for _ in 0..HANDLE_BATCHES {
        let step = read(hb, shared, &mut cx);
        let mut s = lock(shared);
        let more = match step {
            Poll::Ready(Some(end)) => {
                s.end = Some(end);
                false
            }
            // What was read moved the machine: its figures as of now.
            Poll::Ready(None) => {
                (s.stats, s.memory) = figures(hb.machine());
                true
            }
            Poll::Pending => false,
        };
        if s.end.is_some() || !hb.is_open() {
            s.wake_task(); // ended or closing: the task carries it out
            return true;
        }
        if !more {
            return true;
        }
        if s.inbox.behind() {
            drop(s);
            return held(hb, true, relay);
        }
    }
    lock(shared).wake_task(); // more still: the task's next pass
    true
}

/// A handle's send on the open connection (see [`Direct::send`]).
impl<S, C, R> Direct<S::Message> for Mutex<Option<Heartbeat<S, C, R>>>
where
    S: Transport + Send,
    S::Message: Clone + Send,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message> + Send,
    R: Runtime,
{
    fn send(
        &self,
        m: S::Message,
        shared: &Mutex<Inner<S::Message>>,
    ) -> Result<Begun, SendError<S::Message>> {
        // The connection first, then the shared state: the task's order too.
        let mut guard = lock(self);
        let mut s = lock(shared);
        let m = s.may_send(m)?;
        match guard.as_mut() {
            Some(hb) if s.ledger.idle() => {
                let tried = try_send(Pin::new(hb), m);
                s.tried(tried)
            }
            _ => Ok(s.queue(m)),
        }
    }

    fn read(&self, shared: &Mutex<Inner<S::Message>>, relay: &Waker) -> bool {
        // The connection first, then the shared state: the task's order too.
        let mut guard = lock(self);
        let Some(hb) = guard.as_mut() else {
            return false;
        };
        if !hb.is_open() {
            return false;
        }
        let (behind, ended) = {
            let s = lock(shared);
            (s.inbox.behind(), s.end.is_some())
        };
        if ended {
            return false;
        }
        let runtime = hb.runtime().clone();
        let mut took = false;
        runtime.unbudgeted(&mut || took = take_step(hb, shared, relay, behind));
        took
    }

    fn flush(&self, shared: &Mutex<Inner<S::Message>>) {
        // The connection first, then the shared state: the task's order too.
        let mut guard = lock(self);
        let mut s = lock(shared);
        if s.ledger.in_flight() == 0 {
            return; // the task flushed it meanwhile, or the connection ended
        }
        match guard.as_mut() {
            Some(hb) => finish_flush(Pin::new(hb), &mut s),
            None => s.wake_task(),
        }
    }
}

/// How the flush a direct send left pending went, finished by the sender.
fn finish_flush<S, C, R>(hb: Pin<&mut Heartbeat<S, C, R>>, s: &mut Inner<S::Message>)
where
    S: Transport,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    let mut cx = Context::from_waker(crate::driver::nobody());
    let mut hb = hb;
    let Poll::Ready(result) = hb.as_mut().poll_flush(&mut cx) else {
        // The transport waits for the socket: the task polls with its own waker.
        return s.wake_task();
    };
    s.flushed(&result);
    // A failure ends the connection (the task sees it end and settles the rest); a ping
    // of ours that left with the flush is the task's to report.
    if result.is_err() || hb.has_update() {
        s.wake_task();
    }
}

/// Poll-ready, hand over, flush, with a waker that wakes nobody.
fn try_send<S, C, R>(mut hb: Pin<&mut Heartbeat<S, C, R>>, m: S::Message) -> Tried<S::Message>
where
    S: Transport,
    S::Message: Clone,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message>,
    R: Runtime,
{
    let mut cx = Context::from_waker(crate::driver::nobody());
    match hb.as_mut().poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return Tried::Failed(SendError::NotConnected(m)),
        Poll::Pending => return Tried::Busy(m),
    }
    let copy = m.clone();
    if hb.as_mut().start_send(m).is_err() {
        return Tried::Failed(SendError::NotConnected(copy));
    }
    match hb.as_mut().poll_flush(&mut cx) {
        // A ping of ours that left with it is the task's to report.
        Poll::Ready(Ok(())) => Tried::Sent {
            wake: hb.has_update(),
        },
        Poll::Ready(Err(e)) => Tried::Failed(SendError::Unconfirmed(copy, e.reason())),
        Poll::Pending => Tried::Handed(copy),
    }
}

impl<S, C, R> Future for Task<S, C, R>
where
    S: Transport + Send + 'static,
    S::Message: Clone + Send,
    <S as Sink<S::Message>>::Error: std::error::Error + Send + Sync + 'static,
    C: HeartbeatCodec<S::Message> + Clone + Send + 'static,
    R: Runtime,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let span = this.span.clone();
        let _entered = span.enter();
        loop {
            let (stats, memory) = this.snapshot();
            let (shutdown, behind, signals) = {
                let mut s = lock(&this.shared);
                s.relay.task_polls(cx.waker());
                s.stats = stats;
                s.memory = memory;
                let signals = core::mem::take(&mut s.signals);
                (s.shutdown, s.inbox.behind(), signals)
            };
            for event in signals {
                this.signal(event);
            }
            if shutdown && !this.stopping {
                this.stopping = true;
                this.shut_down();
            }
            this.poll_send(cx);
            if let Link::Up(hb) = &this.link {
                // A connection closing or ended still finishes: what it reads is
                // discarded, and its end is news that never waits.
                if let Some(hb) = lock(hb).as_mut() {
                    if held(hb, behind, &this.relay) {
                        return Poll::Pending;
                    }
                }
            }
            match this.poll_stage(cx) {
                Poll::Ready(true) => continue,
                Poll::Ready(false) => {
                    let mut s = lock(&this.shared);
                    s.finished = true;
                    s.set_open(false);
                    s.ledger.ended(CloseReason::Shutdown, true);
                    s.wake_handles();
                    if let Some(w) = s.reader.take() {
                        w.wake();
                    }
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use super::*;
    use crate::codec::TextCodec;
    use crate::driver::client::Ticket;
    use crate::driver::tokio::Tokio;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::io;
    use std::task::Wake;

    /// A transport whose first `pending` flushes report `Pending` and register nothing,
    /// as a runtime's exhausted budget does; what it takes, it keeps. It reads what
    /// `incoming` holds, then waits (registering the waker it was polled with), or ends
    /// when `incoming` says so.
    struct PutOff {
        pending: usize,
        sent: Arc<Mutex<Vec<String>>>,
        incoming: Arc<Mutex<Incoming>>,
    }

    /// What the peer sent, not yet read; whether it then closed; who waits to read;
    /// whether the peer echoes what we send (at once).
    #[derive(Default)]
    struct Incoming {
        messages: std::collections::VecDeque<String>,
        closed: bool,
        waiting: Option<std::task::Waker>,
        echo: bool,
    }

    impl futures_core::Stream for PutOff {
        type Item = Result<String, io::Error>;
        fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            let mut incoming = lock(&self.incoming);
            if let Some(m) = incoming.messages.pop_front() {
                return Poll::Ready(Some(Ok(m)));
            }
            if incoming.closed {
                return Poll::Ready(None);
            }
            incoming.waiting = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    impl Sink<String> for PutOff {
        type Error = io::Error;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, m: String) -> io::Result<()> {
            let mut incoming = lock(&self.incoming);
            if incoming.echo {
                // The peer's echo arrives while the send is still under way.
                incoming.messages.push_back(m.clone());
                if let Some(waiting) = incoming.waiting.take() {
                    waiting.wake();
                }
            }
            lock(&self.sent).push(m);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            if this.pending > 0 {
                this.pending -= 1;
                return Poll::Pending;
            }
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Counts its wake-ups: the task's waker.
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    type Conn = Mutex<Option<Heartbeat<PutOff, TextCodec, Tokio>>>;

    /// What `PutOff` took.
    type Sent = Arc<Mutex<Vec<String>>>;

    /// An open connection over `PutOff`, the shared state with the task's waker
    /// counting, and what the peer sends it.
    struct Opened {
        conn: Arc<Conn>,
        shared: Arc<Mutex<Inner<String>>>,
        task: Arc<Count>,
        sent: Sent,
        incoming: Arc<Mutex<Incoming>>,
        /// The relay's waker, for reads as a handle's.
        relay: Waker,
    }

    fn open(pending: usize) -> Opened {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let incoming = Arc::new(Mutex::new(Incoming::default()));
        let transport = PutOff {
            pending,
            sent: Arc::clone(&sent),
            incoming: Arc::clone(&incoming),
        };
        let config = Config::client().build().expect("defaults");
        let hb = Heartbeat::new(Tokio, transport, TextCodec::default(), config);
        let conn = Arc::new(Mutex::new(Some(hb)));
        let shared = Arc::new(Mutex::new(Inner::new(8)));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        {
            let mut s = lock(&shared);
            s.set_open(true);
            s.relay.task_polls(&Arc::clone(&count).into());
            s.direct = Some(Arc::clone(&conn) as Arc<dyn Direct<String>>);
        }
        let relay = lock(&shared).relay_waker.clone();
        Opened {
            conn,
            shared,
            task: count,
            sent,
            incoming,
            relay,
        }
    }

    /// The peer's `messages` arrive, unread yet.
    fn arrive<T: ToString>(incoming: &Mutex<Incoming>, messages: impl IntoIterator<Item = T>) {
        let arrived = messages.into_iter().map(|m| m.to_string());
        lock(incoming).messages.extend(arrived);
    }

    fn messages(shared: &Mutex<Inner<String>>) -> Vec<String> {
        let mut s = lock(shared);
        core::iter::from_fn(|| s.inbox.pop())
            .filter_map(|e| match e {
                SessionEvent::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// The application falls behind: its buffer (8) full of messages.
    fn fall_behind(shared: &Mutex<Inner<String>>) {
        let mut s = lock(shared);
        for i in 0..8 {
            s.push(SessionEvent::Message(i.to_string()));
        }
        assert!(s.inbox.behind());
    }

    fn wakes(task: &Count) -> usize {
        task.0.load(Ordering::Relaxed)
    }

    /// A handle owed a wake-up reads the connection as the task would, in order, and
    /// registers the relay: the next message wakes the task (nobody is sending).
    #[tokio::test]
    async fn a_handle_reads_the_connection_as_the_task_would() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            relay,
            ..
        } = open(0);
        arrive(&incoming, ["a", "b"]);
        assert!(conn.read(&shared, &relay));
        assert_eq!(messages(&shared), ["a", "b"]);
        assert_eq!(wakes(&task), 0, "the task was not needed");
        let waiting = lock(&incoming).waiting.take().expect("registered");
        assert!(
            waiting.will_wake(&relay),
            "the relay waits for the next one"
        );
        waiting.wake();
        assert_eq!(wakes(&task), 1);
    }

    /// A handle reads as the task's passes would, past one batch: what the connection
    /// has is read while the application is not behind (a few batches at most; the
    /// rest is the task's, which is woken), never left with nobody to read it.
    #[tokio::test]
    async fn a_handle_reads_past_a_batch_or_hands_the_rest_to_the_task() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            relay,
            ..
        } = open(0);
        lock(&shared).inbox = super::super::inbox::Inbox::new(10_000);
        arrive(&incoming, 0..BATCH + 1);
        assert!(conn.read(&shared, &relay));
        assert_eq!(messages(&shared).len(), BATCH + 1, "past one batch");
        assert_eq!(wakes(&task), 0);
        arrive(&incoming, 0..HANDLE_BATCHES * BATCH + 1);
        assert!(conn.read(&shared, &relay));
        assert_eq!(messages(&shared).len(), HANDLE_BATCHES * BATCH);
        assert_eq!(wakes(&task), 1, "the rest is the task's");
    }

    /// A handle's reads that leave the application behind hold the connection's reads
    /// at once, as the task's next pass would: what is left waits (unread), and no
    /// deadline is looked at with the reads taken for live.
    #[tokio::test]
    async fn a_handle_reading_the_application_behind_holds_the_reads() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            relay,
            ..
        } = open(0);
        arrive(&incoming, 0..10);
        assert!(conn.read(&shared, &relay));
        assert!(lock(&shared).inbox.behind());
        assert!(lock(&conn).as_ref().expect("open").is_held());
        assert_eq!(lock(&incoming).messages.len(), 2, "the rest waits");
        assert_eq!(wakes(&task), 0);
    }

    /// While the application is behind, a handle takes the held step as the task would
    /// (the reads held, nothing read) without waking it; once the connection ended, an
    /// end found is the task's to carry out.
    #[tokio::test]
    async fn a_handle_takes_the_held_step_and_leaves_endings_to_the_task() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            relay,
            ..
        } = open(0);
        fall_behind(&shared);
        arrive(&incoming, ["later"]);
        assert!(conn.read(&shared, &relay), "behind: the held step");
        assert!(lock(&conn).as_ref().expect("open").is_held());
        assert_eq!(lock(&incoming).messages.len(), 1, "nothing read");
        assert_eq!(wakes(&task), 0, "the task was not needed");
        assert_eq!(messages(&shared).len(), 8);
        lock(&incoming).closed = true;
        assert!(conn.read(&shared, &relay));
        assert_eq!(
            messages(&shared),
            ["later"],
            "what came before the end first"
        );
        assert!(lock(&shared).end.is_some(), "the end waits for the task");
        assert!(wakes(&task) >= 1, "and the task is told");
        assert!(!conn.read(&shared, &relay), "ended: nothing more to read");
    }

    /// An end a handle's read found is the task's next step: the connection is over
    /// for the application (not connected, closed, reconnecting), as if the task had
    /// read it.
    #[tokio::test]
    async fn the_task_carries_out_an_end_a_handle_found() {
        let shared = Arc::new(Mutex::new(Inner::<String>::new(8)));
        let incoming = Arc::new(Mutex::new(Incoming::default()));
        let peer = Arc::clone(&incoming);
        let connect: Connect<PutOff> = Box::new(move |_| {
            let transport = PutOff {
                pending: 0,
                sent: Arc::default(),
                incoming: Arc::clone(&peer),
            };
            Box::pin(async move { Ok(transport) })
        });
        let config = Config::client().build().expect("defaults");
        let codec = TextCodec::default();
        let mut task = Task::new(
            Arc::clone(&shared),
            Tokio,
            config,
            PathMemory::new(),
            codec,
            connect,
            None,
        );
        let mut step = || {
            let mut cx = Context::from_waker(crate::driver::nobody());
            Pin::new(&mut task).poll(&mut cx)
        };
        assert!(step().is_pending());
        assert!(lock(&shared).open, "connected");
        lock(&incoming).closed = true;
        let (direct, relay) = {
            let s = lock(&shared);
            (s.direct.clone().expect("open"), s.relay_waker.clone())
        };
        assert!(direct.read(&shared, &relay));
        assert!(lock(&shared).open, "the task has not run yet");
        assert!(step().is_pending());
        let mut s = lock(&shared);
        assert!(!s.open, "over for the application");
        let events: Vec<_> = core::iter::from_fn(|| s.inbox.pop()).collect();
        assert!(
            matches!(
                events[..],
                [
                    SessionEvent::Connected,
                    SessionEvent::Closed(_),
                    SessionEvent::Reconnecting { .. }
                ]
            ),
            "{events:?}"
        );
    }

    /// A wake-up owed to a sender is carried out by its read, unless the task has
    /// work the read does not do (a send queued): then the task is woken.
    #[tokio::test]
    async fn a_sender_owed_a_wake_up_reads() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            ..
        } = open(0);
        arrive(&incoming, ["echo"]);
        Inner::read_owed(&shared, false);
        assert_eq!(messages(&shared), ["echo"]);
        assert_eq!(wakes(&task), 0);
        lock(&shared).ledger.queue("queued".to_string());
        Inner::read_owed(&shared, false);
        assert_eq!(wakes(&task), 1, "the queue is the task's");
        {
            let mut s = lock(&shared);
            let (ticket, m) = s.ledger.take().expect("queued");
            s.ledger.handed(ticket, m);
        }
        Inner::read_owed(&shared, false);
        assert_eq!(wakes(&task), 2, "so is a flush in flight");
        Inner::read_owed(&shared, true);
        assert_eq!(wakes(&task), 2, "unless the send finishes its flush next");
        lock(&shared).ledger.flushed();
        fall_behind(&shared);
        Inner::read_owed(&shared, false);
        assert_eq!(wakes(&task), 2, "the held step is a sender's too");
        assert!(lock(&conn).as_ref().expect("open").is_held());
    }

    /// Spends the calling task's whole cooperative budget (tokio's).
    fn spend_budget(cx: &mut Context<'_>) {
        while let Poll::Ready(unit) = tokio::task::coop::poll_proceed(cx) {
            unit.made_progress();
        }
    }

    /// A handle's step in the task's stead spares the caller's cooperative budget: with
    /// that budget spent (by its own writes, in a real send), the step still runs whole
    /// (the timer polled too) and nobody is woken: the task's work, done by the caller,
    /// does not turn into a wake-up of the task after all.
    #[tokio::test]
    async fn a_handles_step_spares_the_callers_budget() {
        let Opened {
            shared,
            task,
            incoming,
            ..
        } = open(0);
        arrive(&incoming, ["a"]);
        core::future::poll_fn(|cx| {
            spend_budget(cx);
            Inner::read_owed(&shared, false);
            Poll::Ready(())
        })
        .await;
        tokio::task::yield_now().await; // (the runtime wakes what a spent budget put off)
        assert_eq!(messages(&shared), ["a"]);
        assert_eq!(wakes(&task), 0, "nothing put off");
    }

    /// Polls `events` once with `waker`, the caller's budget spent first.
    async fn poll_spent(
        events: &mut super::super::Events<String>,
        waker: &Waker,
    ) -> Poll<Option<SessionEvent<String>>> {
        core::future::poll_fn(|cx| {
            spend_budget(cx);
            let mut own = Context::from_waker(waker);
            Poll::Ready(futures_core::Stream::poll_next(
                Pin::new(&mut *events),
                &mut own,
            ))
        })
        .await
    }

    /// The `Events` stream spends a unit of the caller's budget per event, as the
    /// runtime's own channels do: with none left it answers `Pending` though an event
    /// waits (the caller is woken), so an application finding event after event ready
    /// still lets the runtime's other tasks run; a turn later the event comes.
    #[tokio::test]
    async fn events_spend_the_callers_budget() {
        let Opened { shared, .. } = open(0);
        let mut events = super::super::Events::on(Arc::clone(&shared));
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&woken));
        assert!(poll_spent(&mut events, &waker).await.is_pending());
        assert!(
            lock(&shared).reader.is_some(),
            "nothing to take: it waits for news"
        );
        lock(&shared).reader = None;
        lock(&shared).push(SessionEvent::Message("a".to_string()));
        let first = poll_spent(&mut events, &waker).await;
        assert!(first.is_pending(), "no budget left: a turn first");
        tokio::task::yield_now().await;
        assert_eq!(wakes(&woken), 1, "woken to go on");
        let next =
            core::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut events), cx));
        assert_eq!(next.await, Some(SessionEvent::Message("a".to_string())));
    }

    /// The application catching up (its buffer down to half) resumes the reads the
    /// task held, in its own `Events` poll: what waited comes next, in order, and the
    /// task (on another thread, in a real runtime) is not woken for it.
    #[tokio::test]
    async fn catching_up_reads_what_was_held() {
        let Opened {
            conn,
            shared,
            task,
            incoming,
            ..
        } = open(0);
        fall_behind(&shared);
        lock(&conn).as_mut().expect("open").hold(true);
        arrive(&incoming, ["later"]);
        let mut events = super::super::Events::on(Arc::clone(&shared));
        let mut got = Vec::new();
        for _ in 0..9 {
            match core::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(Pin::new(&mut events), cx)
            })
            .await
            {
                Some(SessionEvent::Message(m)) => got.push(m),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, ["0", "1", "2", "3", "4", "5", "6", "7", "later"]);
        assert_eq!(wakes(&task), 0, "the task slept through it");
        assert!(!lock(&conn).as_ref().expect("open").is_held());
    }

    /// An application taking events while it is not behind reads nothing itself: the
    /// connection's reads stay the task's (reading at every event would read ahead of
    /// the peer in small batches).
    #[tokio::test]
    async fn taking_events_when_not_behind_leaves_the_reads_to_the_task() {
        let Opened {
            shared, incoming, ..
        } = open(0);
        lock(&shared).push(SessionEvent::Message("a".to_string()));
        arrive(&incoming, ["later"]);
        let mut events = super::super::Events::on(Arc::clone(&shared));
        let next =
            core::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut events), cx));
        assert_eq!(next.await, Some(SessionEvent::Message("a".to_string())));
        assert_eq!(lock(&incoming).messages.len(), 1, "not read");
    }

    /// A flush the runtime put off, finished by its sender after a yield, hands the
    /// timer back to the reads: that wake-up comes while the sender is inside again,
    /// and is its to carry out, not the task's.
    #[tokio::test]
    async fn a_sender_finishing_its_flush_carries_out_the_wake_up_it_brings() {
        let Opened {
            conn,
            shared,
            task,
            relay,
            sent,
            ..
        } = open(1);
        assert!(conn.read(&shared, &relay), "the reads poll with the relay");
        let client = super::super::Client::on(Arc::clone(&shared));
        client.send("hello".to_string()).await.expect("sent");
        assert_eq!(*lock(&sent), ["hello"]);
        assert_eq!(wakes(&task), 0, "the task slept through it");
    }

    /// Opens over `PutOff` (its first `pending` flushes put off) and reads the connection
    /// to the end (the relay waits for what comes next); then a handle sends "hello"
    /// while the peer echoes at once: the echo arrives while the send is in the
    /// connection, is read by that send before it returns, and the task (on another
    /// thread, in a real runtime) is not woken for it. The handle stays for the caller.
    async fn send_while_echoed(pending: usize) -> (Opened, super::super::Client<String>) {
        let opened = open(pending);
        assert!(opened.conn.read(&opened.shared, &opened.relay));
        lock(&opened.incoming).echo = true;
        let client = super::super::Client::on(Arc::clone(&opened.shared));
        client.send("hello".to_string()).await.expect("sent");
        assert_eq!(*lock(&opened.sent), ["hello"]);
        let echo = messages(&opened.shared);
        assert_eq!(echo, ["hello"], "the echo, read by the send");
        assert_eq!(wakes(&opened.task), 0, "the task slept through it");
        (opened, client)
    }

    /// What arrives during a send is read by the send; once the send is over, the next
    /// arrival is the task's again.
    #[tokio::test]
    async fn what_arrives_during_a_send_is_read_by_the_send() {
        let (opened, _client) = send_while_echoed(0).await;
        arrive(&opened.incoming, ["later"]);
        lock(&opened.incoming)
            .waiting
            .take()
            .expect("registered")
            .wake();
        assert_eq!(wakes(&opened.task), 1);
    }

    /// The same with the send's flush put off by the runtime: the send reads what
    /// arrived, then finishes its own flush; what is in flight meanwhile is its own, so
    /// the task is not woken for it either.
    #[tokio::test]
    async fn a_send_finishing_its_own_flush_reads_what_arrives_alone() {
        let (opened, _client) = send_while_echoed(1).await;
        assert_eq!(
            lock(&opened.shared).ledger.in_flight(),
            0,
            "flushed by the send"
        );
    }

    /// A send that waits for room is not in the connection: a wake-up meanwhile goes
    /// to the task at once, not to a send that may wait for long.
    #[tokio::test]
    async fn a_send_waiting_for_room_leaves_wake_ups_to_the_task() {
        let Opened {
            shared,
            task,
            relay,
            ..
        } = open(0);
        {
            let mut s = lock(&shared);
            while !s.ledger.full() {
                s.ledger.queue("queued".to_string());
            }
        }
        let client = super::super::Client::on(Arc::clone(&shared));
        let mut send = core::pin::pin!(client.send("waits".to_string()));
        let mut cx = Context::from_waker(crate::driver::nobody());
        assert!(send.as_mut().poll(&mut cx).is_pending(), "no room");
        relay.wake_by_ref();
        assert_eq!(wakes(&task), 1, "the task's, while the send waits");
    }

    /// Reads the task held while the application was behind go on once it caught up,
    /// whoever reads first: the connection is no longer held.
    #[tokio::test]
    async fn a_handle_reading_after_the_application_caught_up_lifts_the_hold() {
        let Opened {
            conn,
            shared,
            incoming,
            relay,
            ..
        } = open(0);
        lock(&conn).as_mut().expect("open").hold(true);
        arrive(&incoming, ["a"]);
        assert!(conn.read(&shared, &relay));
        assert!(!lock(&conn).as_ref().expect("open").is_held());
        assert_eq!(messages(&shared), ["a"]);
    }

    fn ticket(begun: Begun) -> Ticket {
        match begun {
            Begun::Flushing(ticket) => ticket,
            Begun::Sent => panic!("sent at once"),
            Begun::Waiting(_) => panic!("queued"),
        }
    }

    /// A flush the runtime put off is the sender's to finish: after its yield it goes
    /// through, and the task was never woken for it.
    #[tokio::test]
    async fn a_flush_put_off_once_is_finished_by_the_sender() {
        let Opened {
            conn,
            shared,
            task,
            sent,
            ..
        } = open(1);
        let t = ticket(conn.send("hello".to_string(), &shared).expect("open"));
        assert_eq!(lock(&shared).ledger.outcome(t), None, "not flushed yet");
        conn.flush(&shared);
        assert_eq!(lock(&shared).ledger.outcome(t), Some(Ok(())));
        assert_eq!(task.0.load(Ordering::Relaxed), 0, "the task was not needed");
        assert_eq!(*lock(&sent), ["hello"]);
    }

    /// A flush still pending after the sender's retry (a socket that has no room) goes
    /// to the task, which polls with its own waker; the send waits for it.
    #[tokio::test]
    async fn a_flush_still_pending_goes_to_the_task() {
        let Opened {
            conn, shared, task, ..
        } = open(2);
        let t = ticket(conn.send("hello".to_string(), &shared).expect("open"));
        conn.flush(&shared);
        assert_eq!(task.0.load(Ordering::Relaxed), 1, "the task is told");
        assert_eq!(lock(&shared).ledger.outcome(t), None);
        assert_eq!(
            lock(&shared).ledger.in_flight(),
            1,
            "still the task's to settle"
        );
    }

    /// A sender that gave up before finishing (its future dropped) leaves the flush to
    /// the task: nothing handed to the transport waits for the task's next reason to run.
    #[tokio::test]
    async fn a_flush_abandoned_by_its_sender_is_the_tasks() {
        let Opened {
            conn, shared, task, ..
        } = open(1);
        let t = ticket(conn.send("hello".to_string(), &shared).expect("open"));
        {
            let mut s = lock(&shared);
            s.ledger.withdraw(t);
            s.owe_flush();
        }
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        // Once flushed (by whoever), nothing is owed: no wake-up for nothing.
        conn.flush(&shared);
        lock(&shared).owe_flush();
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
    }
}
