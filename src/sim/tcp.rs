//! [`Tcp`]: one connection of the crate's driver logic over a model of kernel TCP, on a
//! virtual clock.

use super::Violation;
use crate::config::Config;
use crate::event::{Action, Actions, Event, PingId};
use crate::link::{self, Before, Counts, Driven, Kernel, Link};
use crate::machine::HeartbeatMachine;
use crate::reason::CloseReason;
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::vec::Vec;
use core::time::Duration;

/// The segment size: bytes cross the path this many at a time.
const SEGMENT: u64 = 1460;
/// A ping or a pong on the wire (a WebSocket control frame with 8 bytes of payload).
const CONTROL: u64 = 14;
/// Our socket's unsent backlog (`TCP_NOTSENT_LOWAT`): a write waits while this much is
/// not yet sent.
const UNSENT_LIMIT: u64 = 16 * 1024;

/// What crosses the connection, in each direction, for the receiving application.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Msg {
    Ping(PingId),
    Pong(PingId),
    Data,
}

/// One direction's byte stream: what was written, what left, and where each message ends.
#[derive(Debug, Default)]
struct Stream {
    written: u64,
    sent: u64,
    acked: u64,
    /// Messages not yet read whole by the receiver: (their end, the message).
    messages: VecDeque<(u64, Msg)>,
}

impl Stream {
    fn write(&mut self, bytes: u64, msg: Msg) {
        self.written += bytes;
        self.messages.push_back((self.written, msg));
    }
}

/// Our end: the driver (a machine and its link), our process and our kernel.
#[derive(Debug)]
struct Ours {
    machine: HeartbeatMachine,
    link: Link,
    counts: Counts,
    now: Instant,
    /// Our kernel: what it sends, what it received (and when the last data, the last
    /// acknowledgement came), the peer's window as last advertised, its round trip.
    out: Stream,
    received: u64,
    data_at: Instant,
    ack_at: Instant,
    window: u64,
    srtt: Option<(Duration, Duration)>,
    /// Segments in flight: (their end, when they left), for the round trip.
    in_flight: VecDeque<(u64, Instant)>,
    /// The kernel's record is kept (Linux): `false` models a platform without `TCP_INFO`.
    kernel_known: bool,
    /// The driver's own messages waiting to be written: a ping (a pong is never owed:
    /// the peer here does not ping).
    ping: Option<PingId>,
    /// A data message of this size waits for room in the backlog, and whether the
    /// socket already said "not now" to it.
    pending_write: Option<u64>,
    write_waited: bool,
    closed: Option<(Instant, CloseReason)>,
}

impl Driven for Ours {
    fn parts(&mut self) -> (&mut HeartbeatMachine, &mut Link) {
        (&mut self.machine, &mut self.link)
    }
    fn counts(&self) -> Counts {
        self.counts
    }
    fn kernel(&self) -> Option<Kernel> {
        let ms = |t: Instant| {
            // The kernel's ages are in whole milliseconds (jiffies), rounded down.
            Duration::from_millis((self.now - t).as_millis() as u64)
        };
        let (srtt, rttvar) = self.srtt.unwrap_or_default();
        self.kernel_known.then(|| Kernel {
            received: self.received,
            acked: self.out.acked,
            delivered: self.out.acked.div_ceil(SEGMENT),
            data_age: ms(self.data_at),
            ack_age: ms(self.ack_at),
            srtt,
            rttvar,
            buffer: 1 << 20,
        })
    }
    fn carry_out(&mut self, actions: Actions) {
        for action in actions {
            match action {
                Action::SendPing(id) if self.closed.is_none() => self.ping = Some(id),
                Action::Close(reason) if self.closed.is_none() => {
                    self.closed = Some((self.now, reason));
                }
                _ => {}
            }
        }
    }
}

/// The peer: its kernel (a receive buffer that acknowledges what it takes) and its
/// application, which may stop while its kernel runs.
#[derive(Debug)]
struct Peer {
    /// Bytes its kernel took, and bytes its application read.
    taken: u64,
    read: u64,
    buffer: u64,
    stopped: bool,
    answer_after: Duration,
    /// Pongs its application will write: (when, which ping).
    answers: VecDeque<(Instant, PingId)>,
    /// What it sends us.
    out: Stream,
    /// A data message of this size every so often, and when the next is due.
    traffic: Option<(Duration, u64, Instant)>,
}

/// Something on its way across the path.
#[derive(Copy, Clone, Debug)]
enum Wire {
    /// Our segment reaches the peer's kernel: its end, and when it left us.
    Up { end: u64 },
    /// The peer's acknowledgement reaches us: what it acknowledges, its window then.
    Ack { acked: u64, window: u64 },
    /// The peer's bytes reach our kernel, up to this end.
    Down { end: u64 },
}

/// One connection of the crate's driver logic, over a model of kernel TCP: the machine
/// with the driver's sans-IO layer (its meter's counts, the kernel's record, reads before
/// judging) on our side; our kernel's unsent limit, segments, acknowledgements, the
/// peer's advertised window and a smoothed round trip; a path with latency and a
/// bandwidth (a queue forms when more is in flight than the path carries); the peer's
/// kernel, which takes and acknowledges bytes while its buffer has room (a zero window
/// when it is full); and the peer's application, which answers each ping after a delay
/// and may stop (SIGSTOP) while its kernel runs. Our own process may stall, and when it
/// comes back its reads may lag its timer, as a runtime's do after a late wake.
///
/// The crate's property tests state two promises over it: a peer whose application
/// stops is closed within the bound in force whatever we send, and a live peer is never
/// closed whatever our process's stalls.
///
/// ```
/// use keepalive::sim::Tcp;
/// use keepalive::{Config, Duration, Instant};
///
/// let config = Config::client()
///     .ping_interval(Duration::from_secs(2))
///     .pong_timeout(Duration::from_secs(2))
///     .build()?;
/// let mut tcp = Tcp::new(config);
/// tcp.send_every(Some(Duration::from_millis(20)), 100); // we keep sending
/// tcp.run_for(Duration::from_secs(10))?;
/// assert_eq!(tcp.closed(), None);
/// tcp.stop_peer(); // its kernel still acknowledges everything we send
/// tcp.run_for(Duration::from_secs(10))?;
/// let (at, _reason) = tcp.closed().expect("a hung peer is closed");
/// assert!(at <= tcp.last_peer_byte() + tcp.machine().stats().dead_peer_bound);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Tcp {
    ours: Ours,
    peer: Peer,
    latency: Duration,
    /// Bytes per second each way (`None`: unlimited), and when each way is free again.
    bandwidth: Option<u64>,
    up_free: Instant,
    down_free: Instant,
    /// Most bytes of ours in flight (the congestion window).
    cwnd: u64,
    wire: Vec<(Instant, Wire)>,
    /// Our process runs again then; its reads lag its timer by `read_lag` after.
    stalled_until: Instant,
    reads_from: Instant,
    read_lag: Duration,
    /// A data message of ours of this size every so often, and when the next is due.
    traffic: Option<(Duration, u64, Instant)>,
    /// When the peer's last byte reached our kernel.
    last_peer_byte: Instant,
    /// When the peer's kernel acknowledged the end of each ping of ours.
    ping_acked: Vec<(PingId, Instant)>,
    /// The pings written, and where each ends in our stream.
    ping_ends: Vec<(PingId, u64)>,
    /// Pings our side sent, and pongs it read.
    pings: u32,
    pongs: u32,
}

impl Tcp {
    /// A connection opened at [`Instant::ZERO`], our side heartbeated by `config`;
    /// 10 ms each way, unlimited bandwidth, a 64 KiB window each way, a peer that
    /// answers each ping at once.
    pub fn new(config: Config) -> Tcp {
        let mut machine = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = machine.handle(Instant::ZERO, Event::Connected);
        let mut link = Link::default();
        let kernel = Kernel::default();
        link.start(Counts::default(), Some(kernel));
        Tcp {
            ours: Ours {
                machine,
                link,
                counts: Counts::default(),
                now: Instant::ZERO,
                out: Stream::default(),
                received: 0,
                data_at: Instant::ZERO,
                ack_at: Instant::ZERO,
                window: 64 * 1024,
                srtt: None,
                in_flight: VecDeque::new(),
                kernel_known: true,
                ping: None,
                pending_write: None,
                write_waited: false,
                closed: None,
            },
            peer: Peer {
                taken: 0,
                read: 0,
                buffer: 64 * 1024,
                stopped: false,
                answer_after: Duration::ZERO,
                answers: VecDeque::new(),
                out: Stream::default(),
                traffic: None,
            },
            latency: Duration::from_millis(10),
            bandwidth: None,
            up_free: Instant::ZERO,
            down_free: Instant::ZERO,
            cwnd: 64 * 1024,
            wire: Vec::new(),
            stalled_until: Instant::ZERO,
            reads_from: Instant::ZERO,
            read_lag: Duration::ZERO,
            traffic: None,
            last_peer_byte: Instant::ZERO,
            ping_acked: Vec::new(),
            ping_ends: Vec::new(),
            pings: 0,
            pongs: 0,
        }
    }

    /// The one-way latency (default 10 ms).
    pub fn latency(mut self, d: Duration) -> Tcp {
        self.latency = d;
        self
    }

    /// The bandwidth each way, in bytes per second (default unlimited), and the most
    /// bytes of ours in flight (default 64 KiB): more in flight than the path carries in
    /// a round trip waits in the path's queue, as on a bloated uplink.
    pub fn bandwidth(mut self, bytes_per_second: u64, in_flight: u64) -> Tcp {
        self.bandwidth = Some(bytes_per_second.max(1));
        self.cwnd = in_flight.max(SEGMENT);
        self
    }

    /// The peer's receive buffer (default 64 KiB): what its kernel takes while its
    /// application reads nothing.
    pub fn peer_buffer(mut self, bytes: u64) -> Tcp {
        self.peer.buffer = bytes.max(SEGMENT);
        self
    }

    /// How long the peer's application takes to answer a ping (default at once).
    pub fn answer_after(mut self, d: Duration) -> Tcp {
        self.peer.answer_after = d;
        self
    }

    /// Without the kernel's record (a platform without `TCP_INFO`, or no meter): the
    /// driver sees what it reads and writes only.
    pub fn without_kernel_record(mut self) -> Tcp {
        self.ours.kernel_known = false;
        self.ours.link = Link::default();
        self
    }

    /// Our application sends a data message of `bytes` every `every` (`None`: stops).
    pub fn send_every(&mut self, every: Option<Duration>, bytes: u64) {
        let now = self.ours.now;
        self.traffic = every.map(|d| (d.max(Duration::from_micros(1)), bytes, now + d));
    }

    /// The peer's application sends a data message of `bytes` every `every`.
    pub fn peer_sends_every(&mut self, every: Option<Duration>, bytes: u64) {
        let now = self.ours.now;
        self.peer.traffic = every.map(|d| (d.max(Duration::from_micros(1)), bytes, now + d));
    }

    /// The peer's process stops (SIGSTOP): it reads and answers nothing, while its
    /// kernel still takes and acknowledges bytes until its buffer is full.
    pub fn stop_peer(&mut self) {
        self.peer.stopped = true;
    }

    /// Our own process stalls for `d` from now (a stop, a throttled container, swap):
    /// nothing of ours runs meanwhile, while our kernel does; when it runs again, its
    /// reads come `read_lag` after its timer.
    pub fn stall(&mut self, d: Duration, read_lag: Duration) {
        self.stalled_until = self.stalled_until.max(self.ours.now + d);
        self.read_lag = read_lag;
        self.reads_from = self.stalled_until + read_lag;
    }

    /// The machine of our side.
    pub fn machine(&self) -> &HeartbeatMachine {
        &self.ours.machine
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.ours.now
    }

    /// When and why our side closed the connection, if it did.
    pub fn closed(&self) -> Option<(Instant, CloseReason)> {
        self.ours.closed
    }

    /// When the peer's last byte reached our kernel.
    pub fn last_peer_byte(&self) -> Instant {
        self.last_peer_byte
    }

    /// The last ping our side wrote, if any.
    pub fn last_ping(&self) -> Option<PingId> {
        self.ping_ends.last().map(|p| p.0)
    }

    /// How many pings our side wrote, and how many pongs it read.
    pub fn pings_and_pongs(&self) -> (u32, u32) {
        (self.pings, self.pongs)
    }

    /// When our kernel last saw the peer's kernel acknowledge new bytes of ours.
    pub fn last_ack(&self) -> Instant {
        self.ours.ack_at
    }

    /// When the peer's kernel acknowledged the last byte of ping `id`, if it did.
    pub fn ping_acked(&self, id: PingId) -> Option<Instant> {
        self.ping_acked
            .iter()
            .find(|(p, _)| *p == id)
            .map(|(_, at)| *at)
    }

    /// Runs for `d` of virtual time (our side stops at its close).
    pub fn run_for(&mut self, d: Duration) -> Result<(), Violation> {
        self.run_until(self.ours.now + d)
    }

    /// Runs until `until` (our side stops at its close).
    pub fn run_until(&mut self, until: Instant) -> Result<(), Violation> {
        let mut steps = 0u32;
        while self.ours.closed.is_none() {
            let Some(t) = self.next_time().filter(|t| *t <= until) else {
                break;
            };
            self.ours.now = self.ours.now.max(t);
            self.process();
            steps += 1;
            if steps > 5_000_000 {
                return Err(Violation {
                    rule: "the model makes progress",
                    detail: format!("more than 5,000,000 steps before {until:?}"),
                });
            }
        }
        if self.ours.closed.is_none() {
            self.ours.now = self.ours.now.max(until);
            self.process();
        }
        Ok(())
    }

    fn running(&self) -> bool {
        self.ours.now >= self.stalled_until
    }

    /// The time of the next thing that will happen.
    fn next_time(&self) -> Option<Instant> {
        let now = self.ours.now;
        let mut t: Option<Instant> = None;
        let mut at = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        at(self.wire.iter().map(|w| w.0).min());
        if !self.peer.stopped {
            at(self.peer.answers.front().map(|a| a.0));
            at(self.peer.traffic.map(|(_, _, next)| next));
        }
        if !self.running() {
            at(Some(self.stalled_until));
        } else {
            let o = &self.ours;
            at(o.link.wake(o.machine.next_deadline()));
            at(self.traffic.map(|(_, _, next)| next));
            if o.received > o.counts.bytes_read {
                at(Some(self.reads_from.max(now)));
            }
        }
        t.map(|t| t.max(now))
    }

    /// Carries out everything due now.
    fn process(&mut self) {
        let now = self.ours.now;
        // The path: what arrives now, in time order.
        self.wire.sort_by_key(|w| w.0);
        while self.wire.first().is_some_and(|w| w.0 <= now) {
            let (_, w) = self.wire.remove(0);
            self.arrive(w);
        }
        self.peer_runs();
        self.transmit();
        if self.running() {
            self.ours_runs();
            self.transmit();
        }
    }

    /// Something reaches its end of the path.
    fn arrive(&mut self, w: Wire) {
        let now = self.ours.now;
        match w {
            Wire::Up { end } => {
                // The peer's kernel takes it (our kernel sent no more than its window).
                self.peer.taken = self.peer.taken.max(end);
                let window =
                    self.peer.buffer - (self.peer.taken - self.peer.read).min(self.peer.buffer);
                let ack = Wire::Ack {
                    acked: self.peer.taken,
                    window,
                };
                self.wire.push((now + self.latency, ack));
            }
            Wire::Ack { acked, window } => {
                let o = &mut self.ours;
                if acked > o.out.acked {
                    o.out.acked = acked;
                    o.ack_at = now;
                    // The round trip of the newest segment acknowledged (RFC 6298).
                    while let Some(&(end, sent)) = o.in_flight.front() {
                        if end > acked {
                            break;
                        }
                        o.in_flight.pop_front();
                        let r = now - sent;
                        o.srtt = Some(match o.srtt {
                            None => (r, r / 2),
                            Some((s, v)) => {
                                let diff = s.abs_diff(r);
                                ((s * 7 + r) / 8, (v * 3 + diff) / 4)
                            }
                        });
                    }
                    for &(id, end) in &self.ping_ends {
                        if end <= acked && !self.ping_acked.iter().any(|(p, _)| *p == id) {
                            self.ping_acked.push((id, now));
                        }
                    }
                }
                self.ours.window = window;
            }
            Wire::Down { end } => {
                let o = &mut self.ours;
                if end > o.received {
                    o.received = end;
                    o.data_at = now;
                    self.last_peer_byte = now;
                }
            }
        }
    }

    /// The peer's application, unless stopped: reads what its kernel took (opening its
    /// window again), answers pings after its delay, sends its traffic.
    fn peer_runs(&mut self) {
        let now = self.ours.now;
        if self.peer.stopped {
            return;
        }
        if self.peer.taken > self.peer.read {
            self.peer.read = self.peer.taken;
            while self
                .ours
                .out
                .messages
                .front()
                .is_some_and(|m| m.0 <= self.peer.read)
            {
                if let Some((_, Msg::Ping(id))) = self.ours.out.messages.pop_front() {
                    self.peer
                        .answers
                        .push_back((now + self.peer.answer_after, id));
                }
            }
            // A window update: the buffer has room again.
            let ack = Wire::Ack {
                acked: self.peer.taken,
                window: self.peer.buffer,
            };
            self.wire.push((now + self.latency, ack));
        }
        while self.peer.answers.front().is_some_and(|a| a.0 <= now) {
            if let Some((_, id)) = self.peer.answers.pop_front() {
                self.peer.out.write(CONTROL, Msg::Pong(id));
            }
        }
        if let Some((every, bytes, next)) = self.peer.traffic.filter(|t| t.2 <= now) {
            self.peer.traffic = Some((every, bytes, next.max(now) + every));
            self.peer.out.write(bytes.max(1), Msg::Data);
        }
    }

    /// When bytes of `n` that start leaving at `now` arrive, on a path free from `free`.
    fn carry(&self, free: Instant, n: u64) -> (Instant, Instant) {
        let now = self.ours.now;
        let took = self.bandwidth.map_or(Duration::ZERO, |b| {
            Duration::from_nanos(
                u64::try_from((u128::from(n) * 1_000_000_000).div_ceil(u128::from(b)))
                    .unwrap_or(u64::MAX),
            )
        });
        let departs = free.max(now) + took;
        (departs, departs + self.latency)
    }

    /// Both kernels send what they may: ours within its window and the peer's, the
    /// peer's all it has (our buffer is large).
    fn transmit(&mut self) {
        let now = self.ours.now;
        loop {
            let o = &self.ours;
            let limit = o.out.acked + self.cwnd.min(o.window);
            if o.out.sent >= o.out.written || o.out.sent >= limit {
                break;
            }
            let n = (o.out.written - o.out.sent)
                .min(SEGMENT)
                .min(limit - o.out.sent);
            let (departs, arrives) = self.carry(self.up_free, n);
            self.up_free = departs;
            let o = &mut self.ours;
            o.out.sent += n;
            o.in_flight.push_back((o.out.sent, now));
            let end = o.out.sent;
            self.wire.push((arrives, Wire::Up { end }));
        }
        while self.peer.out.sent < self.peer.out.written {
            let n = (self.peer.out.written - self.peer.out.sent).min(SEGMENT);
            let (departs, arrives) = self.carry(self.down_free, n);
            self.down_free = departs;
            self.peer.out.sent += n;
            let end = self.peer.out.sent;
            self.wire.push((arrives, Wire::Down { end }));
        }
    }

    /// Whether our socket takes a write now: its unsent backlog is under the limit.
    fn writable(&self) -> bool {
        self.ours.out.written - self.ours.out.sent < UNSENT_LIMIT
    }

    /// Our process runs at `now`, as the async driver does on each wake: it reads what
    /// arrived (unless its reads lag after a stall), writes what waits (its ping first),
    /// tells the machine, and looks at its deadline.
    fn ours_runs(&mut self) {
        let now = self.ours.now;
        link::begin(&mut self.ours, now);
        // Reads, and the messages they complete.
        if now >= self.reads_from && self.ours.received > self.ours.counts.bytes_read {
            self.ours.counts.reads += 1;
            self.ours.counts.bytes_read = self.ours.received;
            while let Some(&(end, msg)) = self.peer.out.messages.front() {
                if end > self.ours.counts.bytes_read {
                    break;
                }
                self.peer.out.messages.pop_front();
                match msg {
                    Msg::Data => self.ours.link.data_in(),
                    Msg::Pong(id) => {
                        self.pongs += 1;
                        link::report(&mut self.ours, now, true);
                        let actions = self.ours.machine.handle(now, Event::PongReceived(Some(id)));
                        self.ours.carry_out(actions);
                    }
                    Msg::Ping(_) => {}
                }
            }
        }
        // Our application's data.
        if let Some((every, bytes, next)) = self.traffic.filter(|t| t.2 <= now) {
            self.traffic = Some((every, bytes, next.max(now) + every));
            if self.ours.pending_write.is_none() {
                self.ours.pending_write = Some(bytes.max(1));
            }
        }
        for _ in 0..4 {
            self.write();
            if self.ours.closed.is_some() {
                return;
            }
            // The flush: what it has not heard, and a look if one is due.
            if self.ours.link.any(self.ours.counts) {
                link::report(&mut self.ours, now, false);
                if self.ours.link.look_due(now) {
                    link::look(&mut self.ours, now);
                }
            }
            // The deadline, as the driver's step 4.
            match link::before_deadline(&mut self.ours, now) {
                Before::Wait => break,
                Before::Acted => continue,
                Before::Timer => {}
            }
            let wake = self.ours.link.wake(self.ours.machine.next_deadline());
            if !wake.is_some_and(|w| w <= now) {
                break;
            }
            link::at_deadline(&mut self.ours, now);
        }
    }

    /// Writes what waits, our ping first, while the socket takes it. A data write that
    /// had to wait and then went through is a delivery.
    fn write(&mut self) {
        let now = self.ours.now;
        if let Some(id) = self.ours.ping {
            if !self.writable() {
                return;
            }
            self.ours.ping = None;
            self.ours.out.write(CONTROL, Msg::Ping(id));
            self.ping_ends.push((id, self.ours.out.written));
            self.pings += 1;
            self.ours.counts.bytes_written = self.ours.out.written;
            link::ping_left(&mut self.ours, now, id);
        }
        if let Some(bytes) = self.ours.pending_write {
            if !self.writable() {
                self.ours.write_waited = true;
                return;
            }
            if core::mem::take(&mut self.ours.write_waited) {
                self.ours.counts.deliveries += 1;
            }
            self.ours.pending_write = None;
            self.ours.out.write(bytes, Msg::Data);
            self.ours.counts.bytes_written = self.ours.out.written;
            self.ours.link.data_out();
        }
    }
}
