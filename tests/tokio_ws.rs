//! The driver and the reconnecting client on tokio, over real loopback WebSockets: the
//! end-to-end proof. (The exact timing rules run on tokio's paused clock in
//! `tokio_paused.rs`.)
//!
//! Intervals are 100 ms or more and every real-time bound carries generous slack, so
//! nothing flakes on a loaded 2-core machine; each test is capped by a timeout.

use futures_util::{FutureExt, SinkExt, StreamExt};
use keepalive::codec::{TextCodec, WsCodec};
use keepalive::driver::{Client, Heartbeat, SendError, SessionEvent};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Ws = MeteredWs;
type WsClient = Session<Message>;

mod support;
use support::{
    client, closed, config, connect, MeteredWs, Session, EVENT_WAIT, INTERVAL, PONG, SLACK,
};

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    (l, url)
}

async fn accept(l: &TcpListener) -> Ws {
    let (tcp, _) = l.accept().await.expect("accept");
    tokio_tungstenite::accept_async(Meter::new().tcp(tcp))
        .await
        .expect("handshake")
}

async fn next(c: &mut WsClient) -> SessionEvent<Message> {
    timeout(EVENT_WAIT, c.next())
        .await
        .expect("an event within 10 s")
        .expect("the client is still running")
}

/// The next event that is not heartbeat traffic.
async fn next_life(c: &mut WsClient) -> SessionEvent<Message> {
    loop {
        match next(c).await {
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => continue,
            other => return other,
        }
    }
}

/// A peer that answers pings (tungstenite does) and echoes data, until the socket ends.
async fn echo(mut ws: Ws) {
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn pings_are_answered_with_a_plausible_rtt_over_many_intervals() {
    let (l, url) = listener().await;
    tokio::spawn(async move { echo(accept(&l).await).await });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let started = Instant::now();
    let mut pongs = 0;
    while pongs < 5 {
        match next(&mut c).await {
            SessionEvent::PingSent(_) => {}
            SessionEvent::Pong { rtt } => {
                assert!(rtt < Duration::from_millis(500), "loopback rtt {rtt:?}");
                pongs += 1;
            }
            other => panic!("healthy link, got {other:?}"),
        }
    }
    // Metered, as the README shows: a pong's own bytes are no data ahead of it, so every
    // answered ping is a round-trip sample.
    let stats = c.client.stats();
    assert!(
        stats
            .smoothed_rtt
            .is_some_and(|s| s < Duration::from_millis(500))
            && stats.rtt_var.is_some(),
        "no round trips measured on a metered connection: {stats:?}"
    );
    // Five idle intervals: one ping each (hyper #2310 sent only the first).
    let took = started.elapsed();
    assert!(took >= INTERVAL * 4, "five pings in {took:?}: a burst");
    println!("5 pings answered in {took:?} (interval {INTERVAL:?})");
}

#[tokio::test]
async fn a_silent_peer_is_closed_within_interval_plus_timeout_then_backoff() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let ws = accept(&l).await;
        // Frozen: the socket stays open, nothing is read or answered.
        sleep(Duration::from_secs(30)).await;
        drop(ws);
    });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let connected = Instant::now();
    let end = next_life(&mut c).await;
    let took = connected.elapsed();
    assert_eq!(closed(&end), Some((CloseReason::PongTimeout, Some(1011))));
    assert!(
        took >= PONG,
        "closed after {took:?}: before the pong timeout"
    );
    assert!(took <= INTERVAL + PONG + SLACK, "closed after {took:?}");
    assert!(
        matches!(next_life(&mut c).await, SessionEvent::Reconnecting { after } if after >= Duration::from_millis(100))
    );
    println!(
        "silent peer closed after {took:?} (bound {:?})",
        INTERVAL + PONG
    );
}

#[tokio::test]
async fn a_server_restart_is_followed_by_a_reconnect() {
    let (l, url) = listener().await;
    let addr = l.local_addr().expect("addr");
    let first = tokio::spawn(async move {
        let ws = accept(&l).await;
        // Healthy for a while, then the server goes away: no close frame.
        let _ = timeout(Duration::from_millis(300), echo(ws)).await;
        drop(l);
    });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    first.await.expect("first server");
    match next_life(&mut c).await {
        SessionEvent::Closed(e)
            if matches!(
                e.reason(),
                CloseReason::PeerClosed(_) | CloseReason::Transport
            ) => {}
        other => panic!("expected the close, got {other:?}"),
    }
    // Down for a while: refused attempts back off.
    sleep(Duration::from_millis(400)).await;
    let l = TcpListener::bind(addr).await.expect("rebind the same port");
    tokio::spawn(async move { echo(accept(&l).await).await });
    loop {
        match next_life(&mut c).await {
            SessionEvent::Connected => break,
            SessionEvent::Reconnecting { .. } | SessionEvent::ConnectFailed(_) => {}
            other => panic!("while reconnecting: {other:?}"),
        }
    }
    c.send(Message::text("back"))
        .await
        .expect("sent on the new connection");
    assert_eq!(
        next_life(&mut c).await,
        SessionEvent::Message(Message::text("back"))
    );
}

#[tokio::test]
async fn shutdown_sends_1000_and_ends_the_stream() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let mut ws = accept(&l).await;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(frame) = m {
                return frame.map(|f| f.code);
            }
        }
        None
    });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    c.client.shutdown();
    assert_eq!(
        closed(&next_life(&mut c).await),
        Some((CloseReason::Shutdown, Some(1000)))
    );
    assert_eq!(timeout(EVENT_WAIT, c.next()).await.expect("ends"), None);
    assert_eq!(server.await.expect("server"), Some(CloseCode::Normal));
    assert!(matches!(
        c.send(Message::text("late")).await,
        Err(SendError::Stopped(_))
    ));
}

#[tokio::test]
async fn a_send_while_disconnected_fails_and_returns_the_message() {
    let (l, url) = listener().await;
    drop(l); // nothing listens: every attempt is refused
    let mut c = client(&url, config());
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::ConnectFailed(e) if e.reason() == CloseReason::Transport
    ));
    match c.send(Message::text("hello")).await {
        Err(SendError::NotConnected(m)) => assert_eq!(m, Message::text("hello")),
        other => panic!("expected NotConnected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_healthy_link_loses_reorders_and_duplicates_nothing() {
    let (l, url) = listener().await;
    tokio::spawn(async move { echo(accept(&l).await).await });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    const N: usize = 2_000;
    let mut got = Vec::new();
    for i in 0..N {
        c.send(Message::text(i.to_string()))
            .await
            .expect("healthy link");
        // Read as we go, so the echo never waits on a full buffer.
        while let Some(Some(event)) = c.events.next().now_or_never() {
            if let SessionEvent::Message(m) = event {
                got.push(m.into_text().expect("text").to_string());
            }
        }
    }
    while got.len() < N {
        if let SessionEvent::Message(m) = next_life(&mut c).await {
            got.push(m.into_text().expect("text").to_string());
        }
    }
    let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
}

/// Four handles on a multi-thread runtime, two awaiting each send and two feeding the
/// `Sink`, while the client's task reads the echoes on another worker: a send goes
/// straight to the transport when nothing waits before it, or through the task when
/// something does. Every message arrives once, each handle's in the order it sent them,
/// and every send completed `Ok`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_handles_on_many_threads_lose_nothing_and_keep_their_order() {
    let (l, url) = listener().await;
    tokio::spawn(async move { echo(accept(&l).await).await });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    const N: usize = 500;
    let senders: Vec<_> = (0..4)
        .map(|h| {
            let mut handle = c.client.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    let m = Message::text(format!("{h} {i}"));
                    if h % 2 == 0 {
                        handle.send(m).await.expect("healthy link");
                    } else {
                        handle.feed(m).await.expect("healthy link");
                    }
                }
                handle.flush().await.expect("every fed message flushed");
            })
        })
        .collect();
    let mut next_of = [0usize; 4];
    let mut got = 0;
    while got < 4 * N {
        if let SessionEvent::Message(m) = next_life(&mut c).await {
            let text = m.into_text().expect("text");
            let (h, i) = text.split_once(' ').expect("numbered");
            let (h, i): (usize, usize) = (h.parse().expect("h"), i.parse().expect("i"));
            assert_eq!(
                i, next_of[h],
                "handle {h}'s messages in order, none lost or twice"
            );
            next_of[h] += 1;
            got += 1;
        }
    }
    for s in senders {
        timeout(EVENT_WAIT, s)
            .await
            .expect("senders done")
            .expect("no panic");
    }
    assert_eq!(next_of, [N; 4]);
}

/// A running client told it moved to a network it knows takes up that network's
/// interval; to one it does not, the floor; and back, where it left off.
#[tokio::test]
async fn a_running_client_moves_between_networks() {
    let (l, url) = listener().await;
    tokio::spawn(async move { echo(accept(&l).await).await });
    let ceiling = keepalive::ConfigBuilder::keepalive_ceiling;
    let config = ceiling(
        Config::client().ping_interval(INTERVAL).pong_timeout(PONG),
        Duration::from_secs(10),
    )
    .build()
    .expect("a learning client");
    let mut c = client(&url, config);
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    // What the client learned on a network before: 350 ms (bytes of the stable form).
    let mut bytes = [0u8; 28];
    bytes[0] = 1;
    bytes[4..8].copy_from_slice(&350u32.to_le_bytes());
    bytes[16..20].copy_from_slice(&u32::MAX.to_le_bytes()); // no round trip
    let known = keepalive::PathMemory::from_bytes(&bytes).expect("a memory");
    async fn settle(c: &WsClient, want: Duration) {
        let deadline = Instant::now() + EVENT_WAIT;
        while c.client.stats().ping_interval != want {
            let now = c.client.stats().ping_interval;
            assert!(Instant::now() < deadline, "{now:?}, not {want:?}");
            sleep(Duration::from_millis(5)).await;
        }
    }
    c.client.moved_to(Some(known));
    settle(&c, Duration::from_millis(350)).await;
    assert_eq!(
        c.client.path_memory().interval(),
        Some(Duration::from_millis(350))
    );
    c.client.moved_to(None);
    settle(&c, INTERVAL).await;
    assert_eq!(c.client.path_memory().interval(), None);
    c.client.moved_to(Some(known));
    settle(&c, Duration::from_millis(350)).await;
    assert!(
        c.client.is_connected(),
        "a move probes; a live server answers"
    );
}

/// A slow consumer and a large message: the application does not read for several
/// dead-peer bounds while a healthy server keeps sending; nothing times out and every
/// message arrives, in order.
#[tokio::test]
async fn a_slow_consumer_and_a_large_message_cause_no_false_timeout() {
    let (l, url) = listener().await;
    const BIG: usize = 8 << 20;
    tokio::spawn(async move {
        let mut ws = accept(&l).await;
        ws.send(Message::binary(vec![7u8; BIG])).await.expect("big");
        for i in 0..300 {
            ws.send(Message::text(i.to_string())).await.expect("small");
        }
        echo(ws).await; // and keeps answering pings
    });
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    // Busy for three dead-peer bounds (the buffer of 64 events fills meanwhile).
    sleep((INTERVAL + PONG) * 3).await;
    let mut texts = 0;
    let mut big = false;
    while texts < 300 {
        match next(&mut c).await {
            SessionEvent::Message(Message::Binary(b)) => {
                assert_eq!(b.len(), BIG);
                big = true;
            }
            SessionEvent::Message(m) => {
                assert_eq!(m.into_text().expect("text").as_str(), texts.to_string());
                texts += 1;
            }
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
            other => panic!("no close expected, got {other:?}"),
        }
    }
    assert!(big);
    // Still healthy afterwards: heartbeats keep flowing.
    loop {
        match next(&mut c).await {
            SessionEvent::Pong { .. } => break,
            SessionEvent::PingSent(_) => {}
            other => panic!("after catching up: {other:?}"),
        }
    }
}

/// The in-task driver, unpolled for several bounds while the peer keeps answering: when
/// it is polled again it reads the peer's traffic before any deadline.
#[tokio::test]
async fn an_unpolled_heartbeat_does_not_call_a_live_peer_dead() {
    let (l, url) = listener().await;
    tokio::spawn(async move {
        let mut ws = accept(&l).await;
        for i in 0..20 {
            ws.send(Message::text(i.to_string())).await.expect("send");
            sleep(Duration::from_millis(50)).await;
        }
        echo(ws).await;
    });
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config());
    let first = timeout(EVENT_WAIT, hb.next())
        .await
        .expect("first")
        .expect("open")
        .expect("data");
    assert_eq!(first, Message::text("0"));
    sleep((INTERVAL + PONG) * 3).await; // the application is busy; nobody polls
    for i in 1..20 {
        let m = timeout(EVENT_WAIT, hb.next())
            .await
            .expect("message")
            .expect("open");
        assert_eq!(m.expect("no timeout"), Message::text(i.to_string()));
    }
    // And it goes on pinging: the next second passes without an end.
    assert!(
        timeout(Duration::from_secs(1), hb.next()).await.is_err(),
        "the connection ended"
    );
    assert!(hb.machine().stats().pongs_received >= 1);
}

/// A peer that completed the handshake and then stopped reading (its socket open, its
/// process busy): a large send to it cannot complete. The send does not hang: the
/// deadlines run while it waits, and it fails with the pong timeout within the bound.
/// Returns our end of the connection, metered (without a meter a send that waits checks
/// no deadline: a pong waiting unread could not be told from silence).
async fn stopped_reader() -> (Ws, Meter, tokio::task::JoinHandle<()>) {
    let (l, url) = listener().await;
    let peer = tokio::spawn(async move {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        sleep(Duration::from_secs(20)).await; // holds the socket, reads nothing
        drop(ws);
    });
    let (tcp, _) = l.accept().await.expect("accept");
    let meter = Meter::new();
    let ws = tokio_tungstenite::accept_async(meter.tcp(tcp))
        .await
        .expect("handshake");
    (ws, meter, peer)
}

/// Large enough to fill both sockets' buffers many times over.
const STUCK: usize = 64 * 1024 * 1024;

#[tokio::test]
async fn a_send_to_a_peer_that_stopped_reading_fails_within_the_bound() {
    let (ws, meter, peer) = stopped_reader().await;
    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config()).with_meter(meter);
    let started = Instant::now();
    let sent = timeout(EVENT_WAIT, hb.send(Message::binary(vec![1u8; STUCK])))
        .await
        .expect("the send ends");
    let end = sent.expect_err("nobody took the message");
    assert_eq!(end.reason(), CloseReason::PongTimeout);
    let took = started.elapsed();
    assert!(
        took <= INTERVAL + PONG + SLACK,
        "the send failed after {took:?}"
    );
    let last = timeout(EVENT_WAIT, hb.next())
        .await
        .expect("the stream ends");
    assert_eq!(
        last.map(|r| r.map_err(|e| e.reason())),
        Some(Err(CloseReason::PongTimeout))
    );
    println!("a send to a peer that stopped reading failed after {took:?}: {end}");
    peer.abort();
}

/// The same with the connection split: the sending half waits in one task, the reading
/// half in another. Whichever runs the deadline, both learn the end.
#[tokio::test]
async fn split_halves_both_learn_that_a_stopped_reader_is_dead() {
    let (ws, meter, peer) = stopped_reader().await;
    let hb = Heartbeat::new(Tokio, ws, WsCodec, config()).with_meter(meter);
    let (mut sink, mut stream) = hb.split();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        loop {
            match stream.next().await {
                Some(Ok(_)) => continue,
                Some(Err(end)) => return (end.reason(), started.elapsed()),
                None => panic!("the stream ended without its reason"),
            }
        }
    });
    let sent = timeout(EVENT_WAIT, sink.send(Message::binary(vec![1u8; STUCK])))
        .await
        .expect("the send ends");
    assert_eq!(sent.map_err(|e| e.reason()), Err(CloseReason::PongTimeout));
    let took = started.elapsed();
    assert!(
        took <= INTERVAL + PONG + SLACK,
        "the send failed after {took:?}"
    );
    let (reason, took) = timeout(EVENT_WAIT, reader)
        .await
        .expect("the reader learns the end")
        .expect("the reader task");
    assert_eq!(reason, CloseReason::PongTimeout);
    assert!(
        took <= INTERVAL + PONG + SLACK,
        "the reader learnt it after {took:?}"
    );
    peer.abort();
}

/// Application-level heartbeats over WebSocket text frames, ours on both sides.
#[tokio::test]
async fn the_text_heartbeat_keeps_a_quiet_link_alive() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        // Policing as by default (50 ms): on, and never tripped by a client at 100 ms.
        let config = Config::server()
            .ping_policy(keepalive::PingPolicy::Never)
            .idle_timeout(Duration::from_millis(600))
            .build()
            .expect("config");
        let mut hb = Heartbeat::new(Tokio, accept(&l).await, TextCodec::default(), config);
        let mut pings_answered = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1_500) {
            match timeout(Duration::from_millis(100), hb.next()).await {
                Ok(Some(Ok(m))) => panic!("no data was sent, got {m:?}"),
                Ok(Some(Err(e))) => panic!("the server closed a live client: {e}"),
                Ok(None) => panic!("ended"),
                Err(_) => pings_answered = hb.machine().stats().pongs_received.max(pings_answered),
            }
        }
        hb.close().await.expect("close");
    });
    let url2 = url.clone();
    let mut c: WsClient = Client::builder(config(), TextCodec::default(), move |attempt| {
        connect(url2.clone(), attempt)
    })
    .spawn(Tokio)
    .expect("a client's config")
    .into();
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    let mut pongs = 0;
    loop {
        match next(&mut c).await {
            SessionEvent::Pong { .. } => pongs += 1,
            SessionEvent::PingSent(_) => {}
            SessionEvent::Closed(e) => {
                assert_eq!(
                    (e.reason(), e.code()),
                    (CloseReason::PeerClosed(1000), Some(1000))
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(pongs >= 5, "only {pongs} text pongs in 1.5 s at 100 ms");
    server.await.expect("server");
}

/// A peer that floods us: the transport always has another message ready, so the driver
/// never waits; its outbound direction is still idle, and keepalive pings must still go
/// out every interval (WhenIdle tracks the directions separately).
#[tokio::test]
async fn a_flooding_peer_still_gets_our_keepalive_pings() {
    let (l, url) = listener().await;
    let server = tokio::spawn(async move {
        let (mut tx, mut rx) = accept(&l).await.split();
        let pings = tokio::spawn(async move {
            let mut pings = 0;
            while let Some(Ok(m)) = rx.next().await {
                if m.is_ping() {
                    pings += 1;
                }
            }
            pings
        });
        let started = Instant::now();
        let payload = Message::text("x".repeat(64));
        while started.elapsed() < Duration::from_millis(1_500) {
            for _ in 0..100 {
                if tx.feed(payload.clone()).await.is_err() {
                    break;
                }
            }
            let _ = tx.flush().await;
        }
        let _ = tx.close().await;
        timeout(EVENT_WAIT, pings)
            .await
            .expect("reader ends")
            .expect("reader")
    });
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config());
    let mut received = 0u64;
    while let Some(Ok(_)) = timeout(EVENT_WAIT, hb.next()).await.expect("in time") {
        received += 1;
    }
    let pings = server.await.expect("server");
    // 1.5 s at a 100 ms interval: about 14. (The driver polls its timer on every pass;
    // it does not rely on the runtime's cooperative budget to make the transport run dry.)
    assert!(
        pings >= 7,
        "{pings} pings during a flood of {received} messages"
    );
    println!("flood of {received} messages in 1.5 s: {pings} keepalive pings went out");
}

// ----- a slow link: 256 KiB/s through a throttling proxy, a 1.5 MB message -----

mod slow_link {
    use super::support::slow::{self, Script};
    use super::support::throttle::Throttle;
    use super::*;

    async fn sleep(d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn client_via(proxy: &Throttle) -> WsClient {
        let url = proxy.url();
        Client::builder(slow::config(), WsCodec, move |attempt| {
            connect(url.clone(), attempt)
        })
        .spawn(Tokio)
        .expect("a client's config")
        .into()
    }

    #[tokio::test]
    async fn a_download_of_ten_heartbeat_bounds_completes_with_no_close() {
        let proxy = Throttle::start(slow::peer(Script::Send(slow::BIG)), slow::RATE);
        let mut c = client_via(&proxy);
        slow::download(&mut c, &sleep).await;
    }

    #[tokio::test]
    async fn an_upload_of_ten_heartbeat_bounds_completes_with_no_close() {
        let proxy = Throttle::start(slow::peer(Script::Receive), slow::RATE);
        let mut c = client_via(&proxy);
        slow::upload(&mut c, &sleep).await;
    }

    #[tokio::test]
    async fn a_stall_mid_download_is_detected_within_the_bound() {
        let proxy = Throttle::start(slow::peer(Script::Send(slow::BIG)), slow::RATE);
        let mut c = client_via(&proxy);
        slow::download_stall(&mut c, &proxy, Duration::from_secs(2), &sleep).await;
    }

    #[tokio::test]
    async fn a_stall_mid_upload_is_detected_within_the_bound() {
        let proxy = Throttle::start(slow::peer(Script::Receive), slow::RATE);
        let mut c = client_via(&proxy);
        slow::upload_stall(&mut c, &proxy, Duration::from_secs(2), &sleep).await;
    }

    /// The contrast: without a meter the heartbeat sees complete messages only, and the
    /// peer's pong, queued behind its 1.5 MB message, comes too late. This is the false
    /// close every per-message heartbeat makes on a slow link.
    #[tokio::test]
    async fn without_a_meter_a_slow_download_is_taken_for_a_dead_peer() {
        let proxy = Throttle::start(slow::peer(Script::Send(slow::BIG)), slow::RATE);
        let url = proxy.url();
        let mut c: WsClient = Client::builder(slow::config(), WsCodec, move |_| {
            let url = url.clone();
            async move {
                let tcp = TcpStream::connect(url.trim_start_matches("ws://")).await?;
                tokio_tungstenite::client_async(url, tcp)
                    .await
                    .map(|(ws, _)| ws)
            }
        })
        .spawn(Tokio)
        .expect("a client's config")
        .into();
        assert_eq!(next(&mut c).await, SessionEvent::Connected);
        let started = Instant::now();
        let end = next_life(&mut c).await;
        assert!(
            matches!(
                end,
                SessionEvent::Closed(ref e) if e.reason() == CloseReason::PongTimeout
            ),
            "{end:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
}
