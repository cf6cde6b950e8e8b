//! Turns the hardware and the user's answers into concrete settings, each with its reason.
//!
//! Everything here is arithmetic on [`Hardware`] and [`Answers`]: no IO, no clock, no
//! environment. The model (docs/measurements.md M3, measured on mdBook and ripgrep):
//! `peak(jobs) <= first + (jobs - 1) * each`, where `first` is the peak of a one-job build and
//! `each` what every further parallel rustc adds; the build's budget must hold that peak plus
//! 15% (F1: a cap at 90% of the anonymous peak was OOM-killed, at 115% the build passed).
//! Until a project is measured, `first` and `each` are per-preset estimates whose sources are
//! written next to them in [`JobCost::for_preset`].

use serde::Serialize;

use crate::calibrate::{Calibration, Source};
use crate::findings::{Finding, Fix, Status};
use crate::hardware::{Hardware, MemorySource, Os, format_size};

pub use crate::answers::{Answers, Editor, Editors, Fixes, Overrides, Preset, Scripts};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// `1 job peaks`, `3 jobs peak`.
fn peaks(jobs: u32) -> String {
    if jobs == 1 {
        "1 job peaks".into()
    } else {
        format!("{jobs} jobs peak")
    }
}

/// Which of calibrate's two estimates gave the number for `jobs` jobs, in words.
fn estimate_words(calibration: &Calibration, jobs: u32) -> String {
    let typical = if calibration.anonymous {
        "what a running compilation holds on average"
    } else {
        "the median"
    };
    let bound = format!("the largest compilation + {} x {typical}", jobs.saturating_sub(1));
    let replay = format!("the recorded build timeline replayed on {}", count(jobs, "slot"));
    match calibration.source(jobs) {
        Some(Source::Replay) => format!(
            "the estimate for {} is {replay}, no more than the bound ({bound})",
            count(jobs, "job")
        ),
        Some(Source::Bound) => format!(
            "the estimate for {} is the bound, {bound}, below {replay}",
            count(jobs, "job")
        ),
        None => "each job count's estimate is the smaller of the recorded build timeline replayed \
                 and the largest compilation + (jobs - 1) x the median"
            .into(),
    }
}

/// `1 build job`, `3 build jobs`: a count and its noun, singular for one.
pub fn count(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Memory one build needs as a function of its parallel jobs: `first + (jobs - 1) * each`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct JobCost {
    pub first_bytes: u64,
    pub each_bytes: u64,
    /// Where the figures come from, in words a user can check.
    pub source: &'static str,
}

impl JobCost {
    /// The estimates used until a project is measured.
    pub fn for_preset(preset: Preset) -> JobCost {
        match preset {
            // Crater's proposal of 1 job per 2 to 4 GB, and several projects measured at
            // 2 to 5 GB per rustc job on large crates: assume a heavy project.
            Preset::Safe => JobCost {
                first_bytes: 2 * GIB,
                each_bytes: 2 * GIB,
                source: "safe estimate: 2 GiB per rustc job, for heavy projects (crater's proposal of \
                         1 job per 2-4 GB; large crates measured at 2-5 GB per job)",
            },
            // openSUSE budgets 1000 MB per core; the first job gets 1.5 GiB for the final link,
            // the largest single process (mdBook: 610 MiB for its link, 403 MiB peak at 1 job).
            Preset::Balanced => JobCost {
                first_bytes: 3 * GIB / 2,
                each_bytes: GIB,
                source: "balanced estimate: 1.5 GiB for the first job and its link, 1 GiB per further \
                         job (openSUSE's 1000 MB per core; mdBook measured 403 MiB at 1 job)",
            },
            // mdBook measured 403 MiB at 1 job and 1130 MiB at 8, about 104 MiB per further job:
            // fast allows 2.5 to 5 times that.
            Preset::Fast => JobCost {
                first_bytes: GIB,
                each_bytes: GIB / 2,
                source: "fast estimate: 1 GiB for the first job, 0.5 GiB per further job (mdBook \
                         measured 403 MiB at 1 job and 1130 MiB at 8 jobs)",
            },
        }
    }

    /// Peak memory of a build with `jobs` parallel jobs.
    pub fn peak(self, jobs: u32) -> u64 {
        self.first_bytes + u64::from(jobs.saturating_sub(1)) * self.each_bytes
    }
}

/// Per-test memory estimate, per preset (a guess: no measurement yet). Unit tests rarely take
/// more than a few hundred MiB; integration tests that start servers or load fixtures do.
fn test_thread_bytes(preset: Preset) -> u64 {
    match preset {
        Preset::Safe => GIB,
        Preset::Balanced => 512 * MIB,
        Preset::Fast => 256 * MIB,
    }
}

/// Headroom over the estimated peak, in percent (docs/measurements.md M1).
const HEADROOM_PERCENT: u64 = 15;

/// Headroom over a peak estimated from this project's anonymous memory as `memsafe calibrate`
/// measures it on Linux: on bench/mdbook-app the model came within 15% of the kernel's own
/// count from 1 to 8 jobs, and within 5% from 4 jobs on (the model was chosen on that data;
/// on bench/cranelift-app it erred high, by up to 32%: docs/measurements.md M10); the memory
/// a cgroup or the OOM killer counts is what was measured.
const MEASURED_HEADROOM_PERCENT: u64 = 5;

/// Below this budget rust-analyzer's cache priming (which parses the whole dependency graph at
/// start-up, in parallel) is turned off.
const TIGHT_BUDGET: u64 = 4 * GIB;

/// Memory kept for the operating system and the desktop, outside a container.
fn os_reserve(hardware: &Hardware) -> (u64, String) {
    if hardware.memory_source == MemorySource::CgroupLimit {
        // The limit is the container's own, and what else runs in it (a shell, a CI agent's
        // step) is small: 1/20 of the limit, between 32 and 256 MiB.
        let bytes = (hardware.memory_bytes / 20).clamp(32 * MIB, 256 * MIB);
        return (
            bytes,
            format!(
                "{} for the container's other processes (1/20 of its limit, 32 to 256 MiB)",
                format_size(bytes)
            ),
        );
    }
    // Guesses, written down: a Linux desktop idles near 1 GiB; macOS keeps about 2 GiB busy;
    // Windows 10/11 idles at 2.5 GiB or more (larger baseline: services, Defender, DWM).
    let bytes = match hardware.os {
        Os::Linux => GIB,
        Os::Macos => 2 * GIB,
        Os::Windows => 5 * GIB / 2,
    };
    (
        bytes,
        format!("{} for {}", format_size(bytes), os_name(hardware.os)),
    )
}

fn os_name(os: Os) -> &'static str {
    match os {
        Os::Linux => "Linux",
        Os::Macos => "macOS",
        Os::Windows => "Windows",
    }
}

/// Memory kept for the editor: VS Code itself plus rust-analyzer, which holds the whole
/// crate graph in memory (gigabytes on a large workspace). A guess, written down.
fn editor_reserve(answers: &Answers) -> u64 {
    match (answers.editors.any(), answers.preset) {
        (false, _) => 0,
        // proc macros and cache priming off: a smaller rust-analyzer
        (true, Preset::Safe) => 3 * GIB / 2,
        (true, _) => 2 * GIB,
    }
}

/// One planned value and why it was chosen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub setting: String,
    pub value: String,
    pub why: String,
    /// What the repo has now, and what happens to it: `yours: 1 (Cargo.toml line 9), kept`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
}

/// What memsafe writes to the Cargo profiles. `None` leaves cargo's default (and the user's
/// own value, if any) alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// `[profile.dev] debug`
    pub dev_debug: Option<String>,
    /// `[profile.dev] incremental`
    pub dev_incremental: Option<bool>,
    /// `[profile.dev.package."*"] debug`
    pub dependencies_debug: Option<bool>,
}

/// rust-analyzer's limits, for the editor's settings file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RustAnalyzer {
    pub num_threads: u32,
    pub cache_priming_threads: u32,
    /// `Some(false)` turns cache priming off; `None` leaves it alone.
    pub cache_priming_enable: Option<bool>,
    /// `Some(false)` turns proc-macro expansion off (safe preset only).
    pub proc_macro_enable: Option<bool>,
    pub check_jobs: u32,
}

/// Everything `init` writes, computed from the hardware and the answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub hardware: Hardware,
    pub answers: Answers,
    pub overrides: Overrides,
    /// Jobs come from `memsafe calibrate`'s measurements, not the preset's estimate.
    pub measured: bool,
    /// The measurements the plan used (written back to memsafe.toml).
    #[serde(skip)]
    pub calibration: Option<Calibration>,
    pub job_cost: JobCost,
    pub reserve_bytes: u64,
    pub budget_bytes: u64,
    pub jobs: u32,
    pub test_threads: u32,
    pub profile: Profile,
    pub rust_analyzer: Option<RustAnalyzer>,
    pub reasons: Vec<Reason>,
    /// Well-known bad recipes and values that beat memsafe's, in the repo as it is.
    pub findings: Vec<Finding>,
    /// Keys of Cargo.toml memsafe takes out (the fixes chosen for the findings).
    pub takes_out: Vec<String>,
    /// Members' config files whose `build.jobs` memsafe takes out (the `member-jobs` fix).
    pub members_out: Vec<String>,
    /// Things the user should know: a budget too small for even one job, detection gaps.
    pub warnings: Vec<String>,
    /// The governor's keys, when it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub governor: Option<Governor>,
}

/// What memsafe writes to turn the governor on: itself as cargo's `build.rustc-wrapper`, and
/// the wrapper it runs rustc through, when the repo had one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Governor {
    /// `build.rustc-wrapper`: `memsafe` when the `memsafe` on PATH is this one, else this
    /// memsafe's absolute path (see [`crate::current::wrapper_program`]).
    pub program: String,
    /// `[env] MEMSAFE_RUSTC_WRAPPER`: the user's own wrapper (sccache, say), which memsafe
    /// takes the place of and runs after admitting each rustc.
    pub chain: Option<String>,
    /// Whether the chained wrapper came from the repo's own `.cargo/config.toml` (which
    /// `remove` gives back) rather than a config file outside it.
    #[serde(skip)]
    pub chain_in_repo: bool,
}

/// The governor's program until the plan knows better: the name cargo finds on PATH.
pub const GOVERNOR_PROGRAM: &str = "memsafe";

/// The reason given for `build.rustc-wrapper`.
pub(crate) fn wrapper_why(governor: &Governor) -> String {
    let how = if governor.program == GOVERNOR_PROGRAM {
        "the `memsafe` on PATH is this one".to_string()
    } else {
        "an absolute path: the `memsafe` on PATH, if any, is another program or another copy".to_string()
    };
    match &governor.chain {
        Some(chain) => {
            let back = if governor.chain_in_repo {
                format!("`memsafe remove` or `--governor off` puts {chain} back here")
            } else {
                format!(
                    "`memsafe remove` or `--governor off` takes memsafe's key out, and cargo runs {chain} \
                     again from the config file that names it"
                )
            };
            format!(
                "the governor (experimental): cargo runs every rustc through memsafe ({how}), which \
                 starts it when its predicted memory fits; memsafe runs {chain} after admitting each \
                 rustc (written as MEMSAFE_RUSTC_WRAPPER under [env]); {back}"
            )
        }
        None => format!(
            "the governor (experimental): cargo runs every rustc through memsafe ({how}), which starts \
             it when its predicted memory fits"
        ),
    }
}

impl Plan {
    /// The reason given for `setting`, if the plan has one.
    pub fn reason(&self, setting: &str) -> Option<&Reason> {
        self.reasons.iter().find(|reason| reason.setting == setting)
    }

    /// Computes the plan. Pure: the same inputs always give the same plan.
    pub fn compute(hardware: &Hardware, answers: &Answers) -> Plan {
        Plan::compute_with(hardware, answers, &Overrides::default())
    }

    /// Computes the plan, keeping the values pinned in `overrides`.
    pub fn compute_with(hardware: &Hardware, answers: &Answers, overrides: &Overrides) -> Plan {
        Plan::compute_full(hardware, answers, overrides, None)
    }

    /// Computes the plan from measurements when `calibration` is given (`memsafe calibrate`),
    /// from the preset's estimate otherwise.
    pub fn compute_full(
        hardware: &Hardware,
        answers: &Answers,
        overrides: &Overrides,
        calibration: Option<&Calibration>,
    ) -> Plan {
        let mut reasons = Vec::new();
        let mut warnings = hardware.notes.clone();
        let mut reason = |setting: &str, value: String, why: String| {
            reasons.push(Reason {
                setting: setting.into(),
                value,
                why,
                current: None,
            });
        };
        let preset = answers.preset;
        let cpus = hardware.logical_cpus.max(1);

        let (os_bytes, os_why) = os_reserve(hardware);
        // On a small machine the editor gets at most half of what the OS leaves, so that a
        // build still has room for one job.
        let after_os = hardware.memory_bytes.saturating_sub(os_bytes);
        let editor_bytes = editor_reserve(answers).min(after_os / 2);
        let reserve_bytes = os_bytes + editor_bytes;
        let budget_bytes = hardware.memory_bytes.saturating_sub(reserve_bytes);
        let memory_words = hardware.memory_words();
        let editor_words = if editor_bytes > 0 && editor_bytes < editor_reserve(answers) {
            format!(
                ", {} for the editor and rust-analyzer (half of what is left: too little for the usual {})",
                format_size(editor_bytes),
                format_size(editor_reserve(answers))
            )
        } else if editor_bytes > 0 {
            format!(", {} for the editor and rust-analyzer", format_size(editor_bytes))
        } else {
            String::new()
        };
        reason(
            "budget",
            format_size(budget_bytes),
            format!("{memory_words}, less {os_why}{editor_words}"),
        );
        if hardware.wsl {
            reason(
                "wsl",
                format_size(hardware.memory_bytes),
                "Linux under WSL2: Windows caps WSL's memory (by default half of the PC's RAM; \
                 `memory=` under [wsl2] in %UserProfile%\\.wslconfig changes it), so memsafe plans for \
                 what Linux sees, not for the PC; after changing .wslconfig run `wsl --shutdown`, \
                 then `memsafe regen`"
                    .into(),
            );
        }

        // Jobs: the largest count whose estimated peak, plus headroom, fits in the budget.
        let job_cost = JobCost::for_preset(preset);
        // Measured: the largest job count whose estimated peak fits; estimated: the model.
        let measured = calibration.filter(|c| c.peak(1) > 0);
        // Only where the model was checked against the kernel: Linux's anonymous memory,
        // measured by `memsafe calibrate` (not macOS's footprint, not a governed summary).
        let headroom_percent =
            if measured.is_some_and(|c| c.anonymous && !c.governed) && hardware.os == Os::Linux {
                MEASURED_HEADROOM_PERCENT
            } else {
                HEADROOM_PERCENT
            };
        let usable = budget_bytes * 100 / (100 + headroom_percent);
        let peak = |jobs: u32| measured.map_or_else(|| job_cost.peak(jobs), |c| c.peak(jobs));
        let first_bytes = peak(1);
        let memory_jobs = if usable < first_bytes {
            1
        } else if let Some(calibration) = measured {
            let table = u32::try_from(crate::calibrate::MAX_JOBS).unwrap_or(u32::MAX);
            let fitting = (1..=table)
                .take_while(|&jobs| calibration.peak(jobs) <= usable)
                .last()
                .unwrap_or(1);
            // Beyond the table, more jobs add no more (the estimate is flat there).
            if fitting == table { u32::MAX } else { fitting }
        } else {
            let extra = (usable - job_cost.first_bytes) / job_cost.each_bytes;
            u32::try_from(extra).unwrap_or(u32::MAX).saturating_add(1)
        };
        let planned_jobs = memory_jobs.min(cpus);
        let jobs = overrides.jobs.map_or(planned_jobs, |pinned| pinned.max(1));
        let headroom = |bytes: u64| bytes * (100 + headroom_percent) / 100;
        if let Some(pinned) = overrides.jobs
            && pinned > planned_jobs
            && headroom(peak(jobs)) > budget_bytes
        {
            warnings.push(format!(
                "`jobs = {pinned}` is pinned in memsafe.toml [overrides]: about {} with \
                 {headroom_percent}% headroom, more than the {} budget, so builds may run out of \
                 memory (the plan would choose {planned_jobs})",
                format_size(headroom(peak(jobs))),
                format_size(budget_bytes),
            ));
        }
        let fits = if let Some(pinned) = overrides.jobs {
            // The estimate quoted is the pinned count's; the plan's own choice gets its own.
            format!(
                "pinned to {pinned} in memsafe.toml [overrides]: {} at about {}, {} with \
                 {headroom_percent}% headroom, against the {} budget (the plan would choose {planned_jobs}: \
                 {} at about {})",
                peaks(jobs),
                format_size(peak(jobs)),
                format_size(headroom(peak(jobs))),
                format_size(budget_bytes),
                peaks(planned_jobs),
                format_size(peak(planned_jobs)),
            )
        } else if memory_jobs > cpus {
            format!(
                "memory fits {} jobs, capped at the {cpus} logical CPUs (more jobs than \
                 CPUs cost memory and gain no speed)",
                if memory_jobs == u32::MAX {
                    "any number of".to_string()
                } else {
                    memory_jobs.to_string()
                }
            )
        } else if usable < first_bytes {
            warnings.push(format!(
                "the budget ({}) is below the estimate for even one job ({} plus {headroom_percent}%): \
                 builds may still run out of memory; close other programs or plan with --editor none",
                format_size(budget_bytes),
                format_size(first_bytes)
            ));
            "1 job, the minimum: the budget is below even one job's estimate".to_string()
        } else if measured.is_some() {
            let (budget, need) = crate::hardware::format_apart(budget_bytes, headroom(peak(jobs + 1)));
            format!(
                "{} at about {}, {} with {headroom_percent}% headroom, within the {budget} budget; \
                 {} would need {need}",
                peaks(jobs),
                format_size(peak(jobs)),
                format_size(headroom(peak(jobs))),
                jobs + 1,
            )
        } else {
            format!(
                "{} at about {} ({} + {} x {}), {} with {headroom_percent}% headroom, \
                 within the {} budget; {} would not fit",
                peaks(jobs),
                format_size(job_cost.peak(jobs)),
                format_size(job_cost.first_bytes),
                jobs - 1,
                format_size(job_cost.each_bytes),
                format_size(headroom(job_cost.peak(jobs))),
                format_size(budget_bytes),
                jobs + 1
            )
        };
        let source = match measured {
            Some(calibration) => format!(
                "{}; {} (the model: docs/measurements.md, M10 and M11)",
                calibration.words(),
                estimate_words(calibration, jobs)
            ),
            None => format!(
                "{} (`memsafe calibrate` measures this project instead)",
                job_cost.source
            ),
        };
        // With the governor on, cargo may start a rustc per CPU: memsafe holds each back until
        // it fits. A pin still wins.
        let governed = answers.governor && overrides.jobs.is_none();
        let build_jobs = if governed { cpus } else { jobs };
        let jobs_why = if governed {
            format!(
                "the governor is on: cargo may start one rustc per logical CPU ({cpus}), and memsafe \
                 starts each when its predicted memory fits the {} budget; without the governor the \
                 plan would be {jobs}: {fits}; {source}",
                format_size(budget_bytes)
            )
        } else {
            format!("{fits}; {source}")
        };
        reason("build.jobs", build_jobs.to_string(), jobs_why);

        // Tests run after the build finishes, so they get the whole budget.
        let per_test = test_thread_bytes(preset);
        let memory_threads = u32::try_from((usable / per_test).max(1)).unwrap_or(u32::MAX);
        let planned_threads = memory_threads.min(cpus);
        let test_threads = overrides
            .test_threads
            .map_or(planned_threads, |pinned| pinned.max(1));
        let pinned_words = match overrides.test_threads {
            Some(pinned) => format!(
                "pinned to {pinned} in memsafe.toml [overrides] (the plan would choose {planned_threads}); "
            ),
            None => String::new(),
        };
        reason(
            "test threads",
            test_threads.to_string(),
            format!(
                "{pinned_words}{} per test thread ({} estimate, a guess: unit tests rarely need more, tests that \
                 start servers do); the budget fits {memory_threads}, at most one per logical CPU ({cpus}); \
                 written as RUST_TEST_THREADS in .cargo/config.toml and --test-threads in the scripts",
                format_size(per_test),
                preset.as_str()
            ),
        );

        let profile = Profile {
            dev_debug: (preset == Preset::Safe).then(|| "line-tables-only".to_string()),
            dev_incremental: (preset == Preset::Safe).then_some(false),
            dependencies_debug: Some(false),
        };
        reason(
            "profile.dev.package.\"*\".debug",
            "false".into(),
            "no debug info for dependencies (your own crates keep theirs): measured -31 to -35% \
             target folder and -11 to -14% build time on mdBook and ripgrep, and smaller links \
             (docs/measurements.md M2, M7)"
                .into(),
        );
        match &profile.dev_debug {
            Some(level) => reason(
                "profile.dev.debug",
                format!("\"{level}\""),
                "safe preset: file and line numbers in backtraces, no variable info for a debugger; \
                 smaller links (rust-lld: 166 MB against 243 MB with full debug info, docs/measurements.md M7). \
                 For a debugging session: CARGO_PROFILE_DEV_DEBUG=true cargo build"
                    .into(),
            ),
            None => reason(
                "profile.dev.debug",
                "cargo's default (full)".into(),
                format!(
                    "{} preset: your own crates keep full debug info for the debugger; the \
                     dependencies' is what costs memory",
                    preset.as_str()
                ),
            ),
        }
        match profile.dev_incremental {
            Some(value) => reason(
                "profile.dev.incremental",
                value.to_string(),
                "safe preset: no incremental caches written, for a smaller target folder and less disk \
                 I/O (with debug = 1: -36% target folder, docs/measurements.md M2); it does not lower peak \
                 memory (incremental moves disk use and rebuild time, not peak memory); rebuilds after \
                 an edit get slower"
                    .into(),
            ),
            None => reason(
                "profile.dev.incremental",
                "cargo's default (true)".into(),
                "kept: incremental moves disk use and rebuild time, not peak memory (docs/measurements.md M2), \
                 and keeps rebuilds after an edit fast"
                    .into(),
            ),
        }
        reason(
            "profile.dev.codegen-units",
            "cargo's defaults (256; 16 in release)".into(),
            "not written: fewer codegen units save no memory (measured: codegen-units = 2 took 9% \
             more memory) and opt-level 1 + codegen-units 1 cost 77% more build time (docs/measurements.md M2)"
                .into(),
        );
        let split_why = match hardware.os {
            Os::Linux => {
                "not written: cargo's default (off) keeps debug info in the binary, where every debugger \
                 and backtrace finds it; `unpacked` would shrink links (rust-lld: 181 MB against 243 MB) \
                 but leaves .dwo files behind (docs/measurements.md M6, M7)"
            }
            Os::Macos => "not written: cargo already uses `unpacked` on macOS (docs/measurements.md M6)",
            Os::Windows => {
                "not written: MSVC supports only `packed`, which is rustc's default there; `off` and \
                 `unpacked` are unstable on it (docs/measurements.md M6)"
            }
        };
        reason(
            "profile.dev.split-debuginfo",
            "cargo's default".into(),
            split_why.into(),
        );
        reason(
            "profile.test",
            "inherits profile.dev".into(),
            "cargo's test profile inherits dev, so the dev values apply to `cargo test` too".into(),
        );

        let rust_analyzer = answers.editors.any().then(|| {
            let physical = hardware.physical_cpus.max(1);
            let threads = match preset {
                Preset::Safe => 1,
                Preset::Balanced => (physical / 2).max(1),
                Preset::Fast => physical,
            };
            let tight = preset == Preset::Safe || budget_bytes < TIGHT_BUDGET;
            RustAnalyzer {
                num_threads: threads,
                cache_priming_threads: threads,
                cache_priming_enable: tight.then_some(false),
                proc_macro_enable: (preset == Preset::Safe).then_some(false),
                check_jobs: jobs,
            }
        });
        if let Some(ra) = &rust_analyzer {
            let thread_words = match preset {
                Preset::Safe => "safe preset: one thread".to_string(),
                Preset::Balanced => format!(
                    "half of the {} physical cores, so the editor leaves the build room",
                    hardware.physical_cpus
                ),
                Preset::Fast => format!("all {} physical cores", hardware.physical_cpus),
            };
            reason(
                "rust-analyzer.numThreads",
                ra.num_threads.to_string(),
                format!("{thread_words}; rust-analyzer's default is one per physical core"),
            );
            reason(
                "rust-analyzer.cachePriming.numThreads",
                ra.cache_priming_threads.to_string(),
                format!("{thread_words}; priming indexes every dependency in parallel at start-up"),
            );
            if ra.cache_priming_enable == Some(false) {
                let why = if preset == Preset::Safe {
                    "safe preset".to_string()
                } else {
                    format!(
                        "the budget ({}) is below {}",
                        format_size(budget_bytes),
                        format_size(TIGHT_BUDGET)
                    )
                };
                reason(
                    "rust-analyzer.cachePriming.enable",
                    "false".into(),
                    format!(
                        "{why}: no start-up indexing of every dependency; the first lookups in a \
                         dependency are slower instead"
                    ),
                );
            }
            if ra.proc_macro_enable == Some(false) {
                reason(
                    "rust-analyzer.procMacro.enable",
                    "false".into(),
                    "safe preset: proc macros are not built and expanded in the editor, which saves \
                     their memory, but code generated by derives and attribute macros (serde, tokio, \
                     clap) is unknown to the editor: false errors and missing completions there. \
                     Choose balanced to keep them"
                        .into(),
                );
            }
            reason(
                "rust-analyzer.check.extraArgs",
                format!("--jobs {}", ra.check_jobs),
                if governed {
                    "the editor's cargo check runs with the job limit the memory allows without the governor"
                        .into()
                } else {
                    "the editor's cargo check runs with the same job limit as a build".into()
                },
            );
            if answers.editors.vscode {
                reason(
                    "files.watcherExclude",
                    "**/target/**".into(),
                    "VS Code does not watch the build output, thousands of files that change on every build"
                        .into(),
                );
            }
        }

        let governor = answers.governor.then(|| Governor {
            program: GOVERNOR_PROGRAM.into(),
            chain: None,
            chain_in_repo: false,
        });
        if let Some(governor) = &governor {
            reason(
                "build.rustc-wrapper",
                governor.program.clone(),
                wrapper_why(governor),
            );
        }

        Plan {
            hardware: hardware.clone(),
            answers: *answers,
            overrides: *overrides,
            measured: measured.is_some(),
            calibration: calibration.cloned(),
            job_cost,
            reserve_bytes,
            budget_bytes,
            jobs: build_jobs,
            test_threads,
            profile,
            rust_analyzer,
            reasons,
            findings: Vec::new(),
            takes_out: Vec::new(),
            members_out: Vec::new(),
            warnings,
            governor,
        }
    }

    pub(crate) fn reason_mut(&mut self, setting: &str) -> Option<&mut Reason> {
        self.reasons.iter_mut().find(|reason| reason.setting == setting)
    }

    /// The fix this plan makes for `finding`: its own, when the answers chose it.
    pub(crate) fn fix_for(&self, finding: &Finding) -> Option<Fix> {
        finding.fix.filter(|fix| self.answers.fixes.has(*fix))
    }

    /// Whether `finding` is a value that beats memsafe's and stays (one the plan takes out, a
    /// member's `build.jobs`, no longer beats anything): a warning rather than a finding.
    pub(crate) fn is_override(&self, finding: &Finding) -> bool {
        finding.status == Status::Overrides && self.fix_for(finding).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardware(gib: u64, cpus: u32, os: Os) -> Hardware {
        Hardware {
            memory_bytes: gib * GIB,
            memory_source: MemorySource::Flag,
            logical_cpus: cpus,
            physical_cpus: cpus,
            os,
            wsl: false,
            notes: vec![],
        }
    }

    fn plan(gib: u64, cpus: u32, preset: Preset) -> Plan {
        Plan::compute(
            &hardware(gib, cpus, Os::Linux),
            &Answers {
                preset,
                ..Answers::default()
            },
        )
    }

    #[test]
    fn jobs_follow_memory_then_cpus() {
        // 8 GiB, VS Code: 8 - 1 - 2 = 5 GiB budget; /1.15 = 4.35; 1.5 + 2 x 1 fits, 3 more does not.
        assert_eq!(plan(8, 16, Preset::Balanced).jobs, 3);
        assert_eq!(plan(8, 2, Preset::Balanced).jobs, 2);
        assert_eq!(plan(128, 32, Preset::Balanced).jobs, 32);
        assert!(plan(16, 16, Preset::Safe).jobs < plan(16, 16, Preset::Balanced).jobs);
        assert!(plan(16, 16, Preset::Balanced).jobs < plan(16, 16, Preset::Fast).jobs);
    }

    #[test]
    fn estimated_peak_fits_the_budget() {
        for gib in [4, 6, 8, 12, 16, 24, 32, 64] {
            for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
                let plan = plan(gib, 64, preset);
                if plan.jobs > 1 {
                    let needed = plan.job_cost.peak(plan.jobs) * 115 / 100;
                    assert!(needed <= plan.budget_bytes, "{gib} GiB {preset:?}");
                }
                if plan.jobs < 64 {
                    let one_more = plan.job_cost.peak(plan.jobs + 1) * 115 / 100;
                    assert!(one_more > plan.budget_bytes, "{gib} GiB {preset:?} left room");
                }
            }
        }
    }

    #[test]
    fn tiny_machine_gets_one_job_and_a_warning() {
        let plan = plan(2, 8, Preset::Balanced);
        assert_eq!(plan.jobs, 1);
        assert_eq!(plan.test_threads, 1);
        assert_eq!(plan.warnings.len(), 1);
        assert_eq!(plan.rust_analyzer.unwrap().cache_priming_enable, Some(false));
    }

    #[test]
    fn pinned_values_win_and_say_so() {
        let hw = hardware(8, 8, Os::Linux);
        let pins = Overrides {
            jobs: Some(7),
            test_threads: Some(1),
        };
        let plan = Plan::compute_with(&hw, &Answers::default(), &pins);
        assert_eq!((plan.jobs, plan.test_threads), (7, 1));
        assert_eq!(plan.rust_analyzer.as_ref().unwrap().check_jobs, 7);
        let why = &plan.reason("build.jobs").unwrap().why;
        // Balanced: 1.5 GiB + 6 x 1 GiB = 7.5 GiB for the pinned 7 (8.62 GiB with 15%), and
        // 3.5 GiB for the 3 the plan would choose.
        assert!(
            why.starts_with(
                "pinned to 7 in memsafe.toml [overrides]: 7 jobs peak at about 7.5 GiB, 8.6 GiB with \
                 15% headroom, against the 5 GiB budget (the plan would choose 3: 3 jobs peak at \
                 about 3.5 GiB)"
            ),
            "{why}"
        );
        // Beyond the budget, the pin gets a warning too; one within it does not.
        assert!(
            plan.warnings
                .iter()
                .any(|w| w.starts_with("`jobs = 7` is pinned")
                    && w.contains("8.6 GiB with 15% headroom, more")),
            "{:?}",
            plan.warnings
        );
        let within = Overrides {
            jobs: Some(2),
            test_threads: None,
        };
        let plan = Plan::compute_with(&hw, &Answers::default(), &within);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    fn light_calibration(bound_jobs: Option<Vec<u32>>) -> Calibration {
        Calibration {
            rustc: "rustc 1.95.0".into(),
            date: "2026-11-27".into(),
            profile: "test".into(),
            crates: 3,
            total_seconds: 10,
            median_peak_bytes: 200 * MIB,
            p90_peak_bytes: 300 * MIB,
            max_peak_bytes: 400 * MIB,
            link_peak_bytes: 400 * MIB,
            heaviest: vec![("app".into(), "bin".into(), 400 * MIB)],
            // A light project: 500 MiB plus 300 MiB a job.
            peak_by_jobs: (0..64).map(|k| 500 * MIB + k * 300 * MIB).collect(),
            shared_bytes: None,
            governed: false,
            anonymous: false,
            cargo_bytes: None,
            bound_jobs,
        }
    }

    #[test]
    fn a_measured_reason_names_the_estimate_that_gave_its_number() {
        let hw = hardware(8, 16, Os::Linux);
        let why = |bound_jobs: Option<Vec<u32>>, overrides: Overrides| {
            let calibration = light_calibration(bound_jobs);
            let plan = Plan::compute_full(&hw, &Answers::default(), &overrides, Some(&calibration));
            plan.reason("build.jobs").unwrap().why.clone()
        };
        // The plan chooses 14 jobs (see `measurements_replace_the_estimate`).
        let bound = why(Some((5..=64).collect()), Overrides::default());
        assert!(
            bound.contains(
                "the estimate for 14 jobs is the bound, the largest compilation + 13 x the median, \
                 below the recorded build timeline replayed on 14 slots"
            ),
            "{bound}"
        );
        assert!(!bound.contains("is the recorded build timeline"), "{bound}");
        let replay = why(Some(vec![20, 21]), Overrides::default());
        assert!(
            replay.contains(
                "the estimate for 14 jobs is the recorded build timeline replayed on 14 slots, no \
                 more than the bound (the largest compilation + 13 x the median)"
            ),
            "{replay}"
        );
        // Pinned to 20: the words are about 20 jobs, whose estimate came from the bound, and the
        // estimated peak is 20's: 500 + 19 x 300 = 6200 MiB.
        let pinned = why(
            Some(vec![20, 21]),
            Overrides {
                jobs: Some(20),
                test_threads: None,
            },
        );
        assert!(
            pinned.starts_with("pinned to 20 in memsafe.toml [overrides]: 20 jobs peak at about 6.1 GiB"),
            "{pinned}"
        );
        assert!(
            pinned.contains("(the plan would choose 14: 14 jobs peak at about 4.3 GiB)"),
            "{pinned}"
        );
        assert!(
            pinned.contains("the estimate for 20 jobs is the bound"),
            "{pinned}"
        );
        // A record that does not say which: both are named, neither is claimed.
        let unknown = why(None, Overrides::default());
        assert!(
            unknown.contains("each job count's estimate is the smaller of the recorded build timeline"),
            "{unknown}"
        );
    }

    #[test]
    fn the_incremental_reasons_agree_between_presets() {
        for preset in [Preset::Safe, Preset::Balanced, Preset::Fast] {
            let why = plan(16, 8, preset)
                .reason("profile.dev.incremental")
                .unwrap()
                .why
                .clone();
            assert!(
                why.contains("incremental moves disk use and rebuild time, not peak memory"),
                "{preset:?}: {why}"
            );
            assert!(!why.contains("memory per rustc"), "{preset:?}: {why}");
        }
        let safe = plan(16, 8, Preset::Safe);
        let why = &safe.reason("profile.dev.incremental").unwrap().why;
        assert!(why.contains("it does not lower peak memory"), "{why}");
        assert_eq!(safe.profile.dev_incremental, Some(false));
    }

    #[test]
    fn measurements_replace_the_estimate() {
        let hw = hardware(8, 16, Os::Linux);
        let calibration = light_calibration(None);
        let plan = Plan::compute_full(
            &hw,
            &Answers::default(),
            &Overrides::default(),
            Some(&calibration),
        );
        // 5 GiB budget / 1.15 = 4452 MiB: 500 + 13 x 300 = 4400 fits, 14 would not.
        assert_eq!(plan.jobs, 14);
        assert!(plan.measured);
        let why = &plan.reason("build.jobs").unwrap().why;
        assert!(
            why.contains("measured by `memsafe calibrate` on 2026-11-27"),
            "{why}"
        );
        assert!(
            Plan::compute(&hw, &Answers::default()).jobs < plan.jobs,
            "the guess is more careful here"
        );
    }

    #[test]
    fn the_governor_plans_a_job_per_cpu_and_keeps_the_editors_limit() {
        let hw = hardware(4, 8, Os::Linux);
        let off = Plan::compute(&hw, &Answers::default());
        let on = Plan::compute(
            &hw,
            &Answers {
                governor: true,
                ..Answers::default()
            },
        );
        assert_eq!(off.jobs, 1);
        assert_eq!(on.jobs, 8);
        assert_eq!(on.test_threads, off.test_threads);
        assert_eq!(on.rust_analyzer.as_ref().unwrap().check_jobs, 1);
        let why = &on.reason("build.jobs").unwrap().why;
        assert!(
            why.starts_with("the governor is on: cargo may start one rustc per logical CPU (8)"),
            "{why}"
        );
        assert!(why.contains("without the governor the plan would be 1"), "{why}");
        assert_eq!(on.governor.as_ref().unwrap().program, GOVERNOR_PROGRAM);
        assert!(off.governor.is_none() && off.reason("build.rustc-wrapper").is_none());
        // A pin still wins.
        let pinned = Plan::compute_with(
            &hw,
            &Answers {
                governor: true,
                ..Answers::default()
            },
            &Overrides {
                jobs: Some(3),
                test_threads: None,
            },
        );
        assert_eq!(pinned.jobs, 3);
    }

    #[test]
    fn one_cpu() {
        let plan = plan(64, 1, Preset::Fast);
        assert_eq!((plan.jobs, plan.test_threads), (1, 1));
    }

    #[test]
    fn windows_reserves_more_than_linux() {
        let answers = Answers::default();
        let linux = Plan::compute(&hardware(8, 8, Os::Linux), &answers);
        let windows = Plan::compute(&hardware(8, 8, Os::Windows), &answers);
        assert!(windows.budget_bytes < linux.budget_bytes);
    }

    #[test]
    fn container_limit_has_a_small_reserve() {
        let mut hw = hardware(2, 8, Os::Linux);
        hw.memory_source = MemorySource::CgroupLimit;
        let plan = Plan::compute(
            &hw,
            &Answers {
                editors: Editors::NONE,
                ..Answers::default()
            },
        );
        // 1/20 of a 2 GiB limit.
        assert_eq!(plan.budget_bytes, 2 * GIB - 2 * GIB / 20);
        assert!(plan.rust_analyzer.is_none());
        // At least 32 MiB under a small limit, at most 256 MiB under a large one.
        for (limit, reserve) in [(512 * MIB, 32 * MIB), (16 * GIB, 256 * MIB)] {
            hw.memory_bytes = limit;
            let plan = Plan::compute(
                &hw,
                &Answers {
                    editors: Editors::NONE,
                    ..Answers::default()
                },
            );
            assert_eq!(plan.budget_bytes, limit - reserve);
        }
    }

    #[test]
    fn only_safe_disables_proc_macros() {
        for preset in [Preset::Balanced, Preset::Fast] {
            assert_eq!(plan(4, 2, preset).rust_analyzer.unwrap().proc_macro_enable, None);
        }
        assert_eq!(
            plan(64, 8, Preset::Safe).rust_analyzer.unwrap().proc_macro_enable,
            Some(false)
        );
    }

    #[test]
    fn every_written_value_has_a_reason() {
        let plan = plan(16, 8, Preset::Safe);
        for setting in [
            "build.jobs",
            "test threads",
            "profile.dev.debug",
            "profile.dev.incremental",
            "profile.dev.package.\"*\".debug",
            "rust-analyzer.numThreads",
            "rust-analyzer.cachePriming.numThreads",
            "rust-analyzer.cachePriming.enable",
            "rust-analyzer.procMacro.enable",
            "rust-analyzer.check.extraArgs",
            "files.watcherExclude",
        ] {
            assert!(plan.reasons.iter().any(|r| r.setting == setting), "{setting}");
        }
    }
}
