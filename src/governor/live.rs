//! The governor's two memory figures: the budget (what all compilations together may reserve)
//! and the memory available right now.
//!
//! The budget is `memsafe plan`'s for this machine without an editor ([`Plan::compute`] on the
//! detected hardware: the RAM, or a container's cgroup limit when lower, less the OS reserve).
//! The editor's reserve, a guess, is left out: what the editor and rust-analyzer really hold
//! shows in the available memory, which every admission is checked against too, so a guess on
//! top would count it twice (and under a small container limit leave half of it unused).
//! `MEMSAFE_GOVERNOR_BUDGET` replaces it. Detection reads the RAM through a targeted sysinfo
//! refresh and a few cgroup files, well under a millisecond (docs/measurements.md M8 measured
//! the RAM refresh at 0.03 ms), so it is not cached.
//!
//! Available memory, the smaller of:
//! - Linux: `MemAvailable` from `/proc/meminfo`;
//! - Linux, in a memory cgroup (this process's or an ancestor's, v2 or v1): the limit less the
//!   usage, not counting the page cache the kernel can drop ([`droppable_cache`]: the file
//!   pages not mapped by a process; v2: `memory.max` less `memory.current`, v1:
//!   `memory.limit_in_bytes` less `memory.usage_in_bytes`);
//! - Windows: `ullAvailPhys` of `GlobalMemoryStatusEx`;
//! - macOS and others: sysinfo's available memory (on macOS, from `host_statistics64`), not
//!   tested on those systems.

use std::ffi::OsStr;
#[cfg(any(target_os = "linux", test))]
use std::path::Path;

use crate::hardware::{self, Overrides, Sources};
use crate::plan::{Answers, Editors, Plan};

/// The environment variable that replaces the detected budget: a size as `--ram` takes it
/// (`1.5GiB`, `800MiB`, `2` for 2 GiB).
pub(crate) const BUDGET_ENV: &str = "MEMSAFE_GOVERNOR_BUDGET";

/// The budget and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    pub bytes: u64,
    pub why: String,
    /// A `MEMSAFE_GOVERNOR_BUDGET` that could not be read, in words (the detected budget is
    /// used instead).
    pub warning: Option<String>,
}

/// `MEMSAFE_GOVERNOR_BUDGET`'s value: a size as `--ram` reads it (`1.5GiB`, `800MiB`, a bare
/// number is GiB), from 1 MiB (a tiny budget makes compilations run one at a time: tests and
/// benchmarks use it).
pub(crate) fn parse_budget(text: &str) -> Result<u64, String> {
    hardware::parse_size_from(text, 1 << 20, "the budget is at least 1MiB")
}

/// The budget from `MEMSAFE_GOVERNOR_BUDGET` when it is given and valid, else from `detect`
/// (the plan's budget and its reason).
pub(crate) fn budget_from(value: Option<&OsStr>, detect: impl FnOnce() -> (u64, String)) -> Budget {
    let mut warning = None;
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        match parse_budget(&value.to_string_lossy()) {
            Ok(bytes) => {
                return Budget {
                    bytes,
                    why: format!("{BUDGET_ENV}={}", value.to_string_lossy()),
                    warning: None,
                };
            }
            Err(error) => warning = Some(format!("{BUDGET_ENV} is ignored: {error}")),
        }
    }
    let (bytes, why) = detect();
    Budget { bytes, why, warning }
}

/// The budget for this machine (see the module docs).
pub(crate) fn budget() -> Budget {
    budget_from(std::env::var_os(BUDGET_ENV).as_deref(), || {
        // The CPU count does not move the budget: given, to skip counting physical cores.
        let hardware = hardware::detect(
            Overrides {
                logical_cpus: Some(1),
                ..Overrides::default()
            },
            &Sources::default(),
        );
        let plan = governor_plan(&hardware);
        let why = plan
            .reason("budget")
            .map_or_else(|| hardware.memory_words(), |r| r.why.clone());
        (plan.budget_bytes, format!("memsafe's plan: {why}"))
    })
}

/// The plan the governor's budget comes from: memsafe's plan for `hardware`, with no editor
/// to keep memory for (the editor's own builds go through the governor too).
fn governor_plan(hardware: &hardware::Hardware) -> Plan {
    let answers = Answers {
        editors: Editors::NONE,
        ..Answers::default()
    };
    Plan::compute(hardware, &answers)
}

/// The governor's budget in a Linux container limited to `memory_bytes` (the simulator's
/// machines).
pub(crate) fn budget_for(memory_bytes: u64) -> u64 {
    governor_plan(&hardware::Hardware {
        memory_bytes,
        memory_source: hardware::MemorySource::CgroupLimit,
        logical_cpus: 1,
        physical_cpus: 1,
        os: hardware::Os::Linux,
        wsl: false,
        notes: Vec::new(),
    })
    .budget_bytes
}

/// The memory available now, and where the figure came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Available {
    pub bytes: Option<u64>,
    pub source: String,
}

/// `MemAvailable` in the text of `/proc/meminfo`, in bytes.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn parse_meminfo(text: &str) -> Option<u64> {
    stat_value(text, "MemAvailable:").map(|kib| kib * 1024)
}

/// The number after `key` on its line in a `key value` file (`memory.stat`, or
/// `/proc/meminfo` with its `kB`).
#[cfg(any(target_os = "linux", test))]
pub(crate) fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next()? == key).then_some(())?;
        fields.next()?.parse().ok()
    })
}

/// What a cgroup can still take: its limit less its usage, the usage not counting the page
/// cache it can drop (`droppable`, [`droppable_cache`]).
#[cfg(any(target_os = "linux", test))]
pub(crate) fn cgroup_available(limit: u64, usage: u64, droppable: u64) -> u64 {
    limit.saturating_sub(usage.saturating_sub(droppable))
}

/// The page cache a cgroup can drop, from its `memory.stat`: the file pages, active and
/// inactive, less those mapped by a process (a running rustc's own library, say), which would
/// only be read back at once. A build writes hundreds of MiB of artifacts whose pages stay in
/// the cache as active file pages; counting them as used would make a capped build look full
/// while its anonymous memory is far from the limit. v2: `active_file`, `inactive_file`,
/// `file_mapped`; v1: the same with `total_` (the cgroup and those below it) and `mapped_file`.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn droppable_cache(stat: &str, v2: bool) -> u64 {
    let value = |v2_key: &str, v1_key: &str| stat_value(stat, if v2 { v2_key } else { v1_key }).unwrap_or(0);
    let files = value("active_file", "total_active_file") + value("inactive_file", "total_inactive_file");
    files.saturating_sub(value("file_mapped", "total_mapped_file"))
}

/// Linux: the smaller of `MemAvailable` and what each memory cgroup with a limit can still
/// take, read under `meminfo` and `sources` (a fake tree in tests).
#[cfg(any(target_os = "linux", test))]
pub(crate) fn available_linux(meminfo: &Path, sources: &Sources) -> Available {
    let mut best: Option<(u64, String)> = std::fs::read_to_string(meminfo)
        .ok()
        .and_then(|text| parse_meminfo(&text))
        .map(|bytes| (bytes, "MemAvailable in /proc/meminfo".to_string()));
    for limit_file in hardware::cgroup_limit_files(sources) {
        let Some(limit) = std::fs::read_to_string(&limit_file)
            .ok()
            .and_then(|text| hardware::parse_cgroup_limit(text.trim()).ok().flatten())
        else {
            continue;
        };
        let Some(dir) = limit_file.parent() else { continue };
        let v2 = limit_file.file_name().is_some_and(|n| n == "memory.max");
        let usage_file = if v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        let Some(usage) = read_number(&dir.join(usage_file)) else {
            continue;
        };
        let droppable =
            std::fs::read_to_string(dir.join("memory.stat")).map_or(0, |text| droppable_cache(&text, v2));
        let bytes = cgroup_available(limit, usage, droppable);
        if best.as_ref().is_none_or(|(b, _)| bytes < *b) {
            best = Some((
                bytes,
                format!(
                    "the cgroup's {} limit less its usage, without the page cache it can drop ({})",
                    hardware::format_size(limit),
                    dir.display()
                ),
            ));
        }
    }
    match best {
        Some((bytes, source)) => Available {
            bytes: Some(bytes),
            source,
        },
        None => Available {
            bytes: None,
            source: "unknown (neither /proc/meminfo nor a cgroup could be read)".into(),
        },
    }
}

#[cfg(any(target_os = "linux", test))]
fn read_number(file: &Path) -> Option<u64> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// The memory available now on this machine.
pub(crate) fn available() -> Available {
    #[cfg(target_os = "linux")]
    {
        available_linux(Path::new("/proc/meminfo"), &Sources::default())
    }
    #[cfg(windows)]
    {
        Available {
            bytes: crate::windows::available_memory(),
            source: "GlobalMemoryStatusEx (ullAvailPhys)".into(),
        }
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let bytes = sysinfo::System::new().ok().map(|mut system| {
            system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
            system.available_memory()
        });
        Available {
            bytes: bytes.filter(|&b| b > 0),
            source: "the OS's available memory (sysinfo)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    #[test]
    fn the_budget_variable_wins_when_it_reads() {
        let detected = || (5 * GIB, "plan".to_string());
        let given = budget_from(Some(OsStr::new("1")), detected);
        assert_eq!((given.bytes, given.warning), (GIB, None));
        assert_eq!(given.why, "MEMSAFE_GOVERNOR_BUDGET=1");
        assert_eq!(
            budget_from(Some(OsStr::new("1.5GiB")), detected).bytes,
            3 * GIB / 2
        );
        // Small budgets are allowed (tests and benchmarks), down to 1 MiB; a size as `--ram`
        // reads it, so that `8` is 8 GiB here too.
        assert_eq!(budget_from(Some(OsStr::new("1MiB")), detected).bytes, MIB);
        assert_eq!(budget_from(Some(OsStr::new("8")), detected).bytes, 8 * GIB);
        assert!(
            budget_from(Some(OsStr::new("0.5MiB")), detected)
                .warning
                .is_some()
        );
        let bad = budget_from(Some(OsStr::new("lots")), detected);
        assert_eq!(bad.bytes, 5 * GIB);
        assert!(
            bad.warning
                .unwrap()
                .starts_with("MEMSAFE_GOVERNOR_BUDGET is ignored: ")
        );
        assert!(budget_from(Some(OsStr::new("0")), detected).warning.is_some());
        assert_eq!(
            budget_from(None, detected),
            Budget {
                bytes: 5 * GIB,
                why: "plan".into(),
                warning: None
            }
        );
        assert_eq!(budget_from(Some(OsStr::new("")), detected).bytes, 5 * GIB);
    }

    #[test]
    fn meminfo_and_cgroup_figures() {
        let meminfo =
            "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   12000000 kB\n";
        assert_eq!(parse_meminfo(meminfo), Some(12_000_000 * 1024));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        let stat = "anon 100\nfile 900\ninactive_file 600\nactive_file 300\n";
        assert_eq!(stat_value(stat, "inactive_file"), Some(600));
        assert_eq!(stat_value(stat, "inactive"), None);
        // 2 GiB limit, 1.5 GiB used of which 0.5 GiB droppable cache: 1 GiB left.
        assert_eq!(cgroup_available(2 * GIB, 3 * GIB / 2, GIB / 2), GIB);
        assert_eq!(cgroup_available(GIB, 3 * GIB, 0), 0);
        // Active and inactive file pages, less the mapped ones (v1 as a capped build had it:
        // 169 MiB active, 190 inactive, 37 mapped).
        assert_eq!(
            droppable_cache("inactive_file 600\nactive_file 300\nfile_mapped 50\n", true),
            850
        );
        let v1 =
            "cache 1\ntotal_active_file 169\ntotal_inactive_file 190\ntotal_mapped_file 37\nactive_file 9\n";
        assert_eq!(droppable_cache(v1, false), 322);
        assert_eq!(droppable_cache(v1, true), 9);
        assert_eq!(droppable_cache("file_mapped 5\n", true), 0);
    }

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Sources, PathBuf) {
        let (dir, sources) = crate::hardware::fake_tree(files);
        let meminfo = dir.path().join("proc/meminfo");
        (dir, sources, meminfo)
    }

    #[test]
    fn in_a_v2_cgroup_the_smaller_of_the_cgroup_and_the_machine() {
        let (_dir, sources, meminfo) = tree(&[
            ("proc/meminfo", "MemAvailable:   8388608 kB\n"),
            ("proc/self/cgroup", "0::/ci/job\n"),
            ("sys/fs/cgroup/ci/memory.max", "4294967296\n"),
            ("sys/fs/cgroup/ci/memory.current", "3221225472\n"),
            (
                "sys/fs/cgroup/ci/memory.stat",
                "anon 1\ninactive_file 1073741824\n",
            ),
            ("sys/fs/cgroup/ci/job/memory.max", "max\n"),
        ]);
        let available = available_linux(&meminfo, &sources);
        // 4 GiB - (3 GiB - 1 GiB) = 2 GiB, below the machine's 8 GiB.
        assert_eq!(available.bytes, Some(2 * GIB));
        assert!(
            available.source.starts_with("the cgroup's 4 GiB limit"),
            "{}",
            available.source
        );
    }

    #[test]
    fn in_a_v1_cgroup_and_outside_any() {
        let (_dir, sources, meminfo) = tree(&[
            ("proc/meminfo", "MemAvailable:   1048576 kB\n"),
            ("proc/self/cgroup", "4:memory:/docker/abc\n"),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "3221225472\n",
            ),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes",
                "1073741824\n",
            ),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.stat",
                "total_inactive_file 536870912\n",
            ),
        ]);
        // The cgroup could take 2.5 GiB, the machine has 1 GiB: 1 GiB.
        let available = available_linux(&meminfo, &sources);
        assert_eq!(available.bytes, Some(GIB));
        assert_eq!(available.source, "MemAvailable in /proc/meminfo");
        std::fs::write(&meminfo, "MemAvailable:   8388608 kB\n").unwrap();
        assert_eq!(
            available_linux(&meminfo, &sources).bytes,
            Some(2 * GIB + 512 * MIB)
        );
        // Nothing readable: unknown.
        let (_dir, sources, meminfo) = tree(&[("proc/self/cgroup", "0::/\n")]);
        assert_eq!(available_linux(&meminfo, &sources).bytes, None);
    }
}
