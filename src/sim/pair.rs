//! A client and a server machine joined by a simulated link, on a virtual clock: latency,
//! bandwidth, message sizes, loss, a cut switch, a server that can go down, and a peer
//! that can freeze.

use crate::config::Config;
use crate::event::{Action, Event, PingId};
use crate::machine::HeartbeatMachine;
use crate::reason::CloseReason;
use crate::state::State;
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

/// A broken rule, found by a check of [`Pair::watched`]: which rule, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule, in a few words.
    pub rule: &'static str,
    /// What the machine did.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

impl core::error::Error for Violation {}

/// The check of one machine's calls: `(now, event, actions, the machine after)`.
type Check = Box<dyn FnMut(Instant, Event, &[Action], &HeartbeatMachine) -> Result<(), Violation>>;
/// Makes the check for a new machine.
type Watch = Box<dyn FnMut(&HeartbeatMachine) -> Check>;

/// A closure, in a struct that derives `Debug`.
struct Opaque<T>(T);

impl<T> fmt::Debug for Opaque<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("..")
    }
}

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

/// Bytes of a message of connection `conn` on their way: `bytes` of it, and the message
/// itself with its last bytes.
#[derive(Copy, Clone, Debug)]
struct Packet {
    at: Instant,
    conn: u32,
    bytes: u64,
    whole: Option<Msg>,
}

/// One end: its machine, what it sends and what is on its way to it.
#[derive(Debug)]
struct End {
    machine: Option<HeartbeatMachine>,
    check: Opaque<Option<Check>>,
    /// The connection this end is on.
    conn: u32,
    /// Messages waiting to leave, in order, with their sizes.
    queue: VecDeque<(u32, Msg, u64)>,
    /// Bytes of the head message already gone, and the segment now leaving until when.
    sent: u64,
    leaving: Option<(u64, Instant)>,
    /// Bytes on their way to this end, in time order, and how many are not read yet.
    inbox: VecDeque<Packet>,
    unread: u64,
    frozen: bool,
    /// A data message every so often, and when the next is due.
    traffic: Option<(Duration, Instant)>,
    /// The id of the last ping this end received, for its pong to echo.
    last_ping: Option<PingId>,
}

impl End {
    fn new(machine: Option<HeartbeatMachine>) -> End {
        End {
            check: Opaque(None),
            machine,
            conn: 0,
            queue: VecDeque::new(),
            sent: 0,
            leaving: None,
            inbox: VecDeque::new(),
            unread: 0,
            frozen: false,
            traffic: None,
            last_ping: None,
        }
    }
}

/// Two machines and a link, stepped from deadline to deadline: no real time passes. The
/// virtual link of the crate's own tests, for your property tests: both ends start
/// connected at [`Instant::ZERO`]; with [`watched`](Self::watched), every call to either
/// machine is checked, and a broken rule stops the run with its [`Violation`].
///
/// The link carries each direction's messages in order. With a
/// [`bandwidth`](Self::bandwidth), a message of `n` bytes takes `n / bandwidth` to leave,
/// in segments of 1460 bytes: the receiver hears of each segment as it arrives
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
/// let (at, _side, _reason) = pair.closes()[0];
/// let client = pair.client();
/// assert!(at <= client.last_heard() + client.stats().dead_peer_bound); // within the bound in force
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pair {
    now: Instant,
    ends: [End; 2],
    server_config: Config,
    latency: Duration,
    /// Bytes per second each way; `None`: unlimited.
    bandwidth: Option<u64>,
    window: u64,
    loss_per_million: u32,
    rng: u64,
    cut: bool,
    /// A NAT on the path that forgets a connection idle this long (black-holing it
    /// silently from then on), and when the current connection last crossed it.
    forget_idle: Option<Duration>,
    crossed: Instant,
    forgotten: bool,
    server_down: bool,
    log: Vec<(Instant, Side, Action)>,
    /// A violation found in `new`, returned by the first call that can report it.
    held: Option<Violation>,
    watch: Opaque<Option<Watch>>,
}

/// The link's segment: bytes arrive, and leave, this many at a time.
const SEGMENT: u64 = 1460;
/// The size of the data messages of [`Pair::set_traffic`].
const DATA: u64 = 64;

impl Pair {
    /// A client and a server, connected at time zero, 10 ms apart, unlimited bandwidth.
    pub fn new(client: Config, server: Config) -> Pair {
        Pair::start(client, server, None)
    }

    /// The same, with every call to either machine checked: `watch` gets each new
    /// machine (the client's, and the server's of each connection) and returns the
    /// check of its calls, `(now, event, actions, the machine after)`. The crate's own
    /// tests check its rules this way.
    pub fn watched<W, C>(client: Config, server: Config, mut watch: W) -> Pair
    where
        W: FnMut(&HeartbeatMachine) -> C + 'static,
        C: FnMut(Instant, Event, &[Action], &HeartbeatMachine) -> Result<(), Violation> + 'static,
    {
        Pair::start(client, server, Some(Box::new(move |m| Box::new(watch(m)))))
    }

    fn start(client: Config, server: Config, watch: Option<Watch>) -> Pair {
        let mut pair = Pair {
            now: Instant::ZERO,
            ends: [
                End::new(Some(HeartbeatMachine::new(client, Instant::ZERO))),
                End::new(None),
            ],
            server_config: server,
            latency: Duration::from_millis(10),
            bandwidth: None,
            window: 64 * 1024,
            loss_per_million: 0,
            rng: client.seed() ^ 0x5eed,
            cut: false,
            forget_idle: None,
            crossed: Instant::ZERO,
            forgotten: false,
            server_down: false,
            log: Vec::new(),
            held: None,
            watch: Opaque(watch),
        };
        let first = pair.checked(Side::Client);
        pair.end(Side::Client).check = first;
        // Both ends are open from the start. A broken rule here is reported by the first
        // call that returns a result.
        let opened = pair
            .feed(Side::Client, Event::Connected)
            .and_then(|()| pair.accept(0));
        pair.held = opened.err();
        pair
    }

    /// Puts a NAT on the path (a carrier's, a home gateway's) that forgets a connection
    /// after `idle` without a segment either way: from then on, nothing of that
    /// connection gets through, and nothing says so. A new connection gets a new mapping.
    /// `None` (the default) never forgets.
    pub fn set_forget_idle(&mut self, idle: Option<Duration>) {
        self.forget_idle = idle;
    }

    /// Gives the client what earlier clients learned about the path (see
    /// [`PathMemory`](crate::PathMemory)), as an application that stored it per network
    /// does.
    pub fn remember(mut self, memory: crate::PathMemory) -> Pair {
        let end = self.end(Side::Client);
        end.machine = end.machine.take().map(|m| m.remember(memory));
        let check = self.checked(Side::Client); // the watch sees the machine as it is now
        self.end(Side::Client).check = check;
        self
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

    /// How many bytes a frozen peer's kernel still takes before the link to it stalls
    /// (default 64 KiB: its receive buffer).
    pub fn window(mut self, bytes: u64) -> Pair {
        self.window = bytes;
        self
    }

    /// Changes the bandwidth from now on (`None`: unlimited; 0 counts as 1 byte/s).
    pub fn set_bandwidth(&mut self, bytes_per_second: Option<u64>) {
        self.bandwidth = bytes_per_second.map(|b| b.max(1));
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
        if self.end(Side::Server).machine.take().is_some() {
            self.send(Side::Server, Msg::Fin);
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
        self.end(side).frozen = true;
    }

    /// Ends a [`freeze`](Self::freeze).
    pub fn thaw(&mut self, side: Side) {
        self.end(side).frozen = false;
    }

    /// Makes `side` send a 64-byte data message every `every` (or stop, with `None`).
    pub fn set_traffic(&mut self, side: Side, every: Option<Duration>) {
        let now = self.now;
        self.end(side).traffic = every.map(|d| (d, now + d));
    }

    /// Sends one data message of `bytes` from `side` now (if its connection is open).
    pub fn send_message(&mut self, side: Side, bytes: u64) -> Result<(), Violation> {
        if self.machine(side).map(HeartbeatMachine::state) == Some(State::Open) {
            self.feed(side, Event::DataSent)?;
            self.send_sized(side, Msg::Data, bytes);
        }
        Ok(())
    }

    /// Sends `event` to one end's machine now (for example [`Event::Pause`]).
    pub fn inject(&mut self, side: Side, event: Event) -> Result<(), Violation> {
        self.feed(side, event)
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The client machine.
    pub fn client(&self) -> &HeartbeatMachine {
        match &self.ends[0].machine {
            Some(m) => m,
            None => unreachable!("the client's machine lives as long as the pair"),
        }
    }

    /// The server machine of the current connection, if the server is up.
    pub fn server(&self) -> Option<&HeartbeatMachine> {
        self.ends[1].machine.as_ref()
    }

    /// Every action either end took: when, which end, what.
    pub fn log(&self) -> &[(Instant, Side, Action)] {
        &self.log
    }

    /// Every close either end decided: when, which end, why.
    pub fn closes(&self) -> Vec<(Instant, Side, CloseReason)> {
        self.log
            .iter()
            .filter_map(|&(at, side, a)| match a {
                Action::Close(reason) => Some((at, side, reason)),
                _ => None,
            })
            .collect()
    }

    /// Steps until `until`, then sets the clock to it (processing what is due then).
    pub fn run_until(&mut self, until: Instant) -> Result<(), Violation> {
        while let Some(t) = self.next_time() {
            if t > until {
                break;
            }
            self.now = self.now.max(t);
            self.process()?;
        }
        self.now = self.now.max(until);
        self.process()
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), Violation> {
        self.run_until(self.now + d)
    }

    fn end(&mut self, side: Side) -> &mut End {
        &mut self.ends[side as usize]
    }

    fn machine(&self, side: Side) -> Option<&HeartbeatMachine> {
        self.ends[side as usize].machine.as_ref()
    }

    /// The time of the next thing that will happen, if any.
    fn next_time(&self) -> Option<Instant> {
        let mut times = Vec::new();
        for side in [Side::Client, Side::Server] {
            let end = &self.ends[side as usize];
            if !end.frozen {
                times.push(
                    end.machine
                        .as_ref()
                        .and_then(HeartbeatMachine::next_deadline),
                );
                times.push(end.traffic.map(|(_, at)| at));
                times.push(end.inbox.front().map(|p| p.at));
            }
            times.push(self.wire_due(side));
        }
        times.into_iter().flatten().min().map(|t| t.max(self.now))
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
                .filter(|s| !self.ends[*s as usize].frozen)
                .filter_map(|s| self.ends[s as usize].inbox.front().map(|p| (p.at, s)))
                .filter(|(at, _)| *at <= now)
                .min_by_key(|(at, _)| *at)
                .map(|(_, s)| s)
            {
                if let Some(p) = self.end(to).inbox.pop_front() {
                    self.end(to).unread -= p.bytes;
                    self.arrive(to, p)?;
                    progress = true;
                }
            }
            for side in [Side::Client, Side::Server] {
                progress |= self.transmit(side)?;
            }
            for side in [Side::Client, Side::Server] {
                if self.ends[side as usize].frozen {
                    continue;
                }
                if let Some((every, at)) = self.end(side).traffic.filter(|(_, at)| *at <= now) {
                    self.end(side).traffic = Some((every, at.max(now) + every));
                    self.send_message(side, DATA)?;
                    progress = true;
                }
                let due = self.machine(side).and_then(HeartbeatMachine::next_deadline);
                if due.is_some_and(|d| d <= now) {
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
    /// message waits to start (now), unless the link is cut or a frozen peer's window is
    /// full.
    fn wire_due(&self, side: Side) -> Option<Instant> {
        let end = &self.ends[side as usize];
        let to = &self.ends[side.other() as usize];
        match end.leaving {
            _ if self.cut => None,
            Some((_, until)) => Some(until),
            None if end.queue.is_empty() || (to.frozen && to.unread >= self.window) => None,
            None => Some(self.now),
        }
    }

    /// Moves `side`'s wire along: the segment leaving is gone at its time; then the next
    /// starts. Returns whether anything happened.
    fn transmit(&mut self, side: Side) -> Result<bool, Violation> {
        let now = self.now;
        let mut progress = false;
        while self.wire_due(side).is_some_and(|t| t <= now) {
            progress = true;
            let bandwidth = self.bandwidth;
            let end = self.end(side);
            let Some((bytes, until)) = end.leaving.take() else {
                // The next segment starts leaving; messages of a connection that is gone
                // never leave.
                let current = end.conn;
                while end.queue.front().is_some_and(|m| m.0 != current) {
                    end.queue.pop_front();
                    end.sent = 0;
                }
                let Some(&(_, _, size)) = end.queue.front() else {
                    break;
                };
                let bytes = match bandwidth {
                    Some(_) => (size - end.sent).min(SEGMENT),
                    None => size - end.sent,
                };
                let took = bandwidth.map_or(Duration::ZERO, |b| {
                    Duration::from_nanos(
                        u64::try_from((u128::from(bytes) * 1_000_000_000).div_ceil(u128::from(b)))
                            .unwrap_or(u64::MAX),
                    )
                });
                end.leaving = Some((bytes, now + took));
                continue;
            };
            let Some(&(conn, msg, size)) = end.queue.front() else {
                continue;
            };
            end.sent += bytes;
            let done = end.sent >= size;
            if done {
                end.queue.pop_front();
                end.sent = 0;
            }
            let current = conn == end.conn;
            let latency = self.latency;
            let to = self.end(side.other());
            // In order, even when the latency drops.
            let at = (until + latency).max(to.inbox.back().map_or(until, |p| p.at));
            to.inbox.push_back(Packet {
                at,
                conn,
                bytes,
                whole: done.then_some(msg),
            });
            to.unread += bytes;
            // The sender learns its bytes left, as a metered driver does.
            if current && size > SEGMENT && bandwidth.is_some() {
                self.feed(side, Event::DataDelivered)?;
            }
            if let (true, true, Msg::Ping(id)) = (current, done, msg) {
                self.feed(side, Event::PingWritten(id))?;
            }
        }
        Ok(progress)
    }

    fn arrive(&mut self, to: Side, p: Packet) -> Result<(), Violation> {
        if p.conn != self.ends[to as usize].conn && p.whole != Some(Msg::Open) {
            return Ok(()); // for a connection that is gone
        }
        let event = match p.whole {
            None | Some(Msg::Data) => Event::DataReceived,
            Some(Msg::Open) if to == Side::Server => {
                if self.server_down {
                    self.send(Side::Server, Msg::Refused);
                    return Ok(());
                }
                self.accept(p.conn)?;
                self.send(Side::Server, Msg::Open);
                return Ok(());
            }
            Some(Msg::Open) => Event::Connected,
            Some(Msg::Refused) => Event::ConnectFailed,
            Some(Msg::Ping(id)) => {
                self.end(to).last_ping = Some(id);
                Event::PingReceived
            }
            Some(Msg::Pong(id)) => Event::PongReceived(id),
            Some(Msg::Close(code)) => {
                // The peer closes: answer the close, and the transport is gone for us.
                self.send(to, Msg::Fin);
                Event::Closed(CloseReason::PeerClosed(code))
            }
            Some(Msg::Fin) => Event::Disconnected,
        };
        self.feed(to, event)
    }

    /// The check for `side`'s machine as it is now.
    fn checked(&mut self, side: Side) -> Opaque<Option<Check>> {
        let machine = self.ends[side as usize].machine.as_ref();
        Opaque(machine.and_then(|m| self.watch.0.as_mut().map(|w| w(m))))
    }

    /// Connection `conn` reaches the server: a fresh server machine (and check) serves
    /// it; the server machine of an older connection is dropped here.
    fn accept(&mut self, conn: u32) -> Result<(), Violation> {
        let machine = HeartbeatMachine::new(self.server_config, self.now);
        let check = Opaque(self.watch.0.as_mut().map(|w| w(&machine)));
        let server = self.end(Side::Server);
        server.conn = conn;
        server.check = check;
        server.machine = Some(machine);
        server.last_ping = None;
        self.end(Side::Client).last_ping = None;
        self.feed(Side::Server, Event::Connected)
    }

    /// Sends an event to one end and carries out its actions.
    fn feed(&mut self, side: Side, event: Event) -> Result<(), Violation> {
        if let Some(v) = self.held.take() {
            return Err(v);
        }
        let now = self.now;
        let end = self.end(side);
        let Some(machine) = end.machine.as_mut() else {
            return Ok(());
        };
        let actions: Vec<Action> = machine.handle(now, event).collect();
        if let Some(check) = end.check.0.as_mut() {
            check(now, event, &actions, machine)?;
        }
        for action in actions {
            self.log.push((now, side, action));
            match action {
                Action::SendPing(id) => self.send(side, Msg::Ping(id)),
                Action::SendPong => {
                    let echo = self.end(side).last_ping;
                    self.send(side, Msg::Pong(echo));
                }
                Action::Close(reason) => self.send(side, Msg::Close(reason.code())),
                Action::ForceClose => self.send(side, Msg::Fin),
                // The old connection is gone; the wait is the machine's.
                Action::Reconnect { .. } | Action::AbortConnect => self.next_conn(),
                Action::Connect => {
                    self.next_conn();
                    self.send(Side::Client, Msg::Open);
                }
                Action::GiveUp { .. } => {}
            }
        }
        Ok(())
    }

    /// Whether `msg` crosses the NAT (if there is one): a new connection gets a new
    /// mapping; one idle for longer than the NAT keeps it is forgotten, for good.
    fn through_nat(&mut self, msg: Msg) -> bool {
        let Some(idle) = self.forget_idle else {
            return true;
        };
        if msg == Msg::Open {
            self.forgotten = false;
        } else if self.now - self.crossed >= idle {
            self.forgotten = true;
        }
        if self.forgotten {
            return false;
        }
        self.crossed = self.now;
        true
    }

    /// The client moves on to a new connection (attempt).
    fn next_conn(&mut self) {
        let client = self.end(Side::Client);
        client.conn = client.conn.wrapping_add(1);
    }

    fn send(&mut self, from: Side, msg: Msg) {
        self.send_sized(from, msg, msg.size());
    }

    /// Queues `msg` of `size` bytes on `from`'s wire (unless the link is cut or loses it).
    fn send_sized(&mut self, from: Side, msg: Msg, size: u64) {
        if self.cut || !self.through_nat(msg) {
            return;
        }
        if matches!(msg, Msg::Ping(_) | Msg::Pong(_) | Msg::Data) && self.loss_per_million > 0 {
            self.rng = self.rng.wrapping_add(1);
            if crate::backoff::mix(self.rng) % 1_000_000 < u64::from(self.loss_per_million) {
                return;
            }
        }
        let end = self.end(from);
        let conn = end.conn;
        end.queue.push_back((conn, msg, size));
    }
}
