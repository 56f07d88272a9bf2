//! [`Unheard`]: what the machine has not been told yet.

use super::meter::{Meter, Path};
use crate::Event;
use core::time::Duration;

/// Traffic seen since the machine last heard of it. Data messages are not timed one by
/// one (a clock read costs more than the rest of the per-message work): they are told at
/// the next clock read, which comes before any deadline is looked at and at least once
/// per burst, so a deadline never sees stale liveness. The meter's counts are read at the
/// same moments, and the kernel's view of the path at deadlines only.
#[derive(Debug, Default)]
pub(crate) struct Unheard {
    /// Data arrived.
    data_in: bool,
    /// The application handed data to the transport.
    data_out: bool,
    /// The meter's counts when the machine last heard of them.
    received: u64,
    delivered: u64,
    /// The kernel's view when last read.
    path: Path,
}

impl Unheard {
    /// Starts from what `meter` has counted so far (the handshake's bytes are no news).
    pub(crate) fn start(&mut self, meter: &Meter) {
        self.received = meter.received();
        self.delivered = meter.delivered();
        self.path = meter.path().unwrap_or_default();
    }

    pub(crate) fn data_in(&mut self) {
        self.data_in = true;
    }

    pub(crate) fn data_out(&mut self) {
        self.data_out = true;
    }

    /// Whether anything waits to be told.
    pub(crate) fn any(&self, meter: Option<&Meter>) -> bool {
        self.data_out
            || self.data_in
            || meter
                .is_some_and(|m| m.received() != self.received || m.delivered() != self.delivered)
    }

    /// Whether the peer sent anything the machine has not heard of.
    pub(crate) fn peer_spoke(&self, meter: Option<&Meter>) -> bool {
        self.data_in || meter.is_some_and(|m| m.received() != self.received)
    }

    /// The events to tell the machine now, and forgets them.
    pub(crate) fn take(&mut self, meter: Option<&Meter>) -> impl Iterator<Item = Event> {
        let mut bytes_in = core::mem::take(&mut self.data_in);
        let mut delivered = false;
        if let Some(m) = meter {
            let (r, d) = (m.received(), m.delivered());
            bytes_in |= r != self.received;
            delivered = d != self.delivered;
            self.received = r;
            self.delivered = d;
        }
        let data_out = core::mem::take(&mut self.data_out);
        [
            bytes_in.then_some(Event::DataReceived),
            delivered.then_some(Event::DataDelivered),
            data_out.then_some(Event::DataSent),
        ]
        .into_iter()
        .flatten()
    }

    /// At a deadline: what the kernel saw since the last look. Bytes that arrived (even
    /// unread: the driver stops reading while a pong it owes cannot be flushed) prove the
    /// peer alive, and so do segments of ours it acknowledged while our data is
    /// outstanding (an idle link's acknowledgements prove nothing: a stopped process's
    /// kernel still sends them); either as of the kernel's own time for it, not now. The
    /// kernel's round-trip estimate sets the floor under the pong timeout. `since`: the
    /// time since the last look. What the kernel counted since then arrived after it,
    /// whatever its coarse clock says (its ages are in jiffies: up to 10 ms late).
    pub(crate) fn path(
        &mut self,
        meter: Option<&Meter>,
        since: Duration,
    ) -> impl Iterator<Item = Event> {
        let now = meter.and_then(Meter::path);
        let before = self.path;
        if let Some(p) = now {
            self.path = p;
        }
        let p = now.unwrap_or(before);
        let data = (p.received != before.received).then_some(p.data_age);
        let acked = (p.delivered != before.delivered && p.outstanding).then_some(p.ack_age);
        let heard = match (data, acked) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|ago| ago.min(since.saturating_sub(Duration::from_nanos(1))));
        let rtt_changed = (p.srtt, p.rttvar) != (before.srtt, before.rttvar);
        [
            heard.map(|ago| Event::PathHeard { ago }),
            (rtt_changed && !p.srtt.is_zero()).then_some(Event::PathRtt {
                srtt: p.srtt,
                rttvar: p.rttvar,
            }),
        ]
        .into_iter()
        .flatten()
    }
}
