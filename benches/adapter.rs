//! The tokio driver's cost, in the same run as the bare stream it wraps, on loopback:
//!
//! - throughput: the client sends a batch of messages and reads their echoes, through
//!   the bare tokio-tungstenite stream, through `keepalive::driver::Heartbeat`, and
//!   through a `Heartbeat` with byte-level liveness on (its TCP stream in a `Meter`,
//!   `TCP_NOTSENT_LOWAT` set). The echo server is the same raw stream for all. Goal: at
//!   least 0.95× each.
//! - the reconnecting `Client`: each send awaited through `Client::send`, then every
//!   echo read from its `Events` stream, against the bare stream doing the same, on a
//!   current-thread runtime and on a multi-thread one (where the client's task reads on
//!   another worker while the application sends; the median of nine runtimes). Goal: at
//!   least 0.90×.
//! - the same pairs with the `metrics` feature and Prometheus' recorder installed.
//! - heap added per connection by the driver, without and with the meter (counting
//!   allocator; goal at most 256 bytes), and the driver's inline size beside the stream's.
//!
//! Each comparison runs on one runtime, so both variants see the same scheduling; the
//! echo server sets `TCP_NODELAY`, so no delayed acknowledgement hides the cost. `python3 benches/report.py` prints the ratios.

#[path = "support/counting.rs"]
mod counting;

use counting::LIVE;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, Events, Heartbeat, SessionEvent};
use keepalive::meter::{Meter, Metered};
use keepalive::tokio::Tokio;
use keepalive::{Config, Duration};
use std::sync::atomic::Ordering;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;
type MeteredWs = WebSocketStream<Metered<TcpStream>>;

const BATCH: usize = 1_000;

async fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            // Echoes go out at once: the figures are the clients' cost, not a delayed
            // acknowledgement's 40 ms that Nagle's algorithm would wait for.
            tcp.set_nodelay(true).expect("TCP_NODELAY");
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() && ws.send(m).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

async fn tcp(url: &str) -> TcpStream {
    let tcp = TcpStream::connect(url.trim_start_matches("ws://"))
        .await
        .expect("connect");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    tcp
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::client_async(url, tcp(url).await)
        .await
        .expect("handshake")
        .0
}

/// The same connection with its TCP stream metered (byte-level liveness on).
async fn connect_metered(url: &str, meter: &Meter) -> MeteredWs {
    tokio_tungstenite::client_async(url, meter.tcp(tcp(url).await))
        .await
        .expect("handshake")
        .0
}

fn config() -> Config {
    // Heartbeats as in production (20 s): none falls inside a batch; the driver's
    // per-message work (classify, report, deadline check) is what is measured.
    Config::client().build().expect("defaults")
}

/// One batch: send BATCH messages, read BATCH echoes.
async fn round<S, E>(conn: &mut S, msg: &Message)
where
    S: futures_util::Sink<Message, Error = E>
        + futures_util::Stream<Item = Result<Message, E>>
        + Unpin,
    E: std::fmt::Debug,
{
    for _ in 0..BATCH {
        conn.feed(msg.clone()).await.expect("send");
    }
    conn.flush().await.expect("flush");
    for _ in 0..BATCH {
        conn.next().await.expect("open").expect("echo");
    }
}

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = rt.block_on(echo_server());
    let msg = Message::text("x".repeat(64));
    let mut g = c.benchmark_group("adapter_throughput");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.measurement_time(std::time::Duration::from_secs(4));
    let mut bare = rt.block_on(connect(&url));
    g.bench_function("bare_tokio_tungstenite", |b| {
        b.iter(|| rt.block_on(round(&mut bare, &msg)))
    });
    let ws = rt.block_on(connect(&url));
    let mut driven = rt.block_on(async { Heartbeat::new(Tokio, ws, WsCodec, config()) });
    g.bench_function("keepalive_driver", |b| {
        b.iter(|| rt.block_on(round(&mut driven, &msg)))
    });
    let meter = Meter::new();
    let ws = rt.block_on(connect_metered(&url, &meter));
    let mut metered =
        rt.block_on(async { Heartbeat::new(Tokio, ws, WsCodec, config()).with_meter(meter) });
    g.bench_function("keepalive_driver_metered", |b| {
        b.iter(|| rt.block_on(round(&mut metered, &msg)))
    });
    g.finish();
    let (ratio, metered_ratio) = paired(&rt, &mut bare, &mut driven, &mut metered, &msg);
    let (current_thread, _) = client_paired(false);
    // Two workers settle into one of two schedules for a runtime's life (the echo
    // server's worker kept busy, or woken for every message), so one runtime's figure
    // swings between runs: the median over nine runtimes.
    let runs: Vec<_> = (0..9).map(|_| client_paired(true)).collect();
    let multi_thread = median(runs.iter().map(|r| r.0).collect());
    let split = median(runs.iter().filter_map(|r| r.1).collect());
    let client = (current_thread, multi_thread, split);
    // The heap, before any metrics recorder keeps its own per-metric storage.
    let heap_figures = heap(&rt, &url);
    // With the `metrics` feature and an exporter's recorder installed (Prometheus'): the
    // same pairs again. (Without an exporter, each metric costs a relaxed load; without
    // the feature, nothing is compiled in.)
    #[cfg(feature = "metrics")]
    let with_metrics = {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("one recorder");
        paired(&rt, &mut bare, &mut driven, &mut metered, &msg)
    };
    #[cfg(not(feature = "metrics"))]
    let with_metrics = (f64::NAN, f64::NAN);
    write_figures(ratio, metered_ratio, client, with_metrics, heap_figures);
}

/// One batch as an application awaits it: each send awaited (flushed) on its own, then
/// every echo read.
async fn round_awaited(conn: &mut Ws, msg: &Message) {
    for _ in 0..BATCH {
        conn.send(msg.clone()).await.expect("send");
    }
    for _ in 0..BATCH {
        conn.next().await.expect("open").expect("echo");
    }
}

/// The same batch through the reconnecting `Client`: `Client::send` awaited for each,
/// then the echoes from its `Events` stream.
async fn client_round(client: &Client<Message>, events: &mut Events<Message>, msg: &Message) {
    for _ in 0..BATCH {
        client.send(msg.clone()).await.expect("send");
    }
    let mut echoes = 0;
    while echoes < BATCH {
        if let SessionEvent::Message(_) = events.next().await.expect("events") {
            echoes += 1;
        }
    }
}

/// The `Client`'s throughput relative to the bare stream's, each send awaited, measured
/// in alternation (41 rounds, the median of per-round ratios), on a current-thread or a
/// multi-thread runtime of its own (each call a new runtime) (there the client's task reads on another worker
/// while the application sends). On the multi-thread runtime, a reference in the same
/// alternation: the bare stream split into a sink and a reader task that hands each
/// message to the application over a channel (the usual full-duplex pattern, without a
/// heartbeat).
fn client_paired(multi_thread: bool) -> (f64, Option<f64>) {
    let rt = match multi_thread {
        true => tokio::runtime::Builder::new_multi_thread(),
        false => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .expect("runtime");
    let msg = Message::text("x".repeat(64));
    let (mut bare, client, mut events, mut split) = rt.block_on(async {
        let url = echo_server().await;
        let bare = connect(&url).await;
        let split = match multi_thread {
            true => Some(split_reader(connect(&url).await)),
            false => None,
        };
        let (client, mut events) = Client::builder(config(), WsCodec, move |attempt: Attempt| {
            let url = url.clone();
            async move {
                let tcp = attempt.meter().tcp(tcp(&url).await);
                tokio_tungstenite::client_async(url.as_str(), tcp)
                    .await
                    .map(|(ws, _)| ws)
            }
        })
        .spawn(Tokio)
        .expect("a client config");
        while !matches!(events.next().await, Some(SessionEvent::Connected)) {}
        (bare, client, events, split)
    });
    let (mut ratios, mut split_ratios) = (Vec::new(), Vec::new());
    for _ in 0..41 {
        let t = std::time::Instant::now();
        rt.block_on(round_awaited(&mut bare, &msg));
        let b = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        rt.block_on(client_round(&client, &mut events, &msg));
        ratios.push(b / t.elapsed().as_secs_f64());
        if let Some((sink, rx)) = split.as_mut() {
            let t = std::time::Instant::now();
            rt.block_on(split_round(sink, rx, &msg));
            split_ratios.push(b / t.elapsed().as_secs_f64());
        }
    }
    let split = (!split_ratios.is_empty()).then(|| median(split_ratios));
    (median(ratios), split)
}

/// The median of `v` (not empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sending half of a split stream, and the channel its reader task fills.
type Split = (
    futures_util::stream::SplitSink<Ws, Message>,
    tokio::sync::mpsc::Receiver<Message>,
);

/// Splits `ws`: a spawned task reads it into a channel of 64.
fn split_reader(ws: Ws) -> Split {
    let (sink, mut stream) = ws.split();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if tx.send(m).await.is_err() {
                break;
            }
        }
    });
    (sink, rx)
}

/// The batch through a split stream: each send awaited, then the echoes from the channel.
async fn split_round(
    sink: &mut futures_util::stream::SplitSink<Ws, Message>,
    rx: &mut tokio::sync::mpsc::Receiver<Message>,
    msg: &Message,
) {
    for _ in 0..BATCH {
        sink.send(msg.clone()).await.expect("send");
    }
    for _ in 0..BATCH {
        rx.recv().await.expect("echo");
    }
}

/// One batch through `conn`, timed.
fn timed<S, E>(rt: &Runtime, conn: &mut S, msg: &Message) -> f64
where
    S: futures_util::Sink<Message, Error = E>
        + futures_util::Stream<Item = Result<Message, E>>
        + Unpin,
    E: std::fmt::Debug,
{
    let t = std::time::Instant::now();
    rt.block_on(round(conn, msg));
    t.elapsed().as_secs_f64()
}

/// The throughput ratios measured in alternation (bare, driven, metered, bare, ...), so
/// drift in the machine's speed hits all alike: the medians of per-round ratios.
fn paired<A, B, C, E>(
    rt: &Runtime,
    bare: &mut A,
    driven: &mut B,
    metered: &mut C,
    msg: &Message,
) -> (f64, f64)
where
    A: futures_util::Sink<Message, Error = E>
        + futures_util::Stream<Item = Result<Message, E>>
        + Unpin,
    B: futures_util::Sink<Message, Error = keepalive::driver::Error>
        + futures_util::Stream<Item = Result<Message, keepalive::driver::Error>>
        + Unpin,
    C: futures_util::Sink<Message, Error = keepalive::driver::Error>
        + futures_util::Stream<Item = Result<Message, keepalive::driver::Error>>
        + Unpin,
    E: std::fmt::Debug,
{
    let (mut plain, mut with_meter) = (Vec::new(), Vec::new());
    for _ in 0..101 {
        let b = timed(rt, bare, msg);
        let d = timed(rt, driven, msg);
        let m = timed(rt, metered, msg);
        // Throughput relative to the bare stream.
        plain.push(b / d);
        with_meter.push(b / m);
    }
    (median(plain), median(with_meter))
}

/// Heap added by wrapping one connection (after its first poll arms the timer), without
/// and with the meter, and the inline sizes.
fn heap(rt: &Runtime, url: &str) -> (i64, i64, i64) {
    rt.block_on(async {
        let ws = connect(url).await;
        let before = LIVE.load(Ordering::Relaxed);
        let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config());
        // One poll: reads nothing, arms the timer at the first ping deadline.
        let _ = tokio::time::timeout(Duration::from_millis(5), hb.next()).await;
        let added = LIVE.load(Ordering::Relaxed) as i64 - before as i64;
        let inline = std::mem::size_of_val(&hb) as i64 - std::mem::size_of::<Ws>() as i64;
        // With the meter: its own allocation, then the driver's (the TCP stream's and
        // the handshake's allocations are the stream's, not ours).
        let tcp = tcp(url).await;
        let before = LIVE.load(Ordering::Relaxed);
        let meter = Meter::new();
        let tcp = meter.tcp(tcp);
        let meter_bytes = LIVE.load(Ordering::Relaxed) as i64 - before as i64;
        let (ws, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .expect("handshake");
        let before = LIVE.load(Ordering::Relaxed);
        let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config()).with_meter(meter);
        let _ = tokio::time::timeout(Duration::from_millis(5), hb.next()).await;
        let metered = meter_bytes + LIVE.load(Ordering::Relaxed) as i64 - before as i64;
        (added, metered, inline)
    })
}

/// The paired ratios and the heap figures, for report.py.
fn write_figures(
    ratio: f64,
    metered_ratio: f64,
    client: (f64, f64, f64),
    with_metrics: (f64, f64),
    (bytes, metered_bytes, inline): (i64, i64, i64),
) {
    let out = format!(
        "{{\"paired_throughput_ratio\":{ratio:.4},\"paired_throughput_ratio_client\":{:.4},\"paired_throughput_ratio_client_multi_thread\":{:.4},\"paired_throughput_ratio_split_reader_multi_thread\":{},\"paired_throughput_ratio_with_metrics\":{},\"paired_throughput_ratio_metered_with_metrics\":{},\"paired_throughput_ratio_metered\":{metered_ratio:.4},\"driver_heap_bytes_per_conn\":{bytes},\"driver_heap_bytes_per_conn_metered\":{metered_bytes},\"driver_inline_bytes_beyond_stream\":{inline},\"stream_inline_bytes\":{}}}",
        client.0,
        client.1,
        json(client.2),
        json(with_metrics.0),
        json(with_metrics.1),
        std::mem::size_of::<Ws>()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion/adapter-extra.json");
    let _ = std::fs::create_dir_all(path.parent().expect("dir"));
    std::fs::write(&path, &out).expect("write adapter-extra.json");
    println!("adapter heap: {out}");
}

/// A ratio for JSON: `null` where it was not measured.
fn json(ratio: f64) -> String {
    if ratio.is_nan() {
        "null".into()
    } else {
        format!("{ratio:.4}")
    }
}

criterion_group!(benches, throughput);
criterion_main!(benches);
