//! `memsafe governor status`: the governor's budget, the memory available now, and the
//! compilations running and waiting, from the ledger (pruned of dead processes on the way).

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{GovernorCommand, GovernorSimulateArgs, GovernorStatusArgs};
use crate::governor::admit::{self, Decision, Wait};
use crate::governor::history::History;
use crate::governor::ledger::{Entry, Ledger, LedgerDir, State};
use crate::governor::run::now_ms;
use crate::governor::{Paths, live, simulate};
use crate::hardware::format_size;
use crate::ui::{self, Printer};

/// `memsafe governor ...`.
pub(crate) fn governor(command: &GovernorCommand, printer: Printer) -> Result<()> {
    match command {
        GovernorCommand::Status(args) => status(args, printer),
        GovernorCommand::Simulate(args) => simulate(args, printer),
    }
}

/// One simulated machine: fixed job counts and the governor, under one cap.
#[derive(Debug, Serialize)]
pub(crate) struct Machine {
    pub cpus: u32,
    pub memory_bytes: u64,
    /// The governor's budget there (memsafe's plan for a container of that size).
    pub budget_bytes: u64,
    pub fixed: Vec<Simulated>,
    pub governor: Simulated,
    /// The fastest fixed job count that was not killed, if any.
    pub best_fixed_jobs: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Simulated {
    pub jobs: u32,
    pub wall_ms: u64,
    pub peak_bytes: u64,
    pub killed: bool,
}

/// The job counts compared on `cpus` CPUs: those given, or the default ladder.
fn ladder(given: &[u32], cpus: u32) -> Vec<u32> {
    let mut jobs: Vec<u32> = if given.is_empty() {
        [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
            .into_iter()
            .filter(|&j| j <= cpus)
            .collect()
    } else {
        given.to_vec()
    };
    jobs.sort_unstable();
    jobs.dedup();
    jobs
}

/// Simulates `units` on each machine. Pure.
pub(crate) fn machines(
    units: &[simulate::Unit],
    cpus: &[u32],
    memory: &[u64],
    jobs: &[u32],
    governor_jobs: Option<u32>,
    cargo_bytes: u64,
) -> Vec<Machine> {
    let outcome = |jobs: u32, o: simulate::Outcome| Simulated {
        jobs,
        wall_ms: o.wall_ms.round() as u64,
        peak_bytes: o.peak_bytes,
        killed: o.killed,
    };
    let mut out = Vec::new();
    for &cpus in cpus {
        for &memory_bytes in memory {
            let budget_bytes = live::budget_for(memory_bytes);
            let run = |policy| simulate::simulate(units, cpus, memory_bytes, cargo_bytes, policy);
            let fixed: Vec<Simulated> = ladder(jobs, cpus)
                .into_iter()
                .map(|j| outcome(j, run(simulate::Policy::Fixed(j))))
                .collect();
            let best_fixed_jobs = fixed
                .iter()
                .filter(|f| !f.killed)
                .min_by_key(|f| (f.wall_ms, f.jobs))
                .map(|f| f.jobs);
            let jobs = governor_jobs.unwrap_or(cpus);
            let governor = outcome(
                jobs,
                run(simulate::Policy::Governor {
                    budget: budget_bytes,
                    jobs,
                }),
            );
            out.push(Machine {
                cpus,
                memory_bytes,
                budget_bytes,
                fixed,
                governor,
                best_fixed_jobs,
            });
        }
    }
    out
}

/// `memsafe governor simulate`.
fn simulate(args: &GovernorSimulateArgs, _printer: Printer) -> Result<()> {
    let project = crate::project::find(&std::env::current_dir().context("cannot read the current folder")?)?;
    let build = crate::session::last_build(&project.root).ok_or_else(|| {
        anyhow::anyhow!(
            "no measured build of this project (of at least {} compilations) in the governor's \
             history; run `memsafe calibrate`, or build once with the governor on",
            crate::governor::history::MIN_BUILD
        )
    })?;
    let units = simulate::units(&crate::governor::history::invocations(&build));
    let machines = machines(
        &units,
        &args.cpus,
        &args.memory,
        &args.jobs,
        args.governor_jobs,
        args.cargo_memory,
    );
    if args.json {
        ui::data(format!(
            "{}\n",
            serde_json::to_string_pretty(&machines).context("cannot print the simulation")?
        ));
        return Ok(());
    }
    ui::data(simulation_text(&machines, units.len()));
    Ok(())
}

/// The simulation as a table.
pub(crate) fn simulation_text(machines: &[Machine], compilations: usize) -> String {
    use std::fmt::Write;
    let seconds = |s: &Simulated| {
        if s.killed {
            format!("killed at {:.0} s", s.wall_ms as f64 / 1000.0)
        } else {
            format!("{:.0} s", s.wall_ms as f64 / 1000.0)
        }
    };
    let mut out = format!(
        "{compilations} compilations replayed; times and peaks are estimates\n\n\
         | CPUs | memory | best fixed jobs | its time | fixed, all CPUs | governor | governor peak | governor / best |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n"
    );
    for m in machines {
        let best = m
            .best_fixed_jobs
            .and_then(|j| m.fixed.iter().find(|f| f.jobs == j));
        let all = m.fixed.iter().max_by_key(|f| f.jobs);
        let ratio = match best {
            Some(b) if !m.governor.killed => {
                format!("{:.2}", m.governor.wall_ms as f64 / b.wall_ms.max(1) as f64)
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {ratio} |",
            m.cpus,
            format_size(m.memory_bytes),
            best.map_or("none survives".into(), |b| b.jobs.to_string()),
            best.map_or("-".into(), seconds),
            all.map_or("-".into(), |a| format!("{} jobs: {}", a.jobs, seconds(a))),
            seconds(&m.governor),
            format_size(m.governor.peak_bytes),
        );
    }
    out
}

/// What `status` shows; `--json` prints it as it is.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub budget_bytes: u64,
    /// How the budget was found.
    pub budget_source: String,
    /// Live available memory; `null` where it is not known.
    pub available_bytes: Option<u64>,
    pub available_source: String,
    pub ledger: String,
    pub running: Vec<Running>,
    pub waiting: Vec<Waiting>,
    pub history: HistoryStatus,
}

#[derive(Debug, Serialize)]
pub(crate) struct Running {
    pub pid: u32,
    #[serde(rename = "crate")]
    pub krate: String,
    pub kind: String,
    pub reserved_bytes: u64,
    /// The last sample of its memory (0 before the first).
    pub current_bytes: u64,
    pub running_ms: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct Waiting {
    pub pid: u32,
    #[serde(rename = "crate")]
    pub krate: String,
    pub kind: String,
    pub needs_bytes: u64,
    pub waited_ms: u64,
    /// What it waits for now, by the governor's rule.
    pub why: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct HistoryStatus {
    pub path: String,
    /// Compilations recorded.
    pub records: usize,
    pub bytes: u64,
    /// memsafe's own CPU time a compilation, on average over the records that carry it
    /// (microseconds); `null` when none does.
    pub own_cpu_us_per_compilation: Option<u64>,
    /// Of that, what was used before memsafe's `main` began (its start, cargo's `fork` left
    /// to it), on average over the records that carry it; `null` when none does.
    pub start_cpu_us_per_compilation: Option<u64>,
    /// Why it could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `entry` (waiting) waits for now, in words, by [`admit::decide_on`].
fn waits_for(
    entry: &Entry,
    ledger: &Ledger,
    now_ms: u64,
    budget: u64,
    available: Option<u64>,
    cpus: usize,
) -> String {
    match admit::decide_on(now_ms, entry, &ledger.entries, budget, available, cpus) {
        Decision::Admit => "about to start".into(),
        Decision::Wait(Wait::Budget) => "for memory: the running reservations fill the budget".into(),
        Decision::Wait(Wait::Memory) => "for memory: not enough available now".into(),
        Decision::Wait(Wait::Behind { krate }) => format!("behind {krate}, which has waited longest"),
        Decision::Wait(Wait::Cpus) => "for a CPU".into(),
    }
}

/// The status from its parts. Pure: `now_ms` is given.
pub(crate) fn collect(
    ledger: &Ledger,
    now_ms: u64,
    budget: &live::Budget,
    available: &live::Available,
    ledger_path: String,
    history: HistoryStatus,
    cpus: usize,
) -> Status {
    let running = ledger
        .entries
        .iter()
        .filter(|e| e.state == State::Running)
        .map(|e| Running {
            pid: e.pid,
            krate: e.krate.clone(),
            kind: e.kind.clone(),
            reserved_bytes: e.reserved_bytes,
            current_bytes: e.current_bytes,
            running_ms: now_ms.saturating_sub(e.since_ms),
        })
        .collect();
    let waiting = ledger
        .entries
        .iter()
        .filter(|e| e.state == State::Waiting)
        .map(|e| Waiting {
            pid: e.pid,
            krate: e.krate.clone(),
            kind: e.kind.clone(),
            needs_bytes: e.reserved_bytes,
            waited_ms: now_ms.saturating_sub(e.since_ms),
            why: waits_for(e, ledger, now_ms, budget.bytes, available.bytes, cpus),
        })
        .collect();
    let mut budget_source = budget.why.clone();
    if let Some(warning) = &budget.warning {
        budget_source = format!("{budget_source} ({warning})");
    }
    Status {
        budget_bytes: budget.bytes,
        budget_source,
        available_bytes: available.bytes,
        available_source: available.source.clone(),
        ledger: ledger_path,
        running,
        waiting,
        history,
    }
}

/// memsafe's own CPU time a compilation, on average over the `records` that carry it.
pub(crate) fn own_cpu_per_compilation(records: &[crate::governor::history::Record]) -> Option<u64> {
    mean_of(records, |r| r.own_cpu_us)
}

/// The part of [`own_cpu_per_compilation`] used before memsafe's `main` began.
pub(crate) fn start_cpu_per_compilation(records: &[crate::governor::history::Record]) -> Option<u64> {
    mean_of(records, |r| r.start_cpu_us)
}

/// The mean of what `field` gives, over the `records` that have it.
fn mean_of(
    records: &[crate::governor::history::Record],
    field: impl Fn(&crate::governor::history::Record) -> Option<u64>,
) -> Option<u64> {
    let own: Vec<u128> = records.iter().filter_map(|r| field(r).map(u128::from)).collect();
    let count = u128::try_from(own.len()).ok().filter(|&n| n > 0)?;
    u64::try_from(own.iter().sum::<u128>() / count).ok()
}

/// `12 s`, `0.4 s`, `3 min 5 s`.
pub(crate) fn duration_words(ms: u64) -> String {
    match ms {
        0..1_000 => format!("0.{} s", ms / 100),
        1_000..60_000 => format!("{} s", ms / 1_000),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1_000),
    }
}

/// The status in words.
pub(crate) fn status_text(status: &Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "budget     {} ({})",
        format_size(status.budget_bytes),
        status.budget_source
    );
    let available = status
        .available_bytes
        .map_or_else(|| "unknown".into(), format_size);
    let _ = writeln!(out, "available  {available} ({})", status.available_source);
    let _ = writeln!(out, "ledger     {}", status.ledger);
    let _ = writeln!(out, "running    {}", status.running.len());
    for r in &status.running {
        let now = if r.current_bytes > 0 {
            format!(", now {}", format_size(r.current_bytes))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {} ({}): reserved {}{now}, for {} (pid {})",
            r.krate,
            r.kind,
            format_size(r.reserved_bytes),
            duration_words(r.running_ms),
            r.pid
        );
    }
    let _ = writeln!(out, "waiting    {}", status.waiting.len());
    for w in &status.waiting {
        let _ = writeln!(
            out,
            "  {} ({}): needs {}, waited {}, {} (pid {})",
            w.krate,
            w.kind,
            format_size(w.needs_bytes),
            duration_words(w.waited_ms),
            w.why,
            w.pid
        );
    }
    let history = &status.history;
    match &history.error {
        Some(error) => {
            let _ = writeln!(out, "history    {} (cannot be read: {error})", history.path);
        }
        None => {
            let own = history
                .own_cpu_us_per_compilation
                .map(|us| {
                    let start = history
                        .start_cpu_us_per_compilation
                        .map(|start| {
                            format!(
                                ", {:.1} ms of it before memsafe's main (its start, and the freeing of cargo's fork, which a compilation without memsafe pays too)",
                                start as f64 / 1000.0
                            )
                        })
                        .unwrap_or_default();
                    format!(
                        "; memsafe's own CPU time {:.1} ms a compilation{start}",
                        us as f64 / 1000.0
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "history    {} ({}, {}{own})",
                history.path,
                crate::plan::count(u32::try_from(history.records).unwrap_or(u32::MAX), "compilation"),
                // Below 1 MiB in KiB: a history of a few records is not "1 MiB".
                if history.bytes < 1 << 20 {
                    format!("{} KiB", history.bytes.div_ceil(1 << 10))
                } else {
                    format_size(history.bytes)
                }
            );
        }
    }
    out
}

fn status(args: &GovernorStatusArgs, _printer: Printer) -> Result<()> {
    let paths = Paths::from_env()?;
    let dir = LedgerDir::open(&paths.ledger)?;
    let ledger = dir.update(|l| l.clone())?;
    let budget = live::budget();
    let available = live::available();
    let history = match History::load(&paths.history) {
        Ok(loaded) => HistoryStatus {
            path: paths.history.display().to_string(),
            records: loaded.records.len(),
            bytes: std::fs::metadata(&paths.history).map_or(0, |m| m.len()),
            own_cpu_us_per_compilation: own_cpu_per_compilation(&loaded.records),
            start_cpu_us_per_compilation: start_cpu_per_compilation(&loaded.records),
            error: (loaded.bad_lines > 0).then(|| format!("lines that do not parse: {}", loaded.bad_lines)),
        },
        Err(error) => HistoryStatus {
            path: paths.history.display().to_string(),
            records: 0,
            bytes: 0,
            own_cpu_us_per_compilation: None,
            start_cpu_us_per_compilation: None,
            error: Some(error.to_string()),
        },
    };
    let status = collect(
        &ledger,
        now_ms(),
        &budget,
        &available,
        dir.file().display().to_string(),
        history,
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    );
    if args.json {
        ui::data(format!(
            "{}\n",
            serde_json::to_string_pretty(&status).context("cannot print the status")?
        ));
    } else {
        ui::data(status_text(&status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn memsafe_s_own_cost_is_averaged_over_the_records_that_carry_it() {
        let record = |own: Option<u64>| {
            let own = own.map(|us| format!(r#","own_cpu_us":{us}"#)).unwrap_or_default();
            serde_json::from_str::<crate::governor::history::Record>(&format!(
                r#"{{"crate":"a","kind":"lib","rustc":"r","peak_bytes":1,"duration_ms":1,"at_ms":1{own}}}"#
            ))
            .unwrap()
        };
        // Older records (before memsafe recorded its cost) do not count as 0.
        let records = [record(Some(4_000)), record(None), record(Some(8_000))];
        assert_eq!(own_cpu_per_compilation(&records), Some(6_000));
        assert_eq!(own_cpu_per_compilation(&records[1..2]), None);
        // What was used before memsafe's main, where a record says.
        let started = serde_json::from_str::<crate::governor::history::Record>(
            r#"{"crate":"a","kind":"lib","rustc":"r","peak_bytes":1,"duration_ms":1,"at_ms":1,"own_cpu_us":9000,"start_cpu_us":3000}"#,
        )
        .unwrap();
        let records = [records[0].clone(), started];
        assert_eq!(start_cpu_per_compilation(&records), Some(3_000));
        assert_eq!(own_cpu_per_compilation(&records), Some(6_500));
        // A hand-made history's largest values do not overflow the sum.
        let huge = [record(Some(u64::MAX)), record(Some(u64::MAX))];
        assert_eq!(own_cpu_per_compilation(&huge), Some(u64::MAX));
        assert_eq!(own_cpu_per_compilation(&[]), None);
    }

    #[test]
    fn the_status_lists_running_and_waiting_compilations() {
        let entry = |pid, krate: &str, state, reserved, since_ms, current_bytes| Entry {
            pid,
            start_time: None,
            krate: krate.into(),
            kind: "lib".into(),
            reserved_bytes: reserved,
            state,
            since_ms,
            current_bytes,
            seen_ms: since_ms,
        };
        let ledger = Ledger {
            version: 1,
            last_notice_ms: 0,
            entries: vec![
                // Running, and seen half a second ago (not stopped).
                Entry {
                    seen_ms: 13_000,
                    ..entry(10, "hir_ty", State::Running, 3 * GIB / 2, 1_000, 1_288_490_189)
                },
                entry(11, "syn", State::Waiting, GIB, 9_000, 0),
            ],
        };
        let budget = live::Budget {
            bytes: 4 * GIB,
            why: "MEMSAFE_GOVERNOR_BUDGET=4GiB".into(),
            warning: None,
        };
        let available = live::Available {
            bytes: None,
            source: "unknown".into(),
        };
        let history = HistoryStatus {
            path: "/c/h.jsonl".into(),
            records: 3,
            bytes: 300,
            own_cpu_us_per_compilation: Some(6_240),
            start_cpu_us_per_compilation: Some(2_910),
            error: None,
        };
        let status = collect(
            &ledger,
            13_500,
            &budget,
            &available,
            "/g/ledger.json".into(),
            history,
            1,
        );
        assert_eq!(
            status_text(&status),
            "budget     4 GiB (MEMSAFE_GOVERNOR_BUDGET=4GiB)\n\
             available  unknown (unknown)\n\
             ledger     /g/ledger.json\n\
             running    1\n  \
             hir_ty (lib): reserved 1.5 GiB, now 1.2 GiB, for 12 s (pid 10)\n\
             waiting    1\n  \
             syn (lib): needs 1 GiB, waited 4 s, for a CPU (pid 11)\n\
             history    /c/h.jsonl (3 compilations, 1 KiB; memsafe's own CPU time 6.2 ms a compilation, 2.9 ms of it before memsafe's main (its start, and the freeing of cargo's fork, which a compilation without memsafe pays too))\n"
        );
        // With CPUs to spare, what holds it back is the budget: 1.5 GiB reserved + 1 > 2 GiB.
        let tight = live::Budget {
            bytes: 2 * GIB,
            ..budget
        };
        let history = HistoryStatus {
            path: String::new(),
            records: 0,
            bytes: 0,
            own_cpu_us_per_compilation: None,
            start_cpu_us_per_compilation: None,
            error: None,
        };
        let status = collect(&ledger, 13_500, &tight, &available, String::new(), history, 8);
        assert_eq!(
            status.waiting[0].why,
            "for memory: the running reservations fill the budget"
        );
        assert!(!status_text(&status).contains("own CPU"));
        assert_eq!(duration_words(400), "0.4 s");
        assert_eq!(duration_words(185_000), "3 min 5 s");
    }
}
