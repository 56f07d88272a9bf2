//! What a server author pays for heartbeats, measured: N live WebSocket connections on
//! loopback (default 20,000), the server pinging each every 5 s (pong timeout 5 s, so a
//! dead-peer bound of 10 s), served two ways in turn, each with a fresh client process:
//!
//! - `bare`: no heartbeat, the WebSocket stream alone (what both ways add to);
//! - `heartbeat`: one `driver::Heartbeat` per connection (a timer each);
//! - `set loop`: every connection a `driver::SetLoop` member (one task, one timer).
//!
//! For each: the server's resident memory per connection (VmRSS after the connections
//! are up, less before; the WebSocket streams are the same both ways), its CPU per second
//! over 10 s of idle (pings and pongs only), the timers it arms, and the detection of a
//! batch of frozen clients (they stop reading, sockets open) against the bound.
//!
//! ```text
//! cargo bench --bench loopback --features tokio,tungstenite [-- --connections 100000]
//! ```
//!
//! The streams read into 4 KiB buffers (tungstenite's default is 128 KiB, which alone
//! would take 13 GB at 100,000 connections). Clients connect from 127.0.0.1 to 127.0.0.8 (one source address holds about 28,000
//! ports), and both processes raise their open-file limit to what they need.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Beat, Heartbeat, Member, SetLoop};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration, Event, PingId};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const PING: Duration = Duration::from_secs(5);
const PONG: Duration = Duration::from_secs(5);
const IDLE: Duration = Duration::from_secs(10);
const FROZEN: usize = 200;
/// The stream alone, then the two ways to heartbeat it.
const WAYS: [&str; 3] = ["bare", "heartbeat", "set loop"];

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Raises the open-file limit to `n` if it can; returns the limit in force.
fn allow_files(n: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let wanted = Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    if setrlimit(Resource::Nofile, wanted).is_err() {
        // Without the right to raise the hard limit, take all of it.
        let hard = getrlimit(Resource::Nofile).maximum;
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
    }
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// This process's CPU time (user and system), in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the
    // 12th and 13th of them, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) as f64 / 100.0
}

fn config() -> Config {
    Config::server()
        .ping_interval(PING)
        .pong_timeout(PONG)
        .build()
        .expect("a valid config")
}

/// What the server saw: connections open, closes for a timeout, any other close, and
/// each timeout's time since the freeze.
#[derive(Default)]
struct Seen {
    open: AtomicUsize,
    closed: Mutex<Vec<(CloseReason, Instant)>>,
}

/// The streams' read buffers: 4 KiB, not tungstenite's default 128 KiB, so that a
/// hundred thousand connections fit (the heartbeat's figures do not depend on it).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

async fn accept(tcp: TcpStream) -> Option<tokio_tungstenite::WebSocketStream<TcpStream>> {
    tokio_tungstenite::accept_async_with_config(tcp, Some(ws_config()))
        .await
        .ok()
}

/// No heartbeat: the stream alone, read until it ends (the baseline both ways add to).
async fn bare(tcp: TcpStream, seen: Arc<Seen>) {
    let Some(mut ws) = accept(tcp).await else {
        return;
    };
    seen.open.fetch_add(1, Ordering::Relaxed);
    while let Some(Ok(_)) = ws.next().await {}
}

/// One `Heartbeat` per connection.
async fn per_connection(tcp: TcpStream, seen: Arc<Seen>) {
    let Some(ws) = accept(tcp).await else { return };
    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config());
    seen.open.fetch_add(1, Ordering::Relaxed);
    while let Some(read) = hb.next().await {
        if let Err(e) = read {
            lock(&seen.closed).push((e.reason(), Instant::now()));
            return;
        }
    }
}

/// Every connection a member of one `SetLoop`.
async fn in_set(tcp: TcpStream, heartbeats: SetLoop<Vec<u8>>, seen: Arc<Seen>) {
    let Some(ws) = accept(tcp).await else { return };
    let member = heartbeats.join();
    drop(heartbeats);
    seen.open.fetch_add(1, Ordering::Relaxed);
    drive(ws, member, &seen).await;
}

/// A member's connection: report what it reads, carry out its beats. (A function of
/// its own, so that its state shares the task's room with the handshake's.)
async fn drive(
    mut ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    mut member: Member<Vec<u8>>,
    seen: &Seen,
) {
    loop {
        tokio::select! {
            read = ws.next() => match read {
                Some(Ok(Message::Pong(p))) => {
                    let id = <[u8; 8]>::try_from(p.as_ref()).ok().map(u64::from_be_bytes);
                    member.report(Event::PongReceived(id.map(PingId::new)));
                }
                Some(Ok(Message::Ping(_))) => member.report(Event::PingReceived),
                Some(Ok(_)) => member.report(Event::DataReceived),
                _ => return,
            },
            beat = member.next() => match beat {
                Some(Beat::Ping(id)) => {
                    let _ = ws.send(Message::Ping(id.get().to_be_bytes().to_vec().into())).await;
                }
                Some(Beat::Pong(p)) => {
                    let _ = ws.send(Message::Pong(p.into())).await;
                }
                Some(Beat::Close(reason)) => {
                    lock(&seen.closed).push((reason, Instant::now()));
                    return;
                }
                _ => return,
            },
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client process: `n` connections that answer pings, until told to freeze the
/// first `FROZEN` (they stop reading) and then to quit.
async fn clients(addr: SocketAddr, n: usize) {
    let (freeze, frozen) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(256));
    let connected = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate
            .clone()
            .acquire_owned()
            .await
            .expect("the gate stays open");
        let mut frozen = frozen.clone();
        let connected = connected.clone();
        tasks.push(tokio::spawn(async move {
            let source = SocketAddr::from(([127, 0, 0, 1 + (i % 8) as u8], 0));
            let socket = TcpSocket::new_v4().expect("a socket");
            socket.bind(source).expect("a source address");
            let Ok(tcp) = socket.connect(addr).await else {
                return;
            };
            let Ok((mut ws, _)) =
                tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp).await
            else {
                return;
            };
            drop(permit);
            connected.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    read = ws.next() => if !matches!(read, Some(Ok(_))) { return },
                    _ = frozen.changed(), if i < FROZEN => {
                        // Frozen: hold the socket, read nothing, answer nothing.
                        std::future::pending::<()>().await;
                    }
                }
            }
        }));
    }
    while connected.load(Ordering::Relaxed) < n {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(tokio::io::stdin()));
    while let Ok(Some(line)) = lines.next_line().await {
        match line.as_str() {
            "freeze" => {
                let _ = freeze.send(true);
            }
            _ => break,
        }
    }
    std::process::exit(0);
}

struct Figures {
    bytes_per_conn: f64,
    cpu_per_s: f64,
    timers: usize,
    detected: usize,
    worst: Duration,
    false_closes: usize,
}

async fn serve(way: &'static str, n: usize) -> Figures {
    let before = rss();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("an address");
    let seen = Arc::new(Seen::default());
    let heartbeats: Option<SetLoop<Vec<u8>>> =
        (way == "set loop").then(|| SetLoop::spawn(Tokio, config()));
    {
        let seen = seen.clone();
        let heartbeats = heartbeats.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                match (&heartbeats, way) {
                    (Some(h), _) => drop(tokio::spawn(in_set(tcp, h.clone(), seen))),
                    (None, "bare") => drop(tokio::spawn(bare(tcp, seen))),
                    (None, _) => drop(tokio::spawn(per_connection(tcp, seen))),
                }
            }
        });
    }
    let exe = std::env::current_exe().expect("this program");
    let mut child = Command::new(exe)
        .args([
            "--client",
            &addr.to_string(),
            "--connections",
            &n.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the client process");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("its stdout"));
    let mut line = String::new();
    let ready = tokio::task::spawn_blocking(move || {
        let _ = out.read_line(&mut line);
        line
    });
    let ready = tokio::time::timeout(std::time::Duration::from_secs(300), ready)
        .await
        .expect("the clients connect within five minutes")
        .expect("the reader");
    assert_eq!(ready.trim(), "ready", "the client process failed");
    while seen.open.load(Ordering::Relaxed) < n {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Let the first pings go round, then measure the idle.
    tokio::time::sleep(PING + std::time::Duration::from_secs(1)).await;
    let up = rss();
    let cpu0 = cpu();
    tokio::time::sleep(IDLE).await;
    let cpu_per_s = (cpu() - cpu0) / IDLE.as_secs_f64();
    // Freeze a batch and time its detection.
    let mut stdin = child.stdin.take().expect("its stdin");
    let frozen_at = Instant::now();
    writeln!(stdin, "freeze").expect("the client process reads");
    let bound = PING + PONG;
    let limit = frozen_at + if way == "bare" { bound } else { bound * 2 };
    while lock(&seen.closed).len() < FROZEN && Instant::now() < limit {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let closed = lock(&seen.closed).clone();
    let detected = closed
        .iter()
        .filter(|(r, _)| *r == CloseReason::PongTimeout)
        .count();
    let worst = closed
        .iter()
        .map(|(_, at)| at.duration_since(frozen_at))
        .max()
        .unwrap_or_default();
    let _ = writeln!(stdin, "quit");
    let _ = child.wait();
    Figures {
        bytes_per_conn: up.saturating_sub(before) as f64 / n as f64,
        cpu_per_s,
        timers: match way {
            "bare" => 0,
            "set loop" => 1,
            _ => n,
        },
        detected,
        worst,
        false_closes: closed.len() - detected.min(FROZEN),
    }
}

fn main() {
    let asked: usize = flag("--connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    // Each process holds one end of every connection, and a few hundred files besides.
    let limit = allow_files(asked as u64 + 1_000);
    let n = asked.min(limit.saturating_sub(500) as usize);
    if n < asked && flag("--way").is_none() && flag("--client").is_none() {
        println!(
            "{asked} connections asked for; this machine allows {limit} open files per \
             process and no more (raising the hard limit needs CAP_SYS_RESOURCE): {n} it is\n"
        );
    }
    if let Some(addr) = flag("--client") {
        let addr: SocketAddr = addr.parse().expect("an address");
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        runtime.block_on(clients(addr, n));
        return;
    }
    if let Some(way) = flag("--way") {
        // One way per process: memory freed by the other cannot flatter this one.
        let way = WAYS.iter().find(|w| **w == way).expect("a way");
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let f = runtime.block_on(serve(way, n));
        println!(
            "| {way} | {:.0} B | {:.1} % of a core | {} | {} of {FROZEN} | {:.2} s | {} |",
            f.bytes_per_conn,
            f.cpu_per_s * 100.0,
            f.timers,
            f.detected,
            f.worst.as_secs_f64(),
            f.false_closes
        );
        return;
    }
    println!(
        "{n} WebSocket connections on loopback, ping every {PING:?}, pong timeout {PONG:?}, \
         {FROZEN} clients frozen; one server process per way, on a 2-worker tokio runtime\n"
    );
    println!(
        "| | resident memory per connection | CPU per second at idle | timers armed | \
         frozen clients detected | slowest detection (bound {:?}) | false closes |",
        PING + PONG
    );
    println!("|---|---|---|---|---|---|---|");
    let exe = std::env::current_exe().expect("this program");
    for way in WAYS {
        let status = Command::new(&exe)
            .args(["--way", way, "--connections", &n.to_string()])
            .status()
            .expect("the server process");
        assert!(status.success(), "the {way} run failed");
    }
}
