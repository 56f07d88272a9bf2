//! The heartbeat on axum's WebSocket, with a real axum server on loopback (`axum::serve`
//! and the metered listener): our reconnecting client against it, a client that freezes,
//! close codes as the other side sees them, and a large upload over a slow link that the
//! server does not take for silence.

use keepalive::driver::SessionEvent;
use keepalive::{CloseReason, Duration};
use std::time::Instant;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

mod support;
use support::axum_server::{self, Served};
use support::slow;
use support::throttle::Throttle;
use support::{client, config, server_config, Session, INTERVAL, PONG, SLACK};

async fn next(c: &mut Session<Message>) -> SessionEvent<Message> {
    timeout(Duration::from_secs(10), c.next())
        .await
        .expect("an event in time")
        .expect("the client runs")
}

async fn served(ends: &mut tokio::sync::mpsc::UnboundedReceiver<Served>) -> Served {
    timeout(Duration::from_secs(10), ends.recv())
        .await
        .expect("the connection ends in time")
        .expect("the server reports it")
}

/// Both ends ping each other for a while; our client's shutdown reaches the axum handler
/// as a close 1000.
#[tokio::test]
async fn our_client_and_an_axum_server_keep_each_other_alive() {
    let (url, mut ends) = axum_server::start(server_config(INTERVAL, PONG)).await;
    let mut c = client(&url, config());
    assert_eq!(next(&mut c).await, SessionEvent::Connected);
    c.send(Message::text("hello axum")).await.expect("sent");
    let started = Instant::now();
    let mut pongs = 0;
    while started.elapsed() < Duration::from_millis(1_500) {
        match next(&mut c).await {
            SessionEvent::Pong { .. } => pongs += 1,
            SessionEvent::PingSent(_) => {}
            SessionEvent::Message(m) => assert_eq!(m, Message::text("hello axum")),
            other => panic!("a healthy link, yet: {other:?}"),
        }
    }
    c.client.shutdown();
    let end = served(&mut ends).await;
    assert_eq!(
        (end.reason, end.code),
        (CloseReason::PeerClosed(1000), Some(1000)),
        "{end:?}"
    );
    // Both sides pinged (WhenIdle: each side's outbound direction was mostly quiet).
    assert!(pongs >= 5, "our client got {pongs} pongs");
    assert!(
        end.pongs_received >= 5,
        "the server got {} pongs",
        end.pongs_received
    );
    assert!(c.client.stats().pongs_received >= 5);
}

/// A client that connects and then reads nothing (frozen): the axum server closes it with
/// 1011 within ping_interval + pong_timeout.
#[tokio::test]
async fn an_axum_server_closes_a_frozen_client_with_1011_within_the_bound() {
    let (url, mut ends) = axum_server::start(server_config(INTERVAL, PONG)).await;
    let (frozen, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let end = served(&mut ends).await;
    drop(frozen);
    assert_eq!(
        (end.reason, end.code),
        (CloseReason::PongTimeout, Some(1011)),
        "{end:?}"
    );
    assert!(
        end.lived >= PONG && end.lived <= INTERVAL + PONG + SLACK,
        "closed after {:?}",
        end.lived
    );
}

/// A 1.5 MB upload through a 256 KiB/s proxy: the axum server's pongs from our client
/// wait behind the upload, but the bytes arriving keep the client alive for it (the
/// metered listener), and the upload completes with nothing closed.
#[tokio::test]
async fn a_slow_upload_to_an_axum_server_is_no_false_timeout() {
    let (url, _ends) = axum_server::start(server_config(slow::INTERVAL, slow::PONG)).await;
    let upstream = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .expect("addr");
    let proxy = Throttle::start(upstream, slow::RATE);
    let mut c = client(&format!("{}/ws", proxy.url()), slow::config());
    slow::upload(&mut c, &|d| tokio::time::sleep(d)).await;
}
