//! The tokio driver's cost, in the same run as the bare stream it wraps, on loopback:
//!
//! - throughput: the client sends a batch of messages and reads their echoes, through
//!   `keepalive::tokio::Heartbeat` and through the bare tokio-tungstenite stream (the
//!   echo server is the same raw stream for both). Goal: at least 0.95×.
//! - heap added per connection by the driver (counting allocator; goal at most 256
//!   bytes), and the driver's inline size beside the stream's.
//!
//! Everything runs on one current-thread runtime, so both variants see the same
//! scheduling. `python3 benches/report.py` prints the ratios.

#[path = "support/counting.rs"]
mod counting;

use counting::LIVE;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::tokio::Heartbeat;
use keepalive::{Config, Duration};
use std::sync::atomic::Ordering;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const BATCH: usize = 1_000;

async fn echo_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
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

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
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
    let mut driven: Heartbeat<_, _> = rt.block_on(async { Heartbeat::new(ws, WsCodec, config()) });
    g.bench_function("keepalive_driver", |b| {
        b.iter(|| rt.block_on(round(&mut driven, &msg)))
    });
    g.finish();
    let ratio = paired(&rt, &mut bare, &mut driven, &msg);
    heap(&rt, &url, ratio);
}

/// The throughput ratio measured in alternation (bare, driven, bare, ...), so drift in
/// the machine's speed hits both alike: the median of per-pair ratios.
fn paired<A, B, E>(rt: &Runtime, bare: &mut A, driven: &mut B, msg: &Message) -> f64
where
    A: futures_util::Sink<Message, Error = E>
        + futures_util::Stream<Item = Result<Message, E>>
        + Unpin,
    B: futures_util::Sink<Message, Error = keepalive::driver::Error<E>>
        + futures_util::Stream<Item = Result<Message, keepalive::driver::Error<E>>>
        + Unpin,
    E: std::fmt::Debug,
{
    let mut ratios = Vec::new();
    for _ in 0..101 {
        let t = std::time::Instant::now();
        rt.block_on(round(bare, msg));
        let b = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        rt.block_on(round(driven, msg));
        let d = t.elapsed().as_secs_f64();
        ratios.push(b / d); // throughput of the driver relative to the bare stream
    }
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}

/// Heap added by wrapping one connection (after its first poll arms the timer), and the
/// inline sizes; written for report.py.
fn heap(rt: &Runtime, url: &str, ratio: f64) {
    let (bytes, inline) = rt.block_on(async {
        let ws = connect(url).await;
        let before = LIVE.load(Ordering::Relaxed);
        let mut hb: Heartbeat<_, _> = Heartbeat::new(ws, WsCodec, config());
        // One poll: reads nothing, arms the timer at the first ping deadline.
        let _ = tokio::time::timeout(Duration::from_millis(5), hb.next()).await;
        let added = LIVE.load(Ordering::Relaxed) as i64 - before as i64;
        (
            added,
            std::mem::size_of_val(&hb) as i64 - std::mem::size_of::<Ws>() as i64,
        )
    });
    let out = format!(
        "{{\"paired_throughput_ratio\":{ratio:.4},\"driver_heap_bytes_per_conn\":{bytes},\"driver_inline_bytes_beyond_stream\":{inline},\"stream_inline_bytes\":{}}}",
        std::mem::size_of::<Ws>()
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/criterion/adapter-extra.json");
    let _ = std::fs::create_dir_all(path.parent().expect("dir"));
    std::fs::write(&path, &out).expect("write adapter-extra.json");
    println!("adapter heap: {out}");
}

criterion_group!(benches, throughput);
criterion_main!(benches);
