//! [`Ledger`]: the client's sends, from the handle's call to their outcome, as plain data.
//!
//! A message is in exactly one place at a time: *queued* (a handle asked, no transport
//! has it), *in flight* (handed to the transport, not yet flushed; a copy is kept to hand
//! back), or *settled* (its outcome waits for the handle). Every way out of the first two
//! settles it, so a message is either sent or its send fails with the message: never
//! dropped in silence. Nothing here does I/O; the client's task and handles call it under
//! their lock.

use crate::driver::error::SendError;
use crate::CloseReason;
use std::collections::VecDeque;
use std::vec::Vec;

/// A send's number, in the order sends began (across all handles).
pub(crate) type Ticket = u64;

/// The client's sends and their outcomes.
#[derive(Debug)]
pub(crate) struct Ledger<M> {
    queued: VecDeque<(Ticket, M)>,
    /// Handed to the transport, not flushed: a copy of each.
    in_flight: Vec<(Ticket, M)>,
    settled: Vec<(Ticket, Result<(), SendError<M>>)>,
    next: Ticket,
    /// At most this many queued before a send waits for room.
    capacity: usize,
}

impl<M> Ledger<M> {
    pub(crate) fn new(capacity: usize) -> Ledger<M> {
        Ledger {
            queued: VecDeque::new(),
            in_flight: Vec::new(),
            settled: Vec::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// A new ticket, for a send that begins now.
    pub(crate) fn ticket(&mut self) -> Ticket {
        let t = self.next;
        self.next += 1;
        t
    }

    /// Queues `m` for the transport.
    pub(crate) fn queue(&mut self, m: M) -> Ticket {
        let t = self.ticket();
        self.queued.push_back((t, m));
        t
    }

    /// Whether the queue is full: a new send waits for room.
    pub(crate) fn full(&self) -> bool {
        self.queued.len() >= self.capacity
    }

    /// How many sends wait for the transport.
    pub(crate) fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Nothing queued and nothing in flight: a send beginning now may go straight to the
    /// transport without passing anyone.
    pub(crate) fn idle(&self) -> bool {
        self.queued.is_empty() && self.in_flight.is_empty()
    }

    /// The next queued send, taken for the transport: hand it over and call
    /// [`handed`](Self::handed), or settle it with [`refused`](Self::refused).
    pub(crate) fn take(&mut self) -> Option<(Ticket, M)> {
        self.queued.pop_front()
    }

    /// How many are in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The transport took `ticket`'s message; `copy` is handed back if no flush completes.
    pub(crate) fn handed(&mut self, ticket: Ticket, copy: M) {
        self.in_flight.push((ticket, copy));
    }

    /// The transport refused `ticket`'s message before taking it: certainly not sent.
    pub(crate) fn refused(&mut self, ticket: Ticket, m: M) {
        self.settle(ticket, Err(SendError::NotConnected(m)));
    }

    /// A flush completed: everything in flight was sent.
    pub(crate) fn flushed(&mut self) {
        while let Some((t, _)) = self.in_flight.pop() {
            self.settled.push((t, Ok(())));
        }
    }

    /// A flush failed, or the connection ended, with `reason`: what was in flight may or
    /// may not arrive (handed back as unconfirmed); what was queued was not sent
    /// (`stopped`: the client stopped for good).
    pub(crate) fn ended(&mut self, reason: CloseReason, stopped: bool) {
        self.unconfirmed(reason);
        self.refuse_queued(stopped);
    }

    /// A flush failed with `reason`: what was in flight may or may not arrive, and is
    /// handed back as unconfirmed.
    pub(crate) fn unconfirmed(&mut self, reason: CloseReason) {
        for (t, m) in core::mem::take(&mut self.in_flight) {
            self.settle(t, Err(SendError::Unconfirmed(m, reason)));
        }
    }

    /// Fails every queued send (none was handed over): the connection is over for sending.
    pub(crate) fn refuse_queued(&mut self, stopped: bool) {
        while let Some((t, m)) = self.queued.pop_front() {
            let e = if stopped {
                SendError::Stopped(m)
            } else {
                SendError::NotConnected(m)
            };
            self.settle(t, Err(e));
        }
    }

    pub(crate) fn settle(&mut self, ticket: Ticket, outcome: Result<(), SendError<M>>) {
        self.settled.push((ticket, outcome));
    }

    /// `ticket`'s outcome, once settled (it is then forgotten).
    pub(crate) fn outcome(&mut self, ticket: Ticket) -> Option<Result<(), SendError<M>>> {
        let i = self.settled.iter().position(|(t, _)| *t == ticket)?;
        Some(self.settled.swap_remove(i).1)
    }

    /// The send `ticket` was abandoned by its caller: taken back if still queued, its
    /// outcome forgotten (a message in flight still goes out).
    pub(crate) fn withdraw(&mut self, ticket: Ticket) {
        self.queued.retain(|(t, _)| *t != ticket);
        self.settled.retain(|(t, _)| *t != ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        /// The task takes up to n and the transport takes them (or refuses the first).
        Take(u8, bool),
        Flushed,
        Ended(bool),
        Withdraw(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Send),
            3 => (0u8..4, any::<bool>()).prop_map(|(n, r)| Op::Take(n, r)),
            2 => Just(Op::Flushed),
            1 => any::<bool>().prop_map(Op::Ended),
            1 => any::<u8>().prop_map(Op::Withdraw),
        ]
    }

    proptest! {
        /// Every send is settled exactly once, with its own message when it fails, in
        /// the order sends began, unless its caller withdrew it; and a send settled
        /// `Ok` was in flight at a completed flush.
        #[test]
        fn every_send_settles_once_with_its_message(ops in proptest::collection::vec(op(), 0..80)) {
            let mut l = Ledger::<u64>::new(8);
            let mut open: BTreeMap<Ticket, &'static str> = BTreeMap::new();
            let mut handed_order = Vec::new();
            let mut seen = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Send => {
                        let t = l.ticket();
                        l.queued.push_back((t, t * 10));
                        open.insert(t, "queued");
                    }
                    Op::Take(n, refuse) => {
                        for i in 0..n {
                            let Some((t, m)) = l.take() else { break };
                            prop_assert_eq!(m, t * 10);
                            if refuse && i == 0 {
                                l.refused(t, m);
                            } else {
                                handed_order.push(t);
                                l.handed(t, m);
                                open.insert(t, "in flight");
                            }
                        }
                    }
                    Op::Flushed => {
                        let in_flight: Vec<_> = l.in_flight.iter().map(|(t, _)| *t).collect();
                        l.flushed();
                        for t in in_flight {
                            prop_assert_eq!(l.outcome(t), Some(Ok(())));
                            open.remove(&t);
                            seen.insert(t, "sent");
                        }
                    }
                    Op::Ended(stopped) => l.ended(CloseReason::Transport, stopped),
                    Op::Withdraw(k) => {
                        if let Some(&t) = open.keys().nth(usize::from(k) % open.len().max(1)) {
                            if open[&t] == "queued" {
                                l.withdraw(t);
                                open.remove(&t);
                                seen.insert(t, "withdrawn");
                            }
                        }
                    }
                }
                // Collect what settled: each once, with its own message.
                for (t, outcome) in core::mem::take(&mut l.settled) {
                    prop_assert!(open.remove(&t).is_some(), "ticket {} settled twice or never sent", t);
                    match outcome {
                        Ok(()) => prop_assert!(false, "ok outside a flush"),
                        Err(e) => prop_assert_eq!(e.into_message(), t * 10),
                    }
                    seen.insert(t, "failed");
                }
                prop_assert_eq!(l.queued.len() + l.in_flight.len(), open.len());
            }
            // Messages went to the transport in the order their sends began.
            prop_assert!(handed_order.windows(2).all(|w| w[0] < w[1]));
            // At the end of the connection, nothing is left unsettled.
            l.ended(CloseReason::Transport, true);
            for (t, _) in core::mem::take(&mut l.settled) {
                prop_assert!(open.remove(&t).is_some());
            }
            prop_assert!(open.is_empty());
            prop_assert!(l.idle());
        }
    }

    #[test]
    fn ended_hands_back_in_flight_as_unconfirmed_and_queued_as_not_connected() {
        let mut l = Ledger::new(4);
        let a = l.queue("a");
        let b = l.queue("b");
        let (t, m) = l.take().expect("queued");
        assert_eq!(t, a);
        l.handed(t, m);
        assert!(!l.idle());
        l.ended(CloseReason::PongTimeout, false);
        assert_eq!(
            l.outcome(a),
            Some(Err(SendError::Unconfirmed("a", CloseReason::PongTimeout)))
        );
        assert_eq!(l.outcome(b), Some(Err(SendError::NotConnected("b"))));
        assert_eq!(l.outcome(b), None, "an outcome is read once");
        let c = l.queue("c");
        l.ended(CloseReason::Shutdown, true);
        assert_eq!(l.outcome(c), Some(Err(SendError::Stopped("c"))));
    }

    #[test]
    fn full_counts_queued_sends_only() {
        let mut l = Ledger::new(2);
        assert!(!l.full());
        l.queue(1);
        let (t, m) = l.take().expect("queued");
        l.handed(t, m);
        l.queue(2);
        assert!(!l.full(), "one in flight and one queued: room for one more");
        l.queue(3);
        assert!(l.full());
        assert_eq!(l.queued(), 2);
        assert_eq!(l.in_flight(), 1);
    }
}
