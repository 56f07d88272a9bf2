//! Interop against peers no one here wrote: Python `websockets`, Node `ws` and headless
//! Chromium. `scripts/install-peers.sh` installs them at pinned versions (the test command
//! runs it first); a missing peer fails these tests with a message saying so, never a
//! skip. Each test prints what it checked.
//!
//! Timing: intervals of 100–200 ms, bounds checked with generous slack.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::{HeartbeatCodec, TextCodec, WsCodec};
use keepalive::driver::{Attempt, Client, Heartbeat, SessionEvent};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration, PingPolicy};
use std::path::PathBuf;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::axum_server;
use support::peer::{field, need, root, Peer};
use support::slow::{self, BIG};
use support::throttle::Throttle;
use support::Session;

const SLACK: Duration = Duration::from_millis(800);
const WAIT: Duration = Duration::from_secs(15);

fn client_config(interval_ms: u64, pong_ms: u64) -> Config {
    Config::client()
        .ping_interval(Duration::from_millis(interval_ms))
        .pong_timeout(Duration::from_millis(pong_ms))
        .backoff_initial(Duration::from_millis(200))
        .seed(3)
        .build()
        .expect("test config")
}

fn server_config(interval_ms: u64, pong_ms: u64) -> Config {
    Config::server()
        .ping_interval(Duration::from_millis(interval_ms))
        .pong_timeout(Duration::from_millis(pong_ms))
        .build()
        .expect("test config")
}

/// Our reconnecting client, its TCP stream metered (bytes count as life), as the README
/// shows it.
fn our_client<C>(url: String, codec: C, config: Config) -> Session<Message>
where
    C: HeartbeatCodec<Message> + Clone + Send + 'static,
{
    Client::builder(config, codec, move |attempt: Attempt| {
        support::connect(url.clone(), attempt)
    })
    .spawn(Tokio)
    .expect("a client's config")
    .into()
}

async fn next(c: &mut Session<Message>) -> SessionEvent<Message> {
    timeout(WAIT, c.next())
        .await
        .expect("an event in time")
        .expect("client running")
}

/// Runs the client for `d`; returns the pongs seen. Any close fails the test.
async fn healthy_for(c: &mut Session<Message>, d: Duration) -> u32 {
    let until = tokio::time::Instant::now() + d;
    let mut pongs = 0;
    loop {
        tokio::select! {
            e = c.next() => match e {
                Some(SessionEvent::Pong { .. }) => pongs += 1,
                Some(SessionEvent::PingSent(_) | SessionEvent::Message(_)) => {}
                other => panic!("a healthy peer, yet: {other:?}"),
            },
            _ = tokio::time::sleep_until(until) => return pongs,
        }
    }
}

/// How one connection to our server ended.
#[derive(Debug)]
struct Served {
    reason: CloseReason,
    code: Option<u16>,
    pongs_received: u32,
    texts: Vec<String>,
    lived: Duration,
}

/// Serves one connection with our driver: echoes data (recording texts), freezes
/// (stops polling, socket open) while `frozen` says so, closes with 1000 on `stop`.
async fn our_server<C>(
    codec: C,
    config: Config,
    frozen: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> (String, tokio::task::JoinHandle<Served>)
where
    C: HeartbeatCodec<Message> + Send + 'static,
{
    let (url, task, _up) = our_server_up(codec, config, frozen, stop).await;
    (url, task)
}

/// [`our_server`], which also says when its connection is up (the handshake done): a
/// peer whose start-up takes long on a loaded machine (Chromium) is timed from there.
async fn our_server_up<C>(
    codec: C,
    config: Config,
    frozen: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
) -> (
    String,
    tokio::task::JoinHandle<Served>,
    tokio::sync::oneshot::Receiver<()>,
)
where
    C: HeartbeatCodec<Message> + Send + 'static,
{
    let (up_tx, up) = tokio::sync::oneshot::channel();
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (mut frozen, mut stop) = (frozen, stop);
        let (tcp, _) = l.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        let _ = up_tx.send(());
        let started = Instant::now();
        let mut hb = Heartbeat::new(Tokio, ws, codec, config);
        let mut texts = Vec::new();
        loop {
            if *frozen.borrow() {
                let _ = frozen.wait_for(|f| !*f).await;
            }
            tokio::select! {
                u = hb.next() => match u {
                    Some(Ok(m)) => {
                        if let Message::Text(t) = &m {
                            texts.push(t.to_string());
                        }
                        let _ = hb.send(m).await;
                    }
                    Some(Err(end)) => {
                        return Served {
                            reason: end.reason(),
                            code: end.code(),
                            pongs_received: hb.machine().stats().pongs_received,
                            texts,
                            lived: started.elapsed(),
                        }
                    }
                    None => panic!("ended without a cause"),
                },
                Ok(()) = frozen.changed() => {}
                Ok(()) = stop.changed() => { let _ = hb.close().await; }
            }
        }
    });
    (url, task, up)
}

/// Waits until a browser's page has connected to `up`'s server (Chromium may take many
/// seconds to start on a loaded machine).
async fn connected(up: tokio::sync::oneshot::Receiver<()>) {
    timeout(Duration::from_secs(60), up)
        .await
        .expect("the page connected within a minute")
        .expect("the server is up");
}

fn switches() -> (
    watch::Sender<bool>,
    watch::Receiver<bool>,
    watch::Sender<bool>,
    watch::Receiver<bool>,
) {
    let (ft, fr) = watch::channel(false);
    let (st, sr) = watch::channel(false);
    (ft, fr, st, sr)
}

// ---------------------------------------------------------------- Python websockets

async fn our_client_against_python_server(keepalive: bool) {
    let interval = if keepalive { "0.2" } else { "0" };
    let mut py = Peer::python(&[
        "server",
        "--ping-interval",
        interval,
        "--ping-timeout",
        "0.4",
    ]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let mut c = our_client(
        format!("ws://127.0.0.1:{port}"),
        WsCodec,
        client_config(150, 300),
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    c.send(Message::text("hello python")).await.expect("sent");
    let pongs = healthy_for(&mut c, Duration::from_secs(2)).await;
    assert!(pongs >= 8, "only {pongs} pongs in 2 s at 150 ms");
    c.client.shutdown();
    loop {
        match next(&mut c).await {
            SessionEvent::Closed(e) => {
                assert_eq!((e.reason(), e.code()), (CloseReason::Shutdown, Some(1000)));
                break;
            }
            SessionEvent::Message(m) => assert_eq!(m, Message::text("hello python")),
            _ => {}
        }
    }
    let closed = py.expect("closed", WAIT).await;
    assert_eq!(field(&closed, "rcvd"), Some(1000), "{closed}");
    println!(
        "python server (keepalive {}): {pongs} pongs over 2 s, echo ok, it saw our close code 1000",
        if keepalive {
            "on, 0.2 s / 0.4 s"
        } else {
            "off"
        }
    );
}

#[tokio::test]
async fn python_server_with_its_keepalive_on() {
    our_client_against_python_server(true).await;
}

#[tokio::test]
async fn python_server_with_its_keepalive_off() {
    our_client_against_python_server(false).await;
}

/// A Python `websockets` server behind the throttling proxy (256 KiB/s each way),
/// sending or counting one 1.5 MB message (`mode`). Its own keepalive is off: it times its
/// pong from when its ping is queued, so on this link its ping would wait behind its own
/// message (or its pong behind ours) and it would end the transfer itself.
async fn slow_python(mode: &str) -> (Peer, Throttle) {
    let size = BIG.to_string();
    let mut py = Peer::python(&[
        "server",
        "--ping-interval",
        "0",
        "--mode",
        mode,
        "--size",
        &size,
    ]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let upstream = format!("127.0.0.1:{port}").parse().expect("addr");
    (py, Throttle::start(upstream, slow::RATE))
}

async fn tokio_sleep(d: Duration) {
    sleep(d).await;
}

#[tokio::test]
async fn a_large_message_from_python_over_a_slow_link_is_no_false_timeout() {
    let (mut py, proxy) = slow_python("send").await;
    let mut c = our_client(proxy.url(), WsCodec, slow::config());
    slow::download(&mut c, &tokio_sleep).await;
    py.expect("sent", WAIT).await;
}

#[tokio::test]
async fn a_large_message_to_python_over_a_slow_link_is_no_false_timeout() {
    let (mut py, proxy) = slow_python("count").await;
    let mut c = our_client(proxy.url(), WsCodec, slow::config());
    slow::upload(&mut c, &tokio_sleep).await;
    let got = py.expect("received", WAIT).await;
    assert_eq!(field(&got, "bytes"), Some(BIG as i64), "{got}");
}

#[tokio::test]
async fn a_stall_mid_transfer_from_python_is_detected_within_the_bound() {
    let (_py, proxy) = slow_python("send").await;
    let mut c = our_client(proxy.url(), WsCodec, slow::config());
    slow::download_stall(&mut c, &proxy, Duration::from_secs(2), &tokio_sleep).await;
}

#[tokio::test]
async fn a_stall_mid_transfer_to_python_is_detected_within_the_bound() {
    let (_py, proxy) = slow_python("count").await;
    let mut c = our_client(proxy.url(), WsCodec, slow::config());
    slow::upload_stall(&mut c, &proxy, Duration::from_secs(2), &tokio_sleep).await;
}

/// A Python `websockets` server that closes the first connection with 1012 (it is
/// restarting) and the second with 1013 (it is overloaded): our client comes back soon
/// after the first (one first step of jitter) and later after the second (from half of
/// `backoff_max`), and the waits are measured.
#[tokio::test]
async fn python_restart_1012_and_overload_1013_are_waited_out_as_asked() {
    let mut py = Peer::python(&[
        "server",
        "--ping-interval",
        "0",
        "--mode",
        "close",
        "--close-codes",
        "1012,1013",
    ]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let config = Config::client()
        .ping_interval(Duration::from_millis(200))
        .pong_timeout(Duration::from_millis(400))
        .backoff_initial(Duration::from_millis(200))
        .backoff_max(Duration::from_secs(2))
        .seed(9)
        .build()
        .expect("config");
    let mut c = our_client(format!("ws://127.0.0.1:{port}"), WsCodec, config);
    let mut waits = Vec::new();
    for (i, code) in [1012, 1013].into_iter().enumerate() {
        assert_eq!(next(&mut c).await, SessionEvent::Connected);
        if i == 0 {
            py.expect("connected", WAIT).await; // (later ones are waited for below)
        }
        let end = loop {
            match next(&mut c).await {
                SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
                other => break other,
            }
        };
        let SessionEvent::Closed(e) = &end else {
            panic!("expected the close, got {end:?}")
        };
        assert_eq!(
            (e.reason(), e.code()),
            (CloseReason::PeerClosed(code), Some(code))
        );
        let closed_at = Instant::now();
        let SessionEvent::Reconnecting { after } = next(&mut c).await else {
            panic!("no wait announced")
        };
        let (lo, hi) = match code {
            1012 => (Duration::from_millis(200), Duration::from_millis(400)),
            _ => (Duration::from_secs(1), Duration::from_secs(2)),
        };
        assert!(after >= lo && after <= hi, "{code}: announced {after:?}");
        py.expect("connected", WAIT).await; // the next connection reaches it
        let waited = closed_at.elapsed();
        assert!(
            waited >= after && waited <= after + SLACK,
            "{code}: waited {waited:?}"
        );
        waits.push((code, after, waited));
    }
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    for (code, after, waited) in waits {
        println!("python closed with {code}: our client announced {after:?} and came back after {waited:?}");
    }
}

/// Python `websockets` as a client of a real axum server (our heartbeat on axum's
/// WebSocket, the metered listener): both ping; its close reaches the handler as 1000;
/// then, frozen (SIGSTOP), it is closed within the bound, and after a thaw it sees 1011.
#[tokio::test]
async fn python_client_against_an_axum_server() {
    let (url, mut ends) = axum_server::start(server_config(150, 300)).await;
    let mut py = Peer::python(&[
        "client",
        "--url",
        &url,
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "0.4",
        "--run-s",
        "2",
    ]);
    py.expect("connected", WAIT).await;
    py.expect("done", WAIT).await; // two seconds without its keepalive failing
    let end = timeout(WAIT, ends.recv())
        .await
        .expect("in time")
        .expect("served");
    assert_eq!(
        (end.reason, end.code),
        (CloseReason::PeerClosed(1000), Some(1000)),
        "{end:?}"
    );
    assert!(end.pongs_received >= 5, "{end:?}");

    let mut py = Peer::python(&["client", "--url", &url, "--run-s", "30"]);
    py.expect("connected", WAIT).await;
    py.signal("-STOP");
    let end = timeout(WAIT, ends.recv())
        .await
        .expect("in time")
        .expect("served");
    py.signal("-CONT");
    assert_eq!(
        (end.reason, end.code),
        (CloseReason::PongTimeout, Some(1011)),
        "{end:?}"
    );
    let bound = Duration::from_millis(450);
    assert!(end.lived <= bound + SLACK, "closed after {:?}", end.lived);
    let closed = py.expect("closed", WAIT).await;
    assert_eq!(field(&closed, "rcvd"), Some(1011), "{closed}");
    println!(
        "python client against axum: 1000 seen by the handler; frozen, closed after {:?} (bound {bound:?}); it saw 1011",
        end.lived
    );
}

/// A close we send to a live peer reaches it: a Python client that sends 300 pings at
/// once (the server's budget is 100, then 2 strikes) while it is still writing reads our
/// 1008 "too many pings", and the server learns of its answer, instead of both ending
/// in a reset. A burst within the budget (ten pings, as conformance suites send) is
/// answered.
#[tokio::test]
async fn a_python_client_pinging_past_the_budget_reads_our_1008() {
    let config = Config::server().build().expect("the defaults");
    let (url, mut ends) = axum_server::start(config).await;
    let mut py = Peer::python(&["client", "--url", &url, "--pings", "10", "--run-s", "1"]);
    py.expect("connected", WAIT).await;
    py.expect("done", WAIT).await; // ten at once are no flood
    let end = timeout(WAIT, ends.recv())
        .await
        .expect("in time")
        .expect("served");
    assert_eq!(end.reason, CloseReason::PeerClosed(1000), "{end:?}");

    let mut py = Peer::python(&["client", "--url", &url, "--pings", "300", "--run-s", "5"]);
    py.expect("connected", WAIT).await;
    let closed = py.expect("closed", WAIT).await;
    assert_eq!(
        field(&closed, "rcvd"),
        Some(1008),
        "the peer read our close: {closed}"
    );
    let end = timeout(WAIT, ends.recv())
        .await
        .expect("in time")
        .expect("served");
    assert_eq!(
        (end.reason, end.code),
        (CloseReason::TooManyPings, Some(1008)),
        "{end:?}"
    );
    println!("a python client flooding 300 pings read our close: {closed}");
}

#[tokio::test]
async fn python_client_against_our_server() {
    let (_f, fr, _s, sr) = switches();
    let (url, served) = our_server(WsCodec, server_config(150, 300), fr, sr).await;
    let mut py = Peer::python(&[
        "client",
        "--url",
        &url,
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "0.4",
        "--run-s",
        "2",
    ]);
    py.expect("connected", WAIT).await;
    py.expect("done", WAIT).await; // two seconds without its keepalive failing
    let served = timeout(WAIT, served)
        .await
        .expect("in time")
        .expect("server");
    assert_eq!(
        (served.reason, served.code),
        (CloseReason::PeerClosed(1000), Some(1000)),
        "{served:?}"
    );
    assert!(served.pongs_received >= 8, "{served:?}");
    println!(
        "python client (ping 0.2 s, timeout 0.4 s) stayed up {:?} against our server; it answered {} of our pings; we saw its close 1000",
        served.lived, served.pongs_received
    );
}

#[tokio::test]
async fn a_frozen_python_server_is_detected_and_sees_1011() {
    let mut py = Peer::python(&["server", "--ping-interval", "0"]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let (interval, pong) = (Duration::from_millis(150), Duration::from_millis(300));
    let mut c = our_client(
        format!("ws://127.0.0.1:{port}"),
        WsCodec,
        client_config(150, 300),
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    healthy_for(&mut c, Duration::from_millis(500)).await;
    py.signal("-STOP"); // socket open, nothing answers
    let frozen = Instant::now();
    loop {
        match next(&mut c).await {
            SessionEvent::Closed(e) => {
                assert_eq!(
                    (e.reason(), e.code()),
                    (CloseReason::PongTimeout, Some(1011))
                );
                break;
            }
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let took = frozen.elapsed();
    assert!(took <= interval + pong + SLACK, "detected after {took:?}");
    c.client.shutdown();
    py.signal("-CONT");
    let closed = py.expect("closed", WAIT).await;
    assert_eq!(field(&closed, "rcvd"), Some(1011), "{closed}");
    println!(
        "SIGSTOPped python server: detected after {took:?} (bound {:?}); it read our close 1011",
        interval + pong
    );
}

#[tokio::test]
async fn python_detects_our_frozen_server_within_its_bound() {
    let (freeze, fr, _s, sr) = switches();
    let (url, _served) =
        our_server(WsCodec, Config::server().build().expect("config"), fr, sr).await;
    let mut py = Peer::python(&[
        "client",
        "--url",
        &url,
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "0.4",
        "--run-s",
        "30",
    ]);
    py.expect("connected", WAIT).await;
    sleep(Duration::from_millis(500)).await;
    freeze.send(true).expect("freeze");
    let frozen = Instant::now();
    let closed = py.expect("closed", WAIT).await;
    let took = frozen.elapsed();
    assert_eq!(field(&closed, "sent"), Some(1011), "{closed}");
    // Its bound: ping_interval + ping_timeout, then close_timeout for the close handshake
    // our frozen server cannot complete.
    assert!(
        took <= Duration::from_millis(200 + 400 + 300) + SLACK,
        "python took {took:?}"
    );
    println!("our frozen server: python's keepalive (0.2 s + 0.4 s, close_timeout 0.3 s) closed after {took:?} with 1011");
}

#[tokio::test]
async fn the_app_heartbeat_against_a_python_server() {
    let mut py = Peer::python(&["server", "--ping-interval", "0", "--mode", "app"]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let mut c = our_client(
        format!("ws://127.0.0.1:{port}"),
        TextCodec::default(),
        client_config(100, 300),
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let pongs = healthy_for(&mut c, Duration::from_secs(2)).await;
    assert!(
        pongs >= 10,
        "only {pongs} {{\"type\": \"pong\"}} answers in 2 s at 100 ms"
    );
    println!("app-level heartbeat: python answered {pongs} pings with json.dumps' {{\"type\": \"pong\"}}");
}

// ---------------------------------------------------------------- Node ws

#[tokio::test]
async fn node_heartbeat_server_keeps_our_client() {
    let mut node = Peer::node(&["server", "--interval", "100"]);
    let port = field(&node.expect("listening", WAIT).await, "port").expect("port");
    let mut c = our_client(
        format!("ws://127.0.0.1:{port}"),
        WsCodec,
        client_config(1000, 1000),
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    healthy_for(&mut c, Duration::from_secs(2)).await;
    c.client.shutdown();
    let closed = node.expect("closed", WAIT).await;
    assert_eq!(field(&closed, "code"), Some(1000), "{closed}");
    let pongs = field(&closed, "pongs").unwrap_or(0);
    assert!(pongs >= 12, "answered only {pongs} of ~20 pings: {closed}");
    assert!(
        !node.seen.iter().any(|l| l.contains("terminated")),
        "{:#?}",
        node.seen
    );
    println!("node ws README heartbeat (100 ms): we answered {pongs} pings over 2 s, never terminated; it saw 1000");
}

#[tokio::test]
async fn node_client_against_our_server() {
    let (_f, fr, stop, sr) = switches();
    let (url, served) = our_server(WsCodec, server_config(100, 300), fr, sr).await;
    let mut node = Peer::node(&["client", "--url", &url, "--run-ms", "2000"]);
    node.expect("connected", WAIT).await;
    let alive = node.expect("alive", WAIT).await;
    stop.send(true).expect("stop");
    let closed = node.expect("closed", WAIT).await;
    assert_eq!(field(&closed, "code"), Some(1000), "{closed}");
    let served = timeout(WAIT, served)
        .await
        .expect("in time")
        .expect("server");
    assert_eq!(served.reason, CloseReason::Shutdown);
    assert!(served.pongs_received >= 12, "{served:?}");
    println!(
        "node ws client: {} pings seen in 2 s, {} pongs back to us, it saw our close 1000",
        field(&alive, "pings").unwrap_or(0),
        served.pongs_received
    );
}

// ---------------------------------------------------------------- Chromium

struct Browser(Peer);

impl Browser {
    fn open(url: &str, mode: &str) -> Browser {
        let chromium = need(PathBuf::from("/usr/bin/chromium"), "Debian chromium");
        let profile = tempdir();
        let page = format!(
            "file://{}?url={url}&mode={mode}&interval=100",
            root().join("tests/interop/page.html").display()
        );
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--allow-file-access-from-files",
            &format!("--user-data-dir={}", profile.display()),
            &page,
        ];
        Browser(Peer::spawn("chromium", chromium, &args))
    }
}

fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "keepalive-chromium-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("profile dir");
    dir
}

#[tokio::test]
async fn a_browser_answers_our_ping_frames_across_many_intervals() {
    let (_f, fr, stop, sr) = switches();
    let (url, served, up) = our_server_up(WsCodec, server_config(100, 400), fr, sr).await;
    let _browser = Browser::open(&url, "frames");
    connected(up).await;
    sleep(Duration::from_secs(2)).await; // many intervals
    stop.send(true).expect("stop");
    let served = timeout(WAIT, served)
        .await
        .expect("in time")
        .expect("server");
    assert_eq!(served.reason, CloseReason::Shutdown, "{served:?}");
    assert!(served.pongs_received >= 10, "{served:?}");
    println!(
        "chromium answered {} ping frames over {:?}; no timeout",
        served.pongs_received, served.lived
    );
}

/// Our server for pages that ping in text: it only answers, and closes a page silent for
/// `idle`. A page is opened against it and has pinged for three seconds.
async fn a_page_pinging_our_server(idle: Duration) -> (Browser, tokio::task::JoinHandle<Served>) {
    let (_f, fr, _s, sr) = switches();
    let config = Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(idle)
        .build()
        .expect("config");
    let (url, served, up) = our_server_up(TextCodec::default(), config, fr, sr).await;
    let browser = Browser::open(&url, "text");
    connected(up).await;
    sleep(Duration::from_secs(2)).await; // many intervals
    assert!(
        !served.is_finished(),
        "the server ended early: {:?}",
        served.await
    );
    (browser, served)
}

#[tokio::test]
async fn a_browser_page_with_the_text_heartbeat_then_frozen() {
    let idle = Duration::from_millis(500);
    let (browser, served) = a_page_pinging_our_server(idle).await;
    browser.0.signal("-STOP"); // the whole browser: the page stops pinging
    let frozen = Instant::now();
    let served = timeout(WAIT, served)
        .await
        .expect("in time")
        .expect("server");
    let took = frozen.elapsed();
    browser.0.signal("-CONT");
    assert_eq!(
        (served.reason, served.code),
        (CloseReason::IdleTimeout, Some(1011)),
        "{served:?}"
    );
    assert!(took <= idle + SLACK, "closed {took:?} after the page froze");
    let last_report = served
        .texts
        .iter()
        .rev()
        .find(|t| t.contains("report"))
        .cloned()
        .unwrap_or_default();
    let pongs = field(&last_report, "pongs").unwrap_or(0);
    assert!(
        pongs >= 10,
        "the page counted only {pongs} pongs: {:?}",
        served.texts
    );
    println!(
        "chromium page pinging {{\"type\":\"ping\"}} every 100 ms: {pongs}+ pongs; frozen page closed after {took:?} (idle_timeout {idle:?})"
    );
}

#[tokio::test]
async fn closing_the_browser_is_detected_within_idle_timeout() {
    let idle = Duration::from_millis(500);
    let (mut browser, served) = a_page_pinging_our_server(idle).await;
    browser.0.signal("-KILL");
    let _ = browser.0.child.wait().await;
    let closed = Instant::now();
    let served = timeout(WAIT, served)
        .await
        .expect("in time")
        .expect("server");
    let took = closed.elapsed();
    assert!(took <= idle + SLACK, "{took:?}");
    println!(
        "chromium killed: our server saw {:?} after {took:?} (idle_timeout {idle:?})",
        served.reason
    );
}

// ---------------------------------------------------------------- ws_client, the tool

/// The `ws_client` example against a server it has never seen (Python's): its JSON
/// lines, a typed line echoed, a frozen server detected, and SIGINT closing with 1000.
#[tokio::test]
async fn the_ws_client_tool_against_a_python_server() {
    // Build it (cargo test builds examples, but not when run for one test target).
    let built = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--example",
            "ws_client",
            "--features",
            "tokio,tungstenite",
        ])
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(built.success(), "cargo build --example ws_client failed");
    let exe = std::env::current_exe().expect("test binary");
    let tool = need(
        exe.parent()
            .and_then(|deps| deps.parent())
            .expect("target dir")
            .join("examples/ws_client"),
        "the ws_client example",
    );
    let mut py = Peer::python(&["server", "--ping-interval", "0"]);
    let port = field(&py.expect("listening", WAIT).await, "port").expect("port");
    let url = format!("ws://127.0.0.1:{port}");
    let mut tool = Peer::spawn(
        "ws_client",
        tool,
        &[
            "--url",
            &url,
            "--ping-interval-ms",
            "150",
            "--pong-timeout-ms",
            "300",
            "--backoff-initial-ms",
            "200",
        ],
    );
    let mut stdin = tool.stdin.take().expect("stdin");
    tool.expect("connected", WAIT).await;
    tool.expect("ping_sent", WAIT).await;
    let pong = tool.expect("pong", WAIT).await;
    assert!(pong.contains(r#""rtt_ms":"#), "{pong}");
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"hello from stdin\n")
        .await
        .expect("type a line");
    let echoed = tool.expect("message", WAIT).await;
    assert!(echoed.contains(r#""text":"hello from stdin""#), "{echoed}");
    py.signal("-STOP");
    let closed = tool.expect("closed", WAIT).await;
    assert!(
        closed.contains(r#""reason":"pong_timeout","code":1011"#),
        "{closed}"
    );
    let reconnecting = tool.expect("reconnecting", WAIT).await;
    assert!(reconnecting.contains(r#""after_ms":"#), "{reconnecting}");
    py.signal("-CONT");
    tool.expect("connected", WAIT).await;
    tool.signal("-INT");
    let closed = tool.expect("closed", WAIT).await;
    assert!(
        closed.contains(r#""reason":"shutdown","code":1000"#),
        "{closed}"
    );
    assert!(
        tool.seen.iter().all(|l| l.starts_with(r#"{"t_ms":"#)),
        "{:#?}",
        tool.seen
    );
    let status = timeout(WAIT, tool.child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "ws_client exited with {status}");
    // Python saw the 1011 on the first connection, then the 1000.
    let first = py.expect("closed", WAIT).await;
    let second = py.expect("closed", WAIT).await;
    assert_eq!(
        (field(&first, "rcvd"), field(&second, "rcvd")),
        (Some(1011), Some(1000)),
        "{first} {second}"
    );
    println!("ws_client against python: JSON lines, stdin echoed, frozen server closed with 1011 and reconnected, SIGINT closed with 1000 and exit 0");
}
