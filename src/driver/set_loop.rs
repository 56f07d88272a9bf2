//! [`SetLoop`]: one task runs a [`HeartbeatSet`] for every connection of a server, on one
//! timer; each connection holds a [`Member`] that reports its events and hands it its
//! [`Beat`]s.

use super::alarm::Alarm;
use super::metrics;
use super::{lock, Runtime};
use crate::link::Settle;
use crate::{
    Action, Clock, CloseReason, Config, Event, HeartbeatSet, Instant, PingId, Role, State, Stats,
};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What the loop tells one connection to do, in order, at once.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Beat<P> {
    /// Send a ping. Its payload is yours to choose (the id's bytes let you match the
    /// pong: report [`Event::PongReceived`] with the id read back, or `None`). Report
    /// [`Event::PingWritten`] when its last byte is written, if your transport says.
    Ping(PingId),
    /// Send a pong carrying this payload: the one of the ping it answers.
    Pong(P),
    /// Close the connection for this reason: send a close (WebSocket code
    /// [`CloseReason::code`]) and keep reading until the peer's close or the end of the
    /// stream; then drop the member. Should that take longer than `close_timeout`,
    /// [`ForceClose`](Beat::ForceClose) follows.
    Close(CloseReason),
    /// The close took too long: drop the connection now. The member has left the set;
    /// nothing follows.
    ForceClose,
}

/// What a member reports to the loop.
enum Report<P> {
    Join,
    Event(Event),
    Ping(P),
    Leave,
}

/// A [`SetLoop`]'s figures, for a service's metrics: totals over every connection it
/// held, its closes by reason, and how late its one timer woke.
#[non_exhaustive]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Pings sent, pongs received, closes for silence, and the last round trip measured,
    /// over every connection ([`HeartbeatSet::stats`]).
    pub totals: Stats,
    /// Connections closed for an unanswered ping ([`CloseReason::PongTimeout`]).
    pub pong_timeouts: u64,
    /// Closed for silence ([`CloseReason::IdleTimeout`]).
    pub idle_timeouts: u64,
    /// Closed for pinging too often ([`CloseReason::TooManyPings`]).
    pub too_many_pings: u64,
    /// Closed for any other reason the rules gave (a shutdown).
    pub other_closes: u64,
    /// Dropped after their close outlasted `close_timeout` ([`Beat::ForceClose`]).
    pub forced: u64,
    /// Wakes of the timer more than 25 ms after its deadline (a stall of the loop's own
    /// process: its closes for silence then wait for the members' reads).
    pub late_wakes: u64,
    /// How late the timer woke the last time.
    pub last_lateness: Duration,
    /// The most the timer was late.
    pub max_lateness: Duration,
}

impl LoopStats {
    fn closed(&mut self, reason: CloseReason) {
        let count = match reason {
            CloseReason::PongTimeout => &mut self.pong_timeouts,
            CloseReason::IdleTimeout => &mut self.idle_timeouts,
            CloseReason::TooManyPings => &mut self.too_many_pings,
            _ => &mut self.other_closes,
        };
        *count += 1;
    }

    fn woke(&mut self, late: Duration) {
        self.last_lateness = late;
        self.max_lateness = self.max_lateness.max(late);
        if late > crate::link::LATE {
            self.late_wakes += 1;
        }
    }
}

/// A member's place: what the loop has for it, and who waits for it. 32 bytes: the
/// beats waiting (seldom any: the member takes them at once) are allocated only then, and
/// boxed, so that a slot without any keeps one word for them, not a queue's four.
struct Slot<P> {
    /// Told apart from the slot's earlier members: part of the set's key.
    generation: u32,
    /// The loop removed it from the set: nothing more comes.
    ended: bool,
    #[allow(clippy::box_collection)]
    beats: Option<Box<VecDeque<Beat<P>>>>,
    waker: Option<Waker>,
}

/// The set's key for a member: its slot's index, and the slot's generation above it, so
/// that a late report of the slot's earlier member cannot reach the next.
fn member_key(id: u32, generation: u32) -> u64 {
    u64::from(id) | u64::from(generation) << 32
}

/// The slot a key names.
fn slot_id(key: u64) -> u32 {
    key as u32
}

/// What the loop and its members share, under one lock: a member holds it to queue a
/// report or take a beat; the loop holds it while it runs one batch of reports and the
/// deadlines that came through the set (no I/O, no await under it), so a member's report
/// waits at most one batch.
struct Shared<P> {
    /// The set: the loop runs it; members read their own figures from it.
    set: HeartbeatSet<u64>,
    /// The loop's own figures.
    figures: LoopStats,
    reports: VecDeque<(u64, Report<P>)>,
    slots: Vec<Slot<P>>,
    free: Vec<u32>,
    waker: Option<Waker>,
    /// [`SetLoop`] handles alive; with no handle and no member left the loop ends.
    handles: usize,
    members: usize,
}

impl<P> Shared<P> {
    fn report(&mut self, key: u64, report: Report<P>) {
        self.reports.push_back((key, report));
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn slot(&mut self, key: u64) -> Option<&mut Slot<P>> {
        let generation = (key >> 32) as u32;
        self.slots
            .get_mut(slot_id(key) as usize)
            .filter(|s| s.generation == generation)
    }

    /// Hands `beat` to the member `key` (if it is still there) and wakes it.
    fn tell(&mut self, key: u64, beat: Beat<P>) {
        if let Some(slot) = self.slot(key).filter(|s| !s.ended) {
            slot.beats.get_or_insert_with(Box::default).push_back(beat);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    fn end(&mut self, key: u64) {
        if let Some(slot) = self.slot(key) {
            slot.ended = true;
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

/// A handle on a task that runs a [`HeartbeatSet`] for many connections on one timer:
/// the server's side of the heartbeat, with no glue to write. Every connection
/// [`join`](Self::join)s and gets a [`Member`]: it reports what it reads and writes and
/// receives its [`Beat`]s (pings to send, pongs with the ping's payload, closes). The
/// loop removes a connection when its close is done or its member is dropped; a late
/// report for one is ignored.
///
/// Clone the handle freely; the task ends once every handle and every member is gone.
///
/// **A peer's ping is reported one way, by what the stack does with it:**
///
/// - a stack that answers pings itself (tungstenite, axum, tokio-websockets):
///   [`member.report(Event::PingReceived)`](Member::report). The ping counts as life and
///   toward policing; no [`Beat::Pong`] comes.
/// - a stack that does not (a raw socket, an application-level `{"type":"ping"}`):
///   [`member.ping_received(payload)`](Member::ping_received), and send each
///   [`Beat::Pong`] with its payload.
///
/// Mixed up, nothing breaks: a `Beat::Pong` after a ping the stack answered is matched
/// and ignored (match it; do not let a catch-all arm end the connection on it), and a
/// ping reported both ways counts twice toward the policing budget (harmless below half
/// the policing rate: with a server's defaults, a peer pinging more often than every
/// 100 ms on average).
///
/// ```no_run
/// use keepalive::driver::{Beat, SetLoop};
/// use keepalive::tokio::Tokio;
/// use keepalive::{Config, Event};
///
/// # async fn serve(mut sockets: tokio::sync::mpsc::Receiver<tokio::net::TcpStream>) -> Result<(), keepalive::ConfigError> {
/// let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, Config::server().build()?);
/// while let Some(socket) = sockets.recv().await {
///     let mut member = heartbeats.join();
///     tokio::spawn(async move {
///         // For each read: member.report(Event::DataReceived); a ping (a raw socket
///         // answers none itself): member.ping_received(payload); a pong:
///         // member.report(Event::PongReceived(None)).
///         while let Some(beat) = member.next().await {
///             match beat {
///                 Beat::Ping(id) => { /* send a ping with id.get().to_be_bytes() */ }
///                 Beat::Pong(payload) => { /* send a pong with payload */ }
///                 Beat::Close(reason) => { /* send a close with reason.code() */ }
///                 _ => break, // ForceClose: drop the socket
///             }
///         }
///         drop(socket);
///     });
/// }
/// # Ok(())
/// # }
/// ```
///
/// `examples/set_server.rs` serves WebSocket connections through it.
pub struct SetLoop<P> {
    shared: Arc<Mutex<Shared<P>>>,
}

impl<P> fmt::Debug for SetLoop<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = lock(&self.shared);
        f.debug_struct("SetLoop")
            .field("members", &s.members)
            .finish_non_exhaustive()
    }
}

impl<P: Send + 'static> SetLoop<P> {
    /// Starts the loop on `runtime` for connections heartbeated by `config` (a server's:
    /// [`Config::server`]).
    pub fn spawn<R: Runtime>(runtime: R, config: Config) -> SetLoop<P> {
        let shared = Arc::new(Mutex::new(Shared {
            set: HeartbeatSet::new(config),
            figures: LoopStats::default(),
            reports: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            waker: None,
            handles: 1,
            members: 0,
        }));
        let task = Task {
            clock: Clock::with_epoch(runtime.now()),
            alarm: Alarm::new(runtime.clone()),
            shared: shared.clone(),
            batch: VecDeque::new(),
            settle: Settle::default(),
            armed: None,
        };
        runtime.spawn(task);
        SetLoop { shared }
    }

    /// A new connection, open now (its handshake done): its heartbeat starts.
    #[must_use = "the connection leaves the set when its member is dropped"]
    pub fn join(&self) -> Member<P> {
        let mut s = lock(&self.shared);
        let id = match s.free.pop() {
            Some(id) => id,
            None => {
                s.slots.push(Slot {
                    generation: 0,
                    ended: false,
                    beats: None,
                    waker: None,
                });
                (s.slots.len() - 1) as u32
            }
        };
        let slot = &mut s.slots[id as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.ended = false;
        slot.beats = None;
        let key = member_key(id, slot.generation);
        s.members += 1;
        s.report(key, Report::Join);
        Member {
            shared: self.shared.clone(),
            key,
            _open: metrics::Open::new(Role::Server),
        }
    }

    /// The loop's figures: totals over every connection it held (pings, pongs, closes
    /// by reason, forced closes) and its timer's lateness.
    pub fn stats(&self) -> LoopStats {
        let s = lock(&self.shared);
        LoopStats {
            totals: s.set.stats(),
            ..s.figures
        }
    }

    /// How many members are alive: joined and not yet dropped.
    pub fn len(&self) -> usize {
        lock(&self.shared).members
    }

    /// Whether no member is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<P> Clone for SetLoop<P> {
    fn clone(&self) -> SetLoop<P> {
        lock(&self.shared).handles += 1;
        SetLoop {
            shared: self.shared.clone(),
        }
    }
}

impl<P> Drop for SetLoop<P> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.handles -= 1;
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

/// One connection in a [`SetLoop`]: report its events, and act on its [`Beat`]s
/// ([`next`](Self::next)). Dropping it removes the connection from the set.
pub struct Member<P> {
    shared: Arc<Mutex<Shared<P>>>,
    key: u64,
    /// Counted among the open connections while it lives (feature `metrics`).
    _open: metrics::Open,
}

impl<P> fmt::Debug for Member<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Member").field("key", &self.key).finish()
    }
}

impl<P> Member<P> {
    /// Reports an event of this connection: bytes or a message read
    /// ([`Event::DataReceived`]), a pong ([`Event::PongReceived`]), data sent, a ping
    /// written, the end of the stream ([`Event::Disconnected`]), and a peer's ping that
    /// the stack answered itself ([`Event::PingReceived`]: tungstenite, axum; no
    /// [`Beat::Pong`] comes). A ping that you answer goes through
    /// [`ping_received`](Self::ping_received) instead (see [`SetLoop`]).
    pub fn report(&self, event: Event) {
        lock(&self.shared).report(self.key, Report::Event(event));
    }

    /// Reports a ping from the peer that the stack does not answer itself: its
    /// [`Beat::Pong`] carries `payload` back, for you to send (unless policing closes the
    /// connection instead). For a stack that answers pings, report
    /// [`Event::PingReceived`] instead (see [`SetLoop`]).
    pub fn ping_received(&self, payload: P) {
        lock(&self.shared).report(self.key, Report::Ping(payload));
    }

    /// This connection's figures: the pings it was sent, its round trips, and the
    /// timeouts in force, the dead-peer bound among them (the pong timeout's floor
    /// follows its round trips, so each connection's bound is its own). `None` before
    /// the loop took this member in (it does at its next pass) and after it left.
    pub fn stats(&self) -> Option<Stats> {
        lock(&self.shared).set.stats_of(&self.key)
    }

    /// The next beat; `None` once the connection has left the set (after
    /// [`Beat::ForceClose`], or when its close is done).
    pub async fn next(&mut self) -> Option<Beat<P>> {
        core::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next beat, polled: `Ready(None)` once the connection has left the set.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Beat<P>>> {
        let mut s = lock(&self.shared);
        let Some(slot) = s.slot(self.key) else {
            return Poll::Ready(None);
        };
        if let Some(beats) = &mut slot.beats {
            let beat = beats.pop_front();
            if beats.is_empty() {
                // The connection keeps no queue between beats.
                slot.beats = None;
            }
            if beat.is_some() {
                return Poll::Ready(beat);
            }
        }
        if slot.ended {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<P> futures_core::Stream for Member<P> {
    type Item = Beat<P>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Beat<P>>> {
        Member::poll_next(self.get_mut(), cx)
    }
}

impl<P> Drop for Member<P> {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.report(self.key, Report::Leave);
        if let Some(slot) = s.slot(self.key) {
            slot.beats = None;
            slot.waker = None;
            slot.ended = true;
            s.free.push(slot_id(self.key));
        }
        s.members -= 1;
    }
}

/// The room a batch of reports keeps between loops.
const BATCH_ROOM: usize = 1_024;

/// The loop's task: the set, its one timer, and the reports taken in one batch.
struct Task<R: Runtime, P> {
    clock: Clock,
    alarm: Alarm<R>,
    shared: Arc<Mutex<Shared<P>>>,
    batch: VecDeque<(u64, Report<P>)>,
    /// Read before judging: after a late wake of the loop, the members read and report
    /// what reached their sockets before anyone is closed for silence.
    settle: Settle,
    /// The deadline the timer was last armed for: how late the wake came.
    armed: Option<Instant>,
}

/// Hands the set's action for `key` to its member, a pong with `payload`.
fn deliver<P>(s: &mut Shared<P>, key: u64, action: Action, payload: &mut Option<P>) {
    let beat = match action {
        Action::SendPing(id) => {
            metrics::ping_sent(Role::Server, s.set.config().ping_interval());
            Beat::Ping(id)
        }
        Action::SendPong => match payload.take() {
            Some(p) => Beat::Pong(p),
            None => return,
        },
        Action::Close(reason) => {
            s.figures.closed(reason);
            let silence = reason.is_timeout().then(|| s.set.silence(&key)).flatten();
            metrics::closed(Role::Server, reason, silence);
            Beat::Close(reason)
        }
        Action::ForceClose => {
            s.figures.forced += 1;
            Beat::ForceClose
        }
        // A server's set connects nothing: the rest is a client's.
        _ => return,
    };
    s.tell(key, beat);
}

/// Removes `key` from the set once its connection is over, and tells its member.
fn reap<P>(s: &mut Shared<P>, key: u64) {
    // A client's config would wait to reconnect: over too, for a loop that connects nothing.
    if s.set
        .state(&key)
        .is_some_and(|st| st.is_terminal() || st == State::Backoff)
    {
        s.set.remove(&key);
        s.end(key);
    }
}

/// Whether `event` may end a connection without an action: anything but traffic and
/// the transport's timing (those end one only by the rules' own action, a forced close).
fn may_end(event: Event) -> bool {
    !matches!(
        event,
        Event::DataReceived
            | Event::DataSent
            | Event::DataDelivered
            | Event::PingReceived
            | Event::PongReceived(_)
            | Event::PingWritten(_)
            | Event::PathHeard { .. }
            | Event::PathRtt { .. }
            | Event::Tick
    )
}

// The task moves nothing it pins: its payloads sit in queues.
impl<R: Runtime, P> Unpin for Task<R, P> {}

impl<R: Runtime, P> Future for Task<R, P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let mut s = lock(&this.shared);
            if s.handles == 0 && s.members == 0 && s.reports.is_empty() {
                return Poll::Ready(());
            }
            core::mem::swap(&mut s.reports, &mut this.batch);
            s.waker = Some(cx.waker().clone());
            // Every report taken is dated now, after it arrived.
            let now = this.alarm.now(&this.clock);
            if let Some(deadline) = this.armed.take().filter(|d| *d <= now) {
                s.figures.woke(now - deadline);
            }
            // A late wake of the loop is a stall of ours, no silence of the peers: no
            // connection is closed for silence until the members have read and reported
            // what reached their sockets meanwhile (their reports come in the next
            // batches); pings go on. However late the loop was: the earliest deadline
            // may be past the clock-jump tolerance while others are not.
            if let Some(until) = this.settle.woke(now, s.set.next_deadline(), Duration::MAX) {
                s.set.defer_judgement(until);
            }
            for (key, report) in this.batch.drain(..) {
                let (event, mut payload) = match report {
                    Report::Join => {
                        // The key is new: its slot's generation moved on.
                        let _ = s.set.insert(key, now);
                        (Event::Connected, None)
                    }
                    Report::Event(e) => {
                        if e == Event::PingReceived {
                            metrics::peer_ping(Role::Server);
                        }
                        (e, None)
                    }
                    Report::Ping(p) => {
                        metrics::peer_ping(Role::Server);
                        (Event::PingReceived, Some(p))
                    }
                    Report::Leave => {
                        s.set.remove(&key);
                        continue;
                    }
                };
                // A late report for a connection already removed is harmless.
                let Ok(actions) = s.set.handle(now, &key, event) else {
                    continue;
                };
                // Traffic leaves a connection as it was: only its end, or what the
                // rules do (a forced close), needs a look at its state.
                let ends = may_end(event) || !actions.is_empty();
                if actions.pong_counted() {
                    metrics::pong(Role::Server, s.set.stats().rtt);
                }
                if actions.struck() {
                    metrics::strike(Role::Server);
                }
                for action in actions {
                    deliver(&mut s, key, action, &mut payload);
                }
                if ends {
                    reap(&mut s, key);
                }
            }
            while let Some((key, action)) = s.set.poll(now) {
                let ends = matches!(action, Action::ForceClose);
                deliver(&mut s, key, action, &mut None);
                if ends {
                    reap(&mut s, key);
                }
            }
            let deadline = s.set.next_deadline();
            drop(s);
            // The batch's room is kept for the next one, unless a burst (a thousand
            // connections joining at once) left far more than a loop needs.
            if this.batch.capacity() > BATCH_ROOM {
                this.batch = VecDeque::new();
            }
            let now = this.alarm.now(&this.clock);
            if this.alarm.due(&this.clock, deadline, now, cx) {
                continue;
            }
            this.armed = deadline;
            if !lock(&this.shared).reports.is_empty() {
                continue;
            }
            return Poll::Pending;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_member_slot_is_32_bytes() {
        assert_eq!(core::mem::size_of::<super::Slot<Vec<u8>>>(), 32);
    }
}
