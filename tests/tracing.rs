//! What the driver and the client say through `tracing` (feature `tracing`): a
//! connection's span with its role and peer, connected, pings and pongs (debug), a
//! timeout with its silence and bound (warn), the close with its code, reconnecting with
//! the attempt and the wait (info).

use futures_util::StreamExt;
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, SessionEvent};
use keepalive::tokio::Tokio;
use keepalive::Duration;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::time::{sleep, timeout};

mod support;
use support::{config, connect};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Write for Collected {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_connection_says_what_it_does_and_why() {
    let out = Collected::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A server that answers for a while, then freezes with the socket open.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        let _ = timeout(Duration::from_millis(350), async {
            while let Some(Ok(_)) = ws.next().await {}
        })
        .await;
        sleep(Duration::from_secs(30)).await;
    });
    let url = format!("ws://{addr}");
    let (client, mut c) = Client::builder(config(), WsCodec, move |attempt: Attempt| {
        connect(url.clone(), attempt)
    })
    .peer(format!("ws://{addr}"))
    .spawn(Tokio)
    .expect("a client's config");
    loop {
        match timeout(Duration::from_secs(10), c.next())
            .await
            .expect("in time")
        {
            Some(SessionEvent::Reconnecting { .. }) => break,
            Some(_) => {}
            None => panic!("the client ended"),
        }
    }
    client.shutdown();
    while timeout(Duration::from_secs(10), c.next())
        .await
        .expect("in time")
        .is_some()
    {}

    let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("utf-8");
    println!("{text}");
    for needle in [
        "keepalive_client{peer=ws://",
        "keepalive{role=\"client\"",
        "connecting attempt=1",
        "INFO",
        "connected",
        "DEBUG",
        "ping sent id=1",
        "pong rtt_us=",
        "WARN",
        "the peer is silent: closing reason=\"pong timeout\"",
        "bound_ms=300",
        "connection closed reason=\"pong_timeout\" code=1011",
        "reconnecting attempt=1 after_ms=",
    ] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    // The close comes at the bound plus the timer's lateness, as the log states it.
    let line = text
        .lines()
        .find(|l| l.contains("the peer is silent"))
        .expect("the close's line");
    let figure = |name: &str| -> u64 {
        let start = line.find(&format!("{name}=")).expect(name) + name.len() + 1;
        let digits: String = line[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("a number")
    };
    let (silence, bound, late) = (figure("silence_ms"), figure("bound_ms"), figure("late_ms"));
    assert!(silence >= bound, "closed before the bound: {line}");
    assert_eq!(silence - bound, late, "{line}");
    assert!(late <= 700, "the timer was {late} ms late: {line}");
}
