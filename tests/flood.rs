//! Hostile peers: a ping flood that never reads, at loopback speed, against our client
//! (on tokio and smol) and the axum server, in WebSocket ping frames and in `TextCodec`'s
//! JSON pings. Measured from the process itself (a counting allocator, `/proc/self`):
//!
//! - during a 10 s flood the heap grows by at most 1 MiB for the flooded connection;
//! - a second after the flood, the process is idle again;
//! - the connection is kept (ping policing off) or closed with 1008 (policing on);
//! - a second, well-behaved connection is served throughout.
//!
//! The contrast: bare tokio-tungstenite on the same flood. The cases run one at a time,
//! so each one's memory and CPU are its own.

#[path = "../benches/support/counting.rs"]
mod counting;
mod support;

use futures_util::{FutureExt, StreamExt};
use keepalive::codec::{TextCodec, WsCodec};
use keepalive::driver::{Attempt, Client, SessionEvent};
use keepalive::{CloseReason, Config, Duration};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;
use support::flood::{cpu_time, rss, Flood, Pings};
use support::slow::{self, Script, Sleep};
use support::{axum_server, Session};
use tokio_tungstenite::tungstenite::Message;

/// How long a flood lasts, and how long the flooder then holds its socket open, still
/// reading nothing (the window in which the process must fall idle).
const FLOOD: Duration = Duration::from_secs(10);
const LINGER: Duration = Duration::from_secs(3);
/// The bound on the heap the flooded connection may add.
const MIB: usize = 1 << 20;
/// The CPU the whole process may use in the second after its first second of quiet.
const IDLE: Duration = Duration::from_millis(100);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `case` alone, on a tokio runtime of its own with two workers.
fn on_tokio<F: std::future::Future>(case: F) -> F::Output {
    let _one = one_at_a_time();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(case)
}

/// A client that trusts its server's pings (the default), or one that polices them.
fn client_config(policing: bool) -> Config {
    let b = Config::client().seed(9);
    match policing {
        true => b.min_ping_interval(Duration::from_millis(50)),
        false => b,
    }
    .build()
    .expect("a client config")
}

/// The axum server's config: policing as by default, or off.
fn server_config(policing: bool) -> Config {
    let b = Config::server();
    match policing {
        true => b,
        false => b.min_ping_interval(Duration::ZERO),
    }
    .build()
    .expect("a server config")
}

/// What a flood cost the process.
#[derive(Debug)]
struct Toll {
    pings: u64,
    heap: usize,
    rss: u64,
    cpu_after: Duration,
}

impl Toll {
    fn check(&self, what: &str) {
        println!(
            "{what}: {} pings in {FLOOD:?}; the heap grew by at most {} KiB (rss {} MiB); \
             {:?} of CPU in the second after a second of quiet",
            self.pings,
            self.heap / 1024,
            self.rss >> 20,
            self.cpu_after
        );
        assert!(self.pings > 10_000, "{what}: that was no flood: {self:?}");
        assert!(
            self.heap <= MIB,
            "{what}: the heap grew by {} bytes",
            self.heap
        );
        assert!(
            self.cpu_after <= IDLE,
            "{what}: still busy after the flood: {self:?}"
        );
    }
}

/// After the flood (counted from `started`): the heap's peak over `baseline`, then the
/// CPU the process uses in the second after a second of quiet.
async fn toll(flood: &Flood, baseline: usize, started: Instant, sleep: &impl Sleep) -> Toll {
    if let Some(rest) = FLOOD.checked_sub(started.elapsed()) {
        sleep.sleep(rest).await;
    }
    let heap = counting::PEAK
        .load(Ordering::Relaxed)
        .saturating_sub(baseline);
    let rss = rss();
    sleep.sleep(Duration::from_secs(1)).await;
    let before = cpu_time();
    sleep.sleep(Duration::from_secs(1)).await;
    Toll {
        pings: flood.pings.load(Ordering::Relaxed),
        heap,
        rss,
        cpu_after: cpu_time() - before,
    }
}

/// The second, well-behaved connection: a message every 50 ms, each answered within a
/// second, for `d`. Returns how many, and the slowest.
async fn served_throughout(
    s: &mut Session<Message>,
    answer: &str,
    d: Duration,
    sleep: &impl Sleep,
) -> (u32, Duration) {
    let started = Instant::now();
    let (mut n, mut slowest) = (0, Duration::ZERO);
    while started.elapsed() < d {
        let sent = Instant::now();
        s.send(Message::text("hello"))
            .await
            .expect("the second connection sends");
        loop {
            match slow::next(s, Duration::from_secs(1), sleep).await {
                SessionEvent::Message(m) if m.to_text().ok() == Some(answer) => break,
                SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
                other => panic!("the second connection, during the flood: {other:?}"),
            }
        }
        slowest = slowest.max(sent.elapsed());
        n += 1;
        sleep.sleep(Duration::from_millis(50)).await;
    }
    println!("the second connection: {n} round trips during the flood, the slowest {slowest:?}");
    assert!(n >= 50, "only {n} round trips");
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    (n, slowest)
}

/// The next event that is not the heartbeat's own.
async fn life(
    c: &mut Session<Message>,
    wait: Duration,
    sleep: &impl Sleep,
) -> SessionEvent<Message> {
    loop {
        match slow::next(c, wait, sleep).await {
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
            other => return other,
        }
    }
}

/// The flooded connection is still open: nothing but heartbeat traffic has come.
fn kept(c: &mut Session<Message>) {
    while let Some(next) = c.events.next().now_or_never() {
        match next {
            Some(SessionEvent::PingSent(_) | SessionEvent::Pong { .. }) => {}
            other => panic!("the flooded connection, policing off: {other:?}"),
        }
    }
    assert!(c.client.is_connected());
}

/// Policing on: the flooded connection is closed with 1008 at once, by us.
fn policed(end: &SessionEvent<Message>, started: Instant) {
    match end {
        SessionEvent::Closed(e) => {
            assert_eq!(
                (e.reason(), e.code(), e.by_peer()),
                (CloseReason::TooManyPings, Some(1008), false),
                "{e:?}"
            );
        }
        other => panic!("expected the close for too many pings, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "policed after {took:?}");
    println!("policing on: the flood was closed with 1008 after {took:?}");
}

// ---------------------------------------------------------------- our client

/// Our client, made by `spawn`, against a flooding server; a second client of the same
/// runtime against a well-behaved one. `None` when policing closed the flood.
async fn client_case(
    pings: Pings,
    policing: bool,
    spawn: impl Fn(String, Config, Pings) -> Session<Message>,
    sleep: &impl Sleep,
) -> Option<Toll> {
    let echo = slow::peer(Script::Receive);
    let mut second = spawn(format!("ws://{echo}"), support::config(), Pings::Frames);
    assert_eq!(
        life(&mut second, Duration::from_secs(10), sleep).await,
        SessionEvent::Connected
    );
    let baseline = counting::reset_peak();
    let (addr, flood) = Flood::server(pings, FLOOD, LINGER);
    let mut victim = spawn(format!("ws://{addr}"), client_config(policing), pings);
    let started = Instant::now();
    assert_eq!(
        life(&mut victim, Duration::from_secs(10), sleep).await,
        SessionEvent::Connected
    );
    let toll = if policing {
        policed(
            &life(&mut victim, Duration::from_secs(2), sleep).await,
            started,
        );
        None
    } else {
        served_throughout(&mut second, "got 5", FLOOD - Duration::from_secs(1), sleep).await;
        let toll = toll(&flood, baseline, started, sleep).await;
        kept(&mut victim); // through the flood and the quiet after it
        Some(toll)
    };
    victim.client.shutdown();
    second.client.shutdown();
    toll
}

/// Our client on tokio, its TCP stream metered, speaking ping frames or JSON pings.
fn tokio_client(url: String, config: Config, pings: Pings) -> Session<Message> {
    let connect = move |attempt: Attempt| support::connect(url.clone(), attempt);
    let spawned = match pings {
        Pings::Frames => Client::builder(config, WsCodec, connect).spawn(keepalive::tokio::Tokio),
        Pings::Json => {
            Client::builder(config, TextCodec::default(), connect).spawn(keepalive::tokio::Tokio)
        }
    };
    spawned.expect("a client's config").into()
}

/// Our client on smol (async-tungstenite), its TCP stream metered.
fn smol_client(url: String, config: Config, _: Pings) -> Session<Message> {
    Client::builder(config, WsCodec, move |attempt: Attempt| {
        let url = url.clone();
        async move {
            let tcp = smol::net::TcpStream::connect(url.trim_start_matches("ws://")).await?;
            async_tungstenite::client_async(url, attempt.meter().tcp(tcp))
                .await
                .map(|(ws, _)| ws)
        }
    })
    .spawn(keepalive::smol::Smol)
    .expect("a client's config")
    .into()
}

#[test]
fn a_ping_flood_against_our_tokio_client() {
    on_tokio(async {
        client_case(Pings::Frames, false, tokio_client, &tokio::time::sleep)
            .await
            .expect("measured")
            .check("our tokio client, ping frames, policing off");
    });
}

#[test]
fn a_json_ping_flood_against_our_tokio_client() {
    on_tokio(async {
        client_case(Pings::Json, false, tokio_client, &tokio::time::sleep)
            .await
            .expect("measured")
            .check("our tokio client, JSON pings (TextCodec), policing off");
    });
}

#[test]
fn a_client_that_polices_closes_a_flood_with_1008() {
    on_tokio(async {
        let toll = client_case(Pings::Frames, true, tokio_client, &tokio::time::sleep).await;
        assert!(toll.is_none());
    });
}

#[test]
fn a_ping_flood_against_our_smol_client() {
    let _one = one_at_a_time();
    let sleep = |d: Duration| async move {
        smol::Timer::after(d).await;
    };
    smol::block_on(client_case(Pings::Frames, false, smol_client, &sleep))
        .expect("measured")
        .check("our smol client, ping frames, policing off");
}

// ---------------------------------------------------------------- the axum server

/// A flooding client against the axum server (metered listener, a `Heartbeat` per
/// connection); a second client of ours against the same server.
async fn axum_case(pings: Pings, policing: bool) -> Option<Toll> {
    let sleep = &tokio::time::sleep;
    let (url, mut ends) = match pings {
        Pings::Frames => axum_server::start(server_config(policing)).await,
        Pings::Json => axum_server::start_text(server_config(policing)).await,
    };
    let mut second = support::client(&url, support::config());
    assert_eq!(
        life(&mut second, Duration::from_secs(10), sleep).await,
        SessionEvent::Connected
    );
    let baseline = counting::reset_peak();
    let addr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .expect("the server's address");
    let started = Instant::now();
    let flood = Flood::client(addr, "/ws", pings, FLOOD, LINGER);
    let toll = if policing {
        let end = tokio::time::timeout(Duration::from_secs(2), ends.recv())
            .await
            .expect("the flood is closed in time")
            .expect("the server reports it");
        assert_eq!(
            (end.reason, end.code),
            (CloseReason::TooManyPings, Some(1008)),
            "{end:?}"
        );
        assert!(end.lived < Duration::from_secs(1), "{end:?}");
        println!(
            "policing on: the axum server closed the flood with 1008 after {:?}",
            end.lived
        );
        None
    } else {
        served_throughout(&mut second, "hello", FLOOD - Duration::from_secs(1), sleep).await;
        let toll = toll(&flood, baseline, started, sleep).await;
        // Kept through the flood and the quiet after it.
        assert!(
            ends.try_recv().is_err(),
            "the flooded connection ended early"
        );
        Some(toll)
    };
    second.client.shutdown();
    toll
}

#[test]
fn a_ping_flood_against_the_axum_server() {
    on_tokio(async {
        axum_case(Pings::Frames, false)
            .await
            .expect("measured")
            .check("the axum server, ping frames, policing off");
    });
}

#[test]
fn a_json_ping_flood_against_the_axum_server() {
    on_tokio(async {
        axum_case(Pings::Json, false)
            .await
            .expect("measured")
            .check("the axum server, JSON pings (TextCodec), policing off");
    });
}

#[test]
fn the_axum_server_closes_a_flood_with_1008_by_default() {
    on_tokio(async {
        assert!(axum_case(Pings::Frames, true).await.is_none());
        assert!(axum_case(Pings::Json, true).await.is_none());
    });
}

// ---------------------------------------------------------------- the contrast

/// Bare tokio-tungstenite, reading as an application does, on the same flood: its write
/// buffer keeps a pong for every ping it reads. Two seconds are enough to show it.
#[test]
fn bare_tokio_tungstenite_grows_without_bound_on_the_same_flood() {
    on_tokio(async {
        let short = Duration::from_secs(2);
        let baseline = counting::reset_peak();
        let (addr, flood) = Flood::server(Pings::Frames, short, Duration::ZERO);
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}"))
            .await
            .expect("connect");
        let started = Instant::now();
        while started.elapsed() < short {
            match tokio::time::timeout(Duration::from_millis(100), ws.next()).await {
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(_) => break,
            }
        }
        let grew = counting::PEAK
            .load(Ordering::Relaxed)
            .saturating_sub(baseline);
        let pings = flood.pings.load(Ordering::Relaxed);
        println!(
        "bare tokio-tungstenite, ping frames: {pings} pings in {short:?}; the heap grew by {} MiB (rss {} MiB)",
        grew >> 20,
        rss() >> 20
    );
        drop(ws);
        assert!(
            grew > 64 * MIB,
            "the flood is real: bare tokio-tungstenite grew by {grew} bytes"
        );
    });
}
