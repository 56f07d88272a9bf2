//! The set's loop (`driver::SetLoop`) on tokio's paused clock: each rule of the server's
//! side asserted exactly, with members that behave as connections do, well or badly.
#![cfg(feature = "tokio")]

use keepalive::driver::{Beat, SetLoop};
use keepalive::tokio::Tokio;
use keepalive::{CloseReason, Config, Duration, Event};
use tokio::time::{timeout, Instant};

const INTERVAL: Duration = Duration::from_millis(100);
const PONG: Duration = Duration::from_millis(200);
const CLOSE: Duration = Duration::from_millis(300);
/// The set keeps deadlines to the millisecond, and tokio's timer rounds up to its next.
const GRAIN: Duration = Duration::from_millis(2);

fn config() -> Config {
    Config::server()
        .ping_interval(INTERVAL)
        .pong_timeout(PONG)
        .close_timeout(CLOSE)
        .spread_pings(false) // every timing exact
        .build()
        .expect("a valid config")
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_is_pinged_then_closed_within_the_bound_then_removed() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut member = heartbeats.join();
    let start = Instant::now();
    let Some(Beat::Ping(_)) = member.next().await else {
        panic!("a ping first")
    };
    let pinged = start.elapsed();
    assert!(
        pinged >= INTERVAL && pinged <= INTERVAL + GRAIN,
        "{pinged:?}"
    );
    assert_eq!(
        member.next().await,
        Some(Beat::Close(CloseReason::PongTimeout))
    );
    let closed = start.elapsed();
    assert!(
        closed >= INTERVAL + PONG && closed <= INTERVAL + PONG + GRAIN,
        "{closed:?}"
    );
    // The close is done: the connection leaves the set, and a late report is harmless.
    member.report(Event::Disconnected);
    assert_eq!(member.next().await, None);
    member.report(Event::DataReceived);
    assert_eq!(heartbeats.len(), 1, "the member is still held");
    drop(member);
    tokio::task::yield_now().await;
    assert!(heartbeats.is_empty());
}

/// The loop's figures and a member's own: pings and closes counted by reason, the
/// bound in force per connection, and the timer's lateness (on the paused clock, within
/// the millisecond tokio rounds to).
#[tokio::test(start_paused = true)]
async fn the_loop_counts_its_closes_and_each_member_reads_its_bound() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut silent = heartbeats.join();
    let mut live = heartbeats.join();
    tokio::task::yield_now().await;
    let bound = silent.stats().expect("taken in").dead_peer_bound;
    assert_eq!(bound, INTERVAL + PONG);
    let answering = tokio::spawn(async move {
        while let Some(beat) = live.next().await {
            if let Beat::Ping(id) = beat {
                live.report(Event::PongReceived(Some(id)));
            }
        }
    });
    assert!(matches!(silent.next().await, Some(Beat::Ping(_))));
    assert_eq!(
        silent.next().await,
        Some(Beat::Close(CloseReason::PongTimeout))
    );
    let stats = heartbeats.stats();
    assert_eq!(stats.pong_timeouts, 1);
    assert_eq!(
        (stats.idle_timeouts, stats.too_many_pings, stats.forced),
        (0, 0, 0)
    );
    assert!(stats.totals.pings_sent >= 3, "{stats:?}");
    assert!(stats.totals.pongs_received >= 1, "{stats:?}");
    assert_eq!(stats.late_wakes, 0);
    assert!(stats.max_lateness <= GRAIN, "{stats:?}");
    // The silent member's close never ends: forced after close_timeout, and counted.
    assert_eq!(silent.next().await, Some(Beat::ForceClose));
    assert_eq!(heartbeats.stats().forced, 1);
    assert_eq!(silent.stats(), None, "it left the set");
    answering.abort();
}

#[tokio::test(start_paused = true)]
async fn pongs_carry_the_pings_payload_and_ten_at_once_are_no_flood() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut member = heartbeats.join();
    for i in 0..10u8 {
        member.ping_received(vec![i; 3]);
    }
    for i in 0..10u8 {
        assert_eq!(member.next().await, Some(Beat::Pong(vec![i; 3])));
    }
}

/// A stack that answers pings itself (tungstenite, axum) reports `PingReceived`: the
/// ping counts as life and toward policing, and no `Beat::Pong` comes. A ping reported
/// both ways by mistake counts twice toward policing and brings one `Beat::Pong`, which a
/// member that matches it and does nothing ignores: nothing else changes.
#[tokio::test(start_paused = true)]
async fn a_ping_the_stack_answered_brings_no_pong_and_one_reported_twice_no_harm() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut member = heartbeats.join();
    // The peer pings every half interval; our own pings are answered.
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        tokio::time::sleep(INTERVAL / 2).await;
        member.report(Event::PingReceived);
        while let Ok(beat) = timeout(Duration::ZERO, member.next()).await {
            match beat {
                Some(Beat::Ping(id)) => member.report(Event::PongReceived(Some(id))),
                other => panic!("no pong or close for a ping the stack answered: {other:?}"),
            }
        }
    }
    // The same ping both ways: one pong beat, and the member stays.
    member.report(Event::PingReceived);
    member.ping_received(b"p".to_vec());
    loop {
        match member.next().await {
            Some(Beat::Ping(id)) => member.report(Event::PongReceived(Some(id))),
            other => break assert_eq!(other, Some(Beat::Pong(b"p".to_vec()))),
        }
    }
    for _ in 0..20 {
        tokio::time::sleep(INTERVAL / 2).await;
        member.report(Event::PingReceived);
        while let Ok(beat) = timeout(Duration::ZERO, member.next()).await {
            match beat {
                Some(Beat::Ping(id)) => member.report(Event::PongReceived(Some(id))),
                other => panic!("still open, no pong: {other:?}"),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_live_member_is_never_closed() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut member = heartbeats.join();
    let end = Instant::now() + Duration::from_secs(60);
    let mut pings = 0;
    while Instant::now() < end {
        match timeout(Duration::from_secs(1), member.next()).await {
            Ok(Some(Beat::Ping(id))) => {
                pings += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                member.report(Event::PongReceived(Some(id)));
            }
            other => panic!("a ping, then its pong: got {other:?}"),
        }
    }
    assert!(pings >= 60_000 / 120 - 5, "{pings} pings in a minute");
}

#[tokio::test(start_paused = true)]
async fn a_close_that_never_ends_is_forced_after_close_timeout() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut member = heartbeats.join();
    assert!(matches!(member.next().await, Some(Beat::Ping(_))));
    assert_eq!(
        member.next().await,
        Some(Beat::Close(CloseReason::PongTimeout))
    );
    let closing = Instant::now();
    assert_eq!(member.next().await, Some(Beat::ForceClose));
    let forced = closing.elapsed();
    assert!(forced >= CLOSE && forced <= CLOSE + GRAIN, "{forced:?}");
    assert_eq!(member.next().await, None, "nothing follows a forced close");
}

#[tokio::test(start_paused = true)]
async fn many_members_share_one_timer_and_leave_when_dropped() {
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let mut members: Vec<_> = (0..1_000).map(|_| heartbeats.join()).collect();
    // Half of them talk; all are pinged at their interval of quiet.
    for m in members.iter().step_by(2) {
        m.report(Event::DataReceived);
    }
    for m in &mut members {
        assert!(matches!(m.next().await, Some(Beat::Ping(_))));
    }
    assert_eq!(heartbeats.len(), 1_000);
    members.truncate(10);
    tokio::task::yield_now().await;
    assert_eq!(heartbeats.len(), 10);
    // A slot freed and taken again: the old member's reports cannot reach the new one.
    let fresh = heartbeats.join();
    fresh.ping_received(b"new".to_vec());
    let mut fresh = fresh;
    assert_eq!(fresh.next().await, Some(Beat::Pong(b"new".to_vec())));
}

#[tokio::test(start_paused = true)]
async fn the_loop_ends_when_every_handle_and_member_is_gone() {
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let heartbeats: SetLoop<Vec<u8>> = SetLoop::spawn(Tokio, config());
    let member = heartbeats.join();
    let copy = heartbeats.clone();
    tokio::task::yield_now().await;
    assert_eq!(alive(), 1, "the loop runs");
    drop(heartbeats);
    drop(member);
    tokio::task::yield_now().await;
    assert_eq!(alive(), 1, "a handle is left");
    drop(copy);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    assert_eq!(alive(), 0, "the loop ended");
}
