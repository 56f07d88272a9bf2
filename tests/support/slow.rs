//! Slow-link checks shared by the loopback suites of every runtime: a large message over
//! a throttled link, downloaded or uploaded, and a stall in the middle of each. The
//! client under test is a `Client` (the product's reconnecting client, on whichever
//! runtime); the peer is tokio-tungstenite on a thread of its own, behind the proxy.

use super::closed;
use super::throttle::Throttle;
use super::Session;
use futures_util::future::{select, Either};
use futures_util::{SinkExt, StreamExt};
use keepalive::driver::{SendError, SessionEvent};
use keepalive::{CloseReason, Config, Duration};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The client's ping interval and pong timeout on the slow link.
pub const INTERVAL: Duration = Duration::from_millis(100);
pub const PONG: Duration = Duration::from_millis(400);
/// The link: 256 KiB/s each way.
pub const RATE: u64 = 256 * 1024;
/// One message of 1.5 MB: about 5.7 s on the link, more than ten heartbeat bounds.
pub const BIG: usize = 1_500_000;
/// Scheduling slack on top of a real-time bound.
pub const SLACK: Duration = Duration::from_millis(700);

/// The client's config on the slow link: detection within 500 ms of the last byte.
pub fn config() -> Config {
    Config::client()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .backoff_initial(Duration::from_millis(100))
        .connect_timeout(Duration::from_secs(2))
        .seed(5)
        .build()
        .expect("valid slow-link config")
}

/// What the peer does with its one connection.
#[derive(Copy, Clone, Debug)]
pub enum Script {
    /// Sends one binary message of this many bytes, then keeps reading.
    Send(usize),
    /// Answers each data message with the text `got <bytes>`.
    Receive,
}

/// A tokio-tungstenite peer on 127.0.0.1, on a thread and runtime of its own (so every
/// runtime's tests can use it); tungstenite answers our pings whenever it reads.
pub fn peer(script: Script) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the peer");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the peer's runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            match script {
                Script::Send(n) => {
                    if ws.send(Message::binary(vec![7u8; n])).await.is_err() {
                        return;
                    }
                    while let Some(Ok(_)) = ws.next().await {}
                }
                Script::Receive => {
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_binary() || m.is_text() {
                            let got = Message::text(format!("got {}", m.len()));
                            if ws.send(got).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
    });
    addr
}

/// The runtime's sleep: any `Fn(Duration) -> impl Future<Output = ()>`.
pub trait Sleep {
    fn sleep(&self, d: Duration) -> impl Future<Output = ()>;
}

impl<S, F> Sleep for S
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> {
        self(d)
    }
}

/// Waits for the client to connect; returns when it did.
async fn connected(c: &mut Session<Message>, sleep: &impl Sleep) -> Instant {
    assert_eq!(
        next(c, Duration::from_secs(10), sleep).await,
        SessionEvent::Connected
    );
    Instant::now()
}

/// The next event within `wait`, by the runtime's `sleep`.
pub async fn next(
    c: &mut Session<Message>,
    wait: Duration,
    sleep: &impl Sleep,
) -> SessionEvent<Message> {
    match select(Box::pin(c.next()), Box::pin(sleep.sleep(wait))).await {
        Either::Left((Some(e), _)) => e,
        Either::Left((None, _)) => panic!("the client ended"),
        Either::Right(_) => panic!("no event within {wait:?}"),
    }
}

/// The next event that is not the heartbeat's own (`PingSent`, `Pong`), each within
/// `wait`; returns it with the number of pings sent meanwhile.
pub async fn past_heartbeats(
    c: &mut Session<Message>,
    wait: Duration,
    sleep: &impl Sleep,
) -> (SessionEvent<Message>, u32) {
    let mut pings = 0;
    loop {
        match next(c, wait, sleep).await {
            SessionEvent::PingSent(_) => pings += 1,
            SessionEvent::Pong { .. } => {}
            other => return (other, pings),
        }
    }
}

/// Downloads the peer's large message through the proxy: no close on the way, and it
/// arrives whole. Returns how long it took.
pub async fn download(c: &mut Session<Message>, sleep: &impl Sleep) -> Duration {
    let started = connected(c, sleep).await;
    let (event, pings) = past_heartbeats(c, Duration::from_secs(30), sleep).await;
    match event {
        SessionEvent::Message(Message::Binary(b)) => assert_eq!(b.len(), BIG),
        other => panic!(
            "a live peer on a slow link, yet: {other:?} after {:?}",
            started.elapsed()
        ),
    }
    let took = started.elapsed();
    assert!(
        took >= (INTERVAL + PONG) * 10,
        "the download took {took:?}: not slow enough to prove anything"
    );
    println!("{BIG} bytes downloaded in {took:?} at {RATE} B/s, {pings} pings meanwhile, no close (bound {:?})", INTERVAL + PONG);
    took
}

/// Uploads a large message through the proxy: the send completes, the peer confirms it
/// got every byte, and nothing was closed. Returns how long it took.
pub async fn upload(c: &mut Session<Message>, sleep: &impl Sleep) -> Duration {
    let started = connected(c, sleep).await;
    c.send(Message::binary(vec![9u8; BIG]))
        .await
        .expect("the upload is flushed");
    match past_heartbeats(c, Duration::from_secs(30), sleep).await.0 {
        SessionEvent::Message(m) => {
            assert_eq!(m.into_text().expect("text").as_str(), format!("got {BIG}"))
        }
        other => panic!(
            "a live peer on a slow link, yet: {other:?} after {:?}",
            started.elapsed()
        ),
    }
    let took = started.elapsed();
    assert!(
        took >= (INTERVAL + PONG) * 10,
        "the upload took {took:?}: not slow enough to prove anything"
    );
    println!(
        "{BIG} bytes uploaded in {took:?} at {RATE} B/s, no close (bound {:?})",
        INTERVAL + PONG
    );
    took
}

/// The proxy stalls `after` into a download: the client closes with a pong timeout
/// within the bound (plus slack) of the stall.
pub async fn download_stall(
    c: &mut Session<Message>,
    proxy: &Throttle,
    after: Duration,
    sleep: &impl Sleep,
) {
    let started = connected(c, sleep).await;
    // The transfer runs (nothing may close) until the stall.
    while let Some(left) = after.checked_sub(started.elapsed()) {
        match select(Box::pin(c.next()), Box::pin(sleep.sleep(left))).await {
            Either::Left((Some(SessionEvent::PingSent(_) | SessionEvent::Pong { .. }), _)) => {}
            Either::Left((other, _)) => panic!("before the stall: {other:?}"),
            Either::Right(_) => break,
        }
    }
    proxy.stall();
    let stalled = Instant::now();
    let received = proxy.down.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        received < BIG as u64 / 2,
        "the transfer was not under way: {received} bytes"
    );
    expect_timeout(c, stalled, sleep).await;
    println!(
        "download stalled after {:?} ({received} bytes): detected {:?} later",
        started.elapsed(),
        stalled.elapsed()
    );
}

/// The proxy stalls `after` into an upload: the client closes with a pong timeout within
/// the bound (plus slack), and the send fails with that cause, never in silence.
pub async fn upload_stall(
    c: &mut Session<Message>,
    proxy: &Throttle,
    after: Duration,
    sleep: &impl Sleep,
) {
    let started = connected(c, sleep).await;
    let mut stalled = None;
    {
        let send = c.send(Message::binary(vec![9u8; BIG]));
        let stall = async {
            sleep.sleep(after).await;
            proxy.stall();
            stalled = Some(Instant::now());
            sleep.sleep(Duration::from_secs(30)).await;
        };
        match select(Box::pin(send), Box::pin(stall)).await {
            Either::Left((Err(SendError::Unconfirmed(_, reason)), _)) => {
                assert_eq!(reason, CloseReason::PongTimeout)
            }
            Either::Left((other, _)) => panic!("the stalled upload ended with {other:?}"),
            Either::Right(_) => panic!("the stalled upload never ended"),
        }
    }
    let stalled = stalled.expect("stalled before the send ended");
    let sent = proxy.up.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent < BIG as u64 / 2,
        "the transfer was not under way: {sent} bytes"
    );
    expect_timeout(c, stalled, sleep).await;
    println!(
        "upload stalled after {:?} ({sent} bytes through): detected {:?} later",
        started.elapsed(),
        stalled.elapsed()
    );
}

/// The next life event is a close for a pong timeout, within the bound of `stalled`.
async fn expect_timeout(c: &mut Session<Message>, stalled: Instant, sleep: &impl Sleep) {
    let (end, _) = past_heartbeats(c, Duration::from_secs(10), sleep).await;
    assert_eq!(closed(&end), Some((CloseReason::PongTimeout, Some(1011))));
    let took = stalled.elapsed();
    assert!(
        took <= INTERVAL + PONG + SLACK,
        "a stall detected {took:?} after it began: the bound is {:?}",
        INTERVAL + PONG
    );
}
