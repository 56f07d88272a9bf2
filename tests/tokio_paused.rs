//! The tokio driver and client on tokio's paused clock, over WebSockets on in-memory
//! pipes: time advances only when every task waits, so each timing rule is asserted
//! exactly (to the millisecond tokio's timer rounds up to), and a minute of heartbeats
//! runs in milliseconds. The loopback suite (`tokio_ws.rs`) is the end-to-end proof on
//! real sockets.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, Heartbeat, SessionEvent};
use keepalive::meter::{Meter, Metered};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration, Jitter};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

mod support;
use support::{closed, Session};

type Ws = WebSocketStream<Metered<DuplexStream>>;

const INTERVAL: Duration = Duration::from_millis(100);
const PONG: Duration = Duration::from_millis(200);
const CONNECT: Duration = Duration::from_millis(300);
const BACKOFF: Duration = Duration::from_millis(100);
/// tokio's timer rounds a deadline up to its next millisecond.
const TICK: Duration = Duration::from_millis(1);
/// Reads before judging: an in-memory pipe has no kernel record to show whether bytes
/// wait unread, so a close for silence waits this long for reads first.
const READS_FIRST: Duration = Duration::from_millis(50);

/// Every timing exact: no jitter, and the first ping a full interval after the open.
fn config() -> Config {
    Config::client()
        .spread_pings(false)
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .backoff_initial(BACKOFF)
        .backoff_max(Duration::from_millis(400))
        .connect_timeout(CONNECT)
        .close_timeout(Duration::from_millis(500))
        .jitter(Jitter::None)
        .build()
        .expect("valid test config")
}

/// `took` is `want`, to tokio's millisecond.
fn exactly(took: Duration, want: Duration) {
    assert!(
        took >= want && took <= want + TICK,
        "took {took:?}, the rule says {want:?}"
    );
}

/// Two ends of a WebSocket already open, over an in-memory pipe, with their meters.
async fn open_pair() -> (Ws, Ws) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let client = WebSocketStream::from_raw_socket(Meter::new().wrap(a), Role::Client, None).await;
    let server = WebSocketStream::from_raw_socket(Meter::new().wrap(b), Role::Server, None).await;
    (client, server)
}

/// What the in-memory server does with each connection.
#[derive(Copy, Clone)]
enum Serve {
    /// Completes the handshake, answers pings, echoes data.
    Echo,
    /// Completes the handshake, then reads and answers nothing (SIGSTOP).
    Freeze,
    /// Never completes the handshake.
    Stall,
}

/// A client whose every attempt opens an in-memory pipe; the server end goes to a task
/// that serves it as `serve` says (changeable through the returned sender).
fn client(serve: Serve) -> (Session<Message>, tokio::sync::watch::Sender<Serve>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<DuplexStream>();
    let (mode_tx, mode) = tokio::sync::watch::channel(serve);
    tokio::spawn(async move {
        while let Some(pipe) = rx.recv().await {
            let serve = *mode.borrow();
            tokio::spawn(async move {
                match serve {
                    Serve::Stall => sleep(Duration::from_secs(3600)).await,
                    Serve::Freeze | Serve::Echo => {
                        let Ok(mut ws) = tokio_tungstenite::accept_async(pipe).await else {
                            return;
                        };
                        if let Serve::Freeze = serve {
                            sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        while let Some(Ok(m)) = ws.next().await {
                            if m.is_text() && ws.send(m).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    let c = Client::builder(config(), WsCodec, move |attempt: Attempt| {
        let tx = tx.clone();
        async move {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            let _ = tx.send(theirs);
            let pipe = attempt.meter().wrap(ours);
            tokio_tungstenite::client_async("ws://in-memory/", pipe)
                .await
                .map(|(ws, _)| ws)
        }
    })
    .spawn(Tokio)
    .expect("a client's config");
    (c.into(), mode_tx)
}

async fn next(c: &mut Session<Message>) -> SessionEvent<Message> {
    timeout(Duration::from_secs(60), c.next())
        .await
        .expect("an event within a virtual minute")
        .expect("the client is still running")
}

/// The next event that is not heartbeat traffic.
async fn next_life(c: &mut Session<Message>) -> SessionEvent<Message> {
    loop {
        match next(c).await {
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => continue,
            other => return other,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn pings_go_out_every_interval_and_are_answered() {
    let (mut c, _) = client(Serve::Echo);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let connected = Instant::now();
    for n in 1..=10u32 {
        let SessionEvent::PingSent(_) = next(&mut c).await else {
            panic!("ping {n} expected")
        };
        // One ping per idle interval, from the previous one: never a burst, never skipped.
        exactly(connected.elapsed(), INTERVAL * n);
        assert!(matches!(next(&mut c).await, SessionEvent::Pong { rtt } if rtt < TICK));
    }
}

#[tokio::test(start_paused = true)]
async fn a_frozen_server_is_closed_at_interval_plus_timeout_and_the_client_comes_back_on_time() {
    let (mut c, mode) = client(Serve::Freeze);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let connected = Instant::now();
    mode.send_replace(Serve::Echo); // the next connection is served
    assert_eq!(
        closed(&next_life(&mut c).await),
        Some((CloseReason::PongTimeout, Some(1011)))
    );
    exactly(connected.elapsed(), INTERVAL + PONG + READS_FIRST);
    let lost = Instant::now();
    assert_eq!(
        next_life(&mut c).await,
        SessionEvent::Reconnecting { after: BACKOFF }
    );
    // One owner of time: the client connects when the machine's deadline says.
    assert_eq!(next_life(&mut c).await, SessionEvent::Connected);
    exactly(lost.elapsed(), BACKOFF);
}

#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_completes_times_out_then_backs_off_exactly() {
    let (mut c, _) = client(Serve::Stall);
    let mut at = Instant::now();
    for backoff in [BACKOFF, BACKOFF * 2, BACKOFF * 4, BACKOFF * 4] {
        assert!(matches!(
            next(&mut c).await,
            SessionEvent::ConnectFailed(ref e) if e.reason() == CloseReason::ConnectTimeout
        ));
        exactly(at.elapsed(), CONNECT);
        assert_eq!(
            next(&mut c).await,
            SessionEvent::Reconnecting { after: backoff }
        );
        at = Instant::now() + backoff; // the next attempt starts then
    }
    c.client.shutdown();
    assert_eq!(
        timeout(Duration::from_secs(1), c.next())
            .await
            .expect("ends"),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn our_server_closes_a_silent_client_with_1011_at_interval_plus_timeout() {
    let (client_end, server_end) = open_pair().await;
    let config = Config::server()
        .spread_pings(false)
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .build()
        .expect("config");
    let mut hb = Heartbeat::new(Tokio, server_end, WsCodec, config);
    let started = Instant::now();
    let end = match hb.next().await {
        Some(Ok(m)) => panic!("no data was sent, got {m:?}"),
        Some(Err(e)) => e,
        None => panic!("ended without a cause"),
    };
    drop(client_end); // held open, never read: no pong ever comes back
    assert_eq!(
        (end.reason(), end.code()),
        (CloseReason::PongTimeout, Some(1011))
    );
    exactly(started.elapsed(), INTERVAL + PONG + READS_FIRST);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_the_heartbeat_and_resume_probes_at_once() {
    let (client_end, _frozen_server) = open_pair().await;
    let mut hb = Heartbeat::new(Tokio, client_end, WsCodec, config());
    hb.pause();
    let quiet = timeout(Duration::from_secs(10), hb.next()).await;
    assert!(quiet.is_err(), "paused, yet: {quiet:?}");
    assert_eq!(hb.stats().pings_sent, 0, "pinged while paused");
    hb.resume();
    let resumed = Instant::now();
    // The probe goes out on the next poll, at once.
    let _ = timeout(Duration::ZERO, hb.next()).await;
    assert_eq!(hb.stats().pings_sent, 1, "the probe waited");
    match hb.next().await {
        Some(Err(e)) => assert_eq!(
            (e.reason(), e.code()),
            (CloseReason::PongTimeout, Some(1011))
        ),
        other => panic!("{other:?}"),
    }
    exactly(resumed.elapsed(), PONG + READS_FIRST);
}

#[tokio::test(start_paused = true)]
async fn a_paused_client_makes_no_attempt_and_resume_connects_at_once() {
    let (mut c, mode) = client(Serve::Freeze);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    assert!(matches!(next_life(&mut c).await, SessionEvent::Closed(_)));
    assert_eq!(
        next_life(&mut c).await,
        SessionEvent::Reconnecting { after: BACKOFF }
    );
    c.client.pause();
    mode.send_replace(Serve::Echo);
    // The wait (100 ms) passes many times over: no attempt while paused.
    assert!(
        timeout(Duration::from_secs(30), c.next()).await.is_err(),
        "attempted while paused"
    );
    let resumed = Instant::now();
    c.client.resume();
    assert_eq!(
        next(&mut c).await,
        SessionEvent::Reconnecting {
            after: Duration::ZERO
        }
    );
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    assert_eq!(resumed.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_hour_of_heartbeats_runs_in_moments_and_closes_nothing() {
    let (mut c, _) = client(Serve::Echo);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let started = Instant::now();
    let real = std::time::Instant::now();
    let mut pongs = 0u32;
    while started.elapsed() < Duration::from_secs(3600) {
        match next(&mut c).await {
            SessionEvent::Pong { .. } => pongs += 1,
            SessionEvent::PingSent(_) => {}
            other => panic!("a healthy link, yet: {other:?}"),
        }
    }
    // One ping per 100 ms interval for an hour.
    assert!(
        (35_990..=36_000).contains(&pongs),
        "{pongs} pongs in an hour"
    );
    println!(
        "an hour of heartbeats ({pongs} pongs) in {:?}",
        real.elapsed()
    );
}
