//! [`Alarm`]: the driver's one timer, with the rule both drivers follow.

use super::Runtime;
use crate::{Clock, Instant};
use core::fmt;
use core::task::Context;

/// One runtime timer, armed at the machine's deadline. It is re-armed only when that
/// deadline changes (a field compare on every pass), and it only ever says "look at the
/// clock": the clock decides what is due, because a timer may report late under
/// cooperative scheduling, or early by a rounding.
pub(crate) struct Alarm<R: Runtime> {
    runtime: R,
    /// The runtime's timer, made at its first use.
    timer: Option<R::Timer>,
    /// The deadline the timer is set for.
    at: Option<Instant>,
    /// The timer fired and nobody has looked at the clock since.
    fired: bool,
}

impl<R: Runtime> fmt::Debug for Alarm<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Alarm")
            .field("at", &self.at)
            .field("fired", &self.fired)
            .finish()
    }
}

impl<R: Runtime> Alarm<R> {
    pub(crate) fn new(runtime: R) -> Alarm<R> {
        Alarm {
            runtime,
            timer: None,
            at: None,
            fired: false,
        }
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// The deadline the timer is aimed at.
    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    /// The current time by the runtime's clock.
    pub(crate) fn now(&self, clock: &Clock) -> Instant {
        clock.from_std(self.runtime.now())
    }

    /// Aims the timer at `deadline` (nothing to wait for when `None`). A no-op when it
    /// is already aimed there.
    pub(crate) fn aim(&mut self, clock: &Clock, deadline: Option<Instant>) {
        match deadline {
            Some(at) if self.at != Some(at) => {
                let std_at = clock.to_std(at);
                match self.timer.as_mut() {
                    Some(timer) => self.runtime.reset(timer, std_at),
                    None => self.timer = Some(self.runtime.timer(std_at)),
                }
                self.at = Some(at);
            }
            Some(_) => {}
            None => self.at = None,
        }
    }

    /// Polls the timer: whether it has fired since the clock was last looked at. Once
    /// fired it stays so until [`looked`](Self::looked).
    pub(crate) fn poll_fired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.fired && self.at.is_some() {
            if let Some(timer) = self.timer.as_mut() {
                if self.runtime.poll_timer(timer, cx).is_ready() {
                    self.fired = true;
                    self.at = None;
                }
            }
        }
        self.fired
    }

    /// The clock was looked at: a firing so far has done its job.
    pub(crate) fn looked(&mut self) {
        self.fired = false;
    }

    /// Whether `deadline` has come, by the clock at `now` or by the timer; otherwise the
    /// timer is aimed at it and the task will be woken then.
    pub(crate) fn due(
        &mut self,
        clock: &Clock,
        deadline: Option<Instant>,
        now: Instant,
        cx: &mut Context<'_>,
    ) -> bool {
        self.aim(clock, deadline);
        let Some(at) = deadline else {
            self.looked();
            return false;
        };
        if now >= at {
            self.looked();
            return true;
        }
        if self.poll_fired(cx) {
            // Early by a rounding: look again once the timer is re-armed.
            self.looked();
            self.aim(clock, deadline);
            if self.poll_fired(cx) {
                cx.waker().wake_by_ref();
            }
        }
        false
    }
}
