//! The model: from the measured compilations to a build's peak at each job count. Pure.

use serde::{Deserialize, Serialize};

use crate::hardware::format_size;

/// Memory of cargo itself during a build, added to every estimate where it was not measured.
pub const CARGO_BYTES: u64 = 100 << 20;

/// The largest job count the estimates cover.
pub const MAX_JOBS: usize = 64;

/// One rustc run, as the wrapper recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    #[serde(rename = "crate")]
    pub krate: String,
    /// `lib`, `bin`, `test`, `proc-macro`, `build-script`, ...
    pub kind: String,
    pub start_ms: u64,
    pub duration_ms: u64,
    /// `ru_maxrss`: an upper bound, which counts rustc's shared library and mapped files.
    pub peak_bytes: u64,
    pub exit_code: i32,
    /// Linux: the peak of the anonymous (and shared-memory) pages of rustc and the processes
    /// below it, the linker included ([`crate::procmem`]): the memory a cgroup or the OOM
    /// killer runs out of. `None` where it is not measured (other systems, older logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anon_peak_bytes: Option<u64>,
    /// Linux (macOS: the physical footprint): the anonymous memory over the compilation's
    /// time, the largest sample in each of [`crate::procmem::SLICES`] equal slices of its
    /// duration, so that the replay adds up what compilations hold at the same moment, not
    /// their peaks wherever they fall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anon_profile: Option<Vec<u64>>,
    /// Where it sits in cargo's graph of compilations, so that a replay on another job count
    /// starts nothing before what it waits for.
    #[serde(flatten)]
    pub place: Place,
    /// The CPU time it used (user + system, the linker included), where measured (Unix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
}

/// Where a compilation sits in cargo's graph of compilations, from rustc's arguments and the
/// environment cargo gives it. Empty in an older log: the replay then keeps the recorded order
/// only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// cargo's name for this compilation: the hash in its `-C extra-filename=-HASH`, which is
    /// also in the names of the files it writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The compilations it reads (`--extern name=.../libname-HASH.rlib`): their hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<String>,
    /// Set on a build script's compilation and on a compilation that reads a build script's
    /// output (cargo gives it `OUT_DIR`), as `name@version` of the package: the second waits
    /// for the first to be built and run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_of: Option<String>,
    /// The folder of the package, for a package of the workspace being built (cargo sets
    /// `CARGO_PRIMARY_PACKAGE` for those, and `CARGO_MANIFEST_DIR`): tells whose build a
    /// target folder shared by several projects holds. Dependencies have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_dir: Option<String>,
}

/// What `calibrate` records in memsafe.toml (its `[calibration]` table).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub rustc: String,
    /// The UTC day of the measurement, `YYYY-MM-DD`.
    pub date: String,
    pub profile: String,
    pub crates: u64,
    pub total_seconds: u64,
    pub median_peak_bytes: u64,
    pub p90_peak_bytes: u64,
    pub max_peak_bytes: u64,
    pub link_peak_bytes: u64,
    /// The heaviest compilations, heaviest first: (crate, kind, peak bytes), written as
    /// `{ crate, kind, peak_bytes }` tables.
    #[serde(with = "heaviest_tables")]
    pub heaviest: Vec<(String, String, u64)>,
    /// The estimated peak of a build with 1, 2, ... [`MAX_JOBS`] jobs.
    pub peak_by_jobs: Vec<u64>,
    /// What every compilation shares and the estimates count once ([`shared_bytes`]); `None`
    /// in a record from a memsafe that did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_bytes: Option<u64>,
    /// Whether the estimates count anonymous memory (Linux: what a memory cgroup and the OOM
    /// killer count, without rustc's shared library; macOS: the physical footprint) rather
    /// than `ru_maxrss`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub anonymous: bool,
    /// Linux: cargo's own anonymous peak during the calibration build, which every estimate
    /// includes; `None` where it was not measured, and then the estimates count 100 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo_bytes: Option<u64>,
    /// Summarized from the governor's last build of the project, not from `memsafe
    /// calibrate`: never written to memsafe.toml.
    #[serde(skip)]
    pub governed: bool,
    /// The job counts whose estimate came from the bound (largest + (jobs - 1) x median)
    /// rather than the replayed timeline; `None` in a record from a memsafe that did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_jobs: Option<Vec<u32>>,
}

/// `heaviest` as a list of `{ crate, kind, peak_bytes }` tables in memsafe.toml.
mod heaviest_tables {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Heavy {
        #[serde(rename = "crate")]
        krate: String,
        kind: String,
        peak_bytes: u64,
    }

    pub(super) fn serialize<S: Serializer>(
        list: &[(String, String, u64)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        list.iter()
            .map(|(krate, kind, peak_bytes)| Heavy {
                krate: krate.clone(),
                kind: kind.clone(),
                peak_bytes: *peak_bytes,
            })
            .collect::<Vec<_>>()
            .serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(String, String, u64)>, D::Error> {
        Ok(Vec::<Heavy>::deserialize(deserializer)?
            .into_iter()
            .map(|h| (h.krate, h.kind, h.peak_bytes))
            .collect())
    }
}

impl Calibration {
    /// The estimated peak of a build with `jobs` jobs.
    pub fn peak(&self, jobs: u32) -> u64 {
        let index = usize::try_from(jobs.max(1)).unwrap_or(usize::MAX) - 1;
        self.peak_by_jobs
            .get(index)
            .or(self.peak_by_jobs.last())
            .copied()
            .unwrap_or(0)
    }

    /// Which estimate gave [`Calibration::peak`]`(jobs)`, when the record says.
    pub fn source(&self, jobs: u32) -> Option<Source> {
        let bound_jobs = self.bound_jobs.as_ref()?;
        // As in `peak`: beyond the table, its last entry.
        let table = u32::try_from(self.peak_by_jobs.len()).unwrap_or(u32::MAX).max(1);
        let jobs = jobs.clamp(1, table);
        Some(if bound_jobs.contains(&jobs) {
            Source::Bound
        } else {
            Source::Replay
        })
    }

    /// `heaviest 10 crates peak 0.9 to 2.4 GiB`, for the plan's reasons.
    pub fn words(&self) -> String {
        let (Some(first), Some(last)) = (self.heaviest.first(), self.heaviest.last()) else {
            return "no compilation recorded".into();
        };
        let source = if self.governed {
            format!(
                "measured by the governor in this project's last governed build ({} compilations, {})",
                self.crates, self.date
            )
        } else {
            format!(
                "measured by `memsafe calibrate` on {} ({}, {} profile)",
                self.date, self.rustc, self.profile
            )
        };
        // calibrate's summary figures are `ru_maxrss` (an upper bound); the governor records
        // the anonymous peak itself.
        let rss = if self.anonymous && !self.governed {
            " in RSS (the estimates count their anonymous memory, less: rustc's library once)"
        } else {
            ""
        };
        format!(
            "{source}: heaviest {} crates peak {} to {}{rss}",
            self.heaviest.len(),
            format_size(last.2),
            format_size(first.2)
        )
    }
}

/// Reads the wrapper's log (lines that do not parse are skipped).
pub fn read_log(text: &str) -> Vec<Invocation> {
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

pub(super) fn percentile(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let index = (sorted.len() - 1) * percent / 100;
    sorted[index]
}

/// Which of the model's two estimates gave a job count's number (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The recorded timeline replayed on `k` slots (also on a tie).
    Replay,
    /// The bound: the largest compilation + (`k` - 1) x the median.
    Bound,
}

/// One job count's estimated peak, and the estimate it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate {
    pub bytes: u64,
    pub source: Source,
}

/// The estimated peak for 1 to [`MAX_JOBS`] jobs (see the module docs for the model), with
/// `cargo` bytes for cargo itself.
pub fn estimate_peaks(invocations: &[Invocation], cargo: u64) -> Vec<u64> {
    estimates(invocations, cargo).iter().map(|e| e.bytes).collect()
}

/// What every compilation maps and the build holds once, not once per compilation: rustc's
/// own shared library (`librustc_driver`) and the other files rustc maps, counted in every
/// `ru_maxrss` but resident once.
/// - With anonymous peaks in the log: the median of `ru_maxrss - anon_peak_bytes`, the
///   file-backed part of a typical compilation (the median, so that a link mapping every
///   library of the build does not stand for all).
/// - Without (an older log, another system): the smallest compilation's `ru_maxrss`, which is
///   mostly that library.
pub fn shared_bytes(invocations: &[Invocation]) -> u64 {
    let mut files: Vec<u64> = invocations
        .iter()
        .filter(|i| i.peak_bytes > 0)
        .filter_map(|i| Some(i.peak_bytes.saturating_sub(i.anon_peak_bytes.filter(|a| *a > 0)?)))
        .collect();
    if !files.is_empty() {
        files.sort_unstable();
        return percentile(&files, 50);
    }
    invocations
        .iter()
        .map(|i| i.peak_bytes)
        .filter(|p| *p > 0)
        .min()
        .unwrap_or(0)
}

/// A compilation's own memory, on top of the part shared by all ([`shared_bytes`]): its
/// anonymous peak when measured, else its `ru_maxrss` less the shared part. 0 when nothing
/// was measured.
pub fn private_bytes(invocation: &Invocation, shared: u64) -> u64 {
    match invocation.anon_peak_bytes {
        Some(anon) if anon > 0 => anon,
        _ => invocation.peak_bytes.saturating_sub(shared),
    }
}

/// Whether the log measured anonymous memory (Linux; macOS's footprint too): then the
/// estimates are of that memory, and the bound takes the time-weighted mean.
fn measures_anonymous(invocations: &[Invocation]) -> bool {
    invocations
        .iter()
        .any(|i| i.anon_peak_bytes.is_some_and(|a| a > 0))
}

/// A compilation as the replay sees it: how long it ran, its own memory over that time in
/// equal slices (one slice, its peak, when no profile was recorded), and what it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Load {
    pub duration_ms: u64,
    pub slices: Vec<u64>,
    /// `(j, after)`: it may start `after` ms after load `j` (an earlier one) started.
    pub waits: Vec<(usize, u64)>,
    /// How many loads wait for it, directly or not ([`dependents`]; set by [`loads`]).
    pub dependents: usize,
}

impl Load {
    pub(super) fn of(invocation: &Invocation, shared: u64) -> Load {
        let slices = match &invocation.anon_profile {
            Some(profile) if !profile.is_empty() && invocation.anon_peak_bytes.is_some_and(|a| a > 0) => {
                profile.clone()
            }
            _ => vec![private_bytes(invocation, shared)],
        };
        Load {
            duration_ms: invocation.duration_ms,
            slices,
            waits: Vec::new(),
            dependents: 0,
        }
    }
}

/// The log in the order the replay takes it: by recorded start, the longer first on a tie.
pub(crate) fn start_order(invocations: &[Invocation]) -> Vec<&Invocation> {
    let mut order: Vec<&Invocation> = invocations.iter().collect();
    order.sort_by_key(|i| (i.start_ms, std::cmp::Reverse(i.duration_ms)));
    order
}

/// Whether a compilation of `kind` needs only the metadata of what it reads, so that cargo
/// starts it as soon as those have written theirs (pipelining): a library (rlib). A link
/// (binaries, tests, proc-macros, build scripts) waits for their code.
fn reads_metadata_only(kind: &str) -> bool {
    matches!(kind, "lib" | "rlib")
}

/// The loads of `order` (the log in recorded start order), each with what it waits for, from
/// the places the wrapper recorded ([`Place`]):
/// - a library reading another waits until the other has written its metadata: as long after
///   the other's start as the first library reading it started in the recorded build (at most
///   its whole run);
/// - anything else reading another waits for its end;
/// - a compilation reading a build script's output waits for the script's compilation to end,
///   and then as long as it waited for it in the recorded build (the script's run).
///
/// Only an earlier compilation is waited for, so the replay cannot deadlock on a bad log.
pub(crate) fn loads(order: &[&Invocation], shared: u64) -> Vec<Load> {
    let index: std::collections::HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .filter_map(|(i, inv)| Some((inv.place.unit.as_deref()?, i)))
        .collect();
    let deps_of = |i: usize| {
        order[i]
            .place
            .deps
            .iter()
            .filter_map(|d| index.get(d.as_str()).copied())
            .filter(move |&j| j < i)
    };
    // When each compilation wrote its metadata, after its start.
    let mut metadata: Vec<u64> = order.iter().map(|i| i.duration_ms).collect();
    for (i, user) in order.iter().enumerate() {
        if reads_metadata_only(&user.kind) {
            for j in deps_of(i) {
                let after = user.start_ms.saturating_sub(order[j].start_ms);
                metadata[j] = metadata[j].min(after);
            }
        }
    }
    let mut loads: Vec<Load> = order
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let mut load = Load::of(user, shared);
            let full = !reads_metadata_only(&user.kind);
            load.waits = deps_of(i)
                .map(|j| (j, if full { order[j].duration_ms } else { metadata[j] }))
                .collect();
            if let Some(package) = user
                .place
                .script_of
                .as_deref()
                .filter(|_| user.kind != "build-script")
            {
                for (j, script) in order[..i].iter().enumerate() {
                    if script.kind == "build-script" && script.place.script_of.as_deref() == Some(package) {
                        // The script's run: from its compilation's end to this one's start.
                        load.waits.push((
                            j,
                            user.start_ms
                                .saturating_sub(script.start_ms)
                                .max(script.duration_ms),
                        ));
                    }
                }
            }
            load
        })
        .collect();
    let counts = dependents(&loads);
    for (load, count) in loads.iter_mut().zip(counts) {
        load.dependents = count;
    }
    loads
}

/// What a running compilation holds on average: the mean of each compilation's memory over
/// its run, weighted by how long it ran (its profile's slices, or its peak where no profile
/// was recorded). The long compilations, which are the ones running at any given moment,
/// weigh the most.
pub(super) fn time_weighted_mean(loads: &[Load]) -> u64 {
    let (mut held, mut time) = (0u128, 0u128);
    // A compilation nothing was measured of (all zero) says nothing of what others hold.
    for load in loads.iter().filter(|l| l.slices.iter().any(|b| *b > 0)) {
        let slices = load.slices.len().max(1) as u128;
        let mean = load.slices.iter().map(|b| u128::from(*b)).sum::<u128>() / slices;
        let duration = u128::from(load.duration_ms.max(1));
        held += mean * duration;
        time += duration;
    }
    u64::try_from(held.checked_div(time).unwrap_or(0)).unwrap_or(u64::MAX)
}

/// The estimated peak for 1 to [`MAX_JOBS`] jobs, each with the estimate that gave it: the
/// smaller of the replayed timeline and the bound (see the module docs).
///
/// - With anonymous memory measured (Linux), the figures are what a memory cgroup and the OOM
///   killer count: cargo's own + the compilations' anonymous memory. The bound is the largest
///   compilation + (`k` - 1) x what a running compilation holds on average
///   ([`time_weighted_mean`]); the replay adds up the compilations' profiles, what they hold
///   at the same moment. rustc's shared library is file-backed and not in these figures
///   ([`shared_bytes`] records it).
/// - With `ru_maxrss` only: cargo + the shared part once + each compilation's `ru_maxrss` less
///   it; the bound uses the median compilation (docs/measurements.md M3).
pub fn estimates(invocations: &[Invocation], cargo: u64) -> Vec<Estimate> {
    let shared = shared_bytes(invocations);
    let anonymous = measures_anonymous(invocations);
    let order = start_order(invocations);
    let loads = loads(&order, shared);
    // The largest and the typical compilation; an unmeasured compilation (0) still takes its
    // slot in the replay but says nothing about the others.
    let mut own: Vec<u64> = invocations
        .iter()
        .filter(|i| i.peak_bytes > 0 || i.anon_peak_bytes.is_some_and(|a| a > 0))
        .map(|i| private_bytes(i, shared))
        .collect();
    own.sort_unstable();
    let largest = own.last().copied().unwrap_or(0);
    let (typical, base) = if anonymous {
        (time_weighted_mean(&loads), cargo)
    } else {
        (percentile(&own, 50), cargo + shared)
    };
    // More jobs never need less: the greedy replay of profiles can dip by a few MiB from one
    // job count to the next, so each estimate is at least the one before.
    let mut floor = Estimate {
        bytes: 0,
        source: Source::Replay,
    };
    (1..=MAX_JOBS)
        .map(|jobs| {
            let replayed = replay(&loads, jobs);
            let bound = largest + (jobs as u64 - 1) * typical;
            let (running, source) = if replayed <= bound {
                (replayed, Source::Replay)
            } else {
                (bound, Source::Bound)
            };
            // The number and the estimate that gave it travel together.
            if base + running >= floor.bytes {
                floor = Estimate {
                    bytes: base + running,
                    source,
                };
            }
            floor
        })
        .collect()
}

/// How many loads wait for each, directly or not. cargo starts the ready compilation with the
/// most such dependents first (its `DependencyQueue` priority: a unit's cost plus the cost of
/// every unit that depends on it, all of one cost unless measured).
pub(crate) fn dependents(loads: &[Load]) -> Vec<usize> {
    let mut below: Vec<Vec<bool>> = vec![vec![false; loads.len()]; loads.len()];
    // Loads wait only for earlier ones: from the last, each passes what waits for it on.
    for i in (0..loads.len()).rev() {
        for &(j, _) in &loads[i].waits {
            if j < i {
                let (head, tail) = below.split_at_mut(i);
                head[j][i] = true;
                for (mark, &theirs) in head[j].iter_mut().zip(tail[0].iter()) {
                    *mark |= theirs;
                }
            }
        }
    }
    below
        .iter()
        .map(|row| row.iter().filter(|b| **b).count())
        .collect()
}

/// The largest sum of memory held at once when `loads` run on `jobs` slots, as cargo would
/// run them: whenever a slot is free, of the loads whose waits are over ([`loads`]) the one
/// with the most [`dependents`] (the first in order among equals), or else the one whose
/// waits end first; each for its recorded duration, holding each slice's memory for that
/// slice of its time.
pub(super) fn replay(loads: &[Load], jobs: usize) -> u64 {
    let mut slots: Vec<u64> = vec![0; jobs.max(1)];
    let mut starts: Vec<Option<u64>> = vec![None; loads.len()];
    let mut pending: Vec<usize> = (0..loads.len()).collect();
    let mut events: Vec<(u64, i128)> = Vec::new();
    while !pending.is_empty() {
        let (slot, free) = slots
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|(_, end)| *end)
            .expect("jobs >= 1");
        // When a load may start; `None` while something it waits for has not started.
        let ready = |i: usize| {
            loads[i]
                .waits
                .iter()
                .try_fold(0u64, |at, &(j, after)| Some(at.max(starts[j]? + after)))
        };
        // Loads wait only for earlier ones, so the first pending load is always startable.
        let mut now: Option<usize> = None;
        let mut soonest = (0, u64::MAX);
        for (position, &i) in pending.iter().enumerate() {
            match ready(i) {
                Some(at) if at <= free => {
                    now = match now {
                        Some(best) if loads[pending[best]].dependents >= loads[i].dependents => Some(best),
                        _ => Some(position),
                    };
                }
                Some(at) if at < soonest.1 => soonest = (position, at),
                _ => {}
            }
        }
        let pick = now.map_or(soonest, |position| (position, free));
        let index = pending.remove(pick.0);
        let load = &loads[index];
        let start = pick.1.max(free);
        starts[index] = Some(start);
        let duration = load.duration_ms.max(1);
        let end = start + duration;
        slots[slot] = end;
        let count = load.slices.len().max(1) as u64;
        let mut held: i128 = 0;
        for (slice, bytes) in (0u64..).zip(&load.slices) {
            let bytes = i128::from(*bytes);
            // A slice that holds what the one before held changes nothing: no event (most
            // profiles are flat for long stretches, and the events are sorted per job count).
            if bytes != held {
                events.push((start + duration * slice / count, bytes - held));
            }
            held = bytes;
        }
        events.push((end, -held));
    }
    // At the same moment, what is given back before what is taken: a slot is freed before it
    // is reused, and a compilation's slices follow each other.
    events.sort_unstable();
    let mut running: i128 = 0;
    let mut peak: i128 = 0;
    for (_, delta) in events {
        running += delta;
        peak = peak.max(running);
    }
    u64::try_from(peak).unwrap_or(0)
}

/// Summarizes a calibration build.
pub fn summarize(
    invocations: &[Invocation],
    cargo_peak: Option<u64>,
    rustc: &str,
    date: &str,
    profile: &str,
    total_seconds: u64,
) -> Calibration {
    let mut peaks: Vec<u64> = invocations.iter().map(|i| i.peak_bytes).collect();
    peaks.sort_unstable();
    let mut heaviest: Vec<(String, String, u64)> = invocations
        .iter()
        .map(|i| (i.krate.clone(), i.kind.clone(), i.peak_bytes))
        .collect();
    heaviest.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    heaviest.truncate(10);
    let cargo = cargo_peak.filter(|c| *c > 0).unwrap_or(CARGO_BYTES);
    let estimates = estimates(invocations, cargo);
    let link_peak_bytes = invocations
        .iter()
        .filter(|i| matches!(i.kind.as_str(), "bin" | "test"))
        .map(|i| i.peak_bytes)
        .max()
        .unwrap_or(0);
    Calibration {
        rustc: rustc.to_string(),
        date: date.to_string(),
        profile: profile.to_string(),
        crates: invocations.len() as u64,
        total_seconds,
        median_peak_bytes: percentile(&peaks, 50),
        p90_peak_bytes: percentile(&peaks, 90),
        max_peak_bytes: peaks.last().copied().unwrap_or(0),
        link_peak_bytes,
        heaviest,
        peak_by_jobs: estimates.iter().map(|e| e.bytes).collect(),
        governed: false,
        shared_bytes: Some(shared_bytes(invocations)),
        anonymous: measures_anonymous(invocations),
        cargo_bytes: cargo_peak.filter(|c| *c > 0),
        bound_jobs: Some(
            (1..)
                .zip(&estimates)
                .filter(|(_, e)| e.source == Source::Bound)
                .map(|(jobs, _)| jobs)
                .collect(),
        ),
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01, as `YYYY-MM-DD`.
pub fn civil_from_days(days: i64) -> String {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok().filter(|m| (1..=12).contains(m))?;
    let day = parts.next()?.parse().ok().filter(|d| (1..=31).contains(d))?;
    parts.next().is_none().then(|| days_from_civil(year, month, day))
}
