//! The driver's rules over the kernel model (`sim::Tcp`), with the two promises as
//! oracles: a peer whose application stops is closed within the bound in force whatever
//! we send, and a live peer is never closed whatever our own process's stalls.
#![no_main]

use arbitrary::Arbitrary;
use keepalive::sim::Tcp;
use keepalive::{CloseReason, Config, Duration, Instant, PingPolicy};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Inputs {
    server: bool,
    fixed: bool,
    interval_ms: u16,
    pong_ms: u16,
    seed: u64,
    /// Thousandths of the pong timeout.
    latency: u8,
    answer: u8,
    bottleneck: Option<(u32, u32)>,
    peer_buffer: u32,
    kernel_record: bool,
    /// Our application's sends: every so many ms (0: never), this many bytes.
    every_ms: u16,
    bytes: u16,
    /// `Some(t)`: the peer's process stops `t` thousandths of a cycle in; `None`: live.
    stop: Option<u16>,
    /// Our stalls: when (thousandths of a cycle, in order), how long (ms), read lag (ms).
    stalls: Vec<(u16, u16, u8)>,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fuzz_target!(|i: Inputs| {
    let (interval, pong) = (200 + u64::from(i.interval_ms % 10_000), 200 + u64::from(i.pong_ms % 5_000));
    let builder = if i.server { Config::server() } else { Config::client() };
    let policy = if i.fixed { PingPolicy::Fixed } else { PingPolicy::WhenIdle };
    let Ok(config) = builder
        .ping_interval(ms(interval))
        .pong_timeout(ms(pong))
        .ping_policy(policy)
        .seed(i.seed)
        .build()
    else {
        return;
    };
    let pt = ms(pong);
    let latency = pt * u32::from(i.latency % 100) / 1_000;
    let mut tcp = Tcp::new(config)
        .latency(latency)
        .peer_buffer(16_384 + u64::from(i.peer_buffer % (1 << 20)))
        .answer_after(pt * u32::from(i.answer) / 1_020);
    let mut queue = Duration::ZERO;
    if let Some((rate, in_flight)) = i.bottleneck {
        let (rate, in_flight) = (50_000 + u64::from(rate % 10_000_000), 16_384 + u64::from(in_flight % 262_144));
        tcp = tcp.bandwidth(rate, in_flight);
        queue = Duration::from_nanos((in_flight + 16_384) * 1_000_000_000 / rate);
    }
    if !i.kernel_record {
        if i.stop.is_none() && queue * 4 >= pt {
            return; // nothing shows such a queue: the pong timeout must cover it
        }
        tcp = tcp.without_kernel_record();
    }
    if i.every_ms != 0 {
        tcp.send_every(Some(ms(u64::from(i.every_ms % 2_000) + 1)), 1 + u64::from(i.bytes % 4_096));
    }
    let cycle = ms(interval + pong);
    let at = |k: u16| Instant::ZERO + cycle * u32::from(k % 4_000) / 1_000;
    let run = |tcp: &mut Tcp, until: Instant| {
        if until > tcp.now() {
            tcp.run_until(until).expect("the model makes progress");
        }
    };
    match i.stop {
        None => {
            let mut stalls = i.stalls;
            stalls.truncate(6);
            stalls.sort_unstable();
            for (when, length, lag) in stalls {
                run(&mut tcp, at(when));
                tcp.stall(ms(u64::from(length % 10_000)), ms(u64::from(lag % 40)));
            }
            run(&mut tcp, Instant::ZERO + cycle * 5);
            assert_eq!(tcp.closed(), None, "a live peer closed: {:?}", tcp.machine().stats());
        }
        Some(when) => {
            run(&mut tcp, at(when));
            if tcp.closed().is_some() {
                return; // a path slower than the pong timeout may close before the stop
            }
            tcp.stop_peer();
            let stopped = tcp.now();
            // The bound in force is the one the machine knew: its pong timeout's floor
            // follows the kernel's round trips, read at its looks, and may shrink later
            // than a deadline it set. Judge by the largest it had.
            let end = stopped + cycle * 20 + ms(120_000);
            let mut stats = tcp.machine().stats();
            let (mut pt, mut bound) = (stats.pong_timeout, stats.dead_peer_bound);
            while tcp.closed().is_none() && tcp.now() < end {
                let next = (tcp.now() + ms(5)).min(end);
                run(&mut tcp, next);
                stats = tcp.machine().stats();
                pt = pt.max(stats.pong_timeout);
                bound = bound.max(stats.dead_peer_bound);
            }
            let (closed_at, reason) = tcp.closed().expect("a hung peer is closed");
            assert!(matches!(reason, CloseReason::PongTimeout | CloseReason::IdleTimeout));
            let slack = ms(if i.kernel_record { 2 } else { 52 });
            let heard = tcp.last_peer_byte() + bound + queue + latency * 2;
            let acked = tcp.last_ping().and_then(|id| tcp.ping_acked(id)).unwrap_or(tcp.last_ack());
            let held = acked + pt + pt / 4;
            assert!(
                closed_at <= heard.max(held) + slack,
                "closed at {closed_at:?}: last peer byte {:?}, ping acknowledged {acked:?}, {stats:?}",
                tcp.last_peer_byte()
            );
        }
    }
});
