//! The model: from the measured compilations to a build's peak at each job count. Pure.

use serde::{Deserialize, Serialize};

use crate::hardware::format_size;

/// Memory of cargo itself during a build, added to every estimate.
pub(super) const CARGO_BYTES: u64 = 100 << 20;

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
        format!(
            "measured by `memsafe calibrate` on {} ({}, {} profile): heaviest {} crates peak {} to {}",
            self.date,
            self.rustc,
            self.profile,
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

/// The estimated peak for 1 to [`MAX_JOBS`] jobs (see the module docs for the model).
pub fn estimate_peaks(invocations: &[Invocation]) -> Vec<u64> {
    estimates(invocations).iter().map(|e| e.bytes).collect()
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

/// The compilations as the model plans from them: `ru_maxrss` only (see [`estimates`]).
pub(super) fn planning_view(invocations: &[Invocation]) -> Vec<Invocation> {
    invocations
        .iter()
        .cloned()
        .map(|mut invocation| {
            invocation.anon_peak_bytes = None;
            invocation
        })
        .collect()
}

/// The estimated peak for 1 to [`MAX_JOBS`] jobs, each with the estimate that gave it.
pub fn estimates(invocations: &[Invocation]) -> Vec<Estimate> {
    // The model still plans from `ru_maxrss`: with the anonymous peaks, its bound predicted
    // 24 to 31% too little from 4 jobs on under a cgroup cap (README, benchmark), so they are
    // recorded but not used until the model is fitted to them.
    let invocations = &planning_view(invocations);
    // What every rustc shares is counted once per build; each compilation adds its own part.
    let shared = shared_bytes(invocations);
    // The largest and the median of what was measured; an unmeasured compilation (0) still
    // takes its slot in the replay.
    let mut own: Vec<u64> = invocations
        .iter()
        .filter(|i| i.peak_bytes > 0 || i.anon_peak_bytes.is_some_and(|a| a > 0))
        .map(|i| private_bytes(i, shared))
        .collect();
    own.sort_unstable();
    let largest = own.last().copied().unwrap_or(0);
    let median = percentile(&own, 50);
    let mut order: Vec<Invocation> = invocations.to_vec();
    for invocation in &mut order {
        invocation.peak_bytes = private_bytes(invocation, shared);
    }
    order.sort_by_key(|i| (i.start_ms, std::cmp::Reverse(i.duration_ms)));
    let order: Vec<&Invocation> = order.iter().collect();
    (1..=MAX_JOBS)
        .map(|jobs| {
            let bound = largest + (jobs as u64 - 1) * median;
            let replayed = replay(&order, jobs);
            let (running, source) = if replayed <= bound {
                (replayed, Source::Replay)
            } else {
                (bound, Source::Bound)
            };
            Estimate {
                bytes: CARGO_BYTES + shared + running,
                source,
            }
        })
        .collect()
}

/// The largest sum of peaks running at once when `order` runs on `jobs` slots.
pub(super) fn replay(order: &[&Invocation], jobs: usize) -> u64 {
    // (end time, peak) of what runs on each slot.
    let mut slots: Vec<(u64, u64)> = vec![(0, 0); jobs];
    let mut events: Vec<(u64, i128)> = Vec::new();
    for invocation in order {
        let (index, _) = slots
            .iter()
            .enumerate()
            .min_by_key(|(_, (end, _))| *end)
            .expect("jobs >= 1");
        let start = slots[index].0;
        let end = start + invocation.duration_ms.max(1);
        slots[index] = (end, invocation.peak_bytes);
        events.push((start, i128::from(invocation.peak_bytes)));
        events.push((end, -i128::from(invocation.peak_bytes)));
    }
    // Ends before starts at the same moment: a slot is freed before it is reused.
    events.sort_by_key(|(time, delta)| (*time, *delta));
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
    let estimates = estimates(invocations);
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
        shared_bytes: Some(shared_bytes(&planning_view(invocations))),
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
