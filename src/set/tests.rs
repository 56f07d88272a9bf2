//! What the set tells its loop alone: how long a peer has been silent, and a deferred
//! judgement after the loop's own stall.

use super::HeartbeatSet;
use crate::{Action, Config, Duration, Event, Instant};

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
        Some((1, Action::Close(crate::CloseReason::PongTimeout)))
    );
}

/// Connections forced closed and removed as a loop removes them (the key `poll` just
/// returned): each is gone at once for every question, though the index lets go of them
/// a batch at a time; then the same keys come back into the same slab entries.
#[test]
fn a_forced_close_removed_at_once_is_gone_for_every_question() {
    let n = 40u64; // more than two batches
    let mut set = HeartbeatSet::new(config());
    for k in 0..n {
        set.insert(k, Instant::ZERO).unwrap();
    }
    let mut removed = 0;
    for s in 1..1_000 {
        let now = Instant::from_secs(s);
        while let Some((k, action)) = set.poll(now) {
            if action != Action::ForceClose {
                continue;
            }
            assert!(set.remove(&k));
            removed += 1;
            assert!(!set.contains(&k));
            assert_eq!(set.state(&k), None);
            assert_eq!(set.stats_of(&k), None);
            let unknown = set.handle(now, &k, Event::DataReceived);
            assert_eq!(unknown.err(), Some(super::SetError::UnknownKey));
            assert_eq!(set.len() as u64, n - removed);
            assert!(set.gone.len() < super::GONE_BATCH, "they leave in batches");
            assert!(set.gone.len() as u64 == removed % super::GONE_BATCH as u64);
        }
        if removed == n {
            break;
        }
    }
    assert_eq!(removed, n, "every connection forced closed");
    assert!(set.is_empty());
    assert!(!set.gone.is_empty(), "the last batch still waits");
    assert!(!set.remove(&(n - 1)), "removed twice");
    assert!(set.gone.is_empty());
    for k in 0..n {
        set.insert(k, Instant::from_secs(1_000)).unwrap();
    }
    assert_eq!(set.slab.len() as u64, n, "the entries were reused");
    assert_eq!(set.len() as u64, n);
    assert_eq!(
        set.insert(3, Instant::from_secs(1_000)),
        Err(super::SetError::KeyExists)
    );
}

/// A removal of another key while removed connections wait to leave the index, and a
/// key removed and at once inserted again: each finds its own connection.
#[test]
fn removals_by_any_key_agree_with_those_waiting() {
    let mut set = HeartbeatSet::new(config());
    for k in 0..6u64 {
        set.insert(k, Instant::ZERO).unwrap();
    }
    // All six ping at 10 s: removing each key right after it is handed out batches it.
    for _ in 0..3 {
        let (k, _) = set.poll(Instant::from_secs(10)).expect("a ping");
        assert!(set.remove(&k));
    }
    let (fourth, _) = set.poll(Instant::from_secs(10)).expect("a ping");
    let (fifth, _) = set.poll(Instant::from_secs(10)).expect("a ping");
    assert!(set.remove(&fourth), "not the last handed out");
    assert!(set.contains(&fifth));
    assert!(set.remove(&fifth));
    assert_eq!(set.len(), 1);
    // A key removed and at once inserted again: one connection, the new one.
    let (again, _) = set.poll(Instant::from_secs(10)).expect("a ping");
    assert!(set.remove(&again));
    set.insert(again, Instant::from_secs(10)).unwrap();
    assert_eq!(set.len(), 1);
    assert!(
        set.ping_in_flight(&again).is_none(),
        "the new connection's state"
    );
    assert!(set.remove(&again));
    assert!(!set.contains(&again));
    assert!(!set.remove(&again));
    set.insert(again, Instant::from_secs(10)).unwrap();
    assert_eq!(
        set.poll(Instant::from_secs(19)),
        None,
        "the new connection's deadline"
    );
    assert!(matches!(
        set.poll(Instant::from_secs(20)),
        Some((k, Action::SendPing(_))) if k == again
    ));
}
