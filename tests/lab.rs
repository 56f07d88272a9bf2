//! The network lab (see `support/lab.rs`): kernel TCP between two network namespaces
//! over a veth pair that `tc` shapes to 2 Mbit/s with a 300 ms queue, the uplink of a
//! bloated DSL or cellular line. Our client and server on tokio and smol, and the Python
//! peer, run in it:
//!
//! - a download and an upload of more than ten heartbeat bounds, with a pong timeout
//!   configured at twice the queue's delay, complete with no close on either side;
//! - the link going down mid-transfer is caught within the dead-peer bound the client
//!   reports, and the link coming back brings a reconnect within the backoff;
//! - a peer process stopped with SIGSTOP on an idle link is caught within the bound.
//!
//! Each test has a lab of its own (torn down when it ends, failed or not). It needs
//! root; elsewhere each test says it was skipped, except under `CI=true`, where it fails.
#![cfg(target_os = "linux")]

use futures_util::future::{select, Either};
use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Client, Error, Heartbeat, Runtime, SendError, SessionEvent};
use keepalive::meter::Meter;
use keepalive::smol::Smol;
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration, PathMemory, PingPolicy};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::lab::{Dialer, Lab};
use support::peer::{field, Peer};
use support::slow::{next, past_heartbeats, Sleep};
use support::{closed, Session};

/// The link: 2 Mbit/s each way (250 kB/s), with a queue of 300 ms before it drops.
const RATE: &str = "2mbit";
const QUEUE: Duration = Duration::from_millis(300);
/// Every heartbeat here: a ping every 300 ms, a pong timeout of twice the queue.
const INTERVAL: Duration = Duration::from_millis(300);
const PONG: Duration = Duration::from_millis(600);
/// One transfer: 2.5 MB, 10 s on the link, more than ten configured bounds (900 ms).
const SIZE: usize = 2_500_000;
/// The server's port, in namespace `a`.
const PORT: u16 = 9000;
/// The client's attempts: 1 s to connect, then 100–500 ms of backoff.
const CONNECT: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// Scheduling slack on top of every real-time bound.
const SLACK: Duration = Duration::from_secs(1);
/// No test waits longer than this for one event.
const WAIT: Duration = Duration::from_secs(30);
/// A server serves at most this many connections, for at most this long.
const CONNECTIONS: usize = 16;
const SERVER_LIFE: Duration = Duration::from_secs(600);

fn client_config() -> Config {
    Config::client()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .connect_timeout(CONNECT)
        .backoff_initial(Duration::from_millis(100))
        .backoff_max(BACKOFF_MAX)
        .seed(16)
        .build()
        .expect("a valid client config")
}

fn server_config() -> Config {
    Config::server()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .build()
        .expect("a valid server config")
}

/// What our server does with each connection.
#[derive(Copy, Clone)]
enum Script {
    /// Sends one binary message of `SIZE` bytes, then answers as `Count` does.
    Bulk,
    /// Answers each data message with the text `got <its length>`.
    Count,
    /// Sends a short text every so often, reading what comes meanwhile.
    Push(Duration),
}

/// How one of the server's connections ended: why, when, and the dead-peer bound in
/// force then.
struct End {
    reason: CloseReason,
    at: Instant,
    bound: Duration,
}

/// Serves one connection as `script` says and reports its end.
async fn serve<S, E, R>(mut hb: Heartbeat<S, WsCodec, R>, script: Script, ends: mpsc::Sender<End>)
where
    S: futures_util::Stream<Item = Result<Message, E>> + futures_util::Sink<Message, Error = E>,
    S: Unpin,
    E: std::error::Error + Send + Sync + 'static,
    R: Runtime,
{
    if let Script::Bulk = script {
        // A failed send ends the connection: the stream yields the end next.
        let _ = hb.send(Message::binary(vec![7u8; SIZE])).await;
    }
    if let Script::Push(every) = script {
        return push(hb, every, ends).await;
    }
    while let Some(next) = hb.next().await {
        match next {
            Ok(m) if m.is_binary() || m.is_text() => {
                let _ = hb.send(Message::text(format!("got {}", m.len()))).await;
            }
            Ok(_) => {}
            Err(end) => {
                println!(
                    "server: at the close {:?}, last heard {:?} before",
                    hb.stats(),
                    hb.machine().now() - hb.machine().last_heard()
                );
                return report(&ends, &end, hb.stats().dead_peer_bound);
            }
        }
    }
}

/// Sends a text every `every` (each send awaited) while reading what comes, until the
/// connection ends; reports the end.
async fn push<S, E, R>(mut hb: Heartbeat<S, WsCodec, R>, every: Duration, ends: mpsc::Sender<End>)
where
    S: futures_util::Stream<Item = Result<Message, E>> + futures_util::Sink<Message, Error = E>,
    S: Unpin,
    E: std::error::Error + Send + Sync + 'static,
    R: Runtime,
{
    let started = Instant::now();
    while started.elapsed() < WAIT {
        let tick = Box::pin(tokio::time::sleep(every));
        match select(Box::pin(hb.next()), tick).await {
            Either::Left((Some(Err(end)), _)) => {
                return report(&ends, &end, hb.stats().dead_peer_bound);
            }
            Either::Left((None, _)) => return,
            Either::Left((Some(Ok(_)), _)) => {}
            Either::Right(_) => {
                let _ = hb.send(Message::text("x".repeat(64))).await;
            }
        }
    }
}

fn report(ends: &mpsc::Sender<End>, end: &Error, bound: Duration) {
    println!("server: closed ({end}), bound in force {bound:?}");
    let _ = ends.send(End {
        reason: end.reason(),
        at: Instant::now(),
        bound,
    });
}

/// Our server on tokio, listening in `a`; its connections' ends are reported.
fn tokio_server(lab: &Lab, script: Script) -> mpsc::Receiver<End> {
    tokio_server_with(lab, script, server_config())
}

/// The same, with `config` for its connections.
fn tokio_server_with(lab: &Lab, script: Script, config: Config) -> mpsc::Receiver<End> {
    tokio_server_metered(lab, PORT, script, config, true)
}

/// Our server on tokio on `port`, its connections' TCP streams metered or not.
fn tokio_server_on(lab: &Lab, port: u16, script: Script, metered: bool) -> mpsc::Receiver<End> {
    tokio_server_metered(lab, port, script, server_config(), metered)
}

/// The same, with `config` for its connections.
fn tokio_server_metered(
    lab: &Lab,
    port: u16,
    script: Script,
    config: Config,
    metered: bool,
) -> mpsc::Receiver<End> {
    let listener = lab.a.run(|| std::net::TcpListener::bind(lab.a.addr(port)));
    let listener = listener.expect("bind in namespace a");
    listener.set_nonblocking(true).expect("nonblocking");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the server's runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let accept = async {
                for _ in 0..CONNECTIONS {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let meter = Meter::new();
                        if let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await {
                            let hb = Heartbeat::new(Tokio, ws, WsCodec, config);
                            let hb = if metered { hb.with_meter(meter) } else { hb };
                            serve(hb, script, tx).await;
                        }
                    });
                }
                std::future::pending::<()>().await
            };
            let _ = tokio::time::timeout(SERVER_LIFE, accept).await;
        });
    });
    rx
}

/// Our server on smol, listening in `a`.
fn smol_server(lab: &Lab, script: Script, config: Config) -> mpsc::Receiver<End> {
    let listener = lab.a.run(|| std::net::TcpListener::bind(lab.a.addr(PORT)));
    let listener = listener.expect("bind in namespace a");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        smol::block_on(async move {
            let listener = smol::net::TcpListener::try_from(listener).expect("listener");
            let accept = async {
                for _ in 0..CONNECTIONS {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let tx = tx.clone();
                    smol::spawn(async move {
                        let meter = Meter::new();
                        if let Ok(ws) = async_tungstenite::accept_async(meter.tcp(tcp)).await {
                            let hb = Heartbeat::new(Smol, ws, WsCodec, config);
                            serve(hb.with_meter(meter), script, tx).await;
                        }
                    })
                    .detach();
                }
                std::future::pending::<()>().await
            };
            select(Box::pin(accept), smol::Timer::after(SERVER_LIFE)).await;
        });
    });
    rx
}

/// Our reconnecting client on tokio, connecting from `b` to the server in `a`, its TCP
/// stream metered, as the README shows.
fn tokio_client(lab: &Lab) -> Session<Message> {
    tokio_client_with(lab, client_config(), PathMemory::new())
}

/// A TCP connection from `b` to `addr` in `a`, on tokio.
async fn tokio_dial(dialer: Dialer, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let tcp = tokio::task::spawn_blocking(move || dialer.connect(addr, CONNECT))
        .await
        .map_err(std::io::Error::other)??;
    tokio::net::TcpStream::from_std(tcp)
}

/// The same, with `config`, starting from what `memory` says of the path.
fn tokio_client_with(lab: &Lab, config: Config, memory: PathMemory) -> Session<Message> {
    let (dialer, addr) = (lab.b.dialer(), lab.a.addr(PORT));
    Client::builder(config, WsCodec, move |attempt| {
        let dialer = dialer.clone();
        async move {
            let tcp = tokio_dial(dialer, addr).await?;
            let url = format!("ws://{addr}");
            let (ws, _) = tokio_tungstenite::client_async(url, attempt.meter().tcp(tcp)).await?;
            Ok::<_, tokio_tungstenite::tungstenite::Error>(ws)
        }
    })
    .path_memory(memory)
    .spawn(Tokio)
    .expect("a client's config")
    .into()
}

/// Our reconnecting client on tokio whose TCP stream is not metered: it sees complete
/// messages only.
fn tokio_client_unmetered(lab: &Lab) -> Session<Message> {
    let (dialer, addr) = (lab.b.dialer(), lab.a.addr(PORT));
    Client::builder(client_config(), WsCodec, move |_attempt| {
        let dialer = dialer.clone();
        async move {
            let tcp = tokio_dial(dialer, addr).await?;
            let url = format!("ws://{addr}");
            let (ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
            Ok::<_, tokio_tungstenite::tungstenite::Error>(ws)
        }
    })
    .spawn(Tokio)
    .expect("a client's config")
    .into()
}

/// Our reconnecting client on smol, from `b` to the server in `a`.
fn smol_client(lab: &Lab) -> Session<Message> {
    let (dialer, addr): (Dialer, SocketAddr) = (lab.b.dialer(), lab.a.addr(PORT));
    Client::builder(client_config(), WsCodec, move |attempt| {
        let dialer = dialer.clone();
        async move {
            let tcp = smol::unblock(move || dialer.connect(addr, CONNECT)).await?;
            let tcp = smol::net::TcpStream::try_from(tcp)?;
            let url = format!("ws://{addr}");
            let (ws, _) = async_tungstenite::client_async(url, attempt.meter().tcp(tcp)).await?;
            Ok::<_, async_tungstenite::tungstenite::Error>(ws)
        }
    })
    .spawn(Smol)
    .expect("a client's config")
    .into()
}

fn on_tokio<F: std::future::Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(test)
}

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await
}

async fn smol_sleep(d: Duration) {
    smol::Timer::after(d).await;
}

/// A lab shaped as a bloated uplink; `None` where the lab cannot run (see `support/lab.rs`).
fn bloated(test: &str) -> Option<Lab> {
    let lab = Lab::new(test)?;
    lab.shape(RATE, QUEUE);
    Some(lab)
}

/// Waits for the client to connect.
async fn connected(c: &mut Session<Message>, sleep: &impl Sleep) {
    match past_heartbeats(c, WAIT, sleep).await.0 {
        SessionEvent::Connected => {}
        other => panic!("expected a connection, got {other:?}"),
    }
}

/// Lets the heartbeat run for `d`: anything but its own pings and pongs fails the test.
/// Returns the pongs received meanwhile.
async fn only_heartbeats_for(c: &mut Session<Message>, d: Duration, sleep: &impl Sleep) -> u32 {
    let until = Instant::now() + d;
    let mut pongs = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match select(Box::pin(c.next()), Box::pin(sleep.sleep(left))).await {
            Either::Left((Some(SessionEvent::PingSent(_)), _)) => {}
            Either::Left((Some(SessionEvent::Pong { .. }), _)) => pongs += 1,
            Either::Left((other, _)) => panic!("a live peer, yet: {other:?}"),
            Either::Right(_) => break,
        }
    }
    pongs
}

/// Downloads the server's `SIZE` bytes, then uploads as many and waits for the server to
/// confirm them: nothing may close on the way, and each way takes more than ten bounds.
async fn both_ways(c: &mut Session<Message>, sleep: &impl Sleep) {
    connected(c, sleep).await;
    let started = Instant::now();
    match past_heartbeats(c, WAIT, sleep).await {
        (SessionEvent::Message(Message::Binary(b)), _) => assert_eq!(b.len(), SIZE),
        (other, _) => panic!(
            "a live peer on a bloated link, yet during the download: {other:?} after {:?}",
            started.elapsed()
        ),
    }
    let down = started.elapsed();
    let stats = c.client.stats();
    println!(
        "{SIZE} bytes downloaded in {down:?}, no close: pong timeout in force {:?} \
         (configured {PONG:?}), bound {:?}, smoothed rtt {:?}",
        stats.pong_timeout, stats.dead_peer_bound, stats.smoothed_rtt
    );
    let started = Instant::now();
    if let Err(e) = c.send(Message::binary(vec![9u8; SIZE])).await {
        panic!(
            "a live peer on a bloated link, yet the upload failed ({e}) after {:?}: {:?}",
            started.elapsed(),
            c.client.stats()
        );
    }
    match past_heartbeats(c, WAIT, sleep).await {
        (SessionEvent::Message(m), _) if m.to_text().ok() == Some(&format!("got {SIZE}")) => {}
        (other, _) => panic!(
            "a live peer on a bloated link, yet during the upload: {other:?} after {:?}",
            started.elapsed()
        ),
    }
    let up = started.elapsed();
    let stats = c.client.stats();
    println!(
        "{SIZE} bytes uploaded in {up:?}, no close: pong timeout in force {:?}, bound {:?}, \
         smoothed rtt {:?}, {} pings, {} pongs",
        stats.pong_timeout,
        stats.dead_peer_bound,
        stats.smoothed_rtt,
        stats.pings_sent,
        stats.pongs_received
    );
    for took in [down, up] {
        assert!(
            took >= (INTERVAL + PONG) * 10,
            "a transfer took {took:?}: not ten heartbeat bounds, so it proves nothing"
        );
    }
    assert_eq!(stats.timeouts, 0);
}

/// The server called no live peer dead.
fn no_server_close(ends: &mpsc::Receiver<End>) {
    if let Ok(end) = ends.try_recv() {
        panic!(
            "the server closed a live connection: {:?} (bound {:?})",
            end.reason, end.bound
        );
    }
}

/// The client's next life event is a close for a timeout, within the bound in force of
/// the fault (`bound`, read just before it); returns how long it took.
async fn caught(
    c: &mut Session<Message>,
    fault: Instant,
    bound: Duration,
    sleep: &impl Sleep,
) -> Duration {
    let (end, _) = past_heartbeats(c, WAIT, sleep).await;
    let took = fault.elapsed();
    match closed(&end) {
        Some((reason, _)) if reason.is_timeout() => {}
        _ => panic!("expected a close for a timeout, got {end:?}"),
    }
    let at_close = c.client.stats().dead_peer_bound;
    println!("client: caught {took:?} after the fault; bound before it {bound:?}, at the close {at_close:?}");
    assert!(
        took <= bound + SLACK,
        "a dead path caught {took:?} after the fault: the bound in force was {bound:?}"
    );
    took
}

/// The server's connection ends for a timeout within the bound it had in force.
fn server_caught(ends: &mpsc::Receiver<End>, fault: Instant) -> Duration {
    let end = ends.recv_timeout(WAIT).expect("the server closes too");
    assert!(end.reason.is_timeout(), "server: {:?}", end.reason);
    let took = end.at.duration_since(fault);
    assert!(
        took <= end.bound + SLACK,
        "the server caught the fault {took:?} after it: its bound was {:?}",
        end.bound
    );
    took
}

/// The link is down for `down`, then up: the client, which keeps trying meanwhile,
/// connects within one connect timeout and the longest backoff of the link's return.
async fn link_returns(lab: &Lab, c: &mut Session<Message>, down: Duration, sleep: &impl Sleep) {
    let until = Instant::now() + down;
    let mut failed = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match select(Box::pin(c.next()), Box::pin(sleep.sleep(left))).await {
            Either::Left((Some(SessionEvent::ConnectFailed(_)), _)) => failed += 1,
            Either::Left((Some(SessionEvent::Reconnecting { .. }), _)) => {}
            Either::Left((other, _)) => panic!("while the link is down: {other:?}"),
            Either::Right(_) => break,
        }
    }
    lab.link(true);
    let up = Instant::now();
    loop {
        match next(c, WAIT, sleep).await {
            SessionEvent::Connected => break,
            SessionEvent::ConnectFailed(_) | SessionEvent::Reconnecting { .. } => {}
            other => panic!("after the link came back: {other:?}"),
        }
    }
    let took = up.elapsed();
    assert!(
        took <= CONNECT + BACKOFF_MAX + SLACK,
        "reconnected {took:?} after the link came back: the bound is {:?}",
        CONNECT + BACKOFF_MAX
    );
    println!("link down for {down:?} ({failed} attempts failed), reconnected {took:?} after it came back");
}

#[test]
fn tokio_both_ways_over_a_bloated_link() {
    let Some(lab) = bloated("tokio_both_ways_over_a_bloated_link") else {
        return;
    };
    let ends = tokio_server(&lab, Script::Bulk);
    on_tokio(async {
        let mut c = tokio_client(&lab);
        both_ways(&mut c, &tokio_sleep).await;
        no_server_close(&ends);
    });
}

#[test]
fn smol_both_ways_over_a_bloated_link() {
    let Some(lab) = bloated("smol_both_ways_over_a_bloated_link") else {
        return;
    };
    let ends = smol_server(&lab, Script::Bulk, server_config());
    smol::block_on(async {
        let mut c = smol_client(&lab);
        both_ways(&mut c, &smol_sleep).await;
        no_server_close(&ends);
    });
}

/// The Python peer's server in `a`, keepalive off (our client's heartbeat is under
/// test), with `mode`; it is listening when this returns.
async fn python_server(lab: &Lab, mode: &str) -> Peer {
    let (host, port, size) = (lab.a.ip.to_string(), PORT.to_string(), SIZE.to_string());
    let args = [
        "server",
        "--host",
        &host,
        "--port",
        &port,
        "--ping-interval",
        "0",
        "--mode",
        mode,
        "--size",
        &size,
    ];
    let mut py = Peer::python_in(lab.a.name(), &args);
    py.expect("listening", WAIT).await;
    py
}

#[test]
fn both_ways_with_the_python_server_over_a_bloated_link() {
    let Some(lab) = bloated("both_ways_with_the_python_server_over_a_bloated_link") else {
        return;
    };
    on_tokio(async {
        // Sends SIZE bytes at once, then answers each message with "got <length>".
        let _py = python_server(&lab, "bulk").await;
        let mut c = tokio_client(&lab);
        both_ways(&mut c, &tokio_sleep).await;
    });
}

/// How long a transfer runs before the link goes down.
const BEFORE_THE_FAULT: Duration = Duration::from_secs(3);
/// How long the link stays down.
const DOWN: Duration = Duration::from_secs(2);

#[test]
fn tokio_a_link_down_mid_download_is_caught_then_reconnected() {
    let Some(lab) = bloated("tokio_a_link_down_mid_download_is_caught_then_reconnected") else {
        return;
    };
    let ends = tokio_server(&lab, Script::Bulk);
    on_tokio(async {
        let sleep = &tokio_sleep;
        let mut c = tokio_client(&lab);
        connected(&mut c, sleep).await;
        only_heartbeats_for(&mut c, BEFORE_THE_FAULT, sleep).await;
        let bound = c.client.stats().dead_peer_bound;
        lab.link(false);
        let fault = Instant::now();
        let took = caught(&mut c, fault, bound, sleep).await;
        let server = server_caught(&ends, fault);
        println!(
            "link down mid-download: caught by the client after {took:?} (bound {bound:?}), \
             by the server after {server:?}"
        );
        link_returns(&lab, &mut c, DOWN, sleep).await;
        c.client.shutdown();
    });
}

#[test]
fn smol_a_link_down_mid_upload_is_caught_then_reconnected() {
    let Some(lab) = bloated("smol_a_link_down_mid_upload_is_caught_then_reconnected") else {
        return;
    };
    let ends = smol_server(&lab, Script::Count, server_config());
    smol::block_on(async {
        let sleep = &smol_sleep;
        let mut c = smol_client(&lab);
        connected(&mut c, sleep).await;
        let mut fault = None;
        let mut bound = Duration::ZERO;
        {
            let send = c.client.send(Message::binary(vec![9u8; SIZE]));
            let cut = async {
                smol_sleep(BEFORE_THE_FAULT).await;
                bound = c.client.stats().dead_peer_bound;
                lab.link(false);
                fault = Some(Instant::now());
                smol_sleep(WAIT).await;
            };
            // The send fails with the cause, never in silence.
            match select(Box::pin(send), Box::pin(cut)).await {
                Either::Left((Err(SendError::Unconfirmed(_, reason)), _)) => {
                    assert!(reason.is_timeout(), "{reason:?}")
                }
                Either::Left((other, _)) => panic!("the cut upload ended with {other:?}"),
                Either::Right(_) => panic!("the cut upload never ended"),
            }
        }
        let fault = fault.expect("the link went down before the send ended");
        let took = caught(&mut c, fault, bound, sleep).await;
        let server = server_caught(&ends, fault);
        println!(
            "link down mid-upload: caught by the client after {took:?} (bound {bound:?}), \
             by the server after {server:?}"
        );
        link_returns(&lab, &mut c, DOWN, sleep).await;
        c.client.shutdown();
    });
}

/// How long an idle link runs before the peer stops.
const IDLE: Duration = Duration::from_secs(2);

#[test]
fn a_stopped_python_server_on_an_idle_link_is_caught_within_the_bound() {
    let Some(lab) = bloated("a_stopped_python_server_on_an_idle_link_is_caught") else {
        return;
    };
    on_tokio(async {
        let sleep = &tokio_sleep;
        let py = python_server(&lab, "echo").await;
        let mut c = tokio_client(&lab);
        connected(&mut c, sleep).await;
        let pongs = only_heartbeats_for(&mut c, IDLE, sleep).await;
        assert!(pongs >= 3, "{pongs} pongs in {IDLE:?} of an idle link");
        let bound = c.client.stats().dead_peer_bound;
        // Its kernel still acknowledges our pings; nothing answers them.
        py.signal("-STOP");
        let fault = Instant::now();
        let took = caught(&mut c, fault, bound, sleep).await;
        println!("a stopped server caught after {took:?} (bound {bound:?})");
        py.signal("-CONT");
        c.client.shutdown();
    });
}

#[test]
fn a_stopped_python_client_on_an_idle_link_is_caught_within_the_bound() {
    let Some(lab) = bloated("a_stopped_python_client_on_an_idle_link_is_caught") else {
        return;
    };
    let ends = tokio_server(&lab, Script::Count);
    on_tokio(async {
        let mut py = python_client_stops(&lab, PORT, &ends).await;
        let closed = py.expect("closed", WAIT).await;
        assert_eq!(field(&closed, "rcvd"), Some(1011), "{closed}");
    });
}

// ------------------------------------------------------------ hung peers while we send

/// How often we send to a peer whose process stopped: acknowledgements of our data by
/// its kernel once passed for life at these rates.
const SEND_EVERY: [u64; 3] = [5, 20, 200];

/// Sends a text every `every` while reading events, for `IDLE` (nothing may close), then
/// stops the peer (`stop`) and keeps sending until the client closes for a timeout.
/// Returns how long after the stop it closed, and the bound in force at the stop.
async fn sending_to_a_hung_peer(
    c: &mut Session<Message>,
    every: Duration,
    stop: impl FnOnce(),
) -> (Duration, Duration) {
    let mut stop = Some(stop);
    let started = Instant::now();
    let mut stopped: Option<(Instant, Duration)> = None;
    while started.elapsed() < WAIT {
        if stopped.is_none() && started.elapsed() >= IDLE {
            let bound = c.client.stats().dead_peer_bound;
            if let Some(stop) = stop.take() {
                stop();
            }
            stopped = Some((Instant::now(), bound));
        }
        let tick = Box::pin(tokio_sleep(every));
        let next = match select(Box::pin(c.next()), tick).await {
            Either::Left((event, _)) => Some(event),
            Either::Right(_) => None,
        };
        match next {
            Some(Some(event)) => {
                if let Some((reason, _)) = closed(&event) {
                    let Some((at, bound)) = stopped else {
                        panic!("a live peer closed ({reason:?}) before it stopped");
                    };
                    assert!(reason.is_timeout(), "closed for {reason:?}");
                    return (at.elapsed(), bound);
                }
            }
            Some(None) => panic!("the client ended"),
            None => {
                let _ = c.send(Message::text("x".repeat(64))).await;
            }
        }
    }
    panic!("a hung peer was never closed while we sent every {every:?}");
}

/// A Python server whose process stops while our client keeps sending to it, every 5,
/// 20 and 200 ms, metered and not: its kernel acknowledges everything we send, and the
/// client closes within the bound in force all the same.
#[test]
fn a_stopped_python_server_is_caught_while_we_send() {
    let Some(lab) = Lab::new("a_stopped_python_server_is_caught_while_we_send") else {
        return;
    };
    on_tokio(async {
        for metered in [true, false] {
            for every in SEND_EVERY {
                let py = python_server(&lab, "echo").await;
                let mut c = if metered {
                    tokio_client(&lab)
                } else {
                    tokio_client_unmetered(&lab)
                };
                connected(&mut c, &tokio_sleep).await;
                let every = Duration::from_millis(every);
                let (took, bound) =
                    sending_to_a_hung_peer(&mut c, every, || py.signal("-STOP")).await;
                println!("metered {metered}, sending every {every:?}: caught after {took:?} (bound {bound:?})");
                assert!(
                    took <= bound + SLACK,
                    "metered {metered}, sending every {every:?}: a hung server caught {took:?} after it stopped, bound {bound:?}"
                );
                c.client.shutdown();
                py.signal("-CONT");
                drop(py);
                tokio_sleep(Duration::from_millis(200)).await; // the port is free again
            }
        }
    });
}

/// A Python client whose process stops while our server keeps sending to it, every 5,
/// 20 and 200 ms, metered and not: the server closes within the bound in force.
#[test]
fn a_stopped_python_client_is_caught_while_our_server_sends() {
    let Some(lab) = Lab::new("a_stopped_python_client_is_caught_while_our_server_sends") else {
        return;
    };
    for metered in [true, false] {
        for every in SEND_EVERY {
            let every = Duration::from_millis(every);
            let port = PORT + 1 + u16::from(metered) * 10 + (every.as_millis() % 7) as u16;
            let ends = tokio_server_on(&lab, port, Script::Push(every), metered);
            println!("metered {metered}, pushing every {every:?}:");
            on_tokio(python_client_stops(&lab, port, &ends));
        }
    }
}

/// A Python client (no pings of its own) connects from `b` to our server on `port`,
/// runs for `IDLE` with no close, then its process stops: our server closes it within
/// its bound (asserted). Returns the stopped client, resumed.
async fn python_client_stops(lab: &Lab, port: u16, ends: &mpsc::Receiver<End>) -> Peer {
    let url = format!("ws://{}", lab.a.addr(port));
    let args = [
        "client",
        "--url",
        &url,
        "--ping-interval",
        "0",
        "--run-s",
        "30",
    ];
    let mut py = Peer::python_in(lab.b.name(), &args);
    py.expect("connected", WAIT).await;
    tokio_sleep(IDLE).await;
    no_server_close(ends);
    py.signal("-STOP");
    let fault = Instant::now();
    let took = server_caught(ends, fault);
    println!("a stopped client caught by our server after {took:?}");
    py.signal("-CONT");
    py
}

// ------------------------------------------------------------------ behind a NAT

/// The NAT's idle limit for established TCP in these tests: a carrier's minutes, scaled
/// down to seconds. (The gap the NAT sees is our interval less the delay of our TCP
/// acknowledgement of the pong, up to 200 ms: the limits are chosen so that no step of
/// the learning, 2 s × 1.25ⁿ, falls within 200 ms above one.)
const NAT: Duration = Duration::from_secs(5);
/// The smart client's floor (and the fixed interval it is compared with), its ceiling,
/// and its pong timeout.
const FLOOR: Duration = Duration::from_secs(2);
const CEILING: Duration = Duration::from_secs(20);
const NAT_PONG: Duration = Duration::from_secs(1);

/// A server that never pings (its clients keep the path open) and keeps a quiet client.
fn quiet_server() -> Config {
    Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(Duration::from_secs(3_600))
        .build()
        .expect("a valid server config")
}

/// A client behind the NAT, pinging every `interval`, learning up to `ceiling` if given.
fn nat_client(interval: Duration, ceiling: Option<Duration>) -> Config {
    let b = Config::client()
        .ping_interval(interval)
        .pong_timeout(NAT_PONG)
        .connect_timeout(CONNECT)
        .backoff_initial(Duration::from_millis(100))
        .backoff_max(BACKOFF_MAX)
        .seed(23);
    match ceiling {
        Some(c) => b.keepalive_ceiling(c),
        None => b,
    }
    .build()
    .expect("a valid client config")
}

/// Follows the client's events until its keepalive interval has settled within
/// [0.6 limit, limit) and then held for ten limits with no loss; returns it, with the
/// losses (pong timeouts) it took. Fails past `most` losses or five minutes.
async fn learns(c: &mut Session<Message>, limit: Duration, most: u32) -> (Duration, u32) {
    let give_up = Instant::now() + Duration::from_secs(300);
    let mut losses = 0;
    loop {
        let settled = c.client.path_memory().idle_limit().is_some();
        let interval = c.client.stats().ping_interval;
        if settled && interval.mul_f64(1.0 / 0.6) >= limit && interval < limit {
            let before = c.client.stats().timeouts;
            tokio::time::sleep(limit * 10).await;
            let after = c.client.stats();
            assert_eq!(after.timeouts, before, "lost at the learned {interval:?}");
            assert!(c.client.is_connected(), "{after:?}");
            return (interval, losses);
        }
        assert!(
            Instant::now() < give_up,
            "not settled in 5 minutes: {interval:?}"
        );
        let wait = Instant::now() + Duration::from_millis(500);
        while let Ok(Some(e)) =
            tokio::time::timeout_at(wait.into(), futures_util::StreamExt::next(&mut c.events)).await
        {
            if let Some((CloseReason::PongTimeout, _)) = closed(&e) {
                losses += 1;
                assert!(losses <= most, "{losses} losses, at {interval:?}");
            }
        }
    }
}

/// Pings per hour at `interval` (with the pong's round trip, negligible here).
fn per_hour(interval: Duration) -> u64 {
    (3_600.0 / interval.as_secs_f64()).round() as u64
}

#[test]
fn behind_a_nat_a_fixed_interval_past_its_limit_is_caught_and_reconnected() {
    let Some(lab) = Lab::behind_nat("fixed interval behind a NAT", NAT) else {
        return;
    };
    let ends = tokio_server_with(&lab, Script::Count, quiet_server());
    on_tokio(async {
        let config = nat_client(Duration::from_secs(6), None);
        let mut c = tokio_client_with(&lab, config, PathMemory::new());
        connected(&mut c, &tokio_sleep).await;
        // Idle for 6 s: the NAT forgot the connection after 5; the ping is black-holed.
        // (The first ping may come sooner, at its phase, and be answered: the bound runs
        // from the last traffic.)
        let mut last_traffic = Instant::now();
        let end = loop {
            match next(&mut c, WAIT, &tokio_sleep).await {
                SessionEvent::PingSent(_) => {}
                SessionEvent::Pong { .. } => last_traffic = Instant::now(),
                other => break other,
            }
        };
        let took = last_traffic.elapsed();
        assert_eq!(
            closed(&end).map(|c| c.0),
            Some(CloseReason::PongTimeout),
            "{end:?}"
        );
        let bound = config.ping_interval() + config.pong_timeout();
        assert!(
            took <= bound + SLACK,
            "caught {took:?} after the last traffic (bound {bound:?})"
        );
        // A new connection, a new mapping.
        loop {
            match next(&mut c, WAIT, &tokio_sleep).await {
                SessionEvent::Connected => break,
                SessionEvent::Reconnecting { .. } | SessionEvent::PingSent(_) => {}
                other => panic!("expected the reconnect, got {other:?}"),
            }
        }
        println!("a fixed 6 s interval behind a NAT that forgets after {NAT:?}: caught after {took:?}, reconnected");
    });
    drop(ends);
}

#[test]
fn behind_a_nat_smart_keepalive_learns_its_limit_and_the_next_client_starts_there() {
    let Some(lab) = Lab::behind_nat("smart keepalive behind a NAT", NAT) else {
        return;
    };
    let _ends = tokio_server_with(&lab, Script::Count, quiet_server());
    on_tokio(async {
        let config = nat_client(FLOOR, Some(CEILING));
        let mut c = tokio_client_with(&lab, config, PathMemory::new());
        connected(&mut c, &tokio_sleep).await;
        let started = Instant::now();
        let (learned, losses) = learns(&mut c, NAT, 3).await;
        println!(
            "behind a NAT that forgets after {NAT:?}: learned {learned:?} after {losses} losses in \
             {:?}; {} pings an hour against {} at the fixed {FLOOR:?}",
            started.elapsed(),
            per_hour(learned),
            per_hour(FLOOR)
        );
        // A second client, given what the first learned, starts there: no loss.
        let memory = c.client.path_memory();
        c.client.shutdown();
        let mut next = tokio_client_with(&lab, config, memory);
        connected(&mut next, &tokio_sleep).await;
        assert_eq!(next.client.stats().ping_interval, learned);
        tokio::time::sleep(NAT * 10).await;
        let stats = next.client.stats();
        assert_eq!(
            stats.timeouts, 0,
            "the remembered {learned:?} lost: {stats:?}"
        );
        assert!(next.client.is_connected());
        next.client.shutdown();
    });
}

/// A client moving between two networks whose NATs forget after different times, told
/// where it is (`Client::moved_to`): on a network it has not seen it learns from the
/// floor; back on one it knows it takes up that network's interval at once, and loses
/// nothing there.
#[test]
fn behind_two_nats_a_moving_client_keeps_what_each_taught() {
    let Some(lab) = Lab::behind_nat("smart keepalive, moving between two NATs", NAT) else {
        return;
    };
    let _ends = tokio_server_with(&lab, Script::Count, quiet_server());
    on_tokio(async {
        let mut c = tokio_client_with(&lab, nat_client(FLOOR, Some(CEILING)), PathMemory::new());
        connected(&mut c, &tokio_sleep).await;
        let (on_a, _) = learns(&mut c, NAT, 3).await;
        let memory_a = c.client.path_memory();
        // To network B, never seen, whose NAT forgets sooner: from the floor.
        let sooner = Duration::from_secs(4);
        lab.nat_forgets_after(sooner);
        c.client.moved_to(None);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            c.client.stats().ping_interval,
            FLOOR,
            "a new network starts at the floor"
        );
        let (on_b, losses) = learns(&mut c, sooner, 3).await;
        println!("on a NAT that forgets after {sooner:?}: learned {on_b:?} after {losses} losses");
        // Back to A: its interval at once, and no loss there.
        lab.nat_forgets_after(NAT);
        c.client.moved_to(Some(memory_a));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            c.client.stats().ping_interval,
            on_a,
            "A's interval, at once"
        );
        let before = c.client.stats().timeouts;
        tokio::time::sleep(NAT * 10).await;
        let stats = c.client.stats();
        assert_eq!(
            stats.timeouts, before,
            "lost on the network it knew: {stats:?}"
        );
        assert!(c.client.is_connected());
        println!(
            "back on the first NAT: {on_a:?} at once, no loss in {:?}",
            NAT * 10
        );
        c.client.shutdown();
    });
}
