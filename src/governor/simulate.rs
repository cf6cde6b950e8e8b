//! The simulator: a recorded build replayed on a machine that is not at hand (N CPUs, a memory
//! cap), under a fixed job count or under the governor's admission rule ([`admit::decide_on`],
//! the very function the wrapper calls). Pure: the build is an argument and time is simulated.
//!
//! What it replays, per compilation, from the wrapper's records:
//! - its work: the CPU time it used (user + system, the linker included); its recorded wall
//!   time where no CPU time was measured;
//! - the CPUs it keeps busy when it has them: its CPU time over its recorded wall time, at
//!   least 1 (rustc's code generation runs in several threads);
//! - its memory over its work: the anonymous profile (32 slices);
//! - what it waits for: cargo's graph, as the calibration's replay reads it
//!   ([`crate::calibrate`]): a library may start once what it reads has written its metadata
//!   (a fraction of the other's work, rounded up to a slice), a link once they ended, a build
//!   script's reader once the script ran (the recorded delay, in wall time).
//!
//! How the machine runs them: cargo keeps `jobs` compilations started, taking the ready one
//! with the most compilations waiting for it (directly or not, as cargo's own queue does),
//! in recorded order among equals, whenever one ends. The running ones share the CPUs: each gets what it
//! asks for while the CPUs suffice, all slow down in proportion beyond. Memory is cargo's own
//! plus each running compilation's profile at its progress; above the cap the build is killed
//! (what a memory cgroup without swap does). Under the governor cargo runs as many jobs as
//! CPUs (or as given), and a started compilation waits (holding cargo's job token) until `admit::decide_on`
//! admits it against the budget, the memory the cap leaves and the CPUs, predicted at its own last peak
//! plus the governor's margin (a history that knows the project, as from the second governed
//! build on). Its reservation rises with its memory, as the wrapper's does.
//!
//! Not modelled: the time a compilation spends outside the CPU (disk, the page cache), cargo's
//! own work and build scripts' runs beyond their recorded delay, the job tokens' effect on a
//! compilation's memory, memory the kernel could reclaim.

use super::admit::{self, Decision};
use super::history::SAFETY_PERCENT;
use super::ledger::{Entry, State};
use crate::calibrate::Invocation;

/// One compilation as the simulator replays it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Unit {
    pub krate: String,
    /// CPU milliseconds of work.
    pub work: f64,
    /// The CPUs it keeps busy when it has them (at least 1).
    pub demand: f64,
    /// Its memory over its work, in equal slices.
    pub slices: Vec<u64>,
    /// What the governor predicts for it.
    pub predicted: u64,
    /// What it waits for: an earlier unit's index, and when.
    pub waits: Vec<(usize, After)>,
    /// How many units wait for it, directly or not (cargo starts those first).
    pub dependents: usize,
}

/// When a wait is over.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum After {
    /// The other has done this many of its slices.
    Slices(usize),
    /// The other ended this many milliseconds ago.
    End(f64),
}

/// The units of a recorded build, in recorded start order.
pub(crate) fn units(build: &[Invocation]) -> Vec<Unit> {
    let order = crate::calibrate::start_order(build);
    let loads = crate::calibrate::loads(&order, crate::calibrate::shared_bytes(build));
    order
        .iter()
        .zip(loads)
        .map(|(invocation, load)| {
            let wall = invocation.duration_ms.max(1) as f64;
            let work = invocation.cpu_ms.filter(|c| *c > 0).map_or(wall, |c| c as f64);
            let peak = load.slices.iter().copied().max().unwrap_or(0);
            let slices = load.slices.len().max(1);
            let waits = load
                .waits
                .iter()
                .map(|&(j, after)| {
                    let duration = order[j].duration_ms.max(1);
                    let wait = if after < duration {
                        // Rounded up: the simulator's moments are the ends of slices.
                        After::Slices(
                            usize::try_from((after * slices as u64).div_ceil(duration)).unwrap_or(slices),
                        )
                    } else {
                        After::End((after - duration) as f64)
                    };
                    (j, wait)
                })
                .collect();
            Unit {
                krate: invocation.krate.clone(),
                work,
                demand: (work / wall).max(1.0),
                slices: load.slices,
                predicted: peak.saturating_mul(SAFETY_PERCENT) / 100,
                waits,
                dependents: load.dependents,
            }
        })
        .collect()
}

/// How cargo and memsafe run the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// cargo with this many jobs, no governor.
    Fixed(u32),
    /// cargo with `jobs` jobs (the CPUs, as the governor plans them), each compilation
    /// admitted by the governor within `budget`.
    Governor { budget: u64, jobs: u32 },
}

/// What a simulated build came to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Outcome {
    /// Until the last compilation ended, or until the kill.
    pub wall_ms: f64,
    /// The most memory held at once (cargo's own included).
    pub peak_bytes: u64,
    /// Killed for going over the cap.
    pub killed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Pending,
    /// Started by cargo, waiting for the governor since then.
    Waiting(f64),
    /// Running: slices done, and progress into the next one in CPU ms.
    Running {
        done: usize,
        into: f64,
        since: f64,
    },
    Ended(f64),
}

/// `units` on `cpus` CPUs under `cap` bytes, cargo itself holding `cargo_bytes`.
pub(crate) fn simulate(units: &[Unit], cpus: u32, cap: u64, cargo_bytes: u64, policy: Policy) -> Outcome {
    let cpus = f64::from(cpus.max(1));
    let jobs = match policy {
        Policy::Fixed(jobs) | Policy::Governor { jobs, .. } => jobs.max(1) as usize,
    };
    let mut phase = vec![Phase::Pending; units.len()];
    // cargo's order among ready compilations: the most dependents first (cargo's
    // `DependencyQueue` priority), then the recorded order.
    let mut by_priority: Vec<usize> = (0..units.len()).collect();
    by_priority.sort_by_key(|&i| (std::cmp::Reverse(units[i].dependents), i));
    let mut reserved: Vec<u64> = units.iter().map(|u| u.predicted).collect();
    let mut now = 0.0f64;
    let mut peak = cargo_bytes;
    let slice_work = |u: &Unit| u.work / u.slices.len().max(1) as f64;
    let held = |u: &Unit, p: &Phase| match p {
        Phase::Running { done, .. } => u.slices.get(*done).copied().unwrap_or(0),
        _ => 0,
    };
    loop {
        // cargo starts what is ready while it has job tokens.
        let started = phase
            .iter()
            .filter(|p| matches!(p, Phase::Waiting(_) | Phase::Running { .. }))
            .count();
        let mut free = jobs.saturating_sub(started);
        for &i in &by_priority {
            if free == 0 {
                break;
            }
            if phase[i] == Phase::Pending && ready(&units[i], &phase, now) {
                phase[i] = match policy {
                    Policy::Fixed(_) => Phase::Running {
                        done: 0,
                        into: 0.0,
                        since: now,
                    },
                    Policy::Governor { .. } => Phase::Waiting(now),
                };
                free -= 1;
            }
        }
        // The governor admits, first come first served, as its rule allows.
        if let Policy::Governor { budget, .. } = policy {
            let mut waiting: Vec<usize> = (0..units.len())
                .filter(|&i| matches!(phase[i], Phase::Waiting(_)))
                .collect();
            waiting.sort_by(|&a, &b| since(&phase[a]).total_cmp(&since(&phase[b])).then(a.cmp(&b)));
            for i in waiting {
                let used = cargo_bytes + (0..units.len()).map(|j| held(&units[j], &phase[j])).sum::<u64>();
                let ms = now as u64;
                let entry = |j: usize| Entry {
                    pid: u32::try_from(j).unwrap_or(u32::MAX),
                    start_time: None,
                    krate: units[j].krate.clone(),
                    kind: String::new(),
                    reserved_bytes: reserved[j],
                    state: if matches!(phase[j], Phase::Waiting(_)) {
                        State::Waiting
                    } else {
                        State::Running
                    },
                    since_ms: since(&phase[j]) as u64,
                    current_bytes: held(&units[j], &phase[j]),
                    seen_ms: ms,
                };
                let ledger: Vec<Entry> = (0..units.len())
                    .filter(|&j| matches!(phase[j], Phase::Waiting(_) | Phase::Running { .. }))
                    .map(entry)
                    .collect();
                if admit::decide_on(
                    ms,
                    &entry(i),
                    &ledger,
                    budget,
                    Some(cap.saturating_sub(used)),
                    cpus as usize,
                ) == Decision::Admit
                {
                    phase[i] = Phase::Running {
                        done: 0,
                        into: 0.0,
                        since: now,
                    };
                }
            }
        }
        // Memory now, and the kill.
        let used = cargo_bytes + (0..units.len()).map(|j| held(&units[j], &phase[j])).sum::<u64>();
        peak = peak.max(used);
        if used > cap {
            return Outcome {
                wall_ms: now,
                peak_bytes: peak,
                killed: true,
            };
        }
        for j in 0..units.len() {
            reserved[j] = reserved[j].max(held(&units[j], &phase[j]));
        }
        // The next moment something changes: a running compilation finishes a slice, or a
        // script's run ends.
        let demand: f64 = (0..units.len())
            .filter(|&j| matches!(phase[j], Phase::Running { .. }))
            .map(|j| units[j].demand)
            .sum();
        let share = if demand > cpus { cpus / demand } else { 1.0 };
        let mut step = f64::INFINITY;
        for (j, unit) in units.iter().enumerate() {
            if let Phase::Running { into, .. } = phase[j] {
                step = step.min((slice_work(unit) - into).max(0.0) / (unit.demand * share));
            }
        }
        for unit in units
            .iter()
            .zip(&phase)
            .filter(|(_, p)| **p == Phase::Pending)
            .map(|(u, _)| u)
        {
            for &(j, after) in &unit.waits {
                if let (Phase::Ended(end), After::End(delay)) = (phase[j], after)
                    && end + delay > now
                {
                    step = step.min(end + delay - now);
                }
            }
        }
        if !step.is_finite() {
            // Nothing runs and nothing will: the end (or a bad graph; the rest start now).
            match phase.iter().position(|p| *p == Phase::Pending) {
                Some(i) => {
                    phase[i] = Phase::Running {
                        done: 0,
                        into: 0.0,
                        since: now,
                    };
                    continue;
                }
                None => {
                    return Outcome {
                        wall_ms: now,
                        peak_bytes: peak,
                        killed: false,
                    };
                }
            }
        }
        now += step;
        for (j, unit) in units.iter().enumerate() {
            if let Phase::Running { done, into, since } = phase[j] {
                let into = into + step * unit.demand * share;
                phase[j] = if into + 1e-9 >= slice_work(unit) {
                    if done + 1 >= unit.slices.len().max(1) {
                        Phase::Ended(now)
                    } else {
                        Phase::Running {
                            done: done + 1,
                            into: 0.0,
                            since,
                        }
                    }
                } else {
                    Phase::Running { done, into, since }
                };
            }
        }
    }
}

fn since(phase: &Phase) -> f64 {
    match phase {
        Phase::Waiting(since) | Phase::Running { since, .. } => *since,
        _ => 0.0,
    }
}

/// Whether everything `unit` waits for is over at `now`.
fn ready(unit: &Unit, phase: &[Phase], now: f64) -> bool {
    unit.waits.iter().all(|&(j, after)| match (phase[j], after) {
        (Phase::Ended(end), After::End(delay)) => end + delay <= now,
        (Phase::Ended(_), After::Slices(_)) => true,
        (Phase::Running { done, .. }, After::Slices(slices)) => done >= slices,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::Place;

    const MIB: u64 = 1 << 20;

    /// A unit of `work` CPU ms holding `mib` throughout, waiting for `waits`.
    fn unit(krate: &str, work: f64, mib: u64, waits: Vec<(usize, After)>) -> Unit {
        Unit {
            krate: krate.into(),
            work,
            demand: 1.0,
            slices: vec![mib * MIB; 4],
            predicted: mib * MIB * SAFETY_PERCENT / 100,
            waits,
            dependents: 0,
        }
    }

    fn secs(outcome: Outcome) -> f64 {
        outcome.wall_ms / 1000.0
    }

    #[test]
    fn fixed_jobs_share_the_cpus_and_add_up_their_memory() {
        let two = [unit("a", 1000.0, 100, vec![]), unit("b", 1000.0, 100, vec![])];
        let big = 1 << 40;
        // One CPU: two jobs share it (2 s, both held at once); one job runs them in turn.
        let shared = simulate(&two, 1, big, 10 * MIB, Policy::Fixed(2));
        assert_eq!((secs(shared), shared.peak_bytes), (2.0, 210 * MIB));
        let alone = simulate(&two, 1, big, 10 * MIB, Policy::Fixed(1));
        assert_eq!((secs(alone), alone.peak_bytes), (2.0, 110 * MIB));
        // Two CPUs: side by side in 1 s.
        assert_eq!(secs(simulate(&two, 2, big, 10 * MIB, Policy::Fixed(2))), 1.0);
        // A compilation that keeps two CPUs busy takes both.
        let wide = [Unit {
            demand: 2.0,
            ..unit("w", 2000.0, 100, vec![])
        }];
        assert_eq!(secs(simulate(&wide, 2, big, 0, Policy::Fixed(1))), 1.0);
    }

    #[test]
    fn nothing_starts_before_what_it_waits_for() {
        // `b` reads `a`'s metadata, written half-way; `c` links `a`; `d` reads a script's
        // output, 500 ms after `a` ended.
        let units = [
            unit("a", 1000.0, 100, vec![]),
            unit("b", 1000.0, 100, vec![(0, After::Slices(2))]),
            unit("c", 1000.0, 100, vec![(0, After::End(0.0))]),
            unit("d", 1000.0, 100, vec![(0, After::End(500.0))]),
        ];
        let outcome = simulate(&units, 4, 1 << 40, 0, Policy::Fixed(4));
        // a: 0-1 s; b: 0.5-1.5; c: 1-2; d: 1.5-2.5. Never more than two at once.
        assert_eq!(secs(outcome), 2.5);
        assert_eq!(outcome.peak_bytes, 200 * MIB);
    }

    #[test]
    fn over_the_cap_a_fixed_count_is_killed_where_the_governor_waits() {
        let four: Vec<Unit> = (0..4)
            .map(|i| unit(&format!("c{i}"), 1000.0, 300, vec![]))
            .collect();
        let cap = 1000 * MIB;
        let fixed = simulate(&four, 4, cap, 50 * MIB, Policy::Fixed(4));
        assert!(fixed.killed);
        assert_eq!(fixed.peak_bytes, 1250 * MIB);
        // The governor, within 800 MiB: two at a time (2 x 330 predicted fits, 3 do not).
        let governed = simulate(
            &four,
            4,
            cap,
            50 * MIB,
            Policy::Governor {
                budget: 800 * MIB,
                jobs: 4,
            },
        );
        assert!(!governed.killed);
        assert_eq!((secs(governed), governed.peak_bytes), (2.0, 650 * MIB));
        // A compilation larger than the budget still runs, alone: no deadlock.
        let huge = [
            unit("huge", 1000.0, 900, vec![]),
            unit("small", 1000.0, 10, vec![]),
        ];
        let governed = simulate(
            &huge,
            2,
            cap,
            0,
            Policy::Governor {
                budget: 500 * MIB,
                jobs: 2,
            },
        );
        assert!(!governed.killed);
        assert_eq!(secs(governed), 2.0);
    }

    #[test]
    fn units_come_from_the_records_with_their_cpu_time_and_graph() {
        let record = |krate: &str, kind: &str, start_ms, duration_ms, cpu_ms, place| Invocation {
            krate: String::from(krate),
            kind: String::from(kind),
            start_ms,
            duration_ms,
            peak_bytes: 200 * MIB,
            exit_code: 0,
            anon_peak_bytes: Some(100 * MIB),
            anon_profile: Some(vec![50 * MIB, 100 * MIB]),
            place,
            cpu_ms,
        };
        let place = |unit: &str, deps: &[&str]| Place {
            unit: Some(unit.into()),
            deps: deps.iter().map(|d| (*d).to_string()).collect(),
            ..Place::default()
        };
        let build = [
            record("b", "lib", 250, 1000, Some(800), place("b1", &["a1"])),
            record("a", "lib", 0, 1000, Some(3000), place("a1", &[])),
            record("app", "bin", 1000, 100, None, place("c1", &["a1", "b1"])),
        ];
        let units = units(&build);
        let names: Vec<&str> = units.iter().map(|u| u.krate.as_str()).collect();
        assert_eq!(names, ["a", "b", "app"]);
        // `a` kept three CPUs busy; `b` less than one (contention): 1; `app`: its wall time.
        assert_eq!((units[0].work, units[0].demand), (3000.0, 3.0));
        assert_eq!((units[1].work, units[1].demand), (800.0, 1.0));
        assert_eq!((units[2].work, units[2].demand), (100.0, 1.0));
        // `b` started a quarter into `a` (its metadata): after the first of two slices.
        assert_eq!(units[1].waits, [(0, After::Slices(1))]);
        assert_eq!(units[2].waits, [(0, After::End(0.0)), (1, After::End(0.0))]);
        assert_eq!(units[0].predicted, 110 * MIB);
    }
}
