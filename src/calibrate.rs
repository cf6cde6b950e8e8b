//! `memsafe calibrate`: measure what each rustc of this project takes, so that the plan can
//! use measurements instead of a per-preset guess.
//!
//! memsafe builds the project once in a target folder of its own
//! (`target/memsafe-calibrate`), with itself as `RUSTC_WRAPPER`. In that role ([`wrap`]) it
//! runs the real rustc untouched (arguments, stdin, stdout, stderr and exit code pass through:
//! cargo parses rustc's output) and appends one JSON line per compilation to a log: crate,
//! kind, start, duration, and the peak RSS of the process tree it waited for (`wait4`'s
//! `ru_maxrss`, which on Linux also covers the children rustc waited for, the linker
//! included; KiB on Linux, bytes on macOS). On Windows rustc runs in a Job Object, and the peak
//! is the job's: the most memory committed at once by rustc and every process it started, the
//! linker included.
//!
//! The model ([`estimate_peaks`]): a build's memory at `k` jobs is cargo's own plus the peaks
//! of the compilations running at that moment. Two estimates, and the smaller one is used:
//! 1. the recorded timeline replayed on `k` slots: compilations in their recorded start order,
//!    each on the first free slot, with their recorded durations, taking the largest sum of
//!    peaks running at once. Dependencies are ignored, so this overlaps heavy crates more than
//!    cargo can; it over-estimates, the safe side;
//! 2. the bound measured on mdBook and ripgrep (docs/measurements.md M3): `peak(k) <= P1 + (k - 1) * m`,
//!    P1 the largest single compilation (plus cargo), m the median compilation.
//!
//! What every rustc shares (its own shared library, mapped by every rustc and resident once)
//! is counted once per build, not once per compilation ([`shared_bytes`]): each compilation
//! adds only its own part ([`private_bytes`]), which on Linux is measured directly, the peak of
//! the anonymous memory of rustc and its linker ([`crate::procmem`]); elsewhere, and in older
//! logs, it is `ru_maxrss` less the smallest compilation's. [`estimates`] says which of the two estimates gave each job count's number, and the
//! calibration records it (`bound_jobs`) for the plan's reason.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::hardware::format_size;

/// The environment variable that puts memsafe in wrapper mode and names the log.
pub const LOG_ENV: &str = "MEMSAFE_CALIBRATE_LOG";

/// Memory of cargo itself during a build, added to every estimate.
const CARGO_BYTES: u64 = 100 << 20;

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

/// Wrapper mode: `memsafe <rustc> <args...>` under cargo. Runs rustc, records it, and exits
/// with rustc's code.
pub fn wrap(args: &[OsString], log: &Path) -> ExitCode {
    let Some((program, rest)) = args.split_first() else {
        return ExitCode::from(2);
    };
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let clock = Instant::now();
    let (status, peak_bytes, anon_peak_bytes) = match run_measured(program, rest) {
        Ok(result) => result,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "memsafe: cannot run `{}`: {error}",
                program.to_string_lossy()
            );
            return ExitCode::from(127);
        }
    };
    let code = exit_code_for(status, Platform::current());
    // cargo's probes (`rustc - --crate-name ___ --print=...`) compile nothing: not recorded.
    let probe = rest.iter().any(|a| a.to_string_lossy().starts_with("--print"));
    if let Some(krate) = flag_value(rest, "--crate-name").filter(|_| !probe) {
        let invocation = Invocation {
            kind: kind_of(rest, &krate),
            krate,
            start_ms: u64::try_from(started).unwrap_or(u64::MAX),
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            peak_bytes,
            exit_code: code,
            anon_peak_bytes,
        };
        // One write of one line to a file opened for appending: concurrent wrappers do not
        // interleave (O_APPEND positions every write at the end atomically).
        if let Ok(line) = serde_json::to_string(&invocation)
            && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log)
        {
            let _ = file.write_all(format!("{line}\n").as_bytes());
        }
    }
    exit_with(code)
}

/// How a child process ended, as the OS reported it: an exit code, or (Unix) the signal that
/// killed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl From<std::process::ExitStatus> for ChildStatus {
    fn from(status: std::process::ExitStatus) -> ChildStatus {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        ChildStatus {
            code: status.code(),
            signal,
        }
    }
}

/// Whose exit codes: Windows passes a process's 32-bit code on whole, Unix keeps 8 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Unix,
    Windows,
}

impl Platform {
    pub fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Unix
        }
    }
}

/// memsafe's own exit code for a wrapped child that ended with `status`: 0 stays 0, and every
/// failure stays a failure, so that cargo never takes a crashed rustc for a success.
/// - Windows: the code as it is, all 32 bits (an NTSTATUS such as `0xC0000005` is negative).
/// - Unix: a code from 1 to 255 as it is; a signal becomes 128 + the signal, as in a shell.
///   A code or signal that does not fit in the byte Unix keeps becomes 1, never a byte that
///   wraps to 0 (256 would).
/// - No code and no signal (a stopped child): 1.
pub fn exit_code_for(status: ChildStatus, platform: Platform) -> i32 {
    match (status.code, status.signal, platform) {
        (Some(code), _, Platform::Windows) => code,
        (Some(code), _, Platform::Unix) if (0..=255).contains(&code) => code,
        (None, Some(signal), _) if (1..=127).contains(&signal) => 128 + signal,
        _ => 1,
    }
}

/// Leaves with `code`. `ExitCode` carries only a byte portably (`ExitCodeExt::from_raw`, the
/// Windows way to a 32-bit `ExitCode`, is not stable), so on Windows a code that does not fit in
/// a byte leaves through `std::process::exit`, which passes all 32 bits to `ExitProcess`.
/// Nothing is left to drop at that point: the log line is written and its file closed.
fn exit_with(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(byte) => ExitCode::from(byte),
        Err(_) if cfg!(windows) => std::process::exit(code),
        Err(_) => ExitCode::from(1),
    }
}

fn flag_value(args: &[OsString], flag: &str) -> Option<String> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == flag {
            return iter.next().map(|v| v.to_string_lossy().into_owned());
        }
        if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
            return Some(value.to_string());
        }
    }
    None
}

fn kind_of(args: &[OsString], krate: &str) -> String {
    if args.iter().any(|a| a == "--test") {
        return "test".into();
    }
    if krate.starts_with("build_script_") {
        return "build-script".into();
    }
    flag_value(args, "--crate-type").unwrap_or_else(|| "lib".into())
}

/// What one wrapped run measured: how it ended, `ru_maxrss` (or the Windows job's peak), and
/// the anonymous peak where it is measured (Linux).
type Measured = (ChildStatus, u64, Option<u64>);

#[cfg(unix)]
fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
    let child = Command::new(program).args(args).spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    #[cfg(target_os = "linux")]
    let sampler = crate::procmem::Sampler::start("/proc", child.id(), crate::procmem::EVERY);
    // Linux: wait for the end without reaping (WNOWAIT), stop the sampler, then reap: the pid
    // cannot be reused by another process while the sampler still reads it.
    #[cfg(target_os = "linux")]
    loop {
        // SAFETY: a zeroed siginfo_t is a valid value for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; info is valid for writes.
        let waited = unsafe {
            libc::waitid(
                libc::P_PID,
                libc::id_t::from(child.id()),
                &raw mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if waited == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break;
        }
    }
    #[cfg(target_os = "linux")]
    let anon_peak = sampler.finish();
    #[cfg(not(target_os = "linux"))]
    let anon_peak = None;
    let mut wait_status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for our own child, which std
    // has not reaped (we never call Child::wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child; wait_status and usage are valid for writes.
        let waited = unsafe { libc::wait4(pid, &raw mut wait_status, 0, &raw mut usage) };
        if waited == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let status = ChildStatus {
        code: libc::WIFEXITED(wait_status).then(|| libc::WEXITSTATUS(wait_status)),
        signal: libc::WIFSIGNALED(wait_status).then(|| libc::WTERMSIG(wait_status)),
    };
    let max_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux reports KiB, macOS bytes.
    let peak = if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss * 1024
    };
    Ok((status, peak, anon_peak))
}

/// Windows: rustc runs in a Job Object of its own, which every process it starts joins, the
/// linker included; the peak is the job's `PeakJobMemoryUsed`, the most memory (commit charge)
/// all of them had at once ([`crate::windows`]). 0 ("not measured") when no job could be made.
/// Commit charge is private memory already, so the job's peak is what the model uses; no
/// separate anonymous peak is recorded.
#[cfg(windows)]
fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
    let (mut child, job) = crate::windows::spawn_in_job(Command::new(program).args(args))?;
    let status = child.wait()?;
    let peak = job.and_then(|job| job.peak_bytes()).unwrap_or(0);
    Ok((status.into(), peak, None))
}

#[cfg(not(any(unix, windows)))]
fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
    // No peak measurement here: 0 means "not measured", and the plan keeps its estimate.
    let status = Command::new(program).args(args).status()?;
    Ok((status.into(), 0, None))
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

fn percentile(sorted: &[u64], percent: usize) -> u64 {
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
fn planning_view(invocations: &[Invocation]) -> Vec<Invocation> {
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
fn replay(order: &[&Invocation], jobs: usize) -> u64 {
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

/// Today, UTC, as days since 1970-01-01.
pub fn today() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(seconds / 86_400).unwrap_or(0)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok().filter(|m| (1..=12).contains(m))?;
    let day = parts.next()?.parse().ok().filter(|d| (1..=31).contains(d))?;
    parts.next().is_none().then(|| days_from_civil(year, month, day))
}

/// The toolchain part of the environment memsafe started in: `RUSTUP_TOOLCHAIN`, and
/// `RUSTUP_TOOLCHAIN_SOURCE`, which rustup (1.28 and later) sets next to it for the programs
/// its proxies start (`cargo memsafe`, `cargo run -- ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolchainEnv {
    pub toolchain: Option<String>,
    pub source: Option<String>,
}

impl ToolchainEnv {
    pub fn from_env() -> ToolchainEnv {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        ToolchainEnv {
            toolchain: var("RUSTUP_TOOLCHAIN"),
            source: var("RUSTUP_TOOLCHAIN_SOURCE"),
        }
    }

    /// Whether the inherited `RUSTUP_TOOLCHAIN` is the user's choice: set by hand (`env`, or no
    /// source: set without a rustup proxy, or by an older rustup that did not say) or by
    /// `cargo +toolchain` (`cli`). Otherwise rustup picked it for the folder memsafe was started
    /// in (a toolchain file there, an override, the default), which need not be the project's:
    /// it is dropped, and rustup picks again in the project's folder, as a `cargo build` there
    /// would.
    pub fn chosen(&self) -> bool {
        self.toolchain.is_some() && matches!(self.source.as_deref(), None | Some("env" | "cli"))
    }

    /// Prepares `command` (cargo or rustc) to run with the toolchain the project uses.
    pub fn apply(&self, command: &mut Command) {
        if self.toolchain.is_some() && !self.chosen() {
            command
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("RUSTUP_TOOLCHAIN_SOURCE");
        }
    }

    /// The cargo to run: `$CARGO` (the cargo that started memsafe) when its toolchain is the
    /// chosen one, else rustup's `cargo`, which picks the project's.
    pub fn cargo(&self) -> OsString {
        match std::env::var_os("CARGO") {
            Some(cargo) if self.toolchain.is_none() || self.chosen() => cargo,
            _ => "cargo".into(),
        }
    }

    /// Where the toolchain of a build in `dir` comes from, in words.
    pub fn words(&self, dir: &Path) -> String {
        if let (true, Some(toolchain)) = (self.chosen(), &self.toolchain) {
            return format!("RUSTUP_TOOLCHAIN={toolchain}");
        }
        match toolchain_file(dir) {
            Some(file) => format!("the toolchain pinned in `{}`", file.display()),
            None => "no rust-toolchain.toml pins one: rustup's default".into(),
        }
    }
}

/// The `rust-toolchain.toml` or `rust-toolchain` file in `dir` or the nearest folder above,
/// the file rustup reads there.
pub fn toolchain_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|folder| [folder.join("rust-toolchain"), folder.join("rust-toolchain.toml")])
        .find(|file| file.is_file())
}

/// `rustc --version` as cargo would run it in `dir` (`$RUSTC`, else `rustc`, with the
/// project's toolchain: see [`ToolchainEnv::apply`]).
pub fn rustc_version(dir: &Path, env: &ToolchainEnv) -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(rustc);
    command.arg("--version").current_dir(dir);
    env.apply(&mut command);
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// What the calibration build reports while it runs.
pub trait Progress: Send + Sync {
    /// A unit (crate) was built.
    fn unit(&self, name: &str);
    /// A line cargo or rustc wrote for the user (warnings, errors, cargo's status).
    fn line(&self, line: &str);
}

/// The calibration build: `cargo test --no-run` (profile `test`) or `cargo build` (`dev`),
/// with `jobs` jobs, in `target_dir`, memsafe as the wrapper. cargo's stderr goes through
/// `progress`, line by line, so that a progress bar and cargo's output do not write over each
/// other; `color` keeps cargo's colours although its stderr is then a pipe. Returns the wall
/// time in seconds.
#[expect(clippy::too_many_arguments, reason = "one build, described in full")]
pub fn build(
    root: &Path,
    target_dir: &Path,
    log: &Path,
    profile: &str,
    jobs: u32,
    extra: &[String],
    color: bool,
    progress: &dyn Progress,
) -> Result<u64> {
    let exe = std::env::current_exe().context("cannot find memsafe's own binary for RUSTC_WRAPPER")?;
    let toolchain = ToolchainEnv::from_env();
    let mut command = Command::new(toolchain.cargo());
    toolchain.apply(&mut command);
    if profile == "test" {
        command.args(["test", "--no-run"]);
    } else {
        command.arg("build");
    }
    if crate::ui::is_quiet() {
        command.arg("--quiet");
    }
    command
        .args([
            "--message-format=json-render-diagnostics",
            "--jobs",
            &jobs.to_string(),
        ])
        .args(["--color", if color { "always" } else { "never" }])
        .args(extra)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTC_WRAPPER", &exe)
        .env(LOG_ENV, log)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let clock = Instant::now();
    let mut child = command.spawn().context("cannot run cargo")?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                progress.line(&line);
            }
        });
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(message) = serde_json::from_str::<serde_json::Value>(&line)
                && message["reason"] == "compiler-artifact"
            {
                progress.unit(message["target"]["name"].as_str().unwrap_or("?"));
            }
        }
    });
    let status = child.wait().context("cargo did not finish")?;
    if !status.success() {
        bail!("the calibration build failed ({status}); nothing was recorded");
    }
    Ok(clock.elapsed().as_secs())
}

/// The packages a `Cargo.lock` lists (`[[package]]` tables): an estimate of how many crates a
/// build compiles, known before it starts. cargo's exact build plan (`--unit-graph`) needs
/// nightly. The estimate is rough both ways: the lock file lists packages for other platforms
/// too, and one package can build several units (a library, its tests, a build script).
pub fn lock_packages(lock: &str) -> u64 {
    lock.lines().filter(|line| line.trim() == "[[package]]").count() as u64
}

/// How the progress of a build is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressShape {
    /// A bar of `len` crates (an estimate): the count is still below it.
    Bar { len: u64 },
    /// A spinner and the count: no estimate, or the count has reached it.
    Count,
}

/// The shape of the progress after `built` crates, when about `estimate` are expected: a bar
/// only while the count is below the estimate, so that a bar is never full before the build
/// ends; beyond the estimate, a spinner with the count (never a total that grows with it).
pub fn progress_shape(estimate: Option<u64>, built: u64) -> ProgressShape {
    match estimate {
        Some(len) if built < len => ProgressShape::Bar { len },
        _ => ProgressShape::Count,
    }
}

/// The bytes of the files under `dir` (0 when it does not exist; unreadable entries count 0).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Where calibration builds and logs.
pub fn target_dir(root: &Path) -> PathBuf {
    root.join("target").join("memsafe-calibrate")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(krate: &str, start_ms: u64, duration_ms: u64, peak_mib: u64) -> Invocation {
        Invocation {
            krate: krate.into(),
            kind: "lib".into(),
            start_ms,
            duration_ms,
            peak_bytes: peak_mib << 20,
            exit_code: 0,
            anon_peak_bytes: None,
        }
    }

    fn exited(code: i32) -> ChildStatus {
        ChildStatus {
            code: Some(code),
            signal: None,
        }
    }

    fn killed(signal: i32) -> ChildStatus {
        ChildStatus {
            code: None,
            signal: Some(signal),
        }
    }

    #[test]
    fn windows_codes_pass_on_whole() {
        let windows = |status| exit_code_for(status, Platform::Windows);
        assert_eq!(windows(exited(0)), 0);
        assert_eq!(windows(exited(1)), 1);
        assert_eq!(windows(exited(101)), 101);
        // STATUS_ACCESS_VIOLATION (0xC0000005) and STATUS_STACK_BUFFER_OVERRUN (0xC0000409),
        // as std reports them: negative i32. The clamp this replaces turned them into 0.
        assert_eq!(windows(exited(0xC000_0005_u32 as i32)), -1_073_741_819);
        assert_eq!(windows(exited(0xC000_0409_u32 as i32)), -1_073_740_791);
        // Above a byte, including multiples of 256 that would wrap to 0.
        assert_eq!(windows(exited(256)), 256);
        assert_eq!(windows(exited(512)), 512);
        assert_eq!(windows(exited(i32::MAX)), i32::MAX);
        assert_eq!(
            windows(ChildStatus {
                code: None,
                signal: None
            }),
            1
        );
    }

    #[test]
    fn unix_codes_and_signals_fit_in_a_byte_and_never_become_0() {
        let unix = |status| exit_code_for(status, Platform::Unix);
        assert_eq!(unix(exited(0)), 0);
        assert_eq!(unix(exited(1)), 1);
        assert_eq!(unix(exited(101)), 101);
        assert_eq!(unix(exited(255)), 255);
        // SIGKILL (the OOM killer), SIGSEGV, SIGABRT: 128 + the signal, as a shell says.
        assert_eq!(unix(killed(9)), 137);
        assert_eq!(unix(killed(11)), 139);
        assert_eq!(unix(killed(6)), 134);
        // Codes a byte cannot hold, Windows-style ones included: 1, never their low byte.
        for code in [256, 512, 257, -1, -1_073_741_819, i32::MIN, i32::MAX] {
            assert_eq!(unix(exited(code)), 1, "{code}");
        }
        for signal in [0, -3, 128, 300] {
            assert_eq!(unix(killed(signal)), 1, "{signal}");
        }
        // Stopped, or nothing known.
        assert_eq!(
            unix(ChildStatus {
                code: None,
                signal: None
            }),
            1
        );
    }

    #[test]
    fn every_failure_stays_a_failure_on_both_platforms() {
        let samples = [
            0,
            1,
            2,
            127,
            128,
            255,
            256,
            512,
            65_536,
            -1,
            -256,
            i32::MIN,
            i32::MAX,
        ];
        for platform in [Platform::Unix, Platform::Windows] {
            for code in samples {
                let mapped = exit_code_for(exited(code), platform);
                assert_eq!(mapped == 0, code == 0, "{platform:?} {code} -> {mapped}");
                if platform == Platform::Unix {
                    assert!((0..=255).contains(&mapped), "{code} -> {mapped}");
                }
            }
            for signal in -2..=200 {
                assert_ne!(
                    exit_code_for(killed(signal), platform),
                    0,
                    "{platform:?} {signal}"
                );
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_real_exit_status_becomes_a_child_status() {
        use std::os::unix::process::ExitStatusExt;
        // The raw wait statuses of `exit(3)` and of a SIGKILL.
        assert_eq!(
            ChildStatus::from(std::process::ExitStatus::from_raw(3 << 8)),
            exited(3)
        );
        assert_eq!(
            ChildStatus::from(std::process::ExitStatus::from_raw(9)),
            killed(9)
        );
    }

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2026, 11, 27)), "2026-11-27");
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(parse_date("2026-11-27"), Some(days_from_civil(2026, 11, 27)));
        assert_eq!(parse_date("2026-13-01"), None);
    }

    #[test]
    fn the_shared_part_is_taken_off_every_compilation_and_added_back_once() {
        // a runs 0-10 ms at 100 MiB, b 0-10 at 300, c 5-15 at 200. Shared part: 100 MiB (the
        // smallest), so a, b, c add 0, 200 and 100 on top of it; median 200 - 100 = 100.
        let log = [
            invocation("a", 0, 10, 100),
            invocation("b", 0, 10, 300),
            invocation("c", 5, 10, 200),
        ];
        let mib = |estimate: Estimate| (estimate.bytes - CARGO_BYTES) >> 20;
        let estimates = estimates(&log);
        // 1 job: one at a time, b the largest: 100 + 200 = 300, the largest compilation as
        // measured (the bound, 200 + 0 x 100, ties with the replay).
        assert_eq!(mib(estimates[0]), 300);
        assert_eq!(estimates[0].source, Source::Replay);
        // 2 jobs: the replay runs a and b together (0 + 200), then c (100): 100 + 200 = 300;
        // the bound is 100 + 200 + 1 x 100 = 400.
        assert_eq!(mib(estimates[1]), 300);
        assert_eq!(estimates[1].source, Source::Replay);
        // 3 jobs: all three at once, 100 + (0 + 200 + 100) = 400; the bound says 500.
        assert_eq!(mib(estimates[2]), 400);
        assert_eq!(estimates[2].source, Source::Replay);
        // Never decreasing, never more than everything at once (400 MiB).
        let peaks = estimate_peaks(&log);
        assert!(peaks.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(peaks[63], CARGO_BYTES + (400 << 20));
    }

    #[test]
    fn anonymous_peaks_are_recorded_and_the_shared_part_counted_once() {
        let with_anon = |krate, start, duration, peak, anon: u64| Invocation {
            anon_peak_bytes: Some(anon << 20),
            ..invocation(krate, start, duration, peak)
        };
        // ru_maxrss - anon: 120, 150 and 140 MiB; the median, 140, is the shared part, even
        // though b's own part is far larger than its file-backed part.
        let log = [
            with_anon("a", 0, 10, 150, 30),
            with_anon("b", 0, 10, 400, 250),
            with_anon("c", 5, 10, 260, 120),
        ];
        assert_eq!(shared_bytes(&log), 140 << 20);
        // Each compilation adds its anonymous peak, not ru_maxrss less the shared part.
        assert_eq!(private_bytes(&log[1], 140 << 20), 250 << 20);
        // The model plans from ru_maxrss alone for now (the anonymous figures under-predicted
        // under caps from 4 jobs on): the same estimates as a log without them.
        let plain: Vec<Invocation> = log
            .iter()
            .map(|i| Invocation {
                anon_peak_bytes: None,
                ..i.clone()
            })
            .collect();
        assert_eq!(estimates(&log), estimates(&plain));
        let summary = summarize(&log, "rustc 1.95.0", "2026-11-27", "test", 1);
        assert_eq!(summary.shared_bytes, Some(150 << 20));
        // ru_maxrss stays the upper bound the summary reports.
        assert_eq!(summary.max_peak_bytes, 400 << 20);

        // A compilation the log has no anonymous peak for (a mixed log): ru_maxrss less the
        // shared part. The shared part comes from those that have one.
        let mut mixed = log.to_vec();
        mixed.push(invocation("d", 100, 10, 200));
        assert_eq!(shared_bytes(&mixed), shared_bytes(&log));
        assert_eq!(private_bytes(&mixed[3], 140 << 20), 60 << 20);
        // ru_maxrss below the shared part: nothing, not a wrapped-around huge number.
        assert_eq!(private_bytes(&invocation("e", 0, 1, 100), 140 << 20), 0);
        // No anonymous peak anywhere: the smallest ru_maxrss, as before.
        assert_eq!(shared_bytes(&plain), 150 << 20);
    }

    #[test]
    fn the_bound_caps_a_replay_that_stacks_everything() {
        // Ten heavy compilations that all started together, and thirty light ones: replayed on
        // 20 slots they all stack, while the bound (largest + 19 x median) stays lower.
        let mut log: Vec<Invocation> = (0..10)
            .map(|i| invocation(&format!("c{i}"), 0, 100, 500))
            .collect();
        log.extend((0..30).map(|i| invocation(&format!("s{i}"), 0, 100, 50)));
        let estimates = estimates(&log);
        let shared = 50;
        // 20 slots: the replay stacks ten heavy (450 each over the shared part) and ten light
        // (0): 50 + 4500 = 4550 MiB; the bound is 50 + 450 + 19 x 0 = 500 MiB.
        assert_eq!(estimates[19].bytes, CARGO_BYTES + ((shared + 500 - shared) << 20));
        assert_eq!(estimates[19].source, Source::Bound);
        // 1 job: both give the largest compilation, 500 MiB.
        assert_eq!(estimates[0].bytes, CARGO_BYTES + (500 << 20));
        let summary = summarize(&log, "rustc 1.95.0", "2026-11-27", "test", 12);
        assert_eq!(summary.source(20), Some(Source::Bound));
        assert_eq!(summary.source(1), Some(Source::Replay));
        // Beyond the table: its last entry, as `peak` does.
        assert_eq!(summary.source(500), Some(Source::Bound));
        let bound_jobs = summary.bound_jobs.as_ref().unwrap();
        assert!(
            bound_jobs.contains(&20) && !bound_jobs.contains(&1),
            "{bound_jobs:?}"
        );
        let unknown = Calibration {
            bound_jobs: None,
            ..summary
        };
        assert_eq!(unknown.source(20), None);
    }

    #[test]
    fn summary_picks_the_heaviest_and_the_link() {
        let mut log = vec![invocation("syn", 0, 10, 400), invocation("app", 20, 10, 900)];
        log[1].kind = "bin".into();
        let summary = summarize(&log, "rustc 1.95.0", "2026-11-27", "test", 12);
        assert_eq!(summary.heaviest[0].0, "app");
        assert_eq!(summary.link_peak_bytes, 900 << 20);
        assert_eq!(summary.crates, 2);
        assert!(
            summary
                .words()
                .starts_with("measured by `memsafe calibrate` on 2026-11-27")
        );
    }

    #[test]
    fn the_bar_is_never_full_before_the_end() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\n\n[[package]]\nname = \"b\"\n\n[[package]]\nname = \"p\"\n";
        assert_eq!(lock_packages(lock), 3);
        assert_eq!(lock_packages(""), 0);
        let estimate = Some(lock_packages(lock));
        assert_eq!(progress_shape(estimate, 0), ProgressShape::Bar { len: 3 });
        assert_eq!(progress_shape(estimate, 2), ProgressShape::Bar { len: 3 });
        // The count reaches the estimate while cargo still builds (tests, build scripts): a
        // count, not a full bar, and never a total that grows with the count.
        assert_eq!(progress_shape(estimate, 3), ProgressShape::Count);
        assert_eq!(progress_shape(estimate, 69), ProgressShape::Count);
        assert_eq!(progress_shape(None, 0), ProgressShape::Count);
        assert_eq!(progress_shape(Some(0), 0), ProgressShape::Count);
        for built in 0..100 {
            if let ProgressShape::Bar { len } = progress_shape(Some(50), built) {
                assert!(built < len, "{built}/{len}");
            }
        }
    }

    #[test]
    fn a_toolchain_rustup_picked_for_another_folder_is_dropped() {
        let env = |toolchain: Option<&str>, source: Option<&str>| ToolchainEnv {
            toolchain: toolchain.map(str::to_string),
            source: source.map(str::to_string),
        };
        // Chosen: by hand, by `cargo +nightly`, or by a rustup that does not say.
        assert!(env(Some("nightly"), Some("env")).chosen());
        assert!(env(Some("nightly"), Some("cli")).chosen());
        assert!(env(Some("nightly"), None).chosen());
        // Picked for the folder memsafe started in: dropped.
        for source in ["default", "toolchain-file", "override", "path-override"] {
            assert!(!env(Some("stable"), Some(source)).chosen(), "{source}");
        }
        assert!(!env(None, None).chosen());

        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir_all(project.join("src")).unwrap();
        assert_eq!(toolchain_file(&project.join("src")), None);
        let picked = env(Some("stable"), Some("default"));
        assert!(picked.words(&project).ends_with("rustup's default"));
        std::fs::write(
            dir.path().join("rust-toolchain.toml"),
            "[toolchain]\nchannel = \"nightly\"\n",
        )
        .unwrap();
        assert_eq!(
            toolchain_file(&project.join("src")),
            Some(dir.path().join("rust-toolchain.toml"))
        );
        assert!(picked.words(&project).starts_with("the toolchain pinned in `"));
        assert_eq!(
            env(Some("nightly"), Some("env")).words(&project),
            "RUSTUP_TOOLCHAIN=nightly"
        );
    }

    #[test]
    fn flags_are_read_from_rustc_arguments() {
        let args: Vec<OsString> = [
            "--crate-name",
            "foo",
            "--edition=2021",
            "--crate-type",
            "proc-macro",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        assert_eq!(flag_value(&args, "--crate-name").as_deref(), Some("foo"));
        assert_eq!(kind_of(&args, "foo"), "proc-macro");
        let test: Vec<OsString> = ["--crate-name", "foo", "--test"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(kind_of(&test, "foo"), "test");
        assert_eq!(kind_of(&[], "build_script_build"), "build-script");
    }
}
