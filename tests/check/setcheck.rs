//! A [`HeartbeatSet`] checked against its definition: one [`HeartbeatMachine`] per key.

use super::oracle::Oracle;
use keepalive::sim::{Recorder, Violation};
use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant, State};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;

const NS_PER_MS: u64 = 1_000_000;

/// One operation on a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetOp<K> {
    /// `insert(key, now)`.
    Insert(K),
    /// `remove(&key)`.
    Remove(K),
    /// `handle(now, &key, event)`.
    Handle(K, Event),
    /// Drain `poll(now)`.
    Poll,
}

/// Runs every operation on a [`HeartbeatSet`] and on a reference made of one
/// `HeartbeatMachine` (under its [`Oracle`]) per key, fed the same calls at the set's
/// grain (times from the start of their millisecond), and checks that they agree: the
/// same actions for the same calls, the same states, the same keys handed out by `poll`
/// (a machine is ticked when its deadline, rounded up to the millisecond, has come), and
/// a `next_deadline` that is never later than any machine's.
///
/// In the last millisecond of representable time (where every deadline saturates to
/// [`Instant::MAX`] and machines skip timers after acting), only the absence of panics is
/// checked: there the set and the machines may tick a connection in different calls.
#[derive(Debug)]
pub struct SetCheck<K> {
    config: Config,
    set: HeartbeatSet<K>,
    /// Each machine (recorded, so a broken rule comes with its trace as a scenario), its
    /// oracle, and its deadline as of its last call (exact: right after a call the
    /// deadline lies past that call's time).
    machines: BTreeMap<K, (Recorder, Oracle, Option<Instant>)>,
    /// Actions of opening (only at Instant::MAX) that the next poll must hand out.
    opened: BTreeMap<K, Vec<Action>>,
    now: Instant,
}

/// The set's documented precision: a deadline is due once its millisecond, rounded up,
/// has come, and the wheel wakes at the start of that millisecond.
fn wake_at(deadline: Instant) -> Instant {
    Instant::from_nanos(
        deadline
            .as_nanos()
            .div_ceil(NS_PER_MS)
            .saturating_mul(NS_PER_MS),
    )
}

/// The set's clock: a time counts from the start of its millisecond.
fn millisecond(t: Instant) -> Instant {
    Instant::from_millis(t.as_nanos() / NS_PER_MS)
}

/// An event at the set's grain: the transport's records (`ago`), in whole milliseconds
/// rounded up (the peer's last segment, or the path's last move, dated at the start of
/// its millisecond).
fn grain(event: Event) -> Event {
    let ms = |ago: Duration| {
        Duration::from_millis(
            u64::try_from(ago.as_nanos().div_ceil(u128::from(NS_PER_MS))).unwrap_or(u64::MAX),
        )
    };
    match event {
        Event::PathHeard { ago } => Event::PathHeard { ago: ms(ago) },
        Event::PathMoved { ago } => Event::PathMoved { ago: ms(ago) },
        e => e,
    }
}

fn due_by(deadline: Instant, now: Instant) -> bool {
    deadline.as_nanos().div_ceil(NS_PER_MS) <= now.as_nanos() / NS_PER_MS
}

impl<K: Ord + Hash + Clone + Debug> SetCheck<K> {
    /// An empty set and an empty reference.
    pub fn new(config: Config) -> SetCheck<K> {
        SetCheck {
            config,
            set: HeartbeatSet::new(config),
            machines: BTreeMap::new(),
            opened: BTreeMap::new(),
            now: Instant::ZERO,
        }
    }

    /// The set under test.
    pub fn set(&self) -> &HeartbeatSet<K> {
        &self.set
    }

    /// Applies `op` at `now` to both and compares.
    pub fn apply(&mut self, now: Instant, op: SetOp<K>) -> Result<(), Violation> {
        // The set has one clock that counts whole milliseconds; each reference machine is
        // fed the same times, and the same events at that grain.
        self.now = self.now.max(millisecond(now));
        let now = self.now;
        let op = match op {
            SetOp::Handle(k, e) => SetOp::Handle(k, grain(e)),
            op => op,
        };
        if now.as_nanos() / NS_PER_MS == u64::MAX / NS_PER_MS {
            self.saturated(now, op);
            return Ok(());
        }
        let fail = |rule, detail| Err(Violation { rule, detail });
        match op {
            SetOp::Insert(k) => {
                let inserted = self.set.insert(k.clone(), now).is_ok();
                if inserted == self.machines.contains_key(&k) {
                    return fail(
                        "insert agrees",
                        format!("key {k:?}: set inserted {inserted}"),
                    );
                }
                if inserted {
                    let mut m = Recorder::new(self.config, now);
                    let mut oracle = Oracle::new(m.machine());
                    let actions = step(&mut m, &mut oracle, now, Event::Connected)?;
                    // Opening acts only at Instant::MAX; the set hands those out by poll.
                    if !actions.is_empty() {
                        self.opened.insert(k.clone(), actions);
                    }
                    let deadline = m.machine().next_deadline();
                    self.machines.insert(k, (m, oracle, deadline));
                }
            }
            SetOp::Remove(k) => {
                let removed = self.set.remove(&k);
                self.opened.remove(&k);
                if removed != self.machines.remove(&k).is_some() {
                    return fail("remove agrees", format!("key {k:?}: set removed {removed}"));
                }
            }
            SetOp::Handle(k, e) => {
                let from_set = self.set.handle(now, &k, e).map(|a| a.collect::<Vec<_>>());
                match (from_set, self.machines.get_mut(&k)) {
                    (Err(_), None) => {}
                    (Ok(got), Some((m, oracle, deadline))) => {
                        let want = step(m, oracle, now, e)?;
                        *deadline = m.machine().next_deadline();
                        if got != want {
                            return fail(
                                "handle agrees",
                                format!("key {k:?}, {e:?}: set {got:?}, machine {want:?}"),
                            );
                        }
                    }
                    (got, _) => {
                        return fail(
                            "handle knows the same keys",
                            format!("key {k:?}: set {got:?}"),
                        )
                    }
                }
            }
            SetOp::Poll => {
                let mut from_set: BTreeMap<K, Vec<Action>> = BTreeMap::new();
                while let Some((k, a)) = self.set.poll(now) {
                    from_set.entry(k).or_default().push(a);
                }
                for (k, (m, oracle, deadline)) in self.machines.iter_mut() {
                    let due = deadline.is_some_and(|d| due_by(d, now));
                    let mut want = self.opened.remove(k).unwrap_or_default();
                    if due {
                        want.extend(step(m, oracle, now, Event::Tick)?);
                        *deadline = m.machine().next_deadline();
                    }
                    let got = from_set.remove(k).unwrap_or_default();
                    if got != want {
                        return fail(
                            "poll hands out what is due",
                            format!("key {k:?} at {now:?}: set {got:?}, machine {want:?}"),
                        );
                    }
                }
                if let Some((k, _)) = from_set.into_iter().next() {
                    return fail("poll hands out known keys", format!("unknown key {k:?}"));
                }
            }
        }
        // States agree, and the set wakes no later than the first machine would be due.
        let mut earliest: Option<Instant> = None;
        for (k, (m, _, deadline)) in &self.machines {
            let m = m.machine();
            // Backoff ends by the clock: the set's clock may be ahead of an untouched machine's.
            let same = match (self.set.state(k), m.state()) {
                (Some(State::Connecting), State::Backoff) => m.now() < now,
                (a, b) => a == Some(b),
            };
            if !same {
                return fail(
                    "states agree",
                    format!(
                        "key {k:?}: set {:?}, machine {:?}",
                        self.set.state(k),
                        m.state()
                    ),
                );
            }
            if let Some(d) = *deadline {
                let tick = wake_at(d);
                earliest = Some(earliest.map_or(tick, |e| e.min(tick)));
            }
        }
        if self.set.len() != self.machines.len() {
            return fail(
                "len agrees",
                format!("set {} vs {}", self.set.len(), self.machines.len()),
            );
        }
        if let Some(e) = earliest {
            let e = e.max(now);
            match self.set.next_deadline() {
                Some(d) if d <= e => {}
                other => {
                    return fail(
                        "the set wakes in time",
                        format!("set deadline {other:?}, a machine is due at {e:?}"),
                    )
                }
            }
        }
        Ok(())
    }

    /// At the end of time: run the operation on both, compare nothing.
    fn saturated(&mut self, now: Instant, op: SetOp<K>) {
        match op {
            SetOp::Insert(k) => {
                if self.set.insert(k.clone(), now).is_ok() {
                    let mut m = Recorder::new(self.config, now);
                    let oracle = Oracle::new(m.machine());
                    let _ = m.handle(now, Event::Connected);
                    let deadline = m.machine().next_deadline();
                    self.machines.insert(k, (m, oracle, deadline));
                }
            }
            SetOp::Remove(k) => {
                self.set.remove(&k);
                self.machines.remove(&k);
            }
            SetOp::Handle(k, e) => {
                let _ = self.set.handle(now, &k, e).map(Iterator::count);
                if let Some((m, _, _)) = self.machines.get_mut(&k) {
                    m.handle(now, e);
                }
            }
            SetOp::Poll => while self.set.poll(now).is_some() {},
        }
    }
}

/// One call to a reference machine under its oracle; a broken rule comes with the
/// machine's trace as scenario text.
fn step(
    m: &mut Recorder,
    oracle: &mut Oracle,
    now: Instant,
    event: Event,
) -> Result<Vec<Action>, Violation> {
    let actions = m.handle(now, event);
    oracle
        .check(now, event, &actions, m.machine())
        .map_err(|v| Violation {
            rule: v.rule,
            detail: format!("{}\n--- as a scenario ---\n{}", v.detail, m.scenario()),
        })?;
    Ok(actions)
}
