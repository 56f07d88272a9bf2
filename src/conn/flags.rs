//! A connection's small state, typed: where its ping is, what the ping says of the path,
//! and the modes the caller or the rules put it in.
//!
//! The rules read and write it through [`Ping`], [`Gap`] and [`Mode`]; only this file
//! knows the bits. It stays one `u16` so that a set's slot keeps it as it is and the fast
//! path tests it with one mask ([`Flags::steady`]).

/// Our ping, from asked for to answered.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Ping {
    /// No ping awaits its pong.
    Idle,
    /// Asked for and not yet reported written: it may still wait behind our own data.
    Unwritten,
    /// Reported written, or the caller does not report writes: its pong clock runs.
    Written,
}

/// What the ping in flight can tell of how long the path stays open when idle.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Gap {
    /// Nothing: it followed traffic.
    None,
    /// It followed a silent gap (nothing either way for the keepalive interval in force):
    /// its answer, or the connection's loss, is evidence of the path's idle limit.
    Full,
    /// It is a connection's first, at its phase (see `spread_pings`), after nothing
    /// either way since the open: a gap shorter than the interval in force. Its loss says
    /// the interval is too long (a shorter gap failed); its answer says nothing of it.
    Short,
}

/// One yes-or-no each.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u16)]
pub(crate) enum Mode {
    /// A probe (clock jump, resume, network change) awaits any sign of the peer.
    Probing = PROBING,
    /// Paused by the caller: no timer runs but a close's.
    Paused = 1 << 5,
    /// Shut down: the connection ends without a reconnect.
    Shutdown = 1 << 6,
    /// No deadline: nothing happens without an event.
    NoWake = NO_WAKE,
    /// The caller reads nothing for now (its application is behind): the transport's
    /// record of the peer after a ping left answers it, since the pong waits unread.
    /// Only the async driver sets it.
    Unread = 1 << 8,
    /// The caller reports when pings leave (it reported one before), so a ping not yet
    /// reported written is still waiting behind our data, and is never replaced.
    WritesReported = 1 << 9,
    /// Data came from the peer since the ping in flight left: its pong may have waited
    /// behind that data, so its round trip says nothing about the path (Karn's rule).
    Queued = 1 << 10,
    /// A set's connection was removed and waits to leave the set's index: no lookup
    /// finds it. Only the set sets it, on the slot it keeps, never on a machine.
    #[cfg(feature = "alloc")]
    Removed = 1 << 11,
}

const IN_FLIGHT: u16 = 1;
const UNWRITTEN: u16 = 2;
const GAP: u16 = 4;
const GAP_SHORT: u16 = 8;
const PROBING: u16 = 1 << 4;
const NO_WAKE: u16 = 1 << 7;
/// What a ping in flight (or a probe) keeps: all of it goes with the connection.
const PING: u16 = IN_FLIGHT | UNWRITTEN | GAP | GAP_SHORT | PROBING | Mode::Queued as u16;
/// What keeps traffic off the fast path: a ping in flight or its gap's evidence still
/// due, a probe, a pause, no deadline.
const UNSTEADY: u16 = IN_FLIGHT | GAP | PROBING | Mode::Paused as u16 | NO_WAKE;

/// The state: [`Ping`], [`Gap`] and every [`Mode`], in sixteen bits.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct Flags(u16);

impl Flags {
    /// Where our ping is.
    #[inline(always)]
    pub(crate) fn ping(self) -> Ping {
        match (self.0 & IN_FLIGHT != 0, self.0 & UNWRITTEN != 0) {
            (false, _) => Ping::Idle,
            (true, true) => Ping::Unwritten,
            (true, false) => Ping::Written,
        }
    }

    /// Whether a ping awaits its pong, written or not.
    #[inline(always)]
    pub(crate) fn in_flight(self) -> bool {
        self.0 & IN_FLIGHT != 0
    }

    #[inline(always)]
    pub(crate) fn set_ping(&mut self, ping: Ping) {
        let bits = match ping {
            Ping::Idle => 0,
            Ping::Unwritten => IN_FLIGHT | UNWRITTEN,
            Ping::Written => IN_FLIGHT,
        };
        self.0 = (self.0 & !(IN_FLIGHT | UNWRITTEN)) | bits;
    }

    /// What the ping in flight can tell of the path's idle limit.
    #[inline(always)]
    pub(crate) fn gap(self) -> Gap {
        match (self.0 & GAP != 0, self.0 & GAP_SHORT != 0) {
            (false, _) => Gap::None,
            (true, false) => Gap::Full,
            (true, true) => Gap::Short,
        }
    }

    #[inline(always)]
    pub(crate) fn set_gap(&mut self, gap: Gap) {
        let bits = match gap {
            Gap::None => 0,
            Gap::Full => GAP,
            Gap::Short => GAP | GAP_SHORT,
        };
        self.0 = (self.0 & !(GAP | GAP_SHORT)) | bits;
    }

    #[inline(always)]
    pub(crate) fn is(self, mode: Mode) -> bool {
        self.0 & mode as u16 != 0
    }

    #[inline(always)]
    pub(crate) fn set(&mut self, mode: Mode, on: bool) {
        let bit = mode as u16;
        self.0 = (self.0 & !bit) | (u16::from(on).wrapping_neg() & bit);
    }

    /// Forgets the ping in flight, the probe and what either showed: a connection's end,
    /// or a fresh one.
    #[inline(always)]
    pub(crate) fn forget_ping(&mut self) {
        self.0 &= !PING;
    }

    /// No ping in flight, no gap's evidence due, no probe, no pause, and a deadline: the
    /// fast path may apply (see `steady`).
    #[inline(always)]
    pub(crate) fn steady(self) -> bool {
        self.0 & UNSTEADY == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODES: [Mode; 7] = [
        Mode::Probing,
        Mode::Paused,
        Mode::Shutdown,
        Mode::NoWake,
        Mode::Unread,
        Mode::WritesReported,
        Mode::Queued,
    ];
    const PINGS: [Ping; 3] = [Ping::Idle, Ping::Unwritten, Ping::Written];
    const GAPS: [Gap; 3] = [Gap::None, Gap::Full, Gap::Short];

    /// Every field reads back what was written, whatever the others hold, and a write
    /// touches nothing else.
    #[test]
    fn each_field_is_its_own() {
        for raw in 0..=u16::MAX {
            let mut f = Flags(raw);
            for ping in PINGS {
                let before = f;
                f.set_ping(ping);
                assert_eq!(f.ping(), ping);
                assert_eq!(f.in_flight(), ping != Ping::Idle);
                assert_eq!(f.gap(), before.gap());
                for m in MODES {
                    assert_eq!(f.is(m), before.is(m));
                }
            }
            for gap in GAPS {
                let before = f;
                f.set_gap(gap);
                assert_eq!(f.gap(), gap);
                assert_eq!(f.ping(), before.ping());
                for m in MODES {
                    assert_eq!(f.is(m), before.is(m));
                }
            }
            for m in MODES {
                for on in [true, false, true] {
                    let before = f;
                    f.set(m, on);
                    assert_eq!(f.is(m), on);
                    assert_eq!((f.ping(), f.gap()), (before.ping(), before.gap()));
                    for other in MODES.iter().filter(|&&o| o != m) {
                        assert_eq!(f.is(*other), before.is(*other));
                    }
                }
            }
        }
    }

    #[test]
    fn forgetting_the_ping_keeps_the_modes_of_the_caller() {
        let mut f = Flags::default();
        f.set_ping(Ping::Unwritten);
        f.set_gap(Gap::Short);
        for m in MODES {
            f.set(m, true);
        }
        f.forget_ping();
        assert_eq!((f.ping(), f.gap()), (Ping::Idle, Gap::None));
        for m in MODES {
            let kept = !matches!(m, Mode::Probing | Mode::Queued);
            assert_eq!(f.is(m), kept, "{m:?}");
        }
    }

    #[test]
    fn steady_only_without_ping_gap_probe_pause_or_missing_deadline() {
        let mut f = Flags::default();
        assert!(f.steady());
        for m in [
            Mode::Shutdown,
            Mode::Unread,
            Mode::WritesReported,
            Mode::Queued,
        ] {
            f.set(m, true);
            assert!(f.steady(), "{m:?}");
        }
        for m in [Mode::Probing, Mode::Paused, Mode::NoWake] {
            let mut g = f;
            g.set(m, true);
            assert!(!g.steady(), "{m:?}");
        }
        for ping in [Ping::Unwritten, Ping::Written] {
            let mut g = f;
            g.set_ping(ping);
            assert!(!g.steady(), "{ping:?}");
        }
        for gap in [Gap::Full, Gap::Short] {
            let mut g = f;
            g.set_gap(gap);
            assert!(!g.steady(), "{gap:?}");
        }
    }
}
