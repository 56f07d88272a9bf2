//! Counters, gauges and histograms through the `metrics` facade (feature `metrics`),
//! compiled out without it: each function here is empty then.
//!
//! Names follow OpenTelemetry's and Prometheus' conventions: a `keepalive_` prefix, base
//! units (seconds), `_total` on counters, and low-cardinality labels only (`role`:
//! `client` or `server`; `reason` and `cause`: a [`CloseReason::name`]). The README's
//! table lists them. Install any exporter (`metrics-exporter-prometheus`, StatsD,
//! OpenTelemetry) and they appear; with none installed each costs a relaxed load.

use crate::{CloseReason, Role};
use core::time::Duration;

/// `role` label value.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn role(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        _ => "server",
    }
}

/// Names, in one place (the README's table lists the same).
#[cfg(feature = "metrics")]
mod name {
    pub(super) const PINGS_SENT: &str = "keepalive_pings_sent_total";
    pub(super) const PONGS_RECEIVED: &str = "keepalive_pongs_received_total";
    pub(super) const PEER_PINGS: &str = "keepalive_peer_pings_total";
    pub(super) const PEER_PING_STRIKES: &str = "keepalive_peer_ping_strikes_total";
    pub(super) const CLOSES: &str = "keepalive_closes_total";
    pub(super) const RECONNECTS: &str = "keepalive_reconnects_total";
    pub(super) const EVENTS_DROPPED: &str = "keepalive_events_dropped_total";
    pub(super) const PING_RTT: &str = "keepalive_ping_rtt_seconds";
    pub(super) const CLOSE_SILENCE: &str = "keepalive_close_silence_seconds";
    pub(super) const CONNECTIONS: &str = "keepalive_connections";
    pub(super) const PING_INTERVAL: &str = "keepalive_ping_interval_seconds";
}

/// A ping of ours left; `interval` is the ping interval in force.
pub(crate) fn ping_sent(r: Role, interval: Duration) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(name::PINGS_SENT, "role" => role(r)).increment(1);
        metrics::gauge!(name::PING_INTERVAL, "role" => role(r)).set(interval.as_secs_f64());
    }
    let _ = (r, interval);
}

/// A pong answered our ping, `rtt` after it left (`None`: no sample, Karn's rule).
pub(crate) fn pong(r: Role, rtt: Option<Duration>) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(name::PONGS_RECEIVED, "role" => role(r)).increment(1);
        if let Some(rtt) = rtt {
            metrics::histogram!(name::PING_RTT, "role" => role(r)).record(rtt.as_secs_f64());
        }
    }
    let _ = (r, rtt);
}

/// The peer pinged us: each one is checked against the policing budget.
pub(crate) fn peer_ping(r: Role) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name::PEER_PINGS, "role" => role(r)).increment(1);
    let _ = r;
}

/// The peer's ping was beyond its budget, and tolerated: a strike.
pub(crate) fn strike(r: Role) {
    #[cfg(feature = "metrics")]
    metrics::counter!(name::PEER_PING_STRIKES, "role" => role(r)).increment(1);
    let _ = r;
}

/// A connection ended for `reason`; `silence`: how long the peer had been silent, for a
/// close for silence (the detection time).
pub(crate) fn closed(r: Role, reason: CloseReason, silence: Option<Duration>) {
    #[cfg(feature = "metrics")]
    {
        let (r, reason) = (role(r), reason.name());
        metrics::counter!(name::CLOSES, "role" => r, "reason" => reason).increment(1);
        if let Some(silence) = silence {
            metrics::histogram!(name::CLOSE_SILENCE, "role" => r, "reason" => reason)
                .record(silence.as_secs_f64());
        }
    }
    let _ = (r, reason, silence);
}

/// A client waits to reconnect after `cause`.
pub(crate) fn reconnecting(cause: Option<CloseReason>) {
    #[cfg(feature = "metrics")]
    {
        let cause = cause.map_or("start", CloseReason::name);
        metrics::counter!(name::RECONNECTS, "cause" => cause).increment(1);
    }
    let _ = cause;
}

/// `n` events were dropped for an application that did not keep up.
pub(crate) fn dropped(n: u64) {
    #[cfg(feature = "metrics")]
    if n != 0 {
        metrics::counter!(name::EVENTS_DROPPED).increment(n);
    }
    let _ = n;
}

/// One open connection, counted in the `keepalive_connections` gauge from its open to
/// its end ([`Open::end`]) or its drop, whichever comes first.
#[derive(Debug)]
pub(crate) struct Open {
    #[cfg(feature = "metrics")]
    role: Option<Role>,
}

impl Open {
    pub(crate) fn new(r: Role) -> Open {
        #[cfg(feature = "metrics")]
        metrics::gauge!(name::CONNECTIONS, "role" => role(r)).increment(1.0);
        let _ = r;
        Open {
            #[cfg(feature = "metrics")]
            role: Some(r),
        }
    }

    /// The connection ended (counted once).
    pub(crate) fn end(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(r) = self.role.take() {
            metrics::gauge!(name::CONNECTIONS, "role" => role(r)).decrement(1.0);
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.end();
    }
}
