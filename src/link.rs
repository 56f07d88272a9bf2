//! [`Link`]: what a driver decides beside the machine, as plain state that takes `now`
//! and reports and says what to tell the machine: the byte meter's and the kernel's
//! evidence, reads that wait for a slow application, and when the peer may be judged.
//!
//! The async driver reads its meter and the socket's `TCP_INFO` into [`Counts`] and
//! [`Kernel`] and asks a `Link`; the simulator's kernel model produces the same numbers
//! and asks the same `Link` (`sim::Kernel`), so that every rule here runs under the
//! property tests and the fuzzer. Nothing here touches a socket, a clock or a runtime.
//!
//! The rules, each in one place:
//!
//! - **Only the peer proves it is alive.** Bytes that arrive (counted by the meter, or by
//!   the kernel while nothing is read) are the peer's. What its kernel acknowledges of
//!   ours is reported only while our ping in flight is still behind it
//!   ([`Event::PathMoved`]): once the ping's own bytes are acknowledged, nothing the
//!   kernel does can keep a hung peer alive.
//! - **A pong's own bytes are no data ahead of it.** Bytes read since the last report
//!   that belong to no data message are the pong's: told with the pong, not before it,
//!   so Karn's rule does not discard the round trip of every metered pong.
//! - **Read before judging.** A wake-up found past by more than [`LATE`] means our own
//!   process did not run (a stall, a throttled container, a late wake): what the peer
//!   sent meanwhile may sit unread in the socket, or unreported by a connection's task.
//!   No close for silence comes until reads have had as long as we were late (from
//!   50 ms to 1 s; see [`Settle`]); and where the kernel shows bytes that arrived and
//!   were not read, they get 50 ms too, once per deadline.
//! - **Reads that waited for the application are no news of now.** While the
//!   application is behind and nothing is read, and after, until the backlog that built
//!   up meanwhile is read, the kernel's record dates the peer's bytes instead.

use crate::event::{Actions, Event, PingId};
use crate::machine::HeartbeatMachine;
use crate::time::Instant;
use core::time::Duration;

/// A deadline found past by more than this means our own process was not running.
pub(crate) const LATE: Duration = Duration::from_millis(25);
/// How long reads get after such a wake, at least and at most (beyond a second the
/// machine itself treats the lateness as a clock jump and probes instead of closing).
pub(crate) const SETTLE_MIN: Duration = Duration::from_millis(50);
pub(crate) const SETTLE_MAX: Duration = Duration::from_secs(1);
/// While the application is behind, the peer is judged only while our receive window
/// is open this wide: under a quarter of the receive buffer, and at most 16 KiB unread.
const UNREAD_MAX: u64 = 16 * 1024;

/// What the byte meter under the transport counted so far.
#[derive(Copy, Clone, Default, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Reads that returned bytes.
    pub(crate) reads: u64,
    /// The bytes those reads returned.
    pub(crate) bytes_read: u64,
    /// The bytes written.
    pub(crate) bytes_written: u64,
    /// Writes that had to wait, then went through.
    pub(crate) deliveries: u64,
}

/// The kernel's record of the connection (Linux's `TCP_INFO`), as plain numbers.
#[derive(Copy, Clone, Default, Debug, PartialEq, Eq)]
pub(crate) struct Kernel {
    /// Bytes that arrived from the peer.
    pub(crate) received: u64,
    /// Bytes of ours the peer's kernel acknowledged (0: the kernel does not say).
    pub(crate) acked: u64,
    /// Segments of ours the peer's kernel took, selectively acknowledged ones included
    /// (during loss recovery the acknowledged bytes stand still while these move).
    pub(crate) delivered: u64,
    /// How long ago the peer's last data arrived, and its last acknowledgement.
    pub(crate) data_age: Duration,
    pub(crate) ack_age: Duration,
    /// The kernel's smoothed round trip and its variance.
    pub(crate) srtt: Duration,
    pub(crate) rttvar: Duration,
    /// The receive buffer's size.
    pub(crate) buffer: u64,
}

/// Up to three events to tell the machine, in order.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tell {
    buf: [Option<Event>; 3],
    at: usize,
}

impl Tell {
    fn push(&mut self, event: Event) {
        if let Some(slot) = self.buf.iter_mut().find(|s| s.is_none()) {
            *slot = Some(event);
        }
    }
}

impl Iterator for Tell {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        while self.at < self.buf.len() {
            self.at += 1;
            if let Some(e) = self.buf[self.at - 1].take() {
                return Some(e);
            }
        }
        None
    }
}

/// Reads and the application (see [`Link::hold`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reads {
    /// Read as they come: what is read is news of now.
    Live,
    /// The application is behind: nothing is read.
    Held,
    /// Reading again, but a backlog that waited may still come.
    Stale(Backlog),
}

/// How far a stale backlog reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backlog {
    /// Until the transport has read this many bytes: what had arrived by the kernel's
    /// last count (0: not counted yet). The kernel is asked again only once reads get
    /// there (one system call per stretch of backlog, not per message).
    Bytes(u64),
    /// The kernel's queue drained when the meter had counted this many reads: until the
    /// transport reads again (a WebSocket stream reads ahead, so frames read from the
    /// socket long ago may still come).
    Reads(u64),
}

/// One connection's evidence and judgement, beside its machine.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    /// What the machine has heard of.
    told: Counts,
    /// A complete data message arrived, and the application handed one over.
    data_in: bool,
    data_out: bool,
    /// The kernel's record at the last look (`None`: never read, or not to be had).
    kernel: Option<Kernel>,
    /// The ping written last, and the bytes written when it left: its own end there.
    ping_end: Option<(PingId, u64)>,
    /// The last look found that ping still behind our data: looks come four times per
    /// pong timeout until its own bytes are acknowledged.
    ping_held: bool,
    /// When the kernel's record is due a look at a clock read, and when it last had one.
    next_look: Instant,
    last_look: Instant,
    reads: Reads,
    /// A pong we owe waits for a flush that cannot complete: the transport reads nothing.
    owed: bool,
    settle: Settle,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            told: Counts::default(),
            data_in: false,
            data_out: false,
            kernel: None,
            ping_end: None,
            ping_held: false,
            next_look: Instant::ZERO,
            last_look: Instant::ZERO,
            reads: Reads::Live,
            owed: false,
            settle: Settle::default(),
        }
    }
}

impl Link {
    /// Starts from what the meter counted so far and the kernel's record (the
    /// handshake's bytes are no news).
    pub(crate) fn start(&mut self, counts: Counts, kernel: Option<Kernel>) {
        self.told = counts;
        self.kernel = kernel;
    }

    /// A complete data message arrived.
    pub(crate) fn data_in(&mut self) {
        self.data_in = true;
    }

    /// The application handed a data message to the transport.
    pub(crate) fn data_out(&mut self) {
        self.data_out = true;
    }

    /// Whether anything waits to be told.
    pub(crate) fn any(&self, counts: Counts) -> bool {
        self.data_out
            || self.data_in
            || counts.reads != self.told.reads
            || counts.deliveries != self.told.deliveries
    }

    /// Whether the peer sent anything the machine has not heard of.
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn peer_spoke(&self, counts: Counts) -> bool {
        self.data_in || counts.reads != self.told.reads
    }

    /// The traffic to tell the machine now, and forgets it. `pong`: a pong was just read
    /// and is told next: bytes read that belong to no data message are its own, and go
    /// with it. While reads are stale (see [`hold`](Self::hold)) they are no news of now.
    pub(crate) fn traffic(&mut self, counts: Counts, pong: bool) -> Tell {
        let read = counts.reads != self.told.reads;
        let data = core::mem::take(&mut self.data_in) || (read && !pong);
        let delivered = counts.deliveries != self.told.deliveries;
        let sent = core::mem::take(&mut self.data_out);
        self.told = counts;
        let mut tell = Tell::default();
        if data && !self.unread_mode() {
            tell.push(Event::DataReceived);
        }
        if delivered {
            tell.push(Event::DataDelivered);
        }
        if sent {
            tell.push(Event::DataSent);
        }
        tell
    }

    /// The ping `id` has left (its flush completed): its own bytes end at or before what
    /// is written now.
    pub(crate) fn ping_written(&mut self, id: PingId, counts: Counts) {
        self.ping_end = Some((id, counts.bytes_written));
        self.ping_held = false;
    }

    /// Whether the kernel's record is due a look at a clock read at `now`: once a
    /// configured pong timeout since the last, never per message.
    pub(crate) fn look_due(&self, now: Instant) -> bool {
        now >= self.next_look
    }

    /// A look at the kernel's record at `now` (`None`: none to be had), with the ping in
    /// flight and the configured pong timeout (the time to the next look). Bytes that
    /// arrived since the last look are the peer's, as of the kernel's time for them;
    /// acknowledgements of our bytes ahead of the ping in flight hold its clock, never
    /// once its own bytes are acknowledged, and never without progress; the kernel's
    /// round trip sets the floor. What the kernel counted since the last look arrived
    /// after it, whatever its coarse clock says (ages are in jiffies: up to 10 ms late).
    pub(crate) fn look(
        &mut self,
        now: Instant,
        kernel: Option<Kernel>,
        in_flight: Option<PingId>,
        pong_timeout: Duration,
    ) -> Tell {
        let since = now - self.last_look;
        self.last_look = now;
        let mut tell = Tell::default();
        let (Some(k), before) = (kernel, self.kernel) else {
            self.next_look = now + pong_timeout;
            return tell;
        };
        self.kernel = Some(k);
        let before = before.unwrap_or_default();
        let recent = |ago: Duration| ago.min(since.saturating_sub(Duration::from_nanos(1)));
        if k.received != before.received {
            tell.push(Event::PathHeard {
                ago: recent(k.data_age),
            });
        }
        // Our bytes ahead of the ping in flight acknowledged since the last look: it is
        // held. The first look that finds its own bytes acknowledged holds it once more,
        // to the last acknowledgement (the ping's came between the looks, at most that
        // late): the peer's application gets a whole pong timeout from then, and nothing
        // holds the ping after.
        // A ping not written yet waits behind everything written: all of it is ahead.
        let ping = match (in_flight, self.ping_end) {
            (Some(id), Some((written, end))) if id == written => Some(end),
            (Some(_), _) => Some(u64::MAX),
            (None, _) => None,
        };
        let moved = before.acked != 0 && (k.acked > before.acked || k.delivered > before.delivered);
        let ahead = ping.is_some_and(|end| k.acked < end);
        if moved && (ahead || (ping.is_some() && self.ping_held)) {
            tell.push(Event::PathMoved {
                ago: recent(k.ack_age),
            });
        }
        self.ping_held = moved && ahead;
        self.next_look = now
            + if self.ping_held {
                pong_timeout / 4
            } else {
                pong_timeout
            };
        if (k.srtt, k.rttvar) != (before.srtt, before.rttvar) && !k.srtt.is_zero() {
            tell.push(Event::PathRtt {
                srtt: k.srtt,
                rttvar: k.rttvar,
            });
        }
        tell
    }

    /// The bytes that arrived and were not read, by the last look (`None`: unknown).
    fn unread(&self, counts: Counts) -> Option<u64> {
        self.kernel
            .map(|k| k.received.saturating_sub(counts.bytes_read))
    }

    /// The application is behind (`true`: nothing is read meanwhile) or reads again.
    /// With a kernel to vouch for the peer, reads stay stale from here until the backlog
    /// is read. Tell the machine with [`reads`].
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn hold(&mut self, held: bool) {
        self.reads = match (held, self.reads) {
            (true, _) => Reads::Held,
            (false, Reads::Held) if self.kernel.is_some() => Reads::Stale(Backlog::Bytes(0)),
            (false, Reads::Held) => Reads::Live,
            (false, r) => r,
        };
    }

    /// A pong we owe waits for a flush that cannot complete (`true`): the transport reads
    /// nothing more until it does. Tell the machine with [`reads`].
    #[cfg_attr(not(feature = "driver"), allow(dead_code))]
    pub(crate) fn owe_pong(&mut self, owed: bool) {
        self.owed = owed;
    }

    /// Whether the peer's record in the kernel answers a ping that left before it: the
    /// transport reads nothing (the application is behind, or a pong we owe cannot be
    /// flushed), or what it reads is an old backlog.
    pub(crate) fn reads_nothing(&self) -> bool {
        self.owed || self.unread_mode()
    }

    /// Whether the application is behind, and nothing is read.
    pub(crate) fn is_held(&self) -> bool {
        self.reads == Reads::Held
    }

    /// Whether what is read is not news of now (held, or a stale backlog): the kernel's
    /// record dates the peer, and answers a ping that left before it.
    pub(crate) fn unread_mode(&self) -> bool {
        self.reads != Reads::Live && self.kernel.is_some()
    }

    /// Whether reads are stale (the backlog of a hold may still come).
    pub(crate) fn is_stale(&self) -> bool {
        matches!(self.reads, Reads::Stale(_))
    }

    /// Whether [`stale`](Self::stale) needs the kernel's count of bytes received now:
    /// only once reads reach what it counted last.
    pub(crate) fn stale_asks(&self, counts: Counts) -> bool {
        matches!(self.reads, Reads::Stale(Backlog::Bytes(until)) if counts.bytes_read >= until)
    }

    /// Before traffic is told: whether a stale backlog is read (the transport read what
    /// had arrived by the kernel's last count, the kernel shows nothing more unread
    /// (`received`, when [`stale_asks`](Self::stale_asks)), and the transport read again
    /// since). Returns whether reads are still stale; the kernel's record then dates
    /// the peer.
    pub(crate) fn stale(&mut self, counts: Counts, received: Option<u64>) -> bool {
        if let Reads::Stale(backlog) = self.reads {
            self.reads = match (backlog, received) {
                (Backlog::Bytes(until), _) if counts.bytes_read < until => self.reads,
                (Backlog::Bytes(_), Some(r)) if r > counts.bytes_read => {
                    Reads::Stale(Backlog::Bytes(r))
                }
                // The kernel's queue is empty, but the transport may still hold frames
                // it read from it long ago (a WebSocket stream reads ahead).
                (Backlog::Bytes(_), Some(_)) => Reads::Stale(Backlog::Reads(counts.reads)),
                (Backlog::Reads(mark), _) if counts.reads == mark => self.reads,
                _ => Reads::Live,
            };
        }
        self.reads != Reads::Live
    }

    /// Whether the peer may be judged now: always while reads go on; while nothing is
    /// read, only where the kernel shows the peer's bytes (a pong included) though
    /// unread, that is while our receive window is open (little arrived unread, by the
    /// last look).
    pub(crate) fn may_judge(&self, counts: Counts) -> bool {
        match (self.reads, self.kernel, self.unread(counts)) {
            (Reads::Held, Some(k), Some(unread)) => unread < (k.buffer / 4).min(UNREAD_MAX),
            (Reads::Held, _, _) => false,
            _ => true,
        }
    }

    /// When to wake: at `deadline`, or sooner for a look while a ping is held.
    pub(crate) fn wake(&self, deadline: Option<Instant>) -> Option<Instant> {
        match (self.ping_held, deadline) {
            (true, Some(w)) => Some(w.min(self.next_look)),
            _ => deadline,
        }
    }
}

/// A connection's driver, as the steps below see it: its machine and link, what its
/// meter counted, the kernel's record, and carrying out what the machine says. The
/// async driver is one; the simulator's kernel model is another.
pub(crate) trait Driven {
    /// The machine and the link.
    fn parts(&mut self) -> (&mut HeartbeatMachine, &mut Link);
    /// What the meter counted so far (zeros without one).
    fn counts(&self) -> Counts;
    /// A fresh read of the kernel's record (`None`: none to be had).
    fn kernel(&self) -> Option<Kernel>;
    /// Carries out `actions` at once.
    fn carry_out(&mut self, actions: Actions);
}

/// Tells the machine `events` at `now` and carries out what it says; returns whether it
/// said anything.
pub(crate) fn tell<D: Driven>(
    d: &mut D,
    now: Instant,
    events: impl Iterator<Item = Event>,
) -> bool {
    let mut acted = false;
    for event in events {
        let actions = d.parts().0.handle(now, event);
        acted |= !actions.is_empty();
        d.carry_out(actions);
    }
    acted
}

/// Tells the machine the traffic it has not heard of, at `now`. `pong`: a pong was just
/// read and is told next (its own bytes go with it). While the transport reads a backlog
/// that waited for a slow application, reads are no news of now: the kernel's record
/// dates the peer instead.
pub(crate) fn report<D: Driven>(d: &mut D, now: Instant, pong: bool) {
    let counts = d.counts();
    let mut stale = false;
    if d.parts().1.is_stale() {
        let received = match d.parts().1.stale_asks(counts) {
            true => d.kernel().map(|k| k.received),
            false => None,
        };
        stale = d.parts().1.stale(counts, received);
        reads(d);
    }
    let events = d.parts().1.traffic(counts, pong);
    tell(d, now, events);
    if stale && d.parts().1.look_due(now) {
        look(d, now);
    }
}

/// A look at the kernel's record (one system call): at every deadline, and at a clock
/// read once a configured pong timeout has passed since the last, never per message.
/// Returns whether the machine acted on it.
pub(crate) fn look<D: Driven>(d: &mut D, now: Instant) -> bool {
    let kernel = d.kernel();
    let (machine, link) = d.parts();
    let (in_flight, pong_timeout) = (machine.ping_in_flight(), machine.config().pong_timeout());
    let events = link.look(now, kernel, in_flight, pong_timeout);
    tell(d, now, events)
}

/// Tells the machine whether the peer's record answers its ping (see
/// [`Link::reads_nothing`]): after [`Link::hold`], [`Link::owe_pong`] or a stale backlog
/// read to its end.
pub(crate) fn reads<D: Driven>(d: &mut D) {
    let (machine, link) = d.parts();
    machine.reads_nothing(link.reads_nothing());
}

/// The ping `id` has left at `now` (its flush completed).
pub(crate) fn ping_left<D: Driven>(d: &mut D, now: Instant, id: PingId) {
    let counts = d.counts();
    d.parts().1.ping_written(id, counts);
    report(d, now, false);
    tell(d, now, [Event::PingWritten(id)].into_iter());
    if d.parts().1.reads_nothing() {
        // The kernel judges (nothing is read): what it counts from here on came after
        // the ping, however coarse its clock, and answers it.
        look(d, now);
    }
}

/// What comes before a deadline is looked at, with nothing more to read.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Before {
    /// The peer may not be judged now (nothing is read, and the kernel cannot vouch).
    Wait,
    /// The kernel's record, due at this clock read, made the machine act.
    Acted,
    /// Look at the timer: the deadline is [`Link::wake`] of the machine's.
    Timer,
}

/// Step 1 of a deadline, at a clock read with nothing more to read: whether the peer may
/// be judged, the traffic not yet told, and a look at the kernel's record if one is due.
pub(crate) fn before_deadline<D: Driven>(d: &mut D, now: Instant) -> Before {
    if d.parts().1.is_held() {
        look(d, now);
    }
    let counts = d.counts();
    if !d.parts().1.may_judge(counts) {
        return Before::Wait;
    }
    report(d, now, false);
    if d.parts().1.look_due(now) && look(d, now) {
        return Before::Acted;
    }
    Before::Timer
}

/// Step 2, once the clock (or the timer) says the wake-up has come: the kernel's
/// record, then the tick.
pub(crate) fn at_deadline<D: Driven>(d: &mut D, now: Instant) {
    if look(d, now) {
        return;
    }
    report(d, now, false);
    tell(d, now, [Event::Tick].into_iter());
}

/// Step 0, before the machine hears anything of a pass at `now` (a wake of any cause):
/// read before judging (see [`Settle`]). If the machine's wake-up is more than [`LATE`]
/// past, our process did not run: no close for silence until the peer's bytes that
/// arrived meanwhile had as long to be read. If it has just come, and the kernel shows
/// bytes that arrived and were not read (or cannot say), they get [`SETTLE_MIN`].
pub(crate) fn begin<D: Driven>(d: &mut D, now: Instant) {
    let (machine, link) = d.parts();
    let wake = machine.wake();
    if wake.is_some_and(|w| now - w > LATE) {
        // The round trip of the ping in flight includes our stall: no sample.
        machine.round_trip_unsampled();
    }
    if let Some(until) = link.settle.woke(now, wake, machine.jump_tolerance()) {
        machine.defer_judgement(until);
        return;
    }
    let Some(at) = wake.filter(|w| *w <= now && !link.is_held() && link.settle.ask(*w)) else {
        return; // not due, or asked already (one system call per deadline, not per pass)
    };
    let known = link.kernel.is_some();
    let counts = d.counts();
    let unread = !known || d.kernel().is_some_and(|k| k.received > counts.bytes_read);
    let (machine, link) = d.parts();
    if let Some(until) = unread.then(|| link.settle.unread(now, at)).flatten() {
        machine.defer_judgement(until);
    }
}

/// The timer fired while the peer keeps talking: the traffic, the kernel's record, then
/// the time (no close can come due: the peer just spoke).
#[cfg_attr(not(feature = "driver"), allow(dead_code))]
pub(crate) fn tick<D: Driven>(d: &mut D, now: Instant) {
    report(d, now, false);
    look(d, now);
    tell(d, now, [Event::Tick].into_iter());
}

/// Read before judging: after a wake later than [`LATE`] (our own process was not
/// running), what the peer sent meanwhile may still be unread, in a socket or in a task
/// that has not run yet. So no connection is closed for silence until reads have had as
/// long as we were late (from [`SETTLE_MIN`] to [`SETTLE_MAX`]); meanwhile what is read
/// is told as usual, and pings go on. Once per stall: a deadline that came before the
/// last wait ended was given its wait. Bytes the kernel shows arrived and unread at a
/// deadline get [`SETTLE_MIN`], once per deadline. One rule for a connection's driver
/// and for a loop that judges many; the machine (or the set) keeps the time
/// (`defer_judgement`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settle {
    /// The end of the last wait: no close for silence before it.
    until: Instant,
    /// The last deadline whose unread bytes were asked after.
    asked: Instant,
}

impl Settle {
    /// A pass begins at `now`, and the wake-up the machine handed out was `wake` (its
    /// raw deadline, which may lie before `now`): after a late wake, the time before
    /// which no connection is closed for silence. A wake later than `tolerance` (the
    /// machine's clock-jump tolerance) needs none: the machine then probes the peer
    /// (one ping, a fresh pong timeout) instead of closing.
    pub(crate) fn woke(
        &mut self,
        now: Instant,
        wake: Option<Instant>,
        tolerance: Duration,
    ) -> Option<Instant> {
        let wake = wake?;
        let late = now - wake;
        // Later than the machine's tolerance, it probes instead of closing: no wait.
        if late > LATE && late <= tolerance && wake >= self.until {
            self.until = now + late.clamp(SETTLE_MIN, SETTLE_MAX);
            return Some(self.until);
        }
        None
    }

    /// Whether to ask after unread bytes at `deadline`: once per deadline, and not for one
    /// a wait covered already.
    pub(crate) fn ask(&mut self, deadline: Instant) -> bool {
        if deadline <= self.until || deadline <= self.asked {
            return false;
        }
        self.asked = deadline;
        true
    }

    /// At a deadline `deadline` that came by `now`, the kernel holds bytes not read yet
    /// (or cannot say): the time before which no connection is closed (once per
    /// deadline: the deadline a wait moves a close to is judged then).
    pub(crate) fn unread(&mut self, now: Instant, deadline: Instant) -> Option<Instant> {
        if deadline > self.until {
            self.until = now + SETTLE_MIN;
            return Some(self.until);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(received: u64, acked: u64, ack_age_ms: u64) -> Kernel {
        Kernel {
            received,
            acked,
            ack_age: Duration::from_millis(ack_age_ms),
            buffer: 128 * 1024,
            ..Kernel::default()
        }
    }

    /// What waits to be told: traffic either way since the last telling; the peer spoke
    /// only where it sent something.
    #[test]
    fn what_waits_to_be_told_and_whether_the_peer_spoke() {
        let mut link = Link::default();
        let none = Counts::default();
        link.start(none, None);
        assert!(!link.any(none) && !link.peer_spoke(none));
        let read = Counts {
            reads: 1,
            bytes_read: 10,
            ..none
        };
        assert!(link.any(read) && link.peer_spoke(read));
        let _ = link.traffic(read, false);
        assert!(!link.any(read) && !link.peer_spoke(read));
        let delivered = Counts {
            deliveries: 1,
            ..read
        };
        assert!(link.any(delivered) && !link.peer_spoke(delivered));
        let _ = link.traffic(delivered, false);
        link.data_out();
        assert!(link.any(delivered) && !link.peer_spoke(delivered));
        let _ = link.traffic(delivered, false);
        link.data_in();
        assert!(link.any(delivered) && link.peer_spoke(delivered));
    }

    #[test]
    fn acknowledgements_hold_only_a_ping_still_behind_our_data() {
        let mut link = Link::default();
        let (s, id) = (Instant::from_secs, PingId::new(1));
        link.start(Counts::default(), Some(kernel(0, 100, 0)));
        let counts = Counts {
            bytes_written: 1_000,
            ..Counts::default()
        };
        link.ping_written(id, counts);
        let pt = Duration::from_secs(1);
        // Bytes ahead of the ping acknowledged: held.
        let told: Vec<_> = link
            .look(s(1), Some(kernel(0, 500, 10)), Some(id), pt)
            .collect();
        assert_eq!(
            told,
            [Event::PathMoved {
                ago: Duration::from_millis(10)
            }]
        );
        // Looks come sooner while it is held, and the wake-up with them.
        assert!(link.look_due(s(1) + pt / 4));
        assert_eq!(link.wake(Some(s(9))), Some(s(1) + pt / 4));
        assert_eq!(link.wake(Some(s(1))), Some(s(1)));
        assert_eq!(link.wake(None), None);
        // No progress: nothing, and the wake-up is the deadline's again.
        let k = Some(kernel(0, 500, 900));
        assert_eq!(link.look(s(2), k, Some(id), pt).count(), 0);
        assert!(!link.look_due(s(2) + pt / 4));
        assert_eq!(link.wake(Some(s(9))), Some(s(9)));
        // The ping's own bytes acknowledged: nothing holds it any more.
        let k = Some(kernel(0, 1_200, 5));
        assert_eq!(link.look(s(3), k, Some(id), pt).count(), 0);
        // Held at the last look, then its own bytes acknowledged: one last hold, to the
        // last acknowledgement; then never again.
        let mut once = Link::default();
        once.start(Counts::default(), Some(kernel(0, 100, 0)));
        once.ping_written(id, counts);
        assert_eq!(
            once.look(s(1), Some(kernel(0, 500, 0)), Some(id), pt)
                .count(),
            1
        );
        let told: Vec<_> = once
            .look(s(2), Some(kernel(0, 2_000, 3)), Some(id), pt)
            .collect();
        let last = Event::PathMoved {
            ago: Duration::from_millis(3),
        };
        assert_eq!(told, [last]);
        assert_eq!(
            once.look(s(3), Some(kernel(0, 3_000, 1)), Some(id), pt)
                .count(),
            0
        );
        // A ping not written yet waits behind everything written: held while the path
        // moves (here by selective acknowledgements alone, as in loss recovery).
        let mut other = Link::default();
        other.start(Counts::default(), Some(kernel(0, 100, 0)));
        other.ping_written(id, counts);
        let later = Some(PingId::new(2));
        let sacked = Kernel {
            delivered: 9,
            ..kernel(0, 100, 0)
        };
        assert_eq!(other.look(s(1), Some(sacked), later, pt).count(), 1);
        assert_eq!(other.look(s(2), Some(sacked), later, pt).count(), 0);
        // Acknowledged to the ping's last byte exactly: nothing holds it.
        let mut exact = Link::default();
        exact.start(Counts::default(), Some(kernel(0, 100, 0)));
        exact.ping_written(id, counts);
        assert_eq!(
            exact
                .look(s(1), Some(kernel(0, 1_000, 0)), Some(id), pt)
                .count(),
            0
        );
        // A kernel that does not count acknowledged bytes holds nothing.
        let mut old = Link::default();
        old.start(Counts::default(), Some(kernel(0, 0, 0)));
        old.ping_written(id, counts);
        assert_eq!(
            old.look(s(1), Some(kernel(0, 0, 0)), Some(id), pt).count(),
            0
        );
    }

    #[test]
    fn a_pongs_own_bytes_are_told_with_it() {
        let mut link = Link::default();
        let read = Counts {
            reads: 1,
            bytes_read: 16,
            ..Counts::default()
        };
        assert_eq!(link.traffic(read, true).count(), 0);
        let more = Counts { reads: 2, ..read };
        link.data_in();
        assert_eq!(
            link.traffic(more, true).collect::<Vec<_>>(),
            [Event::DataReceived]
        );
    }

    #[test]
    fn a_late_wake_reads_before_it_judges_once_per_stall() {
        let mut settle = Settle::default();
        let ms = Instant::from_millis;
        let second = Duration::from_secs(1);
        assert_eq!(settle.woke(ms(1_010), Some(ms(1_000)), second), None);
        assert_eq!(settle.woke(ms(1_010), None, second), None);
        // 300 ms late: reads get 300 ms.
        assert_eq!(
            settle.woke(ms(1_300), Some(ms(1_000)), second),
            Some(ms(1_600))
        );
        // Deadlines that came before the wait ended were given it.
        assert_eq!(settle.woke(ms(1_700), Some(ms(1_000)), second), None);
        assert_eq!(settle.woke(ms(1_700), Some(ms(1_500)), second), None);
        assert_eq!(settle.unread(ms(1_700), ms(1_550)), None);
        // A new stall: at least the minimum.
        assert_eq!(
            settle.woke(ms(2_000), Some(ms(1_970)), second),
            Some(ms(2_050))
        );
        // Later than the tolerance: the machine probes, no wait.
        assert_eq!(settle.woke(ms(9_000), Some(ms(4_000)), second), None);
        let short = Duration::from_millis(200);
        assert_eq!(settle.woke(ms(9_500), Some(ms(9_200)), short), None);
        // Unread bytes at a deadline: the minimum, once per deadline.
        assert_eq!(settle.unread(ms(12_000), ms(12_000)), Some(ms(12_050)));
        assert_eq!(settle.unread(ms(12_060), ms(12_000)), None);
        // Unread bytes are asked after once per deadline, never for one a wait covered.
        let mut fresh = Settle::default();
        assert!(fresh.ask(ms(100)) && !fresh.ask(ms(100)) && !fresh.ask(ms(90)));
        assert!(fresh.ask(ms(101)));
        assert!(!settle.ask(ms(12_050)), "covered by the wait");
        assert!(settle.ask(ms(12_051)));
        // A deadline at the very end of a wait was given it.
        assert_eq!(settle.unread(ms(12_070), ms(12_050)), None);
        assert_eq!(settle.unread(ms(12_070), ms(12_051)), Some(ms(12_120)));
    }

    fn counts(reads: u64, bytes_read: u64) -> Counts {
        Counts {
            reads,
            bytes_read,
            ..Counts::default()
        }
    }

    /// Without the kernel's record, a hold reads nothing and vouches for nothing; after
    /// it, what is read is news again.
    #[test]
    fn a_hold_without_the_kernel_is_no_evidence() {
        let mut link = Link::default();
        link.start(counts(0, 0), None);
        link.hold(true);
        assert!(link.is_held() && !link.unread_mode() && !link.reads_nothing());
        assert!(
            !link.may_judge(counts(0, 0)),
            "nothing read, nothing to vouch"
        );
        link.hold(false);
        assert!(!link.is_held() && !link.is_stale());
        assert!(link.may_judge(counts(0, 0)));
        link.data_in();
        assert_eq!(
            link.traffic(counts(1, 10), false).collect::<Vec<_>>(),
            [Event::DataReceived]
        );
    }

    /// With the kernel's record: what is read during a hold, and after it until the
    /// backlog that built up is read, is no news of now (the kernel dates the peer);
    /// the backlog is known read when the transport read what the kernel counted, the
    /// kernel shows nothing more, and the transport read once more.
    #[test]
    fn a_backlog_read_after_a_hold_is_no_news() {
        let mut link = Link::default();
        link.start(counts(0, 0), Some(kernel(100, 0, 0)));
        assert!(!link.stale(counts(0, 0), Some(100)), "live: not stale");
        link.hold(true);
        assert!(link.is_held() && !link.is_stale());
        assert!(link.unread_mode() && link.reads_nothing());
        link.data_in();
        assert_eq!(link.traffic(counts(1, 10), false).count(), 0);
        link.hold(false);
        assert!(!link.is_held() && link.is_stale() && link.unread_mode());
        // The kernel is asked at once, then only once reads reach its count.
        assert!(link.stale_asks(counts(1, 10)));
        assert!(link.stale(counts(1, 10), Some(300)));
        assert!(!link.stale_asks(counts(2, 299)));
        assert!(link.stale(counts(2, 299), None));
        assert!(link.stale_asks(counts(3, 300)));
        // More arrived meanwhile: stale up to it.
        assert!(link.stale(counts(3, 300), Some(400)));
        assert!(!link.stale_asks(counts(3, 300)) && link.stale_asks(counts(3, 400)));
        // Nothing more unread: stale until the transport reads again (frames it read
        // ahead may still come).
        assert!(link.stale(counts(3, 400), Some(400)));
        assert!(!link.stale_asks(counts(3, 400)));
        link.data_in();
        assert_eq!(link.traffic(counts(3, 400), false).count(), 0);
        assert!(link.stale(counts(3, 400), None), "no read since");
        assert!(!link.stale(counts(4, 420), None), "read again: live");
        assert!(!link.is_stale() && !link.unread_mode() && !link.reads_nothing());
        link.data_in();
        assert_eq!(
            link.traffic(counts(4, 420), false).collect::<Vec<_>>(),
            [Event::DataReceived]
        );
    }

    /// A pong we owe and cannot flush: the transport reads nothing.
    #[test]
    fn a_pong_owed_reads_nothing() {
        let mut link = Link::default();
        link.owe_pong(true);
        assert!(link.reads_nothing() && !link.unread_mode());
        link.owe_pong(false);
        assert!(!link.reads_nothing());
    }

    /// While the application is behind, the peer is judged only while the receive
    /// window is open: under a quarter of the buffer unread, and at most 16 KiB.
    #[test]
    fn a_held_peer_is_judged_only_while_the_window_is_open() {
        let s = Instant::from_secs;
        let pt = Duration::from_secs(1);
        let small = |received| Kernel {
            buffer: 8 * 1024,
            ..kernel(received, 0, 0)
        };
        let large = |received| Kernel {
            buffer: 1 << 20,
            ..kernel(received, 0, 0)
        };
        for (k, limit) in [(small as fn(u64) -> Kernel, 2 * 1024), (large, 16 * 1024)] {
            let mut link = Link::default();
            link.start(counts(0, 0), Some(k(0)));
            assert!(link.may_judge(counts(0, 0)), "live");
            link.hold(true);
            assert!(link.may_judge(counts(0, 0)), "nothing unread");
            let _ = link.look(s(1), Some(k(limit - 1)), None, pt);
            assert!(link.may_judge(counts(0, 0)), "{limit}: one byte under");
            let _ = link.look(s(2), Some(k(limit + 500)), None, pt);
            assert!(!link.may_judge(counts(0, 0)), "{limit}: past the limit");
            assert!(!link.may_judge(counts(1, 500)), "{limit}: at the limit");
            assert!(
                link.may_judge(counts(1, 501)),
                "{limit}: read down under it"
            );
        }
    }

    /// A look tells the peer's bytes (with their age) and a new round trip, only when
    /// they changed; and a ping queued behind the one written is behind all we wrote,
    /// even what was acknowledged up to the written ping's end.
    #[test]
    fn a_look_tells_what_changed() {
        let s = Instant::from_secs;
        let pt = Duration::from_secs(1);
        let mut link = Link::default();
        let k = Kernel {
            data_age: Duration::from_millis(7),
            ..kernel(100, 0, 0)
        };
        link.start(counts(0, 0), Some(k));
        assert_eq!(link.look(s(1), Some(k), None, pt).count(), 0);
        let heard = Kernel { received: 150, ..k };
        assert_eq!(
            link.look(s(2), Some(heard), None, pt).collect::<Vec<_>>(),
            [Event::PathHeard {
                ago: Duration::from_millis(7)
            }]
        );
        let rtt = Kernel {
            srtt: Duration::from_millis(30),
            rttvar: Duration::from_millis(5),
            ..heard
        };
        assert_eq!(
            link.look(s(3), Some(rtt), None, pt).collect::<Vec<_>>(),
            [Event::PathRtt {
                srtt: Duration::from_millis(30),
                rttvar: Duration::from_millis(5)
            }]
        );
        assert_eq!(link.look(s(4), Some(rtt), None, pt).count(), 0);
        // Ping 1 written, ending at byte 1,000; ping 2 queued behind everything.
        link.start(counts(0, 0), Some(kernel(0, 100, 0)));
        link.ping_written(
            PingId::new(1),
            Counts {
                bytes_written: 1_000,
                ..Counts::default()
            },
        );
        let past_ping_1 = Some(kernel(0, 2_000, 4));
        assert_eq!(
            link.look(s(5), past_ping_1, Some(PingId::new(2)), pt)
                .collect::<Vec<_>>(),
            [Event::PathMoved {
                ago: Duration::from_millis(4)
            }]
        );
        // No look to be had: nothing, and the next in a pong timeout.
        assert_eq!(link.look(s(6), None, Some(PingId::new(2)), pt).count(), 0);
        assert!(!link.look_due(s(7) - Duration::from_millis(1)) && link.look_due(s(7)));
    }

    /// A driver as the steps see it: a machine, a link, what the meter and the kernel
    /// say, and what the machine said.
    struct Fake {
        machine: HeartbeatMachine,
        link: Link,
        counts: Counts,
        kernel: Option<Kernel>,
        actions: Vec<crate::Action>,
    }

    impl Driven for Fake {
        fn parts(&mut self) -> (&mut HeartbeatMachine, &mut Link) {
            (&mut self.machine, &mut self.link)
        }
        fn counts(&self) -> Counts {
            self.counts
        }
        fn kernel(&self) -> Option<Kernel> {
            self.kernel
        }
        fn carry_out(&mut self, actions: Actions) {
            self.actions.extend(actions);
        }
    }

    /// A client (ping 1 s, pong 1 s) connected at 0 with the kernel's record.
    fn fake() -> Fake {
        let config = crate::Config::client()
            .ping_interval(Duration::from_secs(1))
            .pong_timeout(Duration::from_secs(1))
            .spread_pings(false)
            .build()
            .unwrap();
        let mut machine = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = machine.handle(Instant::ZERO, Event::Connected);
        let k = kernel(0, 0, 0);
        let mut link = Link::default();
        link.start(Counts::default(), Some(k));
        Fake {
            machine,
            link,
            counts: Counts::default(),
            kernel: Some(k),
            actions: Vec::new(),
        }
    }

    /// `report` tells the machine what the meter counted, once.
    #[test]
    fn report_tells_the_traffic_once() {
        let mut d = fake();
        d.counts = counts(1, 10);
        let at = Instant::from_millis(500);
        report(&mut d, at, false);
        assert_eq!(d.machine.last_heard(), at);
        assert!(!d.link.any(d.counts));
        report(&mut d, Instant::from_millis(600), false);
        assert_eq!(d.machine.last_heard(), at, "nothing new");
    }

    /// `tell` says whether the machine said anything.
    #[test]
    fn tell_says_whether_the_machine_acted() {
        let mut d = fake();
        let early = Instant::from_millis(500);
        assert!(!tell(&mut d, early, [Event::Tick].into_iter()));
        assert!(d.actions.is_empty());
        let ping = Instant::from_secs(1);
        assert!(tell(&mut d, ping, [Event::Tick, Event::Tick].into_iter()));
        assert!(matches!(d.actions[..], [crate::Action::SendPing(_)]));
    }

    /// Reads that are news of now: `report` tells them, and leaves the kernel's record
    /// to the deadlines (no look per message, even one due).
    #[test]
    fn report_looks_only_while_reads_are_stale() {
        let mut d = fake();
        d.kernel = Some(kernel(500, 0, 0));
        assert!(d.link.look_due(Instant::from_millis(300)));
        report(&mut d, Instant::from_millis(300), false);
        assert_eq!(
            d.machine.last_heard(),
            Instant::ZERO,
            "nothing read, none looked"
        );
    }

    /// The timer fired while the peer keeps talking: the traffic, the kernel's record,
    /// then the time, which pings when due.
    #[test]
    fn tick_tells_the_traffic_then_the_time() {
        let mut d = fake();
        d.counts = counts(1, 10);
        let ping = Instant::from_secs(1);
        tick(&mut d, ping);
        assert_eq!(d.machine.last_heard(), ping);
        assert!(!d.link.any(d.counts));
        let mut quiet = fake();
        tick(&mut quiet, ping);
        assert!(matches!(quiet.actions[..], [crate::Action::SendPing(_)]));
    }

    /// While the application is behind, the machine is told so: the peer's bytes the
    /// kernel counted after the ping left answer it.
    #[test]
    fn reads_tells_the_machine_the_kernel_answers() {
        let mut d = fake();
        let ping = Instant::from_secs(1);
        let _ = d.machine.handle(ping, Event::Tick);
        let id = d.machine.ping_in_flight().expect("a ping");
        let _ = d.machine.handle(ping, Event::PingWritten(id));
        d.link.hold(true);
        reads(&mut d);
        d.kernel = Some(kernel(50, 0, 0));
        let _ = look(&mut d, ping + Duration::from_millis(100));
        assert_eq!(d.machine.ping_in_flight(), None, "answered by the kernel");
        let mut live = fake();
        let _ = live.machine.handle(ping, Event::Tick);
        let _ = live.machine.handle(ping, Event::PingWritten(id));
        live.kernel = Some(kernel(50, 0, 0));
        let _ = look(&mut live, ping + Duration::from_millis(100));
        assert_eq!(live.machine.ping_in_flight(), Some(id), "the pong is read");
    }

    /// A pass that begins at a deadline just come, with bytes the kernel shows unread,
    /// gives them the minimum before any close; not where all is read, not while held,
    /// not twice for one deadline.
    #[test]
    fn begin_reads_before_it_judges() {
        let due = |d: &mut Fake| {
            let ping = Instant::from_secs(1);
            let _ = d.machine.handle(ping, Event::Tick);
            let id = d.machine.ping_in_flight().expect("a ping");
            let _ = d.machine.handle(ping, Event::PingWritten(id));
            d.machine.wake().expect("a pong deadline")
        };
        // Unread bytes at the deadline: the close waits SETTLE_MIN.
        let mut d = fake();
        let at = due(&mut d);
        d.kernel = Some(kernel(100, 0, 0));
        d.counts = counts(1, 50);
        begin(&mut d, at);
        assert_eq!(d.machine.wake(), Some(at + SETTLE_MIN));
        begin(&mut d, at + SETTLE_MIN);
        assert_eq!(d.machine.wake(), Some(at + SETTLE_MIN), "once per deadline");
        // All read: no wait.
        let mut d = fake();
        let at = due(&mut d);
        d.kernel = Some(kernel(50, 0, 0));
        d.counts = counts(1, 50);
        begin(&mut d, at);
        assert_eq!(d.machine.wake(), Some(at));
        // Held: the kernel judges, no wait.
        let mut d = fake();
        let at = due(&mut d);
        d.kernel = Some(kernel(100, 0, 0));
        d.counts = counts(1, 50);
        d.link.hold(true);
        begin(&mut d, at);
        assert_eq!(d.machine.wake(), Some(at));
        // Not due yet: nothing asked.
        let mut d = fake();
        let at = due(&mut d);
        d.kernel = Some(kernel(100, 0, 0));
        begin(&mut d, at - Duration::from_millis(1));
        assert_eq!(d.machine.wake(), Some(at));
        // A pass before the wake-up is no late wake: the round trip is sampled.
        let mut d = fake();
        let at = due(&mut d);
        let early = at - Duration::from_millis(500);
        begin(&mut d, early);
        let _ = d
            .machine
            .handle(early, Event::PongReceived(d.machine.ping_in_flight()));
        assert_eq!(
            d.machine.stats().smoothed_rtt,
            Some(Duration::from_millis(500))
        );
        // 300 ms late: no close for 300 ms, and the pong's round trip (our stall in it)
        // is measured, but no sample of the path.
        let mut d = fake();
        let at = due(&mut d);
        let late = at + Duration::from_millis(300);
        begin(&mut d, late);
        assert_eq!(d.machine.wake(), Some(late + Duration::from_millis(300)));
        let first = d.machine.ping_in_flight();
        let said = d.machine.handle(late, Event::PongReceived(first));
        assert!(said
            .into_iter()
            .all(|a| !matches!(a, crate::Action::Close(_))));
        assert_ne!(d.machine.ping_in_flight(), first, "answered");
        assert_eq!(d.machine.stats().smoothed_rtt, None);
        // LATE late exactly is on time: no wait, and the round trip is sampled.
        let mut d = fake();
        let at = due(&mut d);
        d.kernel = Some(kernel(0, 0, 0));
        begin(&mut d, at + LATE);
        assert_eq!(d.machine.wake(), Some(at));
        let first = d.machine.ping_in_flight();
        let _ = d.machine.handle(at + LATE, Event::PongReceived(first));
        assert!(d.machine.stats().smoothed_rtt.is_some());
    }
}
