//! The metrics example scraped over real HTTP: a server pings a client that answers,
//! then the client freezes and the server closes it for its silence; a peer that floods
//! pings is struck, then closed. Every documented name is on `/metrics` with the right
//! value.

#[path = "../examples/metrics_server.rs"]
#[allow(dead_code)]
mod example;

use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client};
use keepalive::tokio::Tokio;
use keepalive::{Config, Duration};
use std::collections::HashMap;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};

const INTERVAL: Duration = Duration::from_millis(100);
const PONG: Duration = Duration::from_millis(200);

/// `GET /metrics`, over a plain TCP connection: the exporter's text, by line.
async fn scrape(at: std::net::SocketAddr) -> String {
    let mut tcp = TcpStream::connect(at).await.expect("the exporter listens");
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut body = String::new();
    tcp.read_to_string(&mut body).await.expect("response");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    body
}

/// The samples of `text`: `name{labels}` to value (histograms by their `_count` and
/// `_sum`, or quantiles: the exporter's summaries by default).
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("keepalive_"))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("{key} missing from {s:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_metric_is_scraped_with_its_value() {
    let ws = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", ws.local_addr().expect("addr"));
    let free = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let metrics_at = free.local_addr().expect("addr");
    drop(free);
    let config = Config::server()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .spread_pings(false)
        .build()
        .expect("config");
    tokio::spawn(example::serve(ws, metrics_at, config));

    // A client that reads (tungstenite answers the pings) for three intervals.
    let (mut client, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    let _ = timeout(INTERVAL * 3 + INTERVAL / 2, async {
        use futures_util::StreamExt;
        while client.next().await.is_some() {}
    })
    .await;
    let open = samples(&scrape(metrics_at).await);
    assert_eq!(value(&open, r#"keepalive_connections{role="server"}"#), 1.0);
    assert!(value(&open, r#"keepalive_pings_sent_total{role="server"}"#) >= 2.0);
    assert!(value(&open, r#"keepalive_pongs_received_total{role="server"}"#) >= 2.0);
    assert!(value(&open, r#"keepalive_ping_rtt_seconds_count{role="server"}"#) >= 2.0);
    assert_eq!(
        value(&open, r#"keepalive_ping_interval_seconds{role="server"}"#),
        INTERVAL.as_secs_f64()
    );

    // Then it freezes (reads nothing, answers nothing): closed within the bound.
    let frozen = Instant::now();
    let bound = INTERVAL + PONG;
    let closed = r#"keepalive_closes_total{role="server",reason="pong_timeout"}"#;
    let after = loop {
        let s = samples(&scrape(metrics_at).await);
        if s.contains_key(closed) {
            break s;
        }
        assert!(
            frozen.elapsed() < bound * 10,
            "no close after {:?}",
            frozen.elapsed()
        );
        sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(value(&after, closed), 1.0);
    assert_eq!(
        value(&after, r#"keepalive_connections{role="server"}"#),
        0.0
    );
    let silence = r#"keepalive_close_silence_seconds_count{role="server",reason="pong_timeout"}"#;
    assert_eq!(value(&after, silence), 1.0);
    let sum = r#"keepalive_close_silence_seconds_sum{role="server",reason="pong_timeout"}"#;
    let detected = value(&after, sum);
    assert!(
        detected >= PONG.as_secs_f64()
            && detected <= (bound + Duration::from_millis(700)).as_secs_f64(),
        "detected after {detected} s"
    );
    drop(client);

    // Our reconnecting client: its first attempt finds nobody, the next the server; it
    // pings the server, and its application reads no events (capacity 1): the news of
    // pings and pongs is dropped, and counted.
    let nobody = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = format!("ws://{}", nobody.local_addr().expect("addr"));
    drop(nobody);
    let client_config = Config::client()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .backoff_initial(Duration::from_millis(50))
        .backoff_max(Duration::from_millis(100))
        .build()
        .expect("config");
    let server = url.clone();
    let (client, _events) = Client::builder(client_config, WsCodec, move |attempt: Attempt| {
        let to = if attempt.number() == 1 {
            refused.clone()
        } else {
            server.clone()
        };
        async move { tokio_tungstenite::connect_async(to).await.map(|(ws, _)| ws) }
    })
    .capacity(1)
    .spawn(Tokio)
    .expect("a client config");
    let started = Instant::now();
    while client.stats().pongs_received < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            client.stats()
        );
        sleep(Duration::from_millis(20)).await;
    }
    let s = samples(&scrape(metrics_at).await);
    assert!(value(&s, r#"keepalive_reconnects_total{cause="transport"}"#) >= 1.0);
    assert!(value(&s, r#"keepalive_pings_sent_total{role="client"}"#) >= 3.0);
    assert!(value(&s, r#"keepalive_pongs_received_total{role="client"}"#) >= 3.0);
    assert!(value(&s, r#"keepalive_peer_pings_total{role="server"}"#) >= 3.0);
    assert!(value(&s, "keepalive_events_dropped_total") >= 1.0);
    assert_eq!(value(&s, r#"keepalive_connections{role="client"}"#), 1.0);
    assert_eq!(value(&s, r#"keepalive_connections{role="server"}"#), 1.0);
    client.shutdown();

    // A peer that floods pings: past its budget (100 of credit and one to start with),
    // two strikes are tolerated and counted, and the third closes.
    let (mut flood, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        for _ in 0..110 {
            if flood.send(Message::Ping(Vec::new().into())).await.is_err() {
                break;
            }
        }
        let _ = timeout(Duration::from_secs(5), async {
            while flood.next().await.is_some() {}
        })
        .await;
    }
    let s = samples(&scrape(metrics_at).await);
    // Two strikes, then the close (more only if the budget refilled between them: a
    // machine stalled for tens of milliseconds mid-flood).
    assert!(value(&s, r#"keepalive_peer_ping_strikes_total{role="server"}"#) >= 2.0);
    assert_eq!(
        value(
            &s,
            r#"keepalive_closes_total{role="server",reason="too_many_pings"}"#
        ),
        1.0
    );
}

/// The set's loop records what a `Heartbeat` does: pings, the pongs that answered one
/// (a stray pong is no answer) with their round trips, the peer's pings and strikes,
/// and closes by reason. Recorded
/// into a recorder of this thread's own, on tokio's paused clock.
#[test]
fn the_set_loop_records_round_trips_strikes_and_closes() {
    use keepalive::driver::{Beat, SetLoop};
    use keepalive::{CloseReason, Event};
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let config = Config::server()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .spread_pings(false)
        .build()
        .expect("a valid config");
    let stats = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config);
            let mut live = heartbeats.join();
            let mut silent = heartbeats.join();
            // A pong before any ping answers nothing.
            live.report(Event::PongReceived(None));
            let mut answered = 0;
            while answered < 3 {
                if let Some(Beat::Ping(id)) = live.next().await {
                    tokio::time::sleep(Duration::from_millis(7)).await;
                    live.report(Event::PongReceived(Some(id)));
                    answered += 1;
                }
            }
            assert!(matches!(silent.next().await, Some(Beat::Ping(_))));
            assert_eq!(
                silent.next().await,
                Some(Beat::Close(CloseReason::PongTimeout))
            );
            // A member whose peer floods pings (its stack answers them): two strikes
            // past the budget, then the close.
            let mut flood = heartbeats.join();
            for _ in 0..104 {
                flood.report(Event::PingReceived);
            }
            assert_eq!(
                flood.next().await,
                Some(Beat::Close(CloseReason::TooManyPings))
            );
            tokio::task::yield_now().await;
            heartbeats.stats()
        })
    });
    let s = samples(&handle.render());
    let pongs = f64::from(stats.totals.pongs_received);
    assert!(pongs >= 3.0, "{stats:?}");
    assert_eq!(
        value(&s, r#"keepalive_pongs_received_total{role="server"}"#),
        pongs
    );
    assert_eq!(
        value(&s, r#"keepalive_ping_rtt_seconds_count{role="server"}"#),
        pongs
    );
    // Each round trip was 7 ms on the paused clock (the set counts whole milliseconds).
    let sum = value(&s, r#"keepalive_ping_rtt_seconds_sum{role="server"}"#);
    assert!((sum - 0.007 * pongs).abs() < 0.002 * pongs, "{sum}");
    assert_eq!(
        value(
            &s,
            r#"keepalive_closes_total{role="server",reason="pong_timeout"}"#
        ),
        1.0
    );
    assert!(
        value(&s, r#"keepalive_pings_sent_total{role="server"}"#)
            >= f64::from(stats.totals.pings_sent)
    );
    assert_eq!(
        value(&s, r#"keepalive_peer_ping_strikes_total{role="server"}"#),
        2.0
    );
    assert_eq!(
        value(&s, r#"keepalive_peer_pings_total{role="server"}"#),
        104.0
    );
    assert_eq!(stats.too_many_pings, 1);
}
