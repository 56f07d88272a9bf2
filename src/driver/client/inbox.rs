//! [`Inbox`]: the client's events on their way to the application, and what was dropped,
//! as plain data.
//!
//! Messages are never dropped: the task reads one only while the inbox is not
//! [`behind`](Inbox::behind). Once `capacity` messages wait, it is behind until the
//! application took half of them: the task resumes for a batch, not for each message
//! taken (a wake-up per message, across threads on a multi-thread runtime, cost more
//! than the message). The heartbeat's chatter (a ping sent, a pong) never waits
//! for room: it is dropped, and counted, once `capacity` events wait. A connection's news
//! (connected, closed, reconnecting, gave up) is kept; past twice `capacity` of it, the
//! oldest makes room, chatter first. So the newest ending is always there and the inbox
//! stays bounded however little the application reads.

use super::SessionEvent;
use std::collections::VecDeque;

/// Events waiting for the application.
#[derive(Debug)]
pub(crate) struct Inbox<M> {
    events: VecDeque<SessionEvent<M>>,
    /// How many of `events` are messages.
    messages: usize,
    capacity: usize,
    /// `capacity` messages waited, and the application has not taken half since.
    held: bool,
    /// Events dropped for an application that did not keep up.
    dropped: u64,
    /// Somebody listens (the `Events` stream is alive): otherwise events go nowhere.
    listening: bool,
}

fn chatter<M>(e: &SessionEvent<M>) -> bool {
    matches!(e, SessionEvent::PingSent(_) | SessionEvent::Pong { .. })
}

impl<M> Inbox<M> {
    pub(crate) fn new(capacity: usize) -> Inbox<M> {
        Inbox {
            events: VecDeque::new(),
            messages: 0,
            capacity: capacity.max(1),
            held: false,
            dropped: 0,
            listening: true,
        }
    }

    /// Queues `event`; returns whether it was kept.
    pub(crate) fn push(&mut self, event: SessionEvent<M>) -> bool {
        if !self.listening {
            return false;
        }
        match &event {
            SessionEvent::Message(_) => {
                self.messages += 1;
                self.held |= self.messages >= self.capacity;
            }
            e if chatter(e) && self.events.len() >= self.capacity => {
                self.dropped += 1;
                return false;
            }
            // News past twice the capacity (messages, which are never dropped, aside).
            _ if self.events.len() - self.messages >= 2 * self.capacity => {
                let oldest = self.events.iter().position(chatter).or_else(|| {
                    self.events
                        .iter()
                        .position(|e| !matches!(e, SessionEvent::Message(_)))
                });
                if let Some(i) = oldest {
                    self.events.remove(i);
                    self.dropped += 1;
                }
            }
            _ => {}
        }
        self.events.push_back(event);
        true
    }

    /// The application is behind on messages: read nothing more until it takes half of
    /// those that waited (then [`pop`](Self::pop) says so).
    pub(crate) fn behind(&self) -> bool {
        self.listening && self.held
    }

    /// The next event for the application. Taking a message that leaves half of
    /// `capacity` or fewer waiting ends [`behind`](Self::behind).
    pub(crate) fn pop(&mut self) -> Option<SessionEvent<M>> {
        let event = self.events.pop_front()?;
        if let SessionEvent::Message(_) = event {
            self.messages -= 1;
            self.held &= self.messages > self.capacity / 2;
        }
        Some(event)
    }

    /// How many events wait.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// How many events were dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    pub(crate) fn is_listening(&self) -> bool {
        self.listening
    }

    /// Nobody listens any more: what waits is discarded, and so is every later event.
    pub(crate) fn stop_listening(&mut self) {
        self.listening = false;
        self.events.clear();
        self.messages = 0;
        self.held = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CloseReason, PingId};
    use core::time::Duration;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// A message, if the task may read one (it reads only while not behind).
        Message,
        Ping,
        Pong,
        News,
        Pop,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Message),
            2 => Just(Op::Ping),
            2 => Just(Op::Pong),
            2 => Just(Op::News),
            2 => Just(Op::Pop),
        ]
    }

    proptest! {
        /// Messages are never dropped and come out in order; everything dropped is
        /// counted; the inbox stays within its bound; the newest news is always kept.
        #[test]
        fn messages_kept_drops_counted_bound_held(
            capacity in 1usize..6,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut inbox = Inbox::<u32>::new(capacity);
            let (mut sent, mut read) = (0u32, 0u32);
            let (mut pushed, mut popped) = (0u64, 0u64);
            for op in ops {
                let event = match op {
                    Op::Message if !inbox.behind() => {
                        sent += 1;
                        SessionEvent::Message(sent)
                    }
                    Op::Message => continue,
                    Op::Ping => SessionEvent::PingSent(PingId::new(1)),
                    Op::Pong => SessionEvent::Pong { rtt: Duration::from_millis(1) },
                    Op::News => SessionEvent::Reconnecting { after: Duration::from_secs(u64::from(sent)) },
                    Op::Pop => {
                        let was_behind = inbox.behind();
                        if let Some(e) = inbox.pop() {
                            if was_behind && !inbox.behind() {
                                prop_assert!(inbox.messages <= capacity / 2, "resumed for a batch");
                            }
                            popped += 1;
                            if let SessionEvent::Message(m) = e {
                                read += 1;
                                prop_assert_eq!(m, read, "messages in order, none lost");
                            }
                        }
                        continue;
                    }
                };
                let news = matches!(event, SessionEvent::Reconnecting { .. });
                pushed += 1;
                inbox.push(event);
                if news {
                    let newest_kept = matches!(inbox.events.back(), Some(SessionEvent::Reconnecting { .. }));
                    prop_assert!(newest_kept, "the newest news is kept");
                }
                prop_assert!(inbox.len() <= 3 * capacity, "bounded: {} > 3 x {}", inbox.len(), capacity);
                prop_assert!(inbox.messages <= capacity);
                prop_assert_eq!(inbox.behind(), inbox.behind() && inbox.messages > capacity / 2);
                prop_assert_eq!(pushed, popped + inbox.len() as u64 + inbox.dropped());
            }
            while let Some(e) = inbox.pop() {
                if let SessionEvent::Message(m) = e {
                    read += 1;
                    prop_assert_eq!(m, read);
                }
            }
            prop_assert_eq!(read, sent);
        }
    }

    /// Full, the inbox is behind until the application took half: the task resumes
    /// for a batch.
    #[test]
    fn behind_from_full_until_half_is_taken() {
        let mut inbox = Inbox::<u8>::new(4);
        for m in 0..4 {
            assert!(!inbox.behind());
            inbox.push(SessionEvent::Message(m));
        }
        assert!(inbox.behind());
        inbox.push(SessionEvent::PingSent(PingId::new(1)));
        assert!(matches!(inbox.pop(), Some(SessionEvent::Message(0))));
        assert!(inbox.behind(), "three wait");
        assert!(matches!(inbox.pop(), Some(SessionEvent::Message(1))));
        assert!(!inbox.behind(), "half");
        inbox.push(SessionEvent::Message(4));
        assert!(!inbox.behind());
        inbox.push(SessionEvent::Message(5));
        assert!(inbox.behind(), "full again");
        inbox.stop_listening();
        assert!(!inbox.behind());
    }

    #[test]
    fn news_makes_room_chatter_first() {
        let mut inbox = Inbox::<u8>::new(1);
        inbox.push(SessionEvent::Connected);
        inbox.push(SessionEvent::PingSent(PingId::new(1))); // full: dropped
        assert_eq!(inbox.dropped(), 1);
        inbox.push(SessionEvent::Closed(crate::driver::Error::new(
            CloseReason::PongTimeout,
        )));
        inbox.push(SessionEvent::Reconnecting {
            after: Duration::from_secs(1),
        }); // past twice the capacity: the oldest news goes
        assert_eq!(inbox.dropped(), 2);
        assert!(matches!(inbox.pop(), Some(SessionEvent::Closed(_))));
        assert!(matches!(
            inbox.pop(),
            Some(SessionEvent::Reconnecting { .. })
        ));
        inbox.stop_listening();
        assert!(!inbox.push(SessionEvent::Connected));
        assert_eq!(inbox.len(), 0);
    }
}
