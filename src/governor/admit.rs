//! Admission: who may start now. Pure: the clock, the ledger and the memory figures are
//! arguments, so that every rule is tested with a fake clock and fake memory.

use super::ledger::{Entry, Ledger, State};
use crate::hardware::format_size;

/// A waiter that has waited this long is starving: later arrivals stop jumping ahead of it.
pub(crate) const STARVING_MS: u64 = 20_000;

/// A waiter that has not checked in for this long (its process stopped with Ctrl-Z, say)
/// holds no one back: only a waiter that is really there keeps its place in the line.
pub(crate) const STALE_MS: u64 = 3_000;

/// A waiter refreshes its check-in time at most this often ([`check`]): well within
/// [`STALE_MS`].
pub(crate) const SEEN_EVERY_MS: u64 = 1_000;

/// A running compilation writes its memory every [`REFRESH_EVERY_MS`]; one that has not for
/// this long is stopped (Ctrl-Z) or hung: it holds what it was last seen holding, but will
/// not grow, so its reservation no longer holds everyone else back.
pub(crate) const RUNNING_STALE_MS: u64 = 10_000;

/// Live memory kept free on top of a prediction: predictions err, and other programs move.
pub(crate) const LIVE_MARGIN: u64 = 128 << 20;

/// At most one waiting notice per this many milliseconds, across all waiters of a ledger.
pub(crate) const NOTICE_EVERY_MS: u64 = 5_000;

/// A waiter says nothing before it has waited this long (short waits are normal).
pub(crate) const QUIET_WAIT_MS: u64 = 1_000;

/// A running compilation's entry is rewritten at most this often when it grows past its
/// reservation.
pub(crate) const RAISE_EVERY_MS: u64 = 200;

/// ... and at most this often otherwise, to show its memory now in `memsafe governor status`.
pub(crate) const REFRESH_EVERY_MS: u64 = 1_000;

/// Why a compilation waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The running reservations plus this one exceed the budget.
    Budget,
    /// The machine (or the cgroup) has not that much memory available now.
    Memory,
    /// A compilation that has waited longer than [`STARVING_MS`] is ahead in the line.
    Behind { krate: String },
    /// As many compilations run as the machine has CPUs.
    Cpus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Admit,
    Wait(Wait),
}

/// Whether `other` is ahead of `me` in the line: it started waiting earlier (the pid breaks
/// a tie, so that of two waiters exactly one is ahead).
fn ahead(other: &Entry, me: &Entry) -> bool {
    (other.since_ms, other.pid) < (me.since_ms, me.pid)
}

/// What a running compilation holds against the budget at `now_ms`: its reservation, or,
/// when it has not written for [`RUNNING_STALE_MS`], what it was last seen holding.
fn held(entry: &Entry, now_ms: u64) -> u64 {
    if now_ms.saturating_sub(entry.seen_ms) > RUNNING_STALE_MS {
        entry.current_bytes
    } else {
        entry.reserved_bytes
    }
}

/// The memory the running compilations have reserved but not taken yet: the live figure does
/// not show it, and they will take it.
fn outstanding(running: &[&Entry], now_ms: u64) -> u64 {
    running
        .iter()
        .map(|e| held(e, now_ms).saturating_sub(e.current_bytes))
        .sum()
}

/// Whether `me` (a waiting entry) may start at `now_ms`. `ledger` may hold `me` (found by pid)
/// or not; `available` is the live available memory, `None` where it is not known (then only
/// the budget counts). The rules, in order:
/// 1. a waiter that has waited [`STARVING_MS`] or more, is ahead of `me` and still checks in
///    (within [`STALE_MS`]) makes `me` wait: no stream of small crates starves a big one;
/// 2. nothing else running: admitted, whatever the prediction (a compilation bigger than the
///    budget still runs, alone, instead of waiting forever);
/// 3. otherwise admitted when the running reservations plus `me`'s prediction fit the budget,
///    and `me`'s prediction plus what the running ones reserved but have not taken yet fits
///    the available memory less [`LIVE_MARGIN`].
pub(crate) fn decide(
    now_ms: u64,
    me: &Entry,
    ledger: &[Entry],
    budget: u64,
    available: Option<u64>,
) -> Decision {
    let others: Vec<&Entry> = ledger.iter().filter(|e| e.pid != me.pid).collect();
    if let Some(first) = others
        .iter()
        .filter(|e| e.state == State::Waiting && ahead(e, me))
        .filter(|e| now_ms.saturating_sub(e.since_ms) >= STARVING_MS)
        .find(|e| now_ms.saturating_sub(e.seen_ms) <= STALE_MS)
    {
        return Decision::Wait(Wait::Behind {
            krate: first.krate.clone(),
        });
    }
    let running: Vec<&Entry> = others.into_iter().filter(|e| e.state == State::Running).collect();
    if running.is_empty() {
        return Decision::Admit;
    }
    let reserved = running
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(held(e, now_ms)));
    if reserved.saturating_add(me.reserved_bytes) > budget {
        return Decision::Wait(Wait::Budget);
    }
    if let Some(available) = available
        && me.reserved_bytes.saturating_add(outstanding(&running, now_ms))
            > available.saturating_sub(LIVE_MARGIN)
    {
        return Decision::Wait(Wait::Memory);
    }
    Decision::Admit
}

/// [`decide`], and a CPU: at most `cpus` compilations run at once, across every cargo of the
/// user (the editor's check, a build and a test build together), as cargo's job count keeps
/// one cargo's. A running compilation that has not written for [`RUNNING_STALE_MS`] (stopped)
/// takes no CPU. Nothing running: admitted, as by `decide`.
pub(crate) fn decide_on(
    now_ms: u64,
    me: &Entry,
    ledger: &[Entry],
    budget: u64,
    available: Option<u64>,
    cpus: usize,
) -> Decision {
    match decide(now_ms, me, ledger, budget, available) {
        Decision::Admit if busy(me, ledger, now_ms) >= cpus.max(1) => Decision::Wait(Wait::Cpus),
        decision => decision,
    }
}

/// How many compilations other than `me` run and are not stopped.
fn busy(me: &Entry, ledger: &[Entry], now_ms: u64) -> usize {
    ledger
        .iter()
        .filter(|e| e.pid != me.pid && e.state == State::Running)
        .filter(|e| now_ms.saturating_sub(e.seen_ms) <= RUNNING_STALE_MS)
        .count()
}

/// The memory `me` could have now: the budget less the running reservations, and the live
/// available memory less the margin and what the running ones will still take.
pub(crate) fn free_bytes(
    me: &Entry,
    ledger: &[Entry],
    now_ms: u64,
    budget: u64,
    available: Option<u64>,
) -> u64 {
    let running: Vec<&Entry> = ledger
        .iter()
        .filter(|e| e.pid != me.pid && e.state == State::Running)
        .collect();
    let reserved = running
        .iter()
        .fold(0u64, |sum, e| sum.saturating_add(held(e, now_ms)));
    let by_budget = budget.saturating_sub(reserved);
    match available {
        Some(available) => by_budget.min(
            available
                .saturating_sub(LIVE_MARGIN)
                .saturating_sub(outstanding(&running, now_ms)),
        ),
        None => by_budget,
    }
}

/// The one line a waiter prints:
/// `memsafe: waiting for memory: 1.2 GiB free, hir_ty needs ~1.5 GiB (3 running, 2 waiting)`.
pub(crate) fn notice_text(
    me: &Entry,
    ledger: &[Entry],
    now_ms: u64,
    budget: u64,
    available: Option<u64>,
    why: &Wait,
) -> String {
    let count = |state| ledger.iter().filter(|e| e.state == state).count();
    let behind = match why {
        Wait::Behind { krate } => format!(", behind {krate}, which has waited longest"),
        Wait::Budget | Wait::Memory | Wait::Cpus => String::new(),
    };
    format!(
        "memsafe: waiting for memory: {} free, {} needs ~{} ({} running, {} waiting){behind}",
        format_size(free_bytes(me, ledger, now_ms, budget, available)),
        me.krate,
        format_size(me.reserved_bytes),
        count(State::Running),
        count(State::Waiting),
    )
}

/// What one check of a waiting wrapper did to the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// `me` is running now (its entry says so).
    Admitted,
    /// `me` waits for memory; the notice to print, when it is this waiter's turn to print one.
    Waiting(Option<String>),
    /// `me` waits for a CPU: cargo's own queue, shared across cargos, so nothing to say. Only
    /// a compilation's end frees one (or a stopped one going stale, after
    /// [`RUNNING_STALE_MS`]), so the waiter need only check again at the doorbell, or to check
    /// in ([`SEEN_EVERY_MS`]).
    ForCpu,
}

/// One check of a waiting wrapper, under the ledger's lock: puts `me` in the ledger (or
/// refreshes its check-in time), decides, and marks it running when admitted. A notice is due
/// when `me` has waited [`QUIET_WAIT_MS`] and no waiter printed one for [`NOTICE_EVERY_MS`];
/// the time is stored in the ledger so that all waiters share the pace. The live available
/// memory is read (`available`) only when a CPU is free: with every CPU taken, `me` waits
/// whatever memory there is.
pub(crate) fn check(
    ledger: &mut Ledger,
    me: &Entry,
    now_ms: u64,
    budget: u64,
    available: impl FnOnce() -> Option<u64>,
    cpus: usize,
) -> Step {
    let index = match ledger.entries.iter().position(|e| e.pid == me.pid) {
        Some(index) => index,
        None => {
            ledger.entries.push(Entry {
                seen_ms: now_ms,
                ..me.clone()
            });
            ledger.entries.len() - 1
        }
    };
    // A waiter's check-in time tells the others it is still there (within STALE_MS); written
    // at most every SEEN_EVERY_MS, since a check that changes nothing writes nothing, and
    // waiters check at every compilation's end.
    if now_ms.saturating_sub(ledger.entries[index].seen_ms) >= SEEN_EVERY_MS
        || now_ms < ledger.entries[index].seen_ms
    {
        ledger.entries[index].seen_ms = now_ms;
    }
    let entry = ledger.entries[index].clone();
    let available = if busy(&entry, &ledger.entries, now_ms) < cpus.max(1) {
        available()
    } else {
        None
    };
    match decide_on(now_ms, &entry, &ledger.entries, budget, available, cpus) {
        Decision::Admit => {
            let running = &mut ledger.entries[index];
            running.state = State::Running;
            running.since_ms = now_ms;
            Step::Admitted
        }
        Decision::Wait(Wait::Cpus) => Step::ForCpu,
        Decision::Wait(why) => {
            let waited = now_ms.saturating_sub(entry.since_ms);
            let due = waited >= QUIET_WAIT_MS
                && (now_ms.saturating_sub(ledger.last_notice_ms) >= NOTICE_EVERY_MS
                    || ledger.last_notice_ms > now_ms);
            if !due {
                return Step::Waiting(None);
            }
            ledger.last_notice_ms = now_ms;
            Step::Waiting(Some(notice_text(
                &entry,
                &ledger.entries,
                now_ms,
                budget,
                available,
                &why,
            )))
        }
    }
}

/// While running: the reservation to write now, if any. A compilation that grew past its
/// reservation raises it (at most every [`RAISE_EVERY_MS`]), so that admission sees it;
/// otherwise its sample is refreshed every [`REFRESH_EVERY_MS`] with the reservation as it is.
pub(crate) fn report(reserved: u64, current: u64, last_write_ms: u64, now_ms: u64) -> Option<u64> {
    let since = now_ms.saturating_sub(last_write_ms);
    if current > reserved && since >= RAISE_EVERY_MS {
        Some(current)
    } else if since >= REFRESH_EVERY_MS {
        Some(reserved)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn entry(pid: u32, krate: &str, state: State, reserved: u64, since_ms: u64) -> Entry {
        Entry {
            pid,
            start_time: None,
            krate: krate.into(),
            kind: "lib".into(),
            reserved_bytes: reserved,
            state,
            since_ms,
            current_bytes: 0,
            seen_ms: since_ms,
        }
    }

    /// A running compilation that keeps writing its memory (seen at any test's now).
    fn running(pid: u32, reserved: u64) -> Entry {
        Entry {
            seen_ms: 1 << 40,
            ..entry(pid, &format!("r{pid}"), State::Running, reserved, 0)
        }
    }

    #[test]
    fn alone_it_runs_even_beyond_the_budget_and_the_memory() {
        let me = entry(1, "huge", State::Waiting, 100 * GIB, 0);
        assert_eq!(decide(0, &me, &[], GIB, Some(0)), Decision::Admit);
        // Its own entry in the ledger does not count as someone else running.
        assert_eq!(
            decide(0, &me, std::slice::from_ref(&me), GIB, Some(0)),
            Decision::Admit
        );
        // Other waiters that are not starving do not hold it back.
        let waiter = entry(2, "w", State::Waiting, GIB, 0);
        assert_eq!(decide(10, &me, &[waiter], GIB, None), Decision::Admit);
    }

    #[test]
    fn the_budget_counts_every_running_reservation() {
        let me = entry(9, "me", State::Waiting, GIB, 0);
        let ledger = [running(1, GIB), running(2, 2 * GIB)];
        // 1 + 2 + 1 = 4 GiB.
        assert_eq!(decide(0, &me, &ledger, 4 * GIB, None), Decision::Admit);
        assert_eq!(
            decide(0, &me, &ledger, 4 * GIB - 1, None),
            Decision::Wait(Wait::Budget)
        );
    }

    #[test]
    fn live_memory_less_the_margin_and_what_others_will_take_must_hold_the_prediction() {
        let me = entry(9, "me", State::Waiting, GIB, 0);
        let mut other = running(1, 2 * GIB);
        // The other reserved 2 GiB and has taken 0.5 GiB: 1.5 GiB more will go.
        other.current_bytes = 512 * MIB;
        let ledger = [other];
        let enough = GIB + 3 * GIB / 2 + LIVE_MARGIN;
        assert_eq!(decide(0, &me, &ledger, 100 * GIB, Some(enough)), Decision::Admit);
        assert_eq!(
            decide(0, &me, &ledger, 100 * GIB, Some(enough - 1)),
            Decision::Wait(Wait::Memory)
        );
        // Unknown live memory: the budget alone decides.
        assert_eq!(decide(0, &me, &ledger, 100 * GIB, None), Decision::Admit);
        // A compilation above its reservation leaves nothing outstanding.
        let mut grown = running(1, GIB);
        grown.current_bytes = 3 * GIB;
        assert_eq!(
            decide(0, &me, &[grown], 100 * GIB, Some(GIB + LIVE_MARGIN)),
            Decision::Admit
        );
        // The budget is checked first.
        assert_eq!(
            decide(0, &me, &ledger, 2 * GIB, Some(0)),
            Decision::Wait(Wait::Budget)
        );
    }

    #[test]
    fn small_crates_pass_a_big_one_until_it_starves() {
        let big = entry(1, "big", State::Waiting, 6 * GIB, 1_000);
        let ledger = [running(2, 3 * GIB), big.clone()];
        let budget = 8 * GIB;
        // The big one does not fit next to the running one.
        assert_eq!(
            decide(5_000, &big, &ledger, budget, None),
            Decision::Wait(Wait::Budget)
        );
        // A small one, arrived later, fits: throughput.
        let small = entry(3, "small", State::Waiting, GIB, 4_000);
        assert_eq!(decide(5_000, &small, &ledger, budget, None), Decision::Admit);
        // 20 s after the big one started waiting (it still checks in), later arrivals wait.
        let mut starving = big.clone();
        starving.seen_ms = 20_900;
        let ledger = [running(2, 3 * GIB), starving.clone()];
        let later = entry(4, "later", State::Waiting, GIB, 20_000);
        assert_eq!(
            decide(21_000, &later, &ledger, budget, None),
            Decision::Wait(Wait::Behind { krate: "big".into() })
        );
        // Even with nothing running: the big one goes first.
        assert_eq!(
            decide(21_000, &later, std::slice::from_ref(&starving), budget, None),
            Decision::Wait(Wait::Behind { krate: "big".into() })
        );
        // 1 ms short of starving: no block.
        assert_eq!(decide(20_999, &later, &ledger, budget, None), Decision::Admit);
        // The starving one itself is not behind anyone, and goes alone when nothing runs.
        assert_eq!(
            decide(21_000, &starving, &ledger, budget, None),
            Decision::Wait(Wait::Budget)
        );
        assert_eq!(
            decide(21_000, &starving, std::slice::from_ref(&starving), budget, None),
            Decision::Admit
        );
        // An earlier arrival is not held back by a starving waiter behind it.
        let earlier = entry(5, "earlier", State::Waiting, GIB, 500);
        assert_eq!(decide(21_000, &earlier, &ledger, budget, None), Decision::Admit);
        // A starving waiter that stopped checking in (Ctrl-Z) holds no one back.
        assert_eq!(
            decide(20_900 + STALE_MS + 1, &later, &ledger, budget, None),
            Decision::Admit
        );
    }

    #[test]
    fn a_tie_in_the_line_is_broken_by_the_pid() {
        let mut a = entry(10, "a", State::Waiting, GIB, 0);
        let mut b = entry(11, "b", State::Waiting, GIB, 0);
        a.seen_ms = 30_000;
        b.seen_ms = 30_000;
        let ledger = [a.clone(), b.clone(), running(1, GIB)];
        assert_eq!(decide(30_000, &a, &ledger, 10 * GIB, None), Decision::Admit);
        assert_eq!(
            decide(30_000, &b, &ledger, 10 * GIB, None),
            Decision::Wait(Wait::Behind { krate: "a".into() })
        );
    }

    #[test]
    fn a_check_registers_admits_and_paces_the_notices() {
        let mut ledger = Ledger::default();
        ledger.entries.push(running(1, 3 * GIB));
        let me = entry(7, "hir_ty", State::Waiting, 3 * GIB / 2, 10_000);
        let budget = 4 * GIB;
        // First check: registered, waiting, too early to say anything.
        assert_eq!(
            check(&mut ledger, &me, 10_000, budget, || None, 8),
            Step::Waiting(None)
        );
        assert_eq!(ledger.entries.len(), 2);
        assert_eq!(ledger.entries[1].state, State::Waiting);
        // After a second of waiting: one notice, with the figures.
        assert_eq!(
            check(&mut ledger, &me, 11_000, budget, || None, 8),
            Step::Waiting(Some(
                "memsafe: waiting for memory: 1 GiB free, hir_ty needs ~1.5 GiB (1 running, 1 waiting)"
                    .into()
            ))
        );
        assert_eq!(ledger.last_notice_ms, 11_000);
        assert_eq!(ledger.entries[1].seen_ms, 11_000);
        // Another waiter checking 4.9 s later says nothing; 5 s later it does.
        let other = entry(8, "syn", State::Waiting, 5 * GIB, 0);
        assert_eq!(
            check(&mut ledger, &other, 15_900, budget, || None, 8),
            Step::Waiting(None)
        );
        assert!(matches!(
            check(&mut ledger, &other, 16_000, budget, || None, 8),
            Step::Waiting(Some(text)) if text.contains("syn needs ~5 GiB (1 running, 2 waiting)")
        ));
        // The running one leaves: the next check admits, and the entry says so. Its own
        // entry is the one in the ledger (one entry per pid, never two).
        ledger.entries.retain(|e| e.pid != 1);
        assert_eq!(
            check(&mut ledger, &me, 17_000, budget, || None, 8),
            Step::Admitted
        );
        let mine: Vec<&Entry> = ledger.entries.iter().filter(|e| e.pid == 7).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!((mine[0].state, mine[0].since_ms), (State::Running, 17_000));
        // A clock that went back (the notice time is in the future) does not silence them.
        ledger.last_notice_ms = u64::MAX;
        assert!(matches!(
            check(&mut ledger, &other, 18_000, budget, || None, 8),
            Step::Waiting(Some(text)) if text.contains("behind") || text.contains("syn")
        ));
    }

    #[test]
    fn a_stopped_compilation_holds_what_it_was_last_seen_holding() {
        // r1 reserved 3 GiB, holds 512 MiB, and last wrote at 0 (then Ctrl-Z).
        let mut stopped = running(1, 3 * GIB);
        stopped.current_bytes = 512 * MIB;
        stopped.seen_ms = 0;
        let me = entry(2, "me", State::Waiting, GIB, 0);
        let ledger = [stopped, me.clone()];
        // Still writing (within RUNNING_STALE_MS): its reservation counts, 3 + 1 > 3.5 GiB.
        assert_eq!(
            decide(RUNNING_STALE_MS, &me, &ledger, 7 * GIB / 2, None),
            Decision::Wait(Wait::Budget)
        );
        // Silent for longer: what it holds, 0.5 + 1 GiB fits.
        assert_eq!(
            decide(RUNNING_STALE_MS + 1, &me, &ledger, 7 * GIB / 2, None),
            Decision::Admit
        );
        // A forged reservation near u64::MAX does not wrap around the sum.
        let forged = running(9, u64::MAX);
        assert_eq!(
            decide(0, &me, &[forged, running(8, GIB), me.clone()], 7 * GIB / 2, None),
            Decision::Wait(Wait::Budget)
        );
    }

    #[test]
    fn the_notice_says_why_when_behind_a_starving_one() {
        let me = entry(3, "small", State::Waiting, GIB, 0);
        let text = notice_text(
            &me,
            &[running(1, GIB), me.clone()],
            0,
            4 * GIB,
            Some(2 * GIB + LIVE_MARGIN),
            &Wait::Behind { krate: "big".into() },
        );
        assert_eq!(
            text,
            "memsafe: waiting for memory: 1 GiB free, small needs ~1 GiB (1 running, 1 waiting), \
             behind big, which has waited longest"
        );
    }

    #[test]
    fn a_growing_compilation_raises_its_reservation_at_a_bounded_pace() {
        // Grown past its reservation: raised, but not twice within 200 ms.
        assert_eq!(report(GIB, 2 * GIB, 0, 200), Some(2 * GIB));
        assert_eq!(report(GIB, 2 * GIB, 1_000, 1_199), None);
        // Below its reservation: the reservation stays; the sample is refreshed every second.
        assert_eq!(report(2 * GIB, GIB, 0, 999), None);
        assert_eq!(report(2 * GIB, GIB, 0, 1_000), Some(2 * GIB));
    }

    #[test]
    fn at_most_as_many_compilations_run_as_the_machine_has_cpus() {
        let me = entry(9, "me", State::Waiting, MIB, 0);
        let two = [running(1, MIB), running(2, MIB)];
        // Memory for all; two CPUs, both taken: wait, without a notice.
        assert_eq!(
            decide_on(0, &me, &two, 100 * GIB, None, 2),
            Decision::Wait(Wait::Cpus)
        );
        assert_eq!(decide_on(0, &me, &two, 100 * GIB, None, 3), Decision::Admit);
        let mut ledger = Ledger {
            entries: two.to_vec(),
            ..Ledger::default()
        };
        // Every CPU taken: the live memory is not even read.
        let unread = || -> Option<u64> { unreachable!("the available memory was read") };
        assert_eq!(
            check(&mut ledger, &me, 60_000, 100 * GIB, unread, 2),
            Step::ForCpu
        );
        // A CPU free: it is read, and here it is too little.
        let mut read = false;
        let little = || {
            read = true;
            Some(0)
        };
        assert!(matches!(
            check(&mut ledger, &me, 60_000, 100 * GIB, little, 3),
            Step::Waiting(Some(text)) if text.contains("waiting for memory: 0 MiB free")
        ));
        assert!(read);
        // A stopped compilation (not seen for longer than RUNNING_STALE_MS) takes no CPU.
        let stopped = Entry {
            seen_ms: 0,
            ..running(1, MIB)
        };
        let now = RUNNING_STALE_MS + 1;
        assert_eq!(
            decide_on(now, &me, &[stopped, running(2, MIB)], 100 * GIB, None, 2),
            Decision::Admit
        );
        // Alone, always admitted, even with no CPU to count (no deadlock).
        assert_eq!(decide_on(0, &me, &[], 0, None, 0), Decision::Admit);
        // The memory rules still come first.
        assert_eq!(
            decide_on(0, &me, &[running(1, GIB)], GIB, None, 8),
            Decision::Wait(Wait::Budget)
        );
    }

    #[test]
    fn a_waiter_writes_its_check_in_at_most_every_second() {
        let me = entry(9, "me", State::Waiting, MIB, 0);
        let mut ledger = Ledger {
            entries: vec![running(1, MIB), running(2, MIB)],
            ..Ledger::default()
        };
        assert_eq!(check(&mut ledger, &me, 100, GIB, || None, 2), Step::ForCpu);
        let first = ledger.clone();
        // Checks within the second change nothing, so nothing is written.
        assert_eq!(
            check(&mut ledger, &me, 100 + SEEN_EVERY_MS - 1, GIB, || None, 2),
            Step::ForCpu
        );
        assert_eq!(ledger, first);
        // After it, the check-in moves.
        check(&mut ledger, &me, 100 + SEEN_EVERY_MS, GIB, || None, 2);
        assert_eq!(ledger.entries[2].seen_ms, 100 + SEEN_EVERY_MS);
    }
}
