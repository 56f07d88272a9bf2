//! What the set tells its loop alone: how long a peer has been silent, and a deferred
//! judgement after the loop's own stall.

use super::HeartbeatSet;
use crate::{Action, CloseReason, Config, Duration, Event, Instant};

fn config() -> Config {
    Config::server()
        .ping_interval(Duration::from_secs(10))
        .pong_timeout(Duration::from_secs(5))
        .spread_pings(false)
        .build()
        .unwrap()
}

#[test]
fn silence_counts_from_the_peers_last_sign_to_the_sets_clock() {
    let mut set = HeartbeatSet::new(config());
    set.insert(1u64, Instant::ZERO).unwrap();
    for event in [Event::DataReceived, Event::DataSent] {
        let _ = set.handle(Instant::from_secs(5), &1, event).unwrap();
    }
    assert_eq!(set.poll(Instant::from_secs(12)), None);
    assert_eq!(set.silence(&1), Some(Duration::from_secs(7)));
    assert_eq!(set.silence(&2), None);
}

#[cfg(feature = "driver")]
#[test]
fn a_deferred_judgement_closes_nobody_before_its_time() {
    let mut set = HeartbeatSet::new(config());
    set.insert(1u64, Instant::ZERO).unwrap();
    let ping = set.poll(Instant::from_secs(10));
    assert!(matches!(ping, Some((1, Action::SendPing(_)))), "{ping:?}");
    // The pong timeout ends at 15 s; the loop stalled and reads until 15.5 s first.
    set.defer_judgement(Instant::from_millis(15_500));
    assert_eq!(set.poll(Instant::from_secs(15)), None);
    // Looked at again when the reads are done (a wheel may wake a little early).
    let again = set.next_deadline().expect("a deadline");
    assert!(again > Instant::from_secs(15) && again <= Instant::from_millis(15_500));
    assert_eq!(set.poll(again.min(Instant::from_millis(15_499))), None);
    assert_eq!(
        set.poll(Instant::from_millis(15_500)),
        Some((1, Action::Close(CloseReason::PongTimeout)))
    );
}
