//! What goes into the machine ([`Event`]) and what comes out ([`Action`], [`Actions`]).

use crate::reason::CloseReason;
use core::fmt;
use core::time::Duration;

/// The nonce carried by a ping and echoed by its pong.
///
/// On the wire it is 8 bytes, big-endian ([`PingId::to_bytes`]); a WebSocket codec puts
/// them in the ping frame's payload, which RFC 6455 peers echo in their pong.
///
/// ```
/// use keepalive::PingId;
/// let id = PingId::new(7);
/// assert_eq!(PingId::from_bytes(&id.to_bytes()), Some(id));
/// assert_eq!(PingId::from_bytes(b"hello"), None); // not 8 bytes: not one of ours
/// ```
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct PingId(u64);

impl PingId {
    /// A ping id from its number.
    pub const fn new(n: u64) -> PingId {
        PingId(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The 8-byte big-endian wire form.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Reads the wire form; `None` unless `bytes` is exactly 8 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Option<PingId> {
        let arr: [u8; 8] = bytes.try_into().ok()?;
        Some(PingId(u64::from_be_bytes(arr)))
    }
}

impl fmt::Display for PingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Something that happened, reported to [`HeartbeatMachine::handle`](crate::HeartbeatMachine::handle).
///
/// Report every sign of the peer (`PingReceived`, `PongReceived`, `DataReceived`), every
/// outbound data message (`DataSent`) and what the path took (`DataDelivered`): the
/// machine uses them to prove the peer alive and to avoid pinging busy links. What to report per read and
/// per write, exactly, is in [`rules`](crate::rules#what-to-report).
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// Nothing happened; the time passed. Call with this at [`next_deadline`](crate::HeartbeatMachine::next_deadline).
    Tick,
    /// The transport is open (TCP and any handshake done). A fresh connection starts here.
    Connected,
    /// A connection attempt failed: `Closed(CloseReason::Transport)` while connecting.
    ConnectFailed,
    /// The transport closed (an I/O error, the peer vanished, or our own close
    /// completed): `Closed(CloseReason::Transport)`.
    Disconnected,
    /// The connection, or the attempt, ended for `reason`, and the transport is gone:
    /// the peer's close frame ([`CloseReason::from_peer`]), a refused upgrade
    /// ([`CloseReason::refused`]), or any other reason. The reason decides what a client
    /// does next; after our own [`Close`](Action::Close), our reason stands.
    Closed(CloseReason),
    /// The peer sent a ping (answer with the [`Action::SendPong`] that follows).
    PingReceived,
    /// The peer sent a pong. `Some(id)` when it echoed one of our ping ids; `None` for
    /// pongs without a payload (application-level `{"type":"pong"}`), which acknowledge
    /// the ping in flight.
    PongReceived(Option<PingId>),
    /// Bytes arrived from the peer: a message other than a ping or pong, or any part of
    /// one (a partial frame counts: on a slow link a large message takes a while, and
    /// every read that returns bytes proves the peer alive).
    DataReceived,
    /// We handed a data message to the transport. Keeps the outbound direction from
    /// counting as idle, and forgives the peer's ping strikes; proves nothing about the peer.
    DataSent,
    /// The path took bytes of ours: a write that had to wait for the transport's send
    /// backlog to drain went through. Keeps the outbound direction busy, and proves that
    /// the path moves, not that the peer lives (a stopped process's kernel keeps taking
    /// bytes until its buffer is full): while the ping in flight still waits behind our
    /// data in our own buffers (not yet [`PingWritten`](Event::PingWritten)), its pong
    /// clock starts no earlier than now. (A write that went through at once proves
    /// nothing; do not report it.)
    DataDelivered,
    /// The transport's own record of the peer: its last segment that carried data to
    /// us arrived `ago` before `now` (Linux's `TCP_INFO`). Proves the peer alive as of
    /// then, not now: a record read late may predate a path that died since, and the
    /// dead-peer bound still runs from the peer's last sign. (Acknowledgements of our
    /// data are no sign of the peer: see [`PathMoved`](Event::PathMoved).)
    PathHeard {
        /// How long before `now` the peer was last heard.
        ago: Duration,
    },
    /// The transport's own record of the path: the peer's kernel acknowledged bytes of
    /// ours that were queued ahead of the ping in flight, the last of them `ago` before
    /// `now`, and the ping's own bytes are not acknowledged yet (Linux's `TCP_INFO`
    /// against the bytes written up to the ping). The ping is still on its way behind
    /// our data, so its pong clock starts no earlier than then. Proves nothing of the
    /// peer's application: report it only while the ping's own bytes are
    /// unacknowledged, so that a peer whose process hangs while its kernel runs is
    /// still caught within the bound.
    PathMoved {
        /// How long before `now` the path last took bytes ahead of the ping.
        ago: Duration,
    },
    /// The ping with this id has left: its last byte was written past our own data
    /// queued ahead of it. The pong timeout and the round trip run from here, not from
    /// the [`Action::SendPing`]. A caller that cannot tell leaves it out.
    PingWritten(PingId),
    /// The transport's own round-trip estimate (TCP's smoothed RTT and its variance, as
    /// `TCP_INFO` gives them). With the pongs' round trips it sets the floor under the
    /// pong timeout: a path whose retransmissions take long is not called dead in between.
    PathRtt {
        /// The smoothed round trip.
        srtt: Duration,
        /// Its mean deviation.
        rttvar: Duration,
    },
    /// The application went to the background or the OS throttles it: stop pinging and
    /// stop all deadlines (a close already under way still completes).
    Pause,
    /// Back in the foreground: probe the peer at once (or, when waiting to reconnect,
    /// reconnect at once).
    Resume,
    /// The network path changed (Wi-Fi to cellular, new address): probe at once, or
    /// reconnect at once when disconnected.
    NetworkChanged,
    /// Close for good: close with [`CloseReason::Shutdown`] and never reconnect.
    Shutdown,
}

/// Something the caller must do now.
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Send a ping carrying this id.
    SendPing(PingId),
    /// Send a pong answering the ping just received (echo its payload). Only the latest
    /// ping needs one (RFC 6455, 5.5.3): a pong not yet sent may be replaced.
    SendPong,
    /// Start closing the connection (a WebSocket close frame with `reason.code()` and
    /// `reason.as_str()`), then report [`Event::Disconnected`] when the transport is
    /// closed. Nothing more is sent on this connection.
    Close(CloseReason),
    /// The close did not complete within `close_timeout`: drop the transport now. The
    /// machine already counts the connection as gone; no `Disconnected` is needed.
    ForceClose,
    /// The connection is lost; the next attempt starts `after` from now. An
    /// announcement (for logs and UIs: "retrying in 1.7 s"): the machine keeps the wait
    /// itself, as its [`next_deadline`](crate::HeartbeatMachine::next_deadline), and says
    /// [`Connect`](Action::Connect) when it is over. A caller that keeps its own timer
    /// instead may connect `after` from now and report the outcome; both work.
    Reconnect {
        /// How long the wait is.
        after: Duration,
    },
    /// Start a connection attempt now, then report [`Event::Connected`] or
    /// [`Event::ConnectFailed`]. Comes at the end of a [`Reconnect`](Action::Reconnect)
    /// wait (the `Tick` at `next_deadline()`), or at once on `Resume` or
    /// `NetworkChanged`. At most one per `Reconnect`.
    Connect,
    /// Abandon the connection attempt pending or in progress (connect timeout, shutdown,
    /// or a resume that starts over). Counts as failed; no `ConnectFailed` is needed.
    AbortConnect,
    /// The client stops for good. The machine does nothing more.
    GiveUp {
        /// What ended the last connection or attempt.
        reason: CloseReason,
        /// Retrying cannot fix it (a 401, a close 1008: [`Config::decide`](crate::Config::decide)
        /// said [`Decision::GiveUp`](crate::Decision::GiveUp)); otherwise `max_attempts`
        /// attempts failed in a row.
        fatal: bool,
    },
}

/// At most this many actions come out of one call; the transitions are built so that no
/// call produces more (checked by the property tests and the fuzzer).
const CAPACITY: usize = 3;

/// What an event did besides asking for actions, for a driver that reports it: set by
/// the rule that decided it, never inferred from counters.
pub(crate) const TOLD_PONG: u8 = 1;
/// The peer's "too many pings" doubled our ping interval.
pub(crate) const TOLD_SLOWER: u8 = 2;
/// A keepalive ping after a silent gap was answered: the path held that long.
pub(crate) const TOLD_GAP_HELD: u8 = 4;
/// The connection was lost right after a silent gap, nothing heard since.
pub(crate) const TOLD_GAP_LOST: u8 = 8;
/// The peer's ping was beyond its budget, and tolerated: a strike.
pub(crate) const TOLD_STRIKE: u8 = 16;

/// The actions of one [`handle`](crate::HeartbeatMachine::handle) call, in the order to
/// carry them out. A small fixed-size iterator: no allocation.
///
/// It also says what the event did that is not an action: whether a pong acknowledged
/// the ping in flight ([`pong_counted`](Self::pong_counted): the round trip was measured,
/// see [`HeartbeatMachine::rtt`](crate::HeartbeatMachine::rtt)), whether the peer's
/// "too many pings" slowed our pings down ([`slowed_down`](Self::slowed_down)), and
/// whether the peer's ping was a strike ([`struck`](Self::struck)).
#[must_use = "the actions must be carried out: a dropped SendPong or Close breaks the heartbeat"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actions {
    buf: [Action; CAPACITY],
    start: u8,
    end: u8,
    told: u8,
}

impl Actions {
    pub(crate) const fn new() -> Actions {
        Actions {
            buf: [Action::ForceClose; CAPACITY],
            start: 0,
            end: 0,
            told: 0,
        }
    }

    /// `[SendPong]` or nothing, without a branch.
    #[inline(always)]
    pub(crate) const fn pong_if(pong: bool) -> Actions {
        Actions {
            buf: [Action::SendPong, Action::ForceClose, Action::ForceClose],
            start: 0,
            end: pong as u8,
            told: 0,
        }
    }

    pub(crate) fn tell(&mut self, what: u8) {
        self.told |= what;
    }

    /// What the event told besides the actions (`TOLD_*`).
    pub(crate) fn told(&self) -> u8 {
        self.told
    }

    /// The event was a pong that acknowledged the ping in flight: a round trip was
    /// measured. (A pong for an older or unknown ping is a sign of life only.)
    #[inline]
    pub fn pong_counted(&self) -> bool {
        self.told & TOLD_PONG != 0
    }

    /// The peer closed us for pinging too often, and the ping interval in force doubled
    /// for the next connection ([`Stats::ping_interval`](crate::Stats::ping_interval)).
    #[inline]
    pub fn slowed_down(&self) -> bool {
        self.told & TOLD_SLOWER != 0
    }

    /// The event was the peer's ping beyond its budget, tolerated: a strike (see
    /// [`max_ping_strikes`](crate::ConfigBuilder::max_ping_strikes)). The ping that
    /// closes with [`TooManyPings`](crate::CloseReason::TooManyPings) is not one.
    #[inline]
    pub fn struck(&self) -> bool {
        self.told & TOLD_STRIKE != 0
    }

    pub(crate) fn push(&mut self, action: Action) {
        let i = usize::from(self.end);
        debug_assert!(i < CAPACITY, "more than {CAPACITY} actions in one call");
        if let Some(slot) = self.buf.get_mut(i) {
            *slot = action;
            self.end += 1;
        }
    }

    /// The actions not yet taken, as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[Action] {
        &self.buf[usize::from(self.start)..usize::from(self.end)]
    }

    /// Whether any action is left.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl Iterator for Actions {
    type Item = Action;
    #[inline]
    fn next(&mut self) -> Option<Action> {
        if self.start == self.end {
            return None;
        }
        let a = self.buf.get(usize::from(self.start)).copied();
        self.start += 1;
        a
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.end - self.start);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Actions {}
impl core::iter::FusedIterator for Actions {}
