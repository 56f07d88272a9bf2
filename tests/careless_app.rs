//! Careless callers: what the application reads, or fails to read, never changes what the
//! heartbeat decides. An application that never reads its events, one that reads one
//! event a second, and one that dropped its stream, each against a live server (never
//! closed) and a frozen one (found within the bound in force, sends fail at once with
//! the message handed back, `is_connected()` false at once). Real loopback sockets,
//! generous slack.

use keepalive::driver::{Client, SendError, SessionEvent};
use keepalive::{Config, Duration};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::{connect, Session, SLACK};

/// Events the client buffers for the application: small, so that the tests spend most
/// of their time behind.
const CAPACITY: usize = 16;

/// The client of the field report: pings every 500 ms, a 1 s pong timeout.
fn config() -> Config {
    Config::client()
        .ping_interval(Duration::from_millis(500))
        .pong_timeout(Duration::from_secs(1))
        .backoff_initial(Duration::from_secs(5)) // no reconnect within a test
        .seed(3)
        .build()
        .expect("a valid client config")
}

/// What the server does with its connections.
#[derive(Clone, Default)]
struct Control {
    /// Stop reading and writing without closing (a stopped process, a black hole).
    frozen: Arc<AtomicBool>,
    /// Messages it sends by itself: one every this many ms (0: none, it only echoes).
    stream_every_ms: Arc<AtomicUsize>,
    /// Bytes of each streamed message.
    stream_size: Arc<AtomicUsize>,
}

impl Control {
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

/// A tokio-tungstenite server on loopback: echoes, streams if told, freezes if told.
async fn server(control: Control) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let control = control.clone();
            tokio::spawn(async move {
                use futures_util::{SinkExt, StreamExt};
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
                let mut last = Instant::now();
                loop {
                    if control.frozen.load(Ordering::SeqCst) {
                        // Holds the socket open, reads and writes nothing.
                        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                    }
                    tokio::select! {
                        m = ws.next() => match m {
                            Some(Ok(m)) if m.is_text() || m.is_binary() => {
                                if ws.send(m).await.is_err() {
                                    return;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        _ = tick.tick() => {
                            let every = control.stream_every_ms.load(Ordering::SeqCst) as u128;
                            if every > 0 && last.elapsed().as_millis() >= every {
                                last = Instant::now();
                                let size = control.stream_size.load(Ordering::SeqCst).max(1);
                                if ws.send(Message::binary(vec![7u8; size])).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

/// Our client, metered as the README shows, with a small event buffer.
fn client(url: &str) -> Session<Message> {
    let url = url.to_string();
    keepalive::driver::Client::builder(config(), keepalive::codec::WsCodec, move |attempt| {
        connect(url.clone(), attempt)
    })
    .capacity(CAPACITY)
    .spawn(keepalive::tokio::Tokio)
    .expect("a client's config")
    .into()
}

async fn wait_connected(c: &Client<Message>) {
    let up = tokio::time::timeout(support::EVENT_WAIT, c.connected()).await;
    assert_eq!(up.ok(), Some(true), "connected");
}

/// Sends a message every 100 ms for `run`; every send must complete within 3 s, `Ok`.
/// Returns how many were sent.
async fn send_steadily(c: &Client<Message>, run: std::time::Duration) -> usize {
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < run {
        n += 1;
        let sent = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            c.send(Message::text(format!("m{n}"))),
        )
        .await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("send {n} to a live server failed: {e}"),
            Err(_) => panic!("send {n} to a live server hung for 3 s"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    n as usize
}

/// After `frozen` at `since`: sends every 100 ms until one fails. It must fail within the
/// dead-peer bound in force (plus slack), hand the message back, and leave the client not
/// connected at once.
async fn first_failure_after_freeze(c: &Client<Message>, since: Instant) -> std::time::Duration {
    let bound = c.stats().dead_peer_bound;
    let limit = bound + SLACK + Duration::from_millis(500);
    let mut n = 0u32;
    loop {
        n += 1;
        let text = format!("after-freeze {n}");
        let sent = tokio::time::timeout(limit, c.send(Message::text(text.clone()))).await;
        let waited = since.elapsed();
        match sent {
            Ok(Ok(())) => assert!(waited < limit, "no send failed within {limit:?}"),
            Ok(Err(e)) => {
                assert!(
                    !c.is_connected(),
                    "a send failed ({e}) but the client still says connected"
                );
                assert!(
                    matches!(e, SendError::NotConnected(_) | SendError::Unconfirmed(_, _)),
                    "{e}"
                );
                assert_eq!(
                    e.into_message(),
                    Message::text(text),
                    "the message comes back"
                );
                assert!(
                    waited <= limit,
                    "failed {waited:?} after the freeze, bound {bound:?}"
                );
                return waited;
            }
            Err(_) => panic!("a send to a frozen server hung past {limit:?} (bound {bound:?})"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Reads every buffered event now, and returns them.
fn drain(s: &mut Session<Message>) -> Vec<SessionEvent<Message>> {
    let mut out = Vec::new();
    let waker = futures_util::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    while let std::task::Poll::Ready(Some(e)) =
        futures_util::Stream::poll_next(std::pin::Pin::new(&mut s.events), &mut cx)
    {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn an_app_that_never_reads_its_events_keeps_a_live_server_and_learns_of_a_dead_one() {
    let control = Control::default();
    let url = server(control.clone()).await;
    let mut s = client(&url);
    wait_connected(&s.client).await;
    // The echoes fill the buffer after CAPACITY sends; 6 s more run behind.
    let sent = send_steadily(&s.client, std::time::Duration::from_secs(8)).await;
    let stats = s.client.stats();
    assert_eq!(stats.timeouts, 0, "a live server called dead: {stats:?}");
    assert!(s.client.is_connected());

    let frozen = Instant::now();
    control.freeze();
    let waited = first_failure_after_freeze(&s.client, frozen).await;
    println!("a frozen server failed a send {waited:?} after it froze");
    // The ending arrived though nothing was read: after the messages that waited, every
    // echo the server sent before it froze (read by the transport, or waiting in the
    // kernel, when the connection ended): nothing lost in silence.
    let events = drain(&mut s);
    let echoes: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => m.to_text().ok().map(String::from),
            _ => None,
        })
        .filter(|t| t.starts_with('m'))
        .collect();
    let want: Vec<String> = (1..=sent).map(|n| format!("m{n}")).collect();
    assert_eq!(echoes, want, "every echo is there, in order, once");
    assert!(
        events.iter().any(|e| support::closed(e).is_some()),
        "the ending arrived: {events:?}"
    );
    assert!(
        s.events.dropped() > 0,
        "pings and pongs were dropped, and counted"
    );
}

#[tokio::test]
async fn an_app_that_reads_one_event_a_second_keeps_a_streaming_server() {
    let control = Control::default();
    control.stream_every_ms.store(200, Ordering::SeqCst);
    control.stream_size.store(100, Ordering::SeqCst);
    let url = server(control.clone()).await;
    let mut s = client(&url);
    wait_connected(&s.client).await;
    // Five messages a second come, one a second is read: behind after a few seconds.
    for _ in 0..8 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let e = futures_util::StreamExt::next(&mut s.events).await;
        assert!(
            !matches!(e, Some(SessionEvent::Closed(_))),
            "a live server was closed: {e:?}"
        );
    }
    let stats = s.client.stats();
    assert_eq!(stats.timeouts, 0, "a live server called dead: {stats:?}");
    assert!(s.client.is_connected());

    // It freezes: still found within the bound, though the application is behind (it
    // goes on reading slowly, and sees the ending after the messages that waited).
    let Session { client, mut events } = s;
    let frozen = Instant::now();
    control.freeze();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(
            support::EVENT_WAIT,
            futures_util::StreamExt::next(&mut events),
        )
        .await
        {
            let ended = matches!(e, SessionEvent::Closed(_));
            seen.push(e);
            if ended {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        seen
    });
    let bound = client.stats().dead_peer_bound;
    let limit = bound + SLACK + Duration::from_millis(500);
    while client.is_connected() {
        assert!(
            frozen.elapsed() <= limit,
            "not found within {limit:?}: {:?}",
            client.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    println!(
        "found {:?} after the freeze (bound {bound:?})",
        frozen.elapsed()
    );
    let sent = client.send(Message::text("late")).await;
    assert!(matches!(sent, Err(SendError::NotConnected(_))), "{sent:?}");
    assert_eq!(client.stats().timeouts, 1);
    let seen = reader.await.expect("the reader");
    assert_eq!(
        seen.last().and_then(support::closed),
        Some((keepalive::CloseReason::PongTimeout, Some(1011))),
        "the slow reader learns of the end, after what waited"
    );
}

#[tokio::test]
async fn a_server_held_back_by_our_unread_backlog_is_never_called_dead() {
    // The server streams 64 KiB messages as fast as we take them; we read nothing. Our
    // receive window closes, so its pongs cannot reach us: the peer is excused.
    let control = Control::default();
    control.stream_every_ms.store(5, Ordering::SeqCst);
    control.stream_size.store(64 * 1024, Ordering::SeqCst);
    let url = server(control.clone()).await;
    let s = client(&url);
    wait_connected(&s.client).await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let stats = s.client.stats();
    assert_eq!(
        stats.timeouts, 0,
        "a server we held back was called dead: {stats:?}"
    );
    assert!(s.client.is_connected());
}

#[tokio::test]
async fn a_dropped_event_stream_leaves_the_heartbeat_running() {
    let control = Control::default();
    let url = server(control.clone()).await;
    let Session { client, events } = client(&url);
    wait_connected(&client).await;
    drop(events); // nobody listens: events are discarded, the heartbeat goes on
    send_steadily(&client, std::time::Duration::from_secs(3)).await;
    let before = client.stats().pings_sent;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let stats = client.stats();
    assert!(stats.pings_sent > before, "pings go on: {stats:?}");
    assert_eq!(stats.timeouts, 0);
    let frozen = Instant::now();
    control.freeze();
    first_failure_after_freeze(&client, frozen).await;
}
