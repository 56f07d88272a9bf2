//! Third-party conformance: the Autobahn|Testsuite's case files (run natively by
//! `kosoku`, compression cases left out) through the heartbeat, on the server side and
//! the client side, against the bare stack in the same run. Every case the bare
//! tokio-tungstenite passes (OK, NON-STRICT or INFORMATIONAL) must pass through the
//! heartbeat at its defaults too: the heartbeat never makes a conformant stack
//! non-conformant.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Client, Heartbeat, SessionEvent};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::Config;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::peer::{python, Peer};

/// No case takes this long to report (the slowest, 9.x, take seconds).
const CASE_WAIT: Duration = Duration::from_secs(120);

/// Each case's verdict: passed, and the verdicts as text (`OK/OK`).
type Verdicts = BTreeMap<String, (bool, String)>;

fn kosoku(args: &[&str]) -> Peer {
    let mut all = vec!["autobahn.py"];
    all.extend_from_slice(args);
    Peer::spawn("kosoku", python(), &all)
}

fn text<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!(r#""{name}":""#))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 4;
    let rest = &line[start..];
    &rest[..rest.find('"').expect("a closing quote")]
}

/// Reads kosoku's case lines until its `done`.
async fn verdicts(peer: &mut Peer) -> Verdicts {
    let mut out = Verdicts::new();
    loop {
        let line = peer.line(CASE_WAIT).await;
        let line = line.unwrap_or_else(|| panic!("kosoku stopped; it printed {:#?}", peer.seen));
        if line.contains(r#""event":"done""#) {
            return out;
        }
        if line.contains(r#""event":"case""#) {
            let verdict = format!("{}/{}", text(&line, "behavior"), text(&line, "close"));
            out.insert(
                text(&line, "id").to_string(),
                (line.contains(r#""passed":true"#), verdict),
            );
        }
    }
}

/// Every case the bare stack passes passes through `who` too; prints the tally.
fn same_as_bare(who: &str, bare: &Verdicts, ours: &Verdicts) {
    assert!(bare.len() >= 250, "the suite ran only {} cases", bare.len());
    assert_eq!(
        bare.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "{who}: the same cases ran"
    );
    let worse: Vec<String> = bare
        .iter()
        .filter(|(id, (passed, _))| *passed && !ours[*id].0)
        .map(|(id, (_, v))| format!("{id}: bare {v}, {who} {}", ours[id].1))
        .collect();
    let passed = ours.values().filter(|(p, _)| *p).count();
    println!(
        "{who}: {passed} of {} cases passed (the bare stack: {})",
        ours.len(),
        bare.values().filter(|(p, _)| *p).count()
    );
    assert!(
        worse.is_empty(),
        "{who} fails where the bare stack passes: {worse:#?}"
    );
}

// ------------------------------------------------------------------ the server side

/// Runs the suite against the server at `url`.
async fn drive(url: &str) -> Verdicts {
    let started = Instant::now();
    let mut peer = kosoku(&["fuzzingclient", url]);
    let v = verdicts(&mut peer).await;
    println!("{url}: {} cases in {:?}", v.len(), started.elapsed());
    v
}

/// A loopback listener running `serve` on every connection; its `ws://` URL.
async fn listen<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            tokio::spawn(serve(tcp));
        }
    });
    url
}

/// Echoes every text and binary message until the stream ends or a send fails: the
/// bare stack's loop, and the heartbeat's (whose stream yields only those).
async fn echo<S, E>(mut ws: S)
where
    S: futures_util::Stream<Item = Result<Message, E>> + futures_util::Sink<Message> + Unpin,
{
    while let Some(Ok(m)) = ws.next().await {
        if (m.is_text() || m.is_binary()) && ws.send(m).await.is_err() {
            return;
        }
    }
}

/// The bare stack: tokio-tungstenite's echo.
async fn bare_echo(tcp: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    echo(ws).await;
}

/// The same echo through a `Heartbeat` at `Config::server()`, as the README shows.
async fn heartbeat_echo(tcp: TcpStream) {
    let meter = Meter::new();
    let Ok(ws) = tokio_tungstenite::accept_async(meter.tcp(tcp)).await else {
        return;
    };
    let config = Config::server().build().expect("the defaults");
    let conn = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
    echo(conn).await;
}

/// `examples/axum_server` at its defaults, started as a process on a free port.
struct AxumExample(std::process::Child, String);

impl AxumExample {
    fn start() -> AxumExample {
        let exe = std::env::current_exe().expect("the test's path");
        let program: PathBuf = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>")
            .join("examples/axum_server");
        let program = support::peer::need(program, "examples/axum_server (cargo test builds it)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(program)
            .args(["--listen", &listen])
            // A log line per heartbeat event (tracing writes to stdout).
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start examples/axum_server");
        AxumExample(child, format!("ws://{listen}/ws"))
    }

    async fn ready(&self) {
        let addr = self.1.trim_start_matches("ws://").trim_end_matches("/ws");
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("examples/axum_server did not listen on {addr}");
    }
}

impl Drop for AxumExample {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_through_our_servers_scores_as_the_bare_stack() {
    let bare = drive(&listen(bare_echo).await).await;
    let ours = drive(&listen(heartbeat_echo).await).await;
    same_as_bare("Heartbeat at Config::server()", &bare, &ours);
    let axum = AxumExample::start();
    axum.ready().await;
    let through_axum = drive(&axum.1).await;
    same_as_bare("examples/axum_server", &bare, &through_axum);
    for id in ["2.10", "2.11"] {
        assert!(
            ours[id].0 && through_axum[id].0,
            "case {id}: ten pings at once"
        );
    }
}

// ------------------------------------------------------------------ the client side

/// How a client under test drives one case at `url` (a `runCase` or another request).
type Drive = fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The suite served by kosoku, driven by `drive` case by case.
async fn serve_suite(agent: &str, drive: Drive) -> Verdicts {
    let started = Instant::now();
    let mut peer = kosoku(&["fuzzingserver"]);
    let listening = peer.expect("listening", Duration::from_secs(30)).await;
    let port = support::peer::field(&listening, "port").expect("a port");
    let base = format!("ws://127.0.0.1:{port}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{base}/getCaseCount"))
        .await
        .expect("getCaseCount");
    let count: u32 = match ws.next().await {
        Some(Ok(Message::Text(t))) => t.as_str().trim().parse().expect("a count"),
        other => panic!("getCaseCount: {other:?}"),
    };
    drop(ws);
    for case in 1..=count {
        drive(format!("{base}/runCase?case={case}&agent={agent}")).await;
    }
    let report = format!("{base}/updateReports?agent={agent}");
    if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(report).await {
        let _ = ws.close(None).await;
    }
    let v = verdicts(&mut peer).await;
    println!("{agent}: {} cases in {:?}", v.len(), started.elapsed());
    v
}

fn bare_client(url: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let Ok((ws, _)) = tokio_tungstenite::connect_async(url).await else {
            return;
        };
        echo(ws).await;
    })
}

fn heartbeat_client(
    url: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let addr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("a host")
            .to_string();
        let Ok(tcp) = TcpStream::connect(addr).await else {
            return;
        };
        let meter = Meter::new();
        let Ok((ws, _)) = tokio_tungstenite::client_async(url, meter.tcp(tcp)).await else {
            return;
        };
        let config = Config::client().build().expect("the defaults");
        let conn = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
        echo(conn).await;
    })
}

/// The reconnecting `Client`, one per case (a case's close ends its session: a close
/// 1002 gives up, as it should, and the next case is another URL).
fn reconnecting_client(
    url: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        let config = Config::client().max_attempts(0).build().expect("a config");
        let (client, mut events) = Client::builder(config, WsCodec, move |attempt| {
            support::connect(url.clone(), attempt)
        })
        .spawn(Tokio)
        .expect("a client's config");
        while let Some(event) = events.next().await {
            let echoed = match event {
                SessionEvent::Message(m) => client.send(m).await.is_ok(),
                SessionEvent::Closed(_)
                | SessionEvent::GaveUp { .. }
                | SessionEvent::ConnectFailed(_) => false,
                _ => true,
            };
            if !echoed {
                break;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_through_our_clients_scores_as_the_bare_stack() {
    let bare = serve_suite("bare", bare_client).await;
    let ours = serve_suite("heartbeat", heartbeat_client).await;
    same_as_bare("Heartbeat at Config::client()", &bare, &ours);
    let reconnecting = serve_suite("client", reconnecting_client).await;
    same_as_bare("the reconnecting Client", &bare, &reconnecting);
}
