//! A client and a server machine joined by a simulated link with latency, loss, a cut
//! switch, a server that can go down, and a peer that can freeze, all on a virtual clock.

use super::oracle::{Oracle, Violation};
use crate::config::Config;
use crate::event::{Action, CloseReason, Event, PingId};
use crate::machine::{HeartbeatMachine, State};
use crate::time::Instant;
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
    /// A close frame.
    Close,
    /// The transport closed under the receiver (FIN or RST).
    Fin,
    /// The connection is established at the receiving end.
    Open,
    /// The server refused the connection.
    Refused,
}

#[derive(Copy, Clone, Debug)]
struct Packet {
    at: Instant,
    to: Side,
    conn: u32,
    msg: Msg,
}

/// Two machines and a link, stepped from deadline to deadline: no real time passes.
///
/// Both ends start connected at [`Instant::ZERO`]. Every call to either machine is
/// checked by an [`Oracle`]; a broken rule stops the run with the [`Violation`].
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
/// pair.cut(); // a NAT forgets the mapping: nothing gets through, nothing is closed
/// pair.run_for(Duration::from_secs(60))?;
/// let (at, side, reason) = pair.closes()[0];
/// assert!(at <= Instant::from_secs(3600 + 40)); // within interval + timeout
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
    loss_per_million: u32,
    cut: bool,
    server_down: bool,
    frozen: [bool; 2],
    queue: Vec<Packet>,
    /// The client's current connection (attempt) number.
    conn: u32,
    /// The connection the server machine serves.
    server_conn: u32,
    connect_at: Option<Instant>,
    last_ping: [Option<PingId>; 2],
    data_every: [Option<Duration>; 2],
    next_data: [Option<Instant>; 2],
    rng: u64,
    log: Vec<Record>,
    /// A violation found in `new`, returned by the first call that can report it.
    held: Option<Violation>,
}

impl Pair {
    /// A client and a server, connected at time zero, 10 ms apart.
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
            loss_per_million: 0,
            cut: false,
            server_down: false,
            frozen: [false; 2],
            queue: Vec::new(),
            conn: 0,
            server_conn: 0,
            connect_at: None,
            last_ping: [None; 2],
            data_every: [None; 2],
            next_data: [None; 2],
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
    /// no error, and connection attempts hang.
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
            self.send(Side::Server, Msg::Fin);
        }
    }

    /// Starts the server again.
    pub fn server_up(&mut self) {
        self.server_down = false;
    }

    /// Freezes one end (SIGSTOP): it keeps its socket but reads, answers and ticks
    /// nothing. Messages to it wait; after [`thaw`](Self::thaw) it sees them all late.
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

    /// Sends one data message from `side` now.
    pub fn send_data(&mut self, side: Side) -> Result<(), Violation> {
        if self.machine(side).map(HeartbeatMachine::state) == Some(State::Open) {
            self.feed(side, Event::DataSent)?;
            self.send(side, Msg::Data);
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
        }
        consider(self.connect_at);
        for p in &self.queue {
            if !self.frozen[p.to.ix()] {
                consider(Some(p.at));
            }
        }
        t
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

    /// Carries out everything due at `self.now`.
    fn process(&mut self) -> Result<(), Violation> {
        if let Some(v) = self.held.take() {
            return Err(v);
        }
        let now = self.now;
        // Deliveries, in time order (stable for equal times: the queue is FIFO).
        loop {
            let next = self
                .queue
                .iter()
                .enumerate()
                .filter(|(_, p)| p.at <= now && !self.frozen[p.to.ix()])
                .min_by_key(|(i, p)| (p.at, *i))
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let p = self.queue.remove(i);
            self.deliver(p)?;
        }
        if self.connect_at.is_some_and(|t| t <= now) {
            self.connect_at = None;
            self.connect();
        }
        for side in [Side::Client, Side::Server] {
            if self.frozen[side.ix()] {
                continue;
            }
            if self.next_data[side.ix()].is_some_and(|t| t <= now) {
                self.next_data[side.ix()] = self.data_every[side.ix()].map(|d| now + d);
                self.send_data(side)?;
            }
            if self
                .machine(side)
                .and_then(HeartbeatMachine::next_deadline)
                .is_some_and(|d| d <= now)
            {
                self.feed(side, Event::Tick)?;
            }
        }
        Ok(())
    }

    fn deliver(&mut self, p: Packet) -> Result<(), Violation> {
        let current = match p.to {
            Side::Client => self.conn,
            Side::Server => self.server_conn,
        };
        if p.conn != current && !(p.msg == Msg::Open && p.to == Side::Server) {
            return Ok(()); // for a connection that is gone
        }
        match p.msg {
            Msg::Open if p.to == Side::Server => {
                if self.server_down {
                    self.send(Side::Server, Msg::Refused);
                    return Ok(());
                }
                self.accept(p.conn)?;
                self.send(Side::Server, Msg::Open);
                Ok(())
            }
            Msg::Open => self.feed(Side::Client, Event::Connected),
            Msg::Refused => self.feed(Side::Client, Event::ConnectFailed),
            Msg::Ping(id) => {
                self.last_ping[p.to.ix()] = Some(id);
                self.feed(p.to, Event::PingReceived)
            }
            Msg::Pong(id) => self.feed(p.to, Event::PongReceived(id)),
            Msg::Data => self.feed(p.to, Event::DataReceived),
            Msg::Close => {
                // The peer closes: answer the close, and the transport is gone for us.
                self.send(p.to, Msg::Fin);
                self.feed(p.to, Event::Disconnected)
            }
            Msg::Fin => self.feed(p.to, Event::Disconnected),
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
        self.feed(Side::Server, Event::Connected)
    }

    fn connect(&mut self) {
        self.conn = self.conn.wrapping_add(1);
        self.send(Side::Client, Msg::Open);
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
        let actions: Vec<Action> = machine.handle(now, event).collect();
        self.oracles[side.ix()].check(now, event, &actions, machine)?;
        for action in actions {
            self.log.push(Record {
                at: now,
                side,
                action,
            });
            match action {
                Action::SendPing(id) => self.send(side, Msg::Ping(id)),
                Action::SendPong => {
                    let echo = self.last_ping[side.ix()];
                    self.send(side, Msg::Pong(echo));
                }
                Action::Close(_) => self.send(side, Msg::Close),
                Action::ForceClose => self.send(side, Msg::Fin),
                Action::Reconnect { after } => {
                    self.conn = self.conn.wrapping_add(1); // the old connection is gone
                    self.connect_at = Some(now + after);
                }
                Action::AbortConnect => {
                    self.connect_at = None;
                    self.conn = self.conn.wrapping_add(1);
                }
                Action::GiveUp => {}
            }
        }
        Ok(())
    }

    fn send(&mut self, from: Side, msg: Msg) {
        if self.cut {
            return;
        }
        if matches!(msg, Msg::Ping(_) | Msg::Pong(_) | Msg::Data) && self.loss_per_million > 0 {
            self.rng = self.rng.wrapping_add(1);
            if crate::backoff::mix(self.rng) % 1_000_000 < u64::from(self.loss_per_million) {
                return;
            }
        }
        let to = from.other();
        // In order per direction, like TCP, even when the latency drops.
        let floor = self.queue.iter().filter(|p| p.to == to).map(|p| p.at).max();
        let at = (self.now + self.latency).max(floor.unwrap_or(Instant::ZERO));
        let conn = match from {
            Side::Client => self.conn,
            Side::Server => self.server_conn,
        };
        self.queue.push(Packet { at, to, conn, msg });
    }
}
