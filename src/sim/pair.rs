//! A client and a server machine joined by a simulated link, on a virtual clock: latency,
//! bandwidth, message sizes, loss, a cut switch, a server that can go down, and a peer
//! that can freeze.

use super::oracle::{Oracle, Violation};
use crate::config::Config;
use crate::event::{Action, CloseReason, Event, PingId};
use crate::machine::HeartbeatMachine;
use crate::state::State;
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

/// One end of a [`Pair`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    /// The connecting end, which reconnects.
    Client,
    /// The accepting end; a new server machine serves each connection.
    Server,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
    fn ix(self) -> usize {
        self as usize
    }
}

/// Something one machine asked for, with when and where.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Record {
    /// When.
    pub at: Instant,
    /// Which end.
    pub side: Side,
    /// What it asked for.
    pub action: Action,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Msg {
    Ping(PingId),
    Pong(Option<PingId>),
    Data,
    /// A close frame, with its code.
    Close(u16),
    /// The transport closed under the receiver (FIN or RST).
    Fin,
    /// The connection is established at the receiving end.
    Open,
    /// The server refused the connection.
    Refused,
}

impl Msg {
    /// Bytes on the wire: a masked WebSocket control frame with an 8-byte payload, a
    /// close frame; the transport's own signals take no room.
    fn size(self) -> u64 {
        match self {
            Msg::Ping(_) | Msg::Pong(_) => 14,
            Msg::Close(_) => 16,
            Msg::Data | Msg::Fin | Msg::Open | Msg::Refused => 0,
        }
    }
}

/// A message waiting to leave, or leaving: `size` bytes of connection `conn`.
#[derive(Copy, Clone, Debug)]
struct Frame {
    conn: u32,
    msg: Msg,
    size: u64,
}

/// Bytes on their way: part of a frame, or the rest of it (then the message is whole).
#[derive(Copy, Clone, Debug)]
struct Packet {
    at: Instant,
    conn: u32,
    bytes: u64,
    /// The message, on its last packet.
    whole: Option<Msg>,
}

/// One direction of the link: frames leave one after the other at the link's rate.
#[derive(Clone, Debug, Default)]
struct Wire {
    queue: VecDeque<Frame>,
    /// Bytes of the head frame already gone.
    sent: u64,
    /// When the bytes now leaving are gone (`None`: nothing is leaving).
    busy_until: Option<Instant>,
    /// How many bytes are leaving now.
    leaving: u64,
}

/// Two machines and a link, stepped from deadline to deadline: no real time passes.
///
/// Both ends start connected at [`Instant::ZERO`]. Every call to either machine is
/// checked by an [`Oracle`]; a broken rule stops the run with the [`Violation`].
///
/// The link carries each direction's messages in order. With a
/// [`bandwidth`](Self::bandwidth), a message of `n` bytes takes `n / bandwidth` to leave,
/// in segments of 1460 bytes: the receiver is told of each segment as it arrives
/// (`DataReceived`, the message's own event with its last segment), and the sender of
/// each segment of a large message that leaves (`DataDelivered`) and of each ping that
/// has left (`PingWritten`), as the crate's driver reports them. A frozen peer's kernel
/// still takes [`window`](Self::window) bytes before the link stalls.
///
/// ```
/// use keepalive::{Config, Duration, Instant, sim::{Pair, Side}};
///
/// let client = Config::client().ping_interval(Duration::from_secs(20)).seed(1).build()?;
/// let server = Config::server().ping_interval(Duration::from_secs(25)).build()?;
/// let mut pair = Pair::new(client, server).latency(Duration::from_millis(40));
/// pair.run_for(Duration::from_secs(3600))?; // an hour of heartbeats, in microseconds
/// assert!(pair.closes().is_empty());
/// assert_eq!(pair.client().rtt(), Some(Duration::from_millis(80)));
///
/// // A slow link: 100 KB/s, and a 10 MB message that takes 100 s to arrive. The
/// // server's pongs wait behind it; its bytes keep the client from calling it dead.
/// pair.set_bandwidth(Some(100_000));
/// pair.send_message(Side::Server, 10_000_000)?;
/// pair.run_for(Duration::from_secs(120))?;
/// assert!(pair.closes().is_empty());
///
/// pair.cut(); // a NAT forgets the mapping: nothing gets through, nothing is closed
/// pair.run_for(Duration::from_secs(60))?;
/// let (at, side, reason) = pair.closes()[0];
/// assert!(at <= pair.last_heard(side) + Duration::from_secs(40)); // within interval + timeout
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pair {
    now: Instant,
    client: HeartbeatMachine,
    server: Option<HeartbeatMachine>,
    server_config: Config,
    oracles: [Oracle; 2],
    latency: Duration,
    /// Bytes per second each way; `None`: unlimited.
    bandwidth: Option<u64>,
    window: u64,
    loss_per_million: u32,
    cut: bool,
    server_down: bool,
    frozen: [bool; 2],
    /// By sending side.
    wires: [Wire; 2],
    /// By receiving side, in time order.
    arrivals: [VecDeque<Packet>; 2],
    /// By receiving side: bytes on their way or arrived and not read.
    unread: [u64; 2],
    /// The client's current connection (attempt) number.
    conn: u32,
    /// The connection the server machine serves.
    server_conn: u32,
    last_ping: [Option<PingId>; 2],
    data_every: [Option<Duration>; 2],
    next_data: [Option<Instant>; 2],
    message_size: [u64; 2],
    last_heard: [Instant; 2],
    rng: u64,
    log: Vec<Record>,
    /// A violation found in `new`, returned by the first call that can report it.
    held: Option<Violation>,
}

/// The link's segment: bytes arrive, and leave, this many at a time.
const SEGMENT: u64 = 1460;

impl Pair {
    /// A client and a server, connected at time zero, 10 ms apart, unlimited bandwidth.
    pub fn new(client: Config, server: Config) -> Pair {
        let c = HeartbeatMachine::new(client, Instant::ZERO);
        let oracle = Oracle::new(&c);
        let mut pair = Pair {
            now: Instant::ZERO,
            client: c,
            server: None,
            server_config: server,
            oracles: [oracle.clone(), oracle],
            latency: Duration::from_millis(10),
            bandwidth: None,
            window: 64 * 1024,
            loss_per_million: 0,
            cut: false,
            server_down: false,
            frozen: [false; 2],
            wires: [Wire::default(), Wire::default()],
            arrivals: [VecDeque::new(), VecDeque::new()],
            unread: [0; 2],
            conn: 0,
            server_conn: 0,
            last_ping: [None; 2],
            data_every: [None; 2],
            next_data: [None; 2],
            message_size: [64; 2],
            last_heard: [Instant::ZERO; 2],
            rng: client.seed() ^ 0x5eed,
            log: Vec::new(),
            held: None,
        };
        // Both ends are open from the start. A broken rule here is reported by the first
        // call that returns a result.
        let opened = pair
            .feed(Side::Client, Event::Connected)
            .and_then(|()| pair.accept(0));
        pair.held = opened.err();
        pair
    }

    /// Sets the one-way latency (default 10 ms).
    pub fn latency(mut self, d: Duration) -> Pair {
        self.latency = d;
        self
    }

    /// Sets the bandwidth each way, in bytes per second (default unlimited).
    pub fn bandwidth(mut self, bytes_per_second: u64) -> Pair {
        self.set_bandwidth(Some(bytes_per_second));
        self
    }

    /// Changes the bandwidth from now on (`None`: unlimited; 0 counts as 1 byte/s).
    pub fn set_bandwidth(&mut self, bytes_per_second: Option<u64>) {
        self.bandwidth = bytes_per_second.map(|b| b.max(1));
    }

    /// How many bytes a frozen peer's kernel still takes before the link to it stalls
    /// (default 64 KiB: its receive buffer).
    pub fn window(mut self, bytes: u64) -> Pair {
        self.window = bytes;
        self
    }

    /// Changes the one-way latency from now on; messages stay in order.
    pub fn set_latency(&mut self, d: Duration) {
        self.latency = d;
    }

    /// Drops this share of pings, pongs and data messages (in millionths), from a
    /// PRNG seeded by the client's seed: the same run replays exactly.
    pub fn set_loss(&mut self, per_million: u32) {
        self.loss_per_million = per_million.min(1_000_000);
    }

    /// Makes every message vanish without a trace (NAT expiry, a pulled cable): no FIN,
    /// no error, bytes on the wire stall, and connection attempts hang.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// Ends a [`cut`](Self::cut).
    pub fn heal(&mut self) {
        self.cut = false;
    }

    /// Stops the server process: its open connection is reset (the client sees the
    /// transport close) and new attempts are refused until [`server_up`](Self::server_up).
    pub fn server_down(&mut self) {
        self.server_down = true;
        if self.server.take().is_some() {
            self.send(Side::Server, Msg::Fin, 0);
        }
    }

    /// Starts the server again.
    pub fn server_up(&mut self) {
        self.server_down = false;
    }

    /// Freezes one end (SIGSTOP): it keeps its socket but reads, answers and ticks
    /// nothing. Bytes to it wait (its kernel takes a [`window`](Self::window) of them,
    /// then the link stalls); after [`thaw`](Self::thaw) it sees them all late.
    pub fn freeze(&mut self, side: Side) {
        self.frozen[side.ix()] = true;
    }

    /// Ends a [`freeze`](Self::freeze).
    pub fn thaw(&mut self, side: Side) {
        self.frozen[side.ix()] = false;
    }

    /// Makes `side` send a data message every `every` (or stop, with `None`).
    pub fn set_traffic(&mut self, side: Side, every: Option<Duration>) {
        self.data_every[side.ix()] = every;
        self.next_data[side.ix()] = every.map(|d| self.now + d);
    }

    /// The size of `side`'s data messages (default 64 bytes).
    pub fn set_message_size(&mut self, side: Side, bytes: u64) {
        self.message_size[side.ix()] = bytes;
    }

    /// Sends one data message from `side` now.
    pub fn send_data(&mut self, side: Side) -> Result<(), Violation> {
        self.send_message(side, self.message_size[side.ix()])
    }

    /// Sends one data message of `bytes` from `side` now.
    pub fn send_message(&mut self, side: Side, bytes: u64) -> Result<(), Violation> {
        if self.machine(side).map(HeartbeatMachine::state) == Some(State::Open) {
            self.feed(side, Event::DataSent)?;
            self.send(side, Msg::Data, bytes);
        }
        Ok(())
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The client machine.
    pub fn client(&self) -> &HeartbeatMachine {
        &self.client
    }

    /// The server machine of the current connection, if the server is up.
    pub fn server(&self) -> Option<&HeartbeatMachine> {
        self.server.as_ref()
    }

    /// The last time `side` was told of its peer: bytes or a message from it, or bytes
    /// of its own the peer took (the start of the connection if nothing since).
    pub fn last_heard(&self, side: Side) -> Instant {
        self.last_heard[side.ix()]
    }

    /// Every action either end took, in order.
    pub fn log(&self) -> &[Record] {
        &self.log
    }

    /// Every close either end decided: when, which end, why.
    pub fn closes(&self) -> Vec<(Instant, Side, CloseReason)> {
        self.log
            .iter()
            .filter_map(|r| match r.action {
                Action::Close(reason) => Some((r.at, r.side, reason)),
                _ => None,
            })
            .collect()
    }

    /// Sends `event` to one end's machine now (for example [`Event::Pause`]).
    pub fn inject(&mut self, side: Side, event: Event) -> Result<(), Violation> {
        self.feed(side, event)
    }

    /// The time of the next thing that will happen, if any.
    pub fn next_time(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        for side in [Side::Client, Side::Server] {
            if !self.frozen[side.ix()] {
                consider(self.machine(side).and_then(HeartbeatMachine::next_deadline));
                consider(self.next_data[side.ix()]);
            }
            consider(self.wire_due(side));
            if !self.frozen[side.ix()] {
                consider(self.arrivals[side.ix()].front().map(|p| p.at));
            }
        }
        t.map(|t| t.max(self.now))
    }

    /// Advances to the next thing that happens and carries it out. `Ok(false)` when
    /// nothing is scheduled.
    pub fn step(&mut self) -> Result<bool, Violation> {
        let Some(t) = self.next_time() else {
            return Ok(false);
        };
        self.now = self.now.max(t);
        self.process()?;
        Ok(true)
    }

    /// Steps until `until`, then sets the clock to it (processing what is due then).
    pub fn run_until(&mut self, until: Instant) -> Result<(), Violation> {
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            self.step()?;
        }
        self.now = self.now.max(until);
        self.process()
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), Violation> {
        self.run_until(self.now + d)
    }

    fn machine(&self, side: Side) -> Option<&HeartbeatMachine> {
        match side {
            Side::Client => Some(&self.client),
            Side::Server => self.server.as_ref(),
        }
    }

    fn current_conn(&self, side: Side) -> u32 {
        match side {
            Side::Client => self.conn,
            Side::Server => self.server_conn,
        }
    }

    /// Carries out everything due at `self.now`, until nothing more is.
    fn process(&mut self) -> Result<(), Violation> {
        if let Some(v) = self.held.take() {
            return Err(v);
        }
        let now = self.now;
        loop {
            let mut progress = false;
            // Arrivals, in time order (each direction's queue is).
            while let Some(to) = [Side::Client, Side::Server]
                .into_iter()
                .filter(|s| !self.frozen[s.ix()])
                .filter_map(|s| self.arrivals[s.ix()].front().map(|p| (p.at, s)))
                .filter(|(at, _)| *at <= now)
                .min_by_key(|(at, _)| *at)
                .map(|(_, s)| s)
            {
                if let Some(p) = self.arrivals[to.ix()].pop_front() {
                    self.unread[to.ix()] -= p.bytes;
                    self.arrive(to, p)?;
                    progress = true;
                }
            }
            for side in [Side::Client, Side::Server] {
                progress |= self.transmit(side)?;
            }
            for side in [Side::Client, Side::Server] {
                if self.frozen[side.ix()] {
                    continue;
                }
                if self.next_data[side.ix()].is_some_and(|t| t <= now) {
                    self.next_data[side.ix()] = self.data_every[side.ix()].map(|d| now + d);
                    self.send_data(side)?;
                    progress = true;
                }
                if self
                    .machine(side)
                    .and_then(HeartbeatMachine::next_deadline)
                    .is_some_and(|d| d <= now)
                {
                    self.feed(side, Event::Tick)?;
                    progress = true;
                }
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// When `side`'s wire has something to do: the bytes now leaving are gone, or a
    /// frame waits to start (now), unless the link is cut or a frozen peer's window is
    /// full.
    fn wire_due(&self, side: Side) -> Option<Instant> {
        let wire = &self.wires[side.ix()];
        let to = side.other();
        if self.cut {
            None
        } else if wire.busy_until.is_some() {
            wire.busy_until
        } else if wire.queue.is_empty()
            || (self.frozen[to.ix()] && self.unread[to.ix()] >= self.window)
        {
            None
        } else {
            Some(self.now)
        }
    }

    /// Moves `side`'s wire along: the bytes now leaving are gone at `busy_until`; then
    /// the next bytes start. Returns whether anything happened.
    fn transmit(&mut self, side: Side) -> Result<bool, Violation> {
        let now = self.now;
        let mut progress = false;
        loop {
            if self.cut {
                return Ok(progress);
            }
            let wire = &mut self.wires[side.ix()];
            match wire.busy_until {
                Some(t) if t <= now => {
                    wire.busy_until = None;
                    let Some(frame) = wire.queue.front().copied() else {
                        continue;
                    };
                    wire.sent += wire.leaving;
                    let leaving = wire.leaving;
                    let done = wire.sent >= frame.size;
                    if done {
                        wire.queue.pop_front();
                        wire.sent = 0;
                    }
                    progress = true;
                    let to = side.other();
                    let queue = &mut self.arrivals[to.ix()];
                    // In order, even when the latency drops.
                    let at = (t + self.latency).max(queue.back().map_or(t, |p| p.at));
                    queue.push_back(Packet {
                        at,
                        conn: frame.conn,
                        bytes: leaving,
                        whole: done.then_some(frame.msg),
                    });
                    self.unread[to.ix()] += leaving;
                    // The sender learns its bytes left, as a metered driver does.
                    if frame.conn == self.current_conn(side) {
                        if frame.size > SEGMENT && self.bandwidth.is_some() {
                            self.feed(side, Event::DataDelivered)?;
                        }
                        if let (true, Msg::Ping(id)) = (done, frame.msg) {
                            self.feed(side, Event::PingWritten(id))?;
                        }
                    }
                }
                Some(_) => return Ok(progress),
                None => {
                    // Frames of a connection that is gone never leave.
                    let current = self.current_conn(side);
                    let wire = &mut self.wires[side.ix()];
                    while wire.queue.front().is_some_and(|f| f.conn != current) {
                        wire.queue.pop_front();
                        wire.sent = 0;
                    }
                    let Some(frame) = wire.queue.front().copied() else {
                        return Ok(progress);
                    };
                    // A frozen receiver's kernel takes a window of bytes, then no more.
                    let to = side.other();
                    if self.frozen[to.ix()] && self.unread[to.ix()] >= self.window {
                        return Ok(progress);
                    }
                    let wire = &mut self.wires[side.ix()];
                    let rest = frame.size - wire.sent;
                    let leaving = if self.bandwidth.is_some() {
                        rest.min(SEGMENT)
                    } else {
                        rest
                    };
                    wire.leaving = leaving;
                    wire.busy_until = Some(
                        now + self.bandwidth.map_or(Duration::ZERO, |b| {
                            Duration::from_nanos(
                                u64::try_from(
                                    (u128::from(leaving) * 1_000_000_000).div_ceil(u128::from(b)),
                                )
                                .unwrap_or(u64::MAX),
                            )
                        }),
                    );
                }
            }
        }
    }

    fn arrive(&mut self, to: Side, p: Packet) -> Result<(), Violation> {
        if p.conn != self.current_conn(to) && p.whole != Some(Msg::Open) {
            return Ok(()); // for a connection that is gone
        }
        match p.whole {
            None => self.feed(to, Event::DataReceived),
            Some(Msg::Open) if to == Side::Server => {
                if self.server_down {
                    self.send(Side::Server, Msg::Refused, 0);
                    return Ok(());
                }
                self.accept(p.conn)?;
                self.send(Side::Server, Msg::Open, 0);
                Ok(())
            }
            Some(Msg::Open) => self.feed(Side::Client, Event::Connected),
            Some(Msg::Refused) => self.feed(Side::Client, Event::ConnectFailed),
            Some(Msg::Ping(id)) => {
                self.last_ping[to.ix()] = Some(id);
                self.feed(to, Event::PingReceived)
            }
            Some(Msg::Pong(id)) => self.feed(to, Event::PongReceived(id)),
            Some(Msg::Data) => self.feed(to, Event::DataReceived),
            Some(Msg::Close(code)) => {
                // The peer closes: answer the close, and the transport is gone for us.
                self.send(to, Msg::Fin, 0);
                self.feed(to, Event::CloseReceived(code))
            }
            Some(Msg::Fin) => self.feed(to, Event::Disconnected),
        }
    }

    /// Connection `conn` reaches the server: a fresh server machine (and oracle) serves
    /// it; the server machine of an older connection is dropped here.
    fn accept(&mut self, conn: u32) -> Result<(), Violation> {
        self.server_conn = conn;
        let m = HeartbeatMachine::new(self.server_config, self.now);
        self.oracles[Side::Server.ix()] = Oracle::new(&m);
        self.server = Some(m);
        self.last_ping = [None; 2];
        self.last_heard[Side::Server.ix()] = self.now;
        self.feed(Side::Server, Event::Connected)
    }

    /// Sends an event to one end and carries out its actions.
    fn feed(&mut self, side: Side, event: Event) -> Result<(), Violation> {
        if let Some(v) = self.held.take() {
            return Err(v);
        }
        let now = self.now;
        let machine = match side {
            Side::Client => &mut self.client,
            Side::Server => match self.server.as_mut() {
                Some(m) => m,
                None => return Ok(()),
            },
        };
        let open = machine.state() == State::Open;
        let actions: Vec<Action> = machine.handle(now, event).collect();
        self.oracles[side.ix()].check(now, event, &actions, machine)?;
        let heard = match event {
            Event::Connected => true,
            Event::DataReceived
            | Event::DataDelivered
            | Event::PingReceived
            | Event::PongReceived(_) => open,
            _ => false,
        };
        if heard {
            self.last_heard[side.ix()] = now;
        }
        for action in actions {
            self.log.push(Record {
                at: now,
                side,
                action,
            });
            match action {
                Action::SendPing(id) => self.send(side, Msg::Ping(id), Msg::Ping(id).size()),
                Action::SendPong => {
                    let echo = self.last_ping[side.ix()];
                    self.send(side, Msg::Pong(echo), Msg::Pong(echo).size());
                }
                Action::Close(reason) => {
                    let close = Msg::Close(reason.code());
                    self.send(side, close, close.size());
                }
                Action::ForceClose => self.send(side, Msg::Fin, 0),
                // The old connection is gone; the wait is the machine's.
                Action::Reconnect { .. } | Action::AbortConnect => {
                    self.conn = self.conn.wrapping_add(1);
                }
                Action::Connect => {
                    self.conn = self.conn.wrapping_add(1);
                    self.send(Side::Client, Msg::Open, 0);
                }
                Action::GiveUp => {}
            }
        }
        Ok(())
    }

    /// Queues `msg` of `size` bytes on `from`'s wire.
    fn send(&mut self, from: Side, msg: Msg, size: u64) {
        if self.cut {
            return;
        }
        if matches!(msg, Msg::Ping(_) | Msg::Pong(_) | Msg::Data) && self.loss_per_million > 0 {
            self.rng = self.rng.wrapping_add(1);
            if crate::backoff::mix(self.rng) % 1_000_000 < u64::from(self.loss_per_million) {
                return;
            }
        }
        let conn = self.current_conn(from);
        self.wires[from.ix()]
            .queue
            .push_back(Frame { conn, msg, size });
    }
}
