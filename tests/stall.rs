//! Reads before judging, on real sockets: our server's own process stalls (SIGSTOP, then
//! SIGCONT) for 0.1 s to 10 s while 1,500 live clients answer every ping 300 ms late.
//! Through `SetLoop` and through one `Heartbeat` per connection (metered, as the README
//! shows), no live client is closed; and a batch of clients frozen as each stall begins
//! is still closed within the bound, counted from the freeze, plus the stall itself and
//! the second the reads may take after it.
//!
//! The server runs in a child process (this test binary again, as `server_child`), so
//! that stopping it stops nothing of the clients; everything is on loopback.
#![cfg(target_os = "linux")]

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Beat, Heartbeat, Member, SetLoop};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::{Config, Duration, Event, PingId};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const PING: Duration = Duration::from_secs(2);
const PONG: Duration = Duration::from_secs(1);
/// The clients' answer to each ping comes this late.
const LATE_ANSWER: Duration = Duration::from_millis(300);
const LIVE: usize = 1_500;
/// Clients frozen as each stall begins.
const FROZEN_PER_STALL: usize = 10;
/// Our server's stalls.
const STALLS_MS: [u64; 5] = [100, 700, 1_500, 3_000, 10_000];
/// After each stall, how long the clients keep answering before the next.
const BETWEEN: Duration = Duration::from_secs(4);
/// The reads-first wait after a stall is at most a second; scheduling slack on top.
const SETTLE: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_millis(1_500);
/// Where the child learns what to serve.
const KIND: &str = "KEEPALIVE_STALL_SERVER";

fn config() -> Config {
    Config::server()
        .ping_interval(PING)
        .pong_timeout(PONG)
        .build()
        .expect("a valid server config")
}

/// In the child only (`KIND` set): serves until its parent closes its standard input,
/// printing `listening <port>` once and `closed <client> <reason>` per connection.
#[test]
fn server_child() {
    let Ok(kind) = std::env::var(KIND) else {
        return; // the parent's run: nothing to do here
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the server's runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        println!("listening {port}");
        let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
        let accept = async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let set = (kind == "set").then(|| heartbeats.clone());
                tokio::spawn(async move {
                    let (who, reason) = match set {
                        Some(set) => through_the_set(tcp, set).await,
                        None => through_a_heartbeat(tcp).await,
                    };
                    println!("closed {who} {reason}");
                });
            }
        };
        // The parent closes our standard input when it is done (or dies).
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        });
        tokio::select! {
            _ = accept => {}
            _ = stdin_closed => {}
            _ = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
    });
    std::process::exit(0);
}

/// The client's number, from its first message.
fn hello(m: &Message) -> Option<String> {
    m.to_text()
        .ok()
        .and_then(|t| t.strip_prefix("hello "))
        .map(String::from)
}

async fn through_a_heartbeat(tcp: TcpStream) -> (String, &'static str) {
    let meter = Meter::new();
    let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
        return ("?".into(), "handshake");
    };
    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config()).with_meter(meter);
    let mut who = String::from("?");
    while let Some(next) = hb.next().await {
        match next {
            Ok(m) => who = hello(&m).unwrap_or(who),
            Err(end) => return (who, end.reason().name()),
        }
    }
    (who, "ended")
}

async fn through_the_set(tcp: TcpStream, set: SetLoop<Vec<u8>>) -> (String, &'static str) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return ("?".into(), "handshake");
    };
    let mut member: Member<Vec<u8>> = set.join();
    drop(set);
    let mut who = String::from("?");
    let mut ours = "transport";
    loop {
        tokio::select! {
            read = ws.next() => match read {
                Some(Ok(Message::Pong(payload))) => {
                    let id = PingId::from_bytes(&payload);
                    member.report(Event::PongReceived(id));
                }
                Some(Ok(Message::Ping(_))) => member.report(Event::PingReceived),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    member.report(Event::Disconnected);
                    return (who, ours);
                }
                Some(Ok(m)) => {
                    member.report(Event::DataReceived);
                    who = hello(&m).unwrap_or(who);
                }
            },
            beat = member.next() => match beat {
                Some(Beat::Ping(id)) => {
                    let _ = ws.send(Message::Ping(id.to_bytes().to_vec().into())).await;
                }
                Some(Beat::Close(reason)) if reason.is_timeout() => {
                    // A silent peer is not waited for: the close, and the socket goes.
                    let _ = ws.close(None).await;
                    return (who, reason.name());
                }
                Some(Beat::Close(reason)) => {
                    ours = reason.name();
                    let _ = ws.close(None).await;
                }
                Some(Beat::Pong(_)) => {}
                _ => return (who, ours),
            },
        }
    }
}

/// One client: says hello, then answers every ping `LATE_ANSWER` late (the stream sends
/// the pong it queued when next polled), until `frozen` says to stop reading for good.
async fn client(port: u16, n: usize, frozen: Arc<AtomicBool>) {
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let url = format!("ws://127.0.0.1:{port}");
    let Ok((mut ws, _)) = tokio_tungstenite::client_async(url, tcp).await else {
        return;
    };
    if ws.send(Message::text(format!("hello {n}"))).await.is_err() {
        return;
    }
    loop {
        if frozen.load(Ordering::Relaxed) {
            // Frozen: the socket stays open, nothing is read or answered.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return;
        }
        match ws.next().await {
            Some(Ok(Message::Ping(_))) => tokio::time::sleep(LATE_ANSWER).await,
            Some(Ok(_)) => {}
            _ => return,
        }
    }
}

/// The server process, its closes as they come (client, reason, when), and its pid.
struct Server {
    child: Child,
    closes: mpsc::Receiver<(String, String, Instant)>,
    port: u16,
}

impl Server {
    fn start(kind: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().expect("this test binary"))
            .args([
                "--exact",
                "server_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(KIND, kind)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the server process");
        let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .expect("a line");
            // (after the harness's own "test server_child ... ")
            if let Some((_, p)) = line.split_once("listening ") {
                break p.trim().parse().expect("a port");
            }
        };
        let (tx, closes) = mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut words = line.split_whitespace();
                if words.next() == Some("closed") {
                    let who = words.next().unwrap_or("?").to_string();
                    let reason = words.next().unwrap_or("?").to_string();
                    let _ = tx.send((who, reason, Instant::now()));
                }
            }
        });
        Server {
            child,
            closes,
            port,
        }
    }

    fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, sig).expect("signal the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.signal(rustix::process::Signal::CONT);
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the stalls against a server of `kind` (`set` or `heartbeat`).
fn stalls_against(kind: &str) {
    let server = Server::start(kind);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the clients' runtime");
    let total = LIVE + FROZEN_PER_STALL * STALLS_MS.len();
    let flags: Vec<Arc<AtomicBool>> = (0..total).map(|_| Arc::default()).collect();
    rt.block_on(async {
        for (n, frozen) in flags.iter().enumerate() {
            tokio::spawn(client(server.port, n, frozen.clone()));
            if n % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Every client connected and answered a few pings.
        tokio::time::sleep(Duration::from_secs(6)).await;
    });
    let mut closed: HashMap<usize, (String, Instant)> = HashMap::new();
    let take = |closed: &mut HashMap<usize, (String, Instant)>| {
        while let Ok((who, reason, at)) = server.closes.try_recv() {
            let who: usize = who.parse().unwrap_or(usize::MAX);
            closed.insert(who, (reason, at));
        }
    };
    take(&mut closed);
    assert!(
        closed.is_empty(),
        "{kind}: live clients closed before any stall: {closed:?}"
    );
    let mut frozen_at = Vec::new();
    for (k, stall) in STALLS_MS.iter().enumerate() {
        let batch = LIVE + k * FROZEN_PER_STALL..LIVE + (k + 1) * FROZEN_PER_STALL;
        server.signal(rustix::process::Signal::STOP);
        let at = Instant::now();
        for n in batch.clone() {
            flags[n].store(true, Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(*stall));
        server.signal(rustix::process::Signal::CONT);
        frozen_at.push((batch, at, Duration::from_millis(*stall)));
        rt.block_on(async { tokio::time::sleep(BETWEEN).await });
        take(&mut closed);
        let live: Vec<_> = closed.iter().filter(|(n, _)| **n < LIVE).collect();
        assert!(
            live.is_empty(),
            "{kind}: after a stall of {stall} ms, {} live clients closed: {:?}",
            live.len(),
            live.iter().take(5).collect::<Vec<_>>()
        );
    }
    rt.block_on(async { tokio::time::sleep(PING + PONG).await });
    take(&mut closed);
    let bound = PING + PONG;
    for (batch, at, stall) in frozen_at {
        for n in batch {
            let Some((reason, when)) = closed.get(&n) else {
                panic!(
                    "{kind}: client {n}, frozen as a stall of {stall:?} began, was never closed"
                );
            };
            let took = when.duration_since(at);
            assert!(
                reason.ends_with("timeout"),
                "{kind}: client {n} closed for {reason}"
            );
            assert!(
                took <= bound + stall + SETTLE + SLACK,
                "{kind}: client {n}, frozen as a stall of {stall:?} began, closed {took:?} after (bound {bound:?})"
            );
        }
    }
    println!("{kind}: {LIVE} live clients, stalls of {STALLS_MS:?} ms: no live client closed, every frozen one within the bound");
    drop(rt);
}

#[test]
fn our_servers_stalls_close_no_live_client() {
    if std::env::var(KIND).is_ok() {
        return; // the child
    }
    stalls_against("set");
    stalls_against("heartbeat");
}
