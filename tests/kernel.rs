//! The driver's rules over a model of kernel TCP (`sim::Tcp`): the machine with what the
//! async driver decides beside it (the meter's and the kernel's evidence, reads before
//! judging), our kernel's unsent limit, window and acknowledgements, a path with a
//! queue, the peer's kernel and its application. Two promises:
//!
//! - a peer whose application stops (SIGSTOP: its kernel still acknowledges everything
//!   until its buffer is full) is closed within the bound in force, whatever we send;
//! - a live peer is never closed, whatever our own process's stalls.

use keepalive::sim::Tcp;
use keepalive::{CloseReason, Config, Duration, Instant, PingPolicy, Role};
use proptest::prelude::*;

/// A path: latency, an optional bottleneck (bytes per second and bytes of ours in
/// flight: a queue forms beyond a round trip's worth), the peer's receive buffer.
#[derive(Clone, Debug)]
struct Path {
    latency: Duration,
    bottleneck: Option<(u64, u64)>,
    peer_buffer: u64,
    kernel_record: bool,
}

impl Path {
    fn tcp(&self, config: Config) -> Tcp {
        let mut tcp = Tcp::new(config)
            .latency(self.latency)
            .peer_buffer(self.peer_buffer);
        if let Some((rate, in_flight)) = self.bottleneck {
            tcp = tcp.bandwidth(rate, in_flight);
        }
        if !self.kernel_record {
            tcp = tcp.without_kernel_record();
        }
        tcp
    }

    /// The longest a byte of ours waits in the path's queue.
    fn queue(&self) -> Duration {
        self.bottleneck.map_or(Duration::ZERO, |(rate, in_flight)| {
            Duration::from_nanos((in_flight + 16 * 1024) * 1_000_000_000 / rate)
        })
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config(role: Role, interval: u64, pong: u64, fixed: bool, seed: u64) -> Option<Config> {
    let b = match role {
        Role::Client => Config::client(),
        _ => Config::server(),
    };
    let policy = if fixed {
        PingPolicy::Fixed
    } else {
        PingPolicy::WhenIdle
    };
    b.ping_interval(ms(interval))
        .pong_timeout(ms(pong))
        .ping_policy(policy)
        .seed(seed)
        .build()
        .ok()
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Client), Just(Role::Server)]
}

/// How often our application sends: every 5, 20 and 200 ms (the rates at which a hung
/// peer once passed for alive), anything up to a second, or never.
fn sending() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(Some(ms(5))),
        Just(Some(ms(20))),
        Just(Some(ms(200))),
        (1u64..1_000).prop_map(|v| Some(ms(v))),
        Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    /// A peer whose process stops while its kernel runs is closed within the bound in
    /// force: the kernel's acknowledgements of what we keep sending hold our ping only
    /// while it waits behind our data, so the close comes at most a pong timeout in
    /// force (and one look, a quarter of it) after the ping's own bytes were
    /// acknowledged, or after the path stopped taking our bytes, and never later than
    /// the bound after the peer's last byte plus the time the ping waited in the queue.
    #[test]
    fn a_hung_peer_is_closed_within_the_bound_whatever_we_send(
        role in role(),
        (interval, pong) in (200u64..20_000, 100u64..10_000),
        fixed in any::<bool>(),
        seed in any::<u64>(),
        latency in 0u64..50,
        bottleneck in proptest::option::of((20_000u64..10_000_000, 16_384u64..262_144)),
        peer_buffer in 16_384u64..1_048_576,
        kernel_record in any::<bool>(),
        every in sending(),
        bytes in 1u64..4_096,
        warm in 0u64..3_000,
    ) {
        let Some(config) = config(role, interval, pong, fixed, seed) else { return Ok(()) };
        let path = Path { latency: ms(latency), bottleneck, peer_buffer, kernel_record };
        let mut tcp = path.tcp(config);
        tcp.send_every(every, bytes);
        let cycle = ms(interval + pong);
        tcp.run_for(cycle * warm as u32 / 1_000).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assume!(tcp.closed().is_none()); // a slow path may close before the stop
        tcp.stop_peer();
        let stopped = tcp.now();
        // The bound in force is the one the machine knew: its pong timeout's floor
        // follows the kernel's round trips, read at its looks, and may shrink after a
        // deadline it set. Judge by the largest it had.
        let end = stopped + cycle * 20 + ms(120_000);
        let start = tcp.machine().stats();
        let (mut pt, mut bound) = (start.pong_timeout, start.dead_peer_bound);
        while tcp.closed().is_none() && tcp.now() < end {
            let step = (tcp.now() + ms(5)).min(end) - tcp.now();
            tcp.run_for(step).map_err(|v| TestCaseError::fail(v.to_string()))?;
            let s = tcp.machine().stats();
            pt = pt.max(s.pong_timeout);
            bound = bound.max(s.dead_peer_bound);
        }
        let Some((at, reason)) = tcp.closed() else {
            return Err(TestCaseError::fail(format!(
                "a hung peer was never closed (stopped at {stopped:?}, now {:?}, stats {:?})",
                tcp.now(), tcp.machine().stats()
            )));
        };
        prop_assert!(matches!(reason, CloseReason::PongTimeout | CloseReason::IdleTimeout), "{reason:?}");
        // A close waits 50 ms for reads where nothing says whether bytes wait unread.
        let slack = ms(if kernel_record { 2 } else { 52 });
        let heard = tcp.last_peer_byte() + bound + path.queue() + path.latency * 2;
        let acked = tcp.last_ping().and_then(|id| tcp.ping_acked(id)).unwrap_or(tcp.last_ack());
        let held = acked + pt + pt / 4;
        prop_assert!(
            at <= heard.max(held) + slack,
            "closed at {at:?}: last peer byte {:?}, ping acknowledged {acked:?}, bound {bound:?}, \
             pong timeout {pt:?}, queue {:?}", tcp.last_peer_byte(), path.queue()
        );
    }

    /// A live peer (it answers within a quarter of the pong timeout, over a path whose
    /// queue the kernel's acknowledgements reveal) is never closed, however our own
    /// process stalls: after a late wake, reads come first.
    #[test]
    fn a_live_peer_is_never_closed_whatever_our_stalls(
        role in role(),
        (interval, pong) in (200u64..20_000, 200u64..10_000),
        fixed in any::<bool>(),
        seed in any::<u64>(),
        latency_frac in 0u64..100,
        bottleneck in proptest::option::of((50_000u64..10_000_000, 16_384u64..262_144)),
        kernel_record in any::<bool>(),
        every in sending(),
        bytes in 1u64..4_096,
        answer_frac in 0u64..250,
        stalls in proptest::collection::vec((0u64..4_000, 1u64..10_000, 0u64..40), 0..6),
    ) {
        let Some(config) = config(role, interval, pong, fixed, seed) else { return Ok(()) };
        let pt = ms(pong);
        let latency = pt * latency_frac as u32 / 1_000;
        let path = Path { latency, bottleneck, peer_buffer: 1 << 20, kernel_record };
        // Without the kernel's record, nothing shows the queue: the pong timeout must
        // cover it (the documented rule for such platforms).
        prop_assume!(kernel_record || path.queue() * 4 < pt);
        let mut tcp = path.tcp(config).answer_after(pt * answer_frac as u32 / 1_000);
        tcp.send_every(every, bytes);
        let cycle = ms(interval + pong);
        let mut stalls = stalls;
        stalls.sort_unstable();
        for (at, length, lag) in stalls {
            let at = Instant::ZERO + cycle * at as u32 / 1_000 * 4;
            if at > tcp.now() {
                tcp.run_until(at).map_err(|v| TestCaseError::fail(v.to_string()))?;
            }
            // 1 ms to 10 s.
            tcp.stall(ms(length), ms(lag));
        }
        tcp.run_until(Instant::ZERO + cycle * 6).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(tcp.closed(), None, "stats {:?}", tcp.machine().stats());
        let (pings, pongs) = tcp.pings_and_pongs();
        prop_assert!(pings == 0 || pongs + 2 >= pings, "{pings} pings, {pongs} pongs");
    }
}

#[test]
fn a_hung_peer_is_closed_while_we_send_every_5_20_and_200_ms() {
    for role in [Role::Client, Role::Server] {
        for kernel_record in [true, false] {
            for every in [5, 20, 200] {
                let config = config(role, 2_000, 2_000, false, 7).expect("a valid config");
                let path = Path {
                    latency: ms(1),
                    bottleneck: None,
                    peer_buffer: 4 << 20,
                    kernel_record,
                };
                let mut tcp = path.tcp(config);
                tcp.send_every(Some(ms(every)), 64);
                tcp.run_for(ms(10_000)).expect("the model runs");
                assert_eq!(tcp.closed(), None, "{role:?} every {every} ms");
                tcp.stop_peer();
                let stopped = tcp.now();
                tcp.run_for(ms(30_000)).expect("the model runs");
                let (at, reason) = tcp.closed().expect("a hung peer is closed");
                let bound = tcp.machine().stats().dead_peer_bound;
                assert_eq!(reason, CloseReason::PongTimeout);
                assert!(
                    at <= stopped + bound + ms(55),
                    "{role:?}, kernel record {kernel_record}, every {every} ms: closed {:?} after the stop (bound {bound:?})",
                    at - stopped
                );
            }
        }
    }
}
