//! A fleet on one virtual clock: a thousand clients that lost their server together
//! reconnect within seconds of its return. Without spreading, their pings stay in that
//! herd for as long as they live; with `spread_pings` (the default) the server sees them
//! as evenly as from a fleet that never left.

use keepalive::{Action, Config, Duration, Event, HeartbeatMachine, Instant};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

const CLIENTS: usize = 1_000;
const INTERVAL: Duration = Duration::from_secs(10);
/// The server restarts at this instant and is back two seconds later.
const RESTART: Instant = Instant::from_secs(1_000);
const BACK: Duration = Duration::from_secs(2);
/// The pings counted: two minutes from the restart, in 500 ms buckets.
const WINDOW: Duration = Duration::from_secs(120);
const BUCKET: Duration = Duration::from_millis(500);
/// One way on the path.
const LATENCY: Duration = Duration::from_millis(1);

#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Due {
    Tick,
    Connected,
    ConnectFailed,
    Pong(u64),
    Lost,
}

/// Runs a fleet (its seeds from `fleet`) through the restart; returns the pings the
/// server saw per bucket.
fn storm(spread: bool, fleet: u64) -> Vec<u32> {
    let mut machines: Vec<HeartbeatMachine> = (0..CLIENTS)
        .map(|i| {
            let config = Config::client()
                .ping_interval(INTERVAL)
                .pong_timeout(Duration::from_secs(5))
                .spread_pings(spread)
                .seed(fleet * CLIENTS as u64 + i as u64 + 1)
                .build()
                .expect("a valid config");
            HeartbeatMachine::new(config, Instant::ZERO)
        })
        .collect();
    let mut queue = BinaryHeap::new();
    let mut wake: Vec<Option<Instant>> = vec![None; CLIENTS];
    // The fleet has been up for a while (connected over its first minute); then the
    // server goes away for everyone at once.
    for i in 0..CLIENTS {
        let at = Instant::from_millis(60_000 * i as u64 / CLIENTS as u64);
        queue.push(Reverse((at, i, Due::Connected)));
        queue.push(Reverse((RESTART, i, Due::Lost)));
    }
    let mut buckets = vec![0u32; (WINDOW.as_millis() / BUCKET.as_millis()) as usize];
    let end = RESTART + WINDOW;
    let mut steps = 0u64;
    while let Some(Reverse((now, i, due))) = queue.pop() {
        if now >= end {
            break;
        }
        steps += 1;
        assert!(steps < 10_000_000, "the fleet loops");
        let event = match due {
            Due::Tick if wake[i] != Some(now) => continue, // a wake-up since moved
            Due::Tick => Event::Tick,
            Due::Connected => Event::Connected,
            Due::ConnectFailed => Event::ConnectFailed,
            Due::Pong(id) => Event::PongReceived(Some(keepalive::PingId::new(id))),
            Due::Lost => Event::Disconnected,
        };
        let m = &mut machines[i];
        let actions: Vec<Action> = m.handle(now, event).collect();
        for a in actions {
            match a {
                Action::SendPing(id) => {
                    let heard = now + LATENCY;
                    if heard >= RESTART && heard < end {
                        buckets[((heard - RESTART).as_millis() / BUCKET.as_millis()) as usize] += 1;
                    }
                    queue.push(Reverse((now + LATENCY * 2, i, Due::Pong(id.get()))));
                }
                Action::Connect if now < RESTART + BACK => {
                    queue.push(Reverse((now + LATENCY, i, Due::ConnectFailed)))
                }
                Action::Connect => queue.push(Reverse((now + LATENCY * 2, i, Due::Connected))),
                _ => {}
            }
        }
        wake[i] = m.next_deadline();
        if let Some(at) = wake[i] {
            queue.push(Reverse((at, i, Due::Tick)));
        }
    }
    buckets
}

/// The busiest bucket against the even rate (every client once per interval).
fn peak_over_even(buckets: &[u32]) -> f64 {
    let even = CLIENTS as f64 * BUCKET.as_secs_f64() / INTERVAL.as_secs_f64();
    f64::from(*buckets.iter().max().expect("buckets")) / even
}

/// Five fleets of a thousand: how evenly the server hears them after the restart. A
/// perfectly even spread is out of reach for independent random phases (a thousand
/// draws over twenty buckets leave the busiest about a quarter above the mean), and a
/// first ping never comes in the first eighth of the interval (a peer that pauses for a
/// second never draws one), which makes the rest 8/7 as dense at worst.
#[test]
fn a_restart_storm_leaves_no_ping_herd() {
    let herd = peak_over_even(&storm(false, 0));
    let mut peaks: Vec<f64> = (0..5)
        .map(|fleet| {
            let buckets = storm(true, fleet);
            // Every client is back and pinging: about one ping per client per interval.
            let total: u32 = buckets.iter().sum();
            let expected = CLIENTS as f64 * (WINDOW.as_secs_f64() - 4.0) / INTERVAL.as_secs_f64();
            assert!(
                f64::from(total) > 0.9 * expected,
                "{total} pings, expected about {expected}"
            );
            peak_over_even(&buckets)
        })
        .collect();
    peaks.sort_by(f64::total_cmp);
    let shown: Vec<String> = peaks.iter().map(|p| format!("{p:.2}×")).collect();
    println!(
        "{CLIENTS} clients back within seconds of a restart, pinging every {INTERVAL:?}: the \
         busiest 500 ms holds {} of the even rate with spread pings (five fleets), {herd:.2}× \
         without",
        shown.join(", ")
    );
    assert!(
        peaks[2] <= 1.5,
        "the median fleet's busiest 500 ms: {:.2}×",
        peaks[2]
    );
    assert!(
        peaks[4] <= 1.75,
        "the worst fleet's busiest 500 ms: {:.2}×",
        peaks[4]
    );
    assert!(herd > 3.0, "without spreading the herd stays: {herd:.2}×");
}
