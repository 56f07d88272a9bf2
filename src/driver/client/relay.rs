//! [`Relay`]: where the open connection's wake-ups go, so that a handle already in the
//! connection does the work instead of waking the client's task on another thread.
//!
//! The connection's reads and timer are polled with the relay's waker. When it fires
//! while a handle is inside a send ([`Sending`]), the wake-up is owed to that handle,
//! which takes the connection's step (its reads, or the held step while the
//! application is behind) before it leaves; otherwise it goes to the task, as it would
//! without the relay. (The reads an application's catching up resumes are likewise its
//! `Events` poll's to take, not a wake-up for the task.) A handle is inside only from
//! the start of its send to its hand-over to the transport, and again while it
//! finishes a flush the runtime put off, never while it waits (for room, for its
//! outcome, for a turn of the runtime), so a wake-up is never owed to a handle that is
//! not running: the heartbeat's timer and reads never wait for the application. This is what keeps a
//! sending application's echoes, acknowledgements and pongs from waking a second
//! thread per message.
//!
//! The hand-off is two flags and no lock: a wake-up sets `owed` then looks for a
//! handle; a handle leaving clears itself then looks at `owed`. Both in sequential
//! consistency, at least one of the two sees the other, and whoever clears `owed` does
//! the work: none is lost, none is done twice for one wake-up.

use crate::driver::lock;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// The connection's waker (see the module's documentation).
#[derive(Debug, Default)]
pub(super) struct Relay {
    /// Handles inside a send now.
    senders: AtomicUsize,
    /// A wake-up came and nobody has taken it yet.
    owed: AtomicBool,
    /// The task's waker, as of its last poll.
    task: Mutex<Option<Waker>>,
}

impl Relay {
    /// A relay, and the waker to poll the connection with.
    pub(super) fn new() -> (Arc<Relay>, Waker) {
        let relay = Arc::new(Relay::default());
        let waker = Waker::from(Arc::clone(&relay));
        (relay, waker)
    }

    /// The task polls with `waker` (kept until it polls with another).
    pub(super) fn task_polls(&self, waker: &Waker) {
        let mut task = lock(&self.task);
        if !task.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    /// Takes the wake-up owed, if one came.
    pub(super) fn take_owed(&self) -> bool {
        self.owed.swap(false, SeqCst)
    }

    /// Gives the wake-up owed, if one came, to the task.
    pub(super) fn to_task(&self) {
        if self.take_owed() {
            self.wake_task();
        }
    }

    /// Wakes the task (its waker is cloned out of the lock first: a waker may run code).
    pub(super) fn wake_task(&self) {
        let task = lock(&self.task).clone();
        if let Some(task) = task {
            task.wake();
        }
    }

    fn enter(&self) {
        self.senders.fetch_add(1, SeqCst);
    }

    fn leave(&self) {
        // The last to leave hands on what nobody took (another inside still may).
        if self.senders.fetch_sub(1, SeqCst) == 1 {
            self.to_task();
        }
    }
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.owed.store(true, SeqCst);
        if self.senders.load(SeqCst) == 0 {
            self.to_task();
        }
    }
}

/// A handle's stretch inside a send, from its start to its hand-over to the transport
/// (or through the finish of a flush the runtime put off): wake-ups meanwhile are its
/// to carry out. It ends before the send waits for anything (and when dropped).
#[derive(Debug)]
pub(super) struct Sending<'a> {
    relay: &'a Relay,
}

impl<'a> Sending<'a> {
    /// Enters the stretch.
    pub(super) fn enter(relay: &'a Relay) -> Sending<'a> {
        relay.enter();
        Sending { relay }
    }

    /// Whether a wake-up is owed to this stretch (taken: the caller carries it out).
    pub(super) fn owed(&self) -> bool {
        self.relay.take_owed()
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        self.relay.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn relay_with_task() -> (Arc<Relay>, Waker, Arc<Count>) {
        let (relay, waker) = Relay::new();
        let task = Arc::new(Count(AtomicUsize::new(0)));
        relay.task_polls(&Waker::from(Arc::clone(&task)));
        (relay, waker, task)
    }

    /// With no handle inside, a wake-up is the task's at once.
    #[test]
    fn a_wake_up_with_nobody_sending_wakes_the_task() {
        let (relay, waker, task) = relay_with_task();
        waker.wake_by_ref();
        assert_eq!(task.0.load(SeqCst), 1);
        assert!(!relay.take_owed(), "taken by the task");
    }

    /// Inside a send, a wake-up is the handle's: the task sleeps on; once the handle
    /// took it, leaving hands nothing on.
    #[test]
    fn a_wake_up_while_sending_is_the_handles() {
        let (relay, waker, task) = relay_with_task();
        let sending = Sending::enter(&relay);
        waker.wake_by_ref();
        assert_eq!(task.0.load(SeqCst), 0);
        assert!(sending.owed());
        assert!(!sending.owed(), "once");
        drop(sending);
        assert_eq!(task.0.load(SeqCst), 0);
    }

    /// A wake-up the handle did not take (it came after its last look) goes to the task
    /// when the handle leaves, and so does one once it left; two handles inside, it
    /// waits for the last to leave.
    #[test]
    fn what_a_handle_leaves_goes_to_the_task() {
        let (relay, waker, task) = relay_with_task();
        let sending = Sending::enter(&relay);
        waker.wake_by_ref();
        drop(sending);
        assert_eq!(task.0.load(SeqCst), 1, "left untaken");
        waker.wake_by_ref();
        assert_eq!(task.0.load(SeqCst), 2, "nobody inside");
        let (one, two) = (Sending::enter(&relay), Sending::enter(&relay));
        waker.wake_by_ref();
        drop(one);
        assert_eq!(task.0.load(SeqCst), 2, "the other is still inside");
        drop(two);
        assert_eq!(task.0.load(SeqCst), 3);
    }

    /// Under races (wake-ups from one thread, handles entering and leaving on two
    /// others), every wake-up is carried out once: by the task, or by a handle that
    /// took it.
    #[test]
    fn no_wake_up_is_lost_under_races() {
        for _ in 0..20 {
            let (relay, waker, task) = relay_with_task();
            let taken = Arc::new(AtomicUsize::new(0));
            let done = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let (relay, taken, done) =
                        (Arc::clone(&relay), Arc::clone(&taken), Arc::clone(&done));
                    thread::spawn(move || {
                        while !done.load(SeqCst) {
                            let sending = Sending::enter(&relay);
                            if sending.owed() {
                                taken.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for _ in 0..2_000 {
                // Wait until the previous wake-up was carried out: each one must be.
                let mut spins = 0u64;
                while relay.owed.load(SeqCst) {
                    spins += 1;
                    assert!(spins < 50_000_000, "a wake-up was lost");
                    thread::yield_now();
                }
                waker.wake_by_ref();
            }
            done.store(true, SeqCst);
            for h in handles {
                h.join().expect("handle thread");
            }
            // Leaving hands on what is left: nothing stays owed, and each wake-up was
            // carried out once.
            assert!(!relay.owed.load(SeqCst));
            assert_eq!(task.0.load(SeqCst) + taken.load(SeqCst), 2_000);
        }
    }
}
