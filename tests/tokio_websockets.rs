//! The heartbeat on tokio-websockets' `WebSocketStream`, over real loopback sockets: our
//! reconnecting client on a tokio-websockets connection against a tungstenite server
//! (including one that freezes), and our server-side heartbeat on a tokio-websockets
//! server against our tungstenite client. Both ends metered.

use futures_util::{SinkExt, StreamExt};
use keepalive::codec::WsCodec;
use keepalive::driver::{Attempt, Client, Heartbeat, SessionEvent};
use keepalive::meter::Meter;
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Duration};
use std::time::Instant;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, timeout};
use tokio_websockets::{ClientBuilder, Message, ServerBuilder};

mod support;
use support::{closed, config, server_config, Session, INTERVAL, PONG, SLACK};

async fn next<M>(c: &mut Session<M>) -> SessionEvent<M> {
    timeout(Duration::from_secs(10), c.next())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

/// A tokio-websockets client that comes back, its TCP stream metered.
fn tws_client(addr: String) -> Session<Message> {
    Client::builder(config(), WsCodec, move |attempt: Attempt| {
        let addr = addr.clone();
        async move {
            let tcp = attempt.meter().tcp(TcpStream::connect(&addr).await?);
            let builder = ClientBuilder::new()
                .uri(&format!("ws://{addr}/"))
                .expect("a valid URI");
            builder.connect_on(tcp).await.map(|(ws, _)| ws)
        }
    })
    .spawn(Tokio)
    .expect("a client's config")
    .into()
}

/// A tungstenite server: answers pings (tungstenite does) and echoes, or freezes.
async fn tungstenite_server(frozen: bool) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        if frozen {
            sleep(Duration::from_secs(30)).await;
            return;
        }
        while let Some(Ok(m)) = ws.next().await {
            if m.is_text() && ws.send(m).await.is_err() {
                return;
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_tokio_websockets_client_pings_and_is_answered() {
    let addr = tungstenite_server(false).await;
    let mut c = tws_client(addr);
    // (tokio-websockets' Message has no PartialEq: events are matched, not compared.)
    assert!(matches!(next(&mut c).await, SessionEvent::Connected));
    c.send(Message::text("hello")).await.expect("sent");
    let mut pongs = 0;
    let mut echoed = false;
    while pongs < 5 || !echoed {
        match next(&mut c).await {
            SessionEvent::Pong { rtt } => {
                assert!(rtt < Duration::from_millis(500), "{rtt:?}");
                pongs += 1;
            }
            SessionEvent::Message(m) => echoed = m.as_text() == Some("hello"),
            SessionEvent::PingSent(_) => {}
            other => panic!("a healthy link, yet: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_frozen_server_is_closed_with_1011_within_the_bound() {
    let addr = tungstenite_server(true).await;
    let mut c = tws_client(addr);
    // (tokio-websockets' Message has no PartialEq: events are matched, not compared.)
    assert!(matches!(next(&mut c).await, SessionEvent::Connected));
    let connected = Instant::now();
    let end = loop {
        match next(&mut c).await {
            SessionEvent::PingSent(_) | SessionEvent::Pong { .. } => {}
            other => break other,
        }
    };
    let took = connected.elapsed();
    assert_eq!(
        closed(&end),
        Some((CloseReason::PongTimeout, Some(1011))),
        "{end:?}"
    );
    assert!(took >= PONG && took <= INTERVAL + PONG + SLACK, "{took:?}");
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::Reconnecting { .. }
    ));
}

/// Our server-side heartbeat on a tokio-websockets server connection: it pings our
/// tungstenite client, answers its pings, and sees its close 1000.
#[tokio::test]
async fn a_tokio_websockets_server_keeps_our_client_and_sees_its_close() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}", l.local_addr().expect("addr"));
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.expect("accept");
        let meter = Meter::new();
        let (_, ws) = ServerBuilder::new()
            .accept(meter.tcp(tcp))
            .await
            .expect("handshake");
        let config = server_config(INTERVAL, PONG);
        let mut hb = Heartbeat::new(Tokio, ws, WsCodec, config).with_meter(meter);
        let end = loop {
            match hb.next().await {
                Some(Ok(m)) => {
                    let _ = hb.send(m).await;
                }
                Some(Err(end)) => break end,
                None => panic!("ended without a cause"),
            }
        };
        (end.reason(), end.code(), hb.stats().pongs_received)
    });
    let mut c = support::client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    c.send(tokio_tungstenite::tungstenite::Message::text("hi"))
        .await
        .expect("sent");
    sleep(INTERVAL * 8).await;
    c.client.shutdown();
    let (reason, code, pongs) = timeout(Duration::from_secs(10), server)
        .await
        .expect("in time")
        .expect("server");
    assert_eq!((reason, code), (CloseReason::PeerClosed(1000), Some(1000)));
    assert!(pongs >= 4, "the tokio-websockets server got {pongs} pongs");
}

/// A server that refuses the upgrade with 401: the tokio-websockets client reports the
/// status, and the client gives up at once (retrying cannot fix it).
#[tokio::test]
async fn a_refused_upgrade_is_seen_through_tokio_websockets() {
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            #[allow(clippy::result_large_err)] // tungstenite's callback type
            let refuse = |_: &Request, _: Response| -> Result<Response, ErrorResponse> {
                let mut e = ErrorResponse::new(None);
                *e.status_mut() = tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
                Err(e)
            };
            let _ = tokio_tungstenite::accept_hdr_async(tcp, refuse).await;
        }
    });
    let mut c = tws_client(addr);
    let refused = CloseReason::Refused {
        status: 401,
        retry_after: None,
    };
    assert!(matches!(
        next(&mut c).await,
        SessionEvent::ConnectFailed(e) if e.reason() == refused
    ));
    let gave_up = next(&mut c).await;
    assert!(
        matches!(gave_up, SessionEvent::GaveUp { reason, fatal: true } if reason == refused),
        "{gave_up:?}"
    );
}
