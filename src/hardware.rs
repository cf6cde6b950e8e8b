//! What the machine offers: memory (a container's limit wins over the host's RAM), CPUs, OS.
//!
//! Detection is the only IO here and happens once, at the edge. `--ram`, `--cpus` and `--os`
//! replace it field by field, so tests and "plan for my CI runner" never depend on the host.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The operating systems memsafe plans for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Windows,
}

impl Os {
    /// The word used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Macos => "macos",
            Os::Windows => "windows",
        }
    }

    /// The OS this binary was built for. Other systems (the BSDs) are planned as Linux.
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }
}

impl fmt::Display for Os {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the memory figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemorySource {
    /// The machine's physical RAM.
    Ram,
    /// A cgroup (container) memory limit below the machine's RAM.
    CgroupLimit,
    /// Given with `--ram`.
    Flag,
}

/// What the machine offers, as far as planning is concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// Memory the build may use: RAM, or the cgroup limit when that is lower.
    pub memory_bytes: u64,
    pub memory_source: MemorySource,
    /// CPUs as `std::thread::available_parallelism` sees them (affinity and CPU quotas honoured).
    pub logical_cpus: u32,
    pub physical_cpus: u32,
    pub os: Os,
    /// Linux under WSL2, whose memory Windows caps (`.wslconfig`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub wsl: bool,
    /// Things detection could not read; the plan goes on with what it has.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

impl Hardware {
    /// `16 GiB of RAM`, `a 2 GiB container limit`, `8 GiB (given with --ram)`.
    pub fn memory_words(&self) -> String {
        let size = format_size(self.memory_bytes);
        match self.memory_source {
            MemorySource::Ram => format!("{size} of RAM"),
            MemorySource::CgroupLimit => format!("a {size} container limit"),
            MemorySource::Flag => format!("{size} (given with --ram)"),
        }
    }

    /// `16 GiB of RAM, 8 logical CPUs (4 physical), linux`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} logical CPUs ({} physical), {}",
            self.memory_words(),
            self.logical_cpus,
            self.physical_cpus,
            self.os
        )
    }
}

impl Hardware {
    /// A Linux machine with `gib` GiB and `cpus` CPUs (half of them physical), as given with
    /// flags: for memsafe's own tests and the fuzzer, never detected.
    pub fn given(gib: u64, cpus: u32) -> Hardware {
        Hardware {
            memory_bytes: gib << 30,
            memory_source: MemorySource::Flag,
            logical_cpus: cpus,
            physical_cpus: (cpus / 2).max(1),
            os: Os::Linux,
            wsl: false,
            notes: Vec::new(),
        }
    }
}

/// The most memory memsafe plans for: 1 PiB (larger figures are typos, and overflow sums).
pub const MAX_MEMORY_BYTES: u64 = 1 << 50;

/// Values that replace detection (from `--ram`, `--cpus`, `--os`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    pub memory_bytes: Option<u64>,
    pub logical_cpus: Option<u32>,
    pub os: Option<Os>,
}

/// Where detection reads from; a test points these at a fake tree.
#[derive(Clone, Debug)]
pub struct Sources {
    pub cgroup_root: PathBuf,
    pub proc_self_cgroup: PathBuf,
    /// The kernel release: WSL2's says `microsoft` (e.g. `5.15.153.1-microsoft-standard-WSL2`).
    pub kernel_release: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_self_cgroup: PathBuf::from("/proc/self/cgroup"),
            kernel_release: PathBuf::from("/proc/sys/kernel/osrelease"),
        }
    }
}

/// Detects what `overrides` leaves open. Never fails: what cannot be read becomes a note and
/// a conservative value.
pub fn detect(overrides: Overrides, sources: &Sources) -> Hardware {
    let mut notes = Vec::new();
    let os = overrides.os.unwrap_or_else(Os::current);

    let logical_cpus = overrides.logical_cpus.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or_else(
            |error| {
                notes.push(format!("could not read the CPU count ({error}); assuming 1"));
                1
            },
            |n| u32::try_from(n.get()).unwrap_or(u32::MAX),
        )
    });

    // With --cpus, physical cores are not the host's either: assume no SMT, the safe side
    // for rust-analyzer's thread counts.
    let physical_cpus = if overrides.logical_cpus.is_some() {
        logical_cpus
    } else {
        match sysinfo::System::physical_core_count() {
            Ok(n) if n > 0 => u32::try_from(n).unwrap_or(u32::MAX).min(logical_cpus),
            _ => logical_cpus,
        }
    };

    let (memory_bytes, memory_source) = match overrides.memory_bytes {
        Some(bytes) => (bytes, MemorySource::Flag),
        None => detect_memory(sources, &mut notes),
    };

    // Only the machine memsafe runs on can be WSL; `--os` plans for another one.
    let wsl = overrides.os.is_none() && os == Os::Linux && is_wsl(sources);
    Hardware {
        memory_bytes,
        memory_source,
        logical_cpus,
        physical_cpus: physical_cpus.max(1),
        os,
        wsl,
        notes,
    }
}

/// WSL2 runs a Microsoft kernel: its release names it.
fn is_wsl(sources: &Sources) -> bool {
    std::fs::read_to_string(&sources.kernel_release)
        .is_ok_and(|release| release.to_lowercase().contains("microsoft"))
}

fn detect_memory(sources: &Sources, notes: &mut Vec<String>) -> (u64, MemorySource) {
    // Targeted refresh only: RAM, no processes (docs/measurements.md M8: ~0.03 ms against 5-9 ms).
    let ram = match ram_bytes() {
        Ok(bytes) => bytes,
        Err(error) => {
            notes.push(format!("could not read the machine's RAM ({error})"));
            0
        }
    };
    let (limit, cgroup_notes) = cgroup_memory_limit(sources);
    notes.extend(cgroup_notes);
    match (ram, limit) {
        (0, Some(limit)) => (limit, MemorySource::CgroupLimit),
        (0, None) => {
            notes.push("assuming 4 GiB of memory: pass --ram to plan for the real size".into());
            (4 * GIB, MemorySource::Ram)
        }
        (ram, Some(limit)) if limit < ram => (limit, MemorySource::CgroupLimit),
        (ram, _) => (ram, MemorySource::Ram),
    }
}

/// The tightest memory limit of this process's cgroup and its ancestors, v2 or v1, and a note
/// for every limit file that exists but could not be read.
///
/// sysinfo's `cgroup_limits` reads only the conventional roots (docs/measurements.md M8); reading the
/// files here also lets tests inject a fake tree. A limit at or above 2^60 means "unlimited"
/// (v1 writes 9223372036854771712 for no limit), and so does v2's `max`.
pub fn cgroup_memory_limit(sources: &Sources) -> (Option<u64>, Vec<String>) {
    let candidates = cgroup_limit_files(sources);
    let mut notes = Vec::new();
    let mut limit: Option<u64> = None;
    for file in &candidates {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                notes.push(format!(
                    "could not read the container limit in `{}` ({error})",
                    file.display()
                ));
                continue;
            }
        };
        let text = text.trim();
        match parse_cgroup_limit(text) {
            Ok(Some(bytes)) => limit = Some(limit.map_or(bytes, |l| l.min(bytes))),
            Ok(None) => {}
            Err(()) => notes.push(format!(
                "`{}` holds `{text}`, not a memory limit; ignored",
                file.display()
            )),
        }
    }
    (limit, notes)
}

/// A cgroup limit file's text, trimmed: `Ok(Some(bytes))` for a limit, `Ok(None)` for none
/// (`max`, 0, or 2^60 and above, as v1 writes for no limit), `Err` for anything else.
pub(crate) fn parse_cgroup_limit(text: &str) -> Result<Option<u64>, ()> {
    match text.parse::<u64>() {
        Ok(bytes) if bytes > 0 && bytes < (1 << 60) => Ok(Some(bytes)),
        Ok(_) => Ok(None),
        Err(_) if text == "max" => Ok(None),
        Err(_) => Err(()),
    }
}

/// Every file that may hold a memory limit for this process: `memory.max` (v2) or
/// `memory.limit_in_bytes` (v1) of its own cgroup and each ancestor, and of the root (inside a
/// container's cgroup namespace, the container's own cgroup is the root). Each file's folder
/// is that cgroup, with its usage next to the limit.
pub(crate) fn cgroup_limit_files(sources: &Sources) -> Vec<PathBuf> {
    let membership = std::fs::read_to_string(&sources.proc_self_cgroup).unwrap_or_default();
    let mut candidates: Vec<PathBuf> = Vec::new();
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.is_empty() {
            push_with_ancestors(&mut candidates, &sources.cgroup_root, relative, "memory.max");
        } else if controllers.split(',').any(|c| c == "memory") {
            let base = sources.cgroup_root.join("memory");
            push_with_ancestors(&mut candidates, &base, relative, "memory.limit_in_bytes");
        }
    }
    // Inside a container's cgroup namespace the container's own cgroup is the root.
    candidates.push(sources.cgroup_root.join("memory.max"));
    candidates.push(sources.cgroup_root.join("memory/memory.limit_in_bytes"));
    candidates.dedup();
    candidates
}

fn push_with_ancestors(out: &mut Vec<PathBuf>, base: &Path, relative: &str, file: &str) {
    let mut dir = base.join(relative);
    loop {
        out.push(dir.join(file));
        if dir == base || !dir.pop() || !dir.starts_with(base) {
            break;
        }
    }
}

/// Parses `8GiB`, `8G`, `7.5GiB`, `6144MiB`, `512M`; a bare number means GiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size_from(text, 256 * MIB, "memsafe needs at least 256MiB to plan")
}

/// [`parse_size`] with another least size, and the words that say why.
pub(crate) fn parse_size_from(text: &str, least: u64, why_least: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size; try `8GiB`, `7.5G` or `6144MiB`"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "g" | "gb" | "gib" => GIB,
        "m" | "mb" | "mib" => MIB,
        "t" | "tb" | "tib" => GIB * 1024,
        _ => return Err(format!("unknown unit in `{text}`; use GiB, G, MiB or M")),
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "checked to be a positive, finite size far below 2^53"
    )]
    let bytes = (value * scale as f64).round() as u64;
    if !value.is_finite() || bytes < least {
        return Err(format!("`{text}` is too small: {why_least}"));
    }
    if bytes > MAX_MEMORY_BYTES {
        return Err(format!("`{text}` is too large"));
    }
    Ok(bytes)
}

/// Says how the hardware was found (at `--verbose`), and warns when `--ram` is far more than
/// this machine's memory.
pub(crate) fn explain(hardware: &Hardware, overrides: Overrides, printer: crate::ui::Printer) {
    use crate::ui;
    let memory = match hardware.memory_source {
        MemorySource::Flag => "--ram",
        MemorySource::CgroupLimit => "the cgroup memory limit (a container's), below the RAM",
        MemorySource::Ram => "the RAM the OS reports",
    };
    printer.detail(format!(
        "memory {} from {memory}",
        format_size(hardware.memory_bytes)
    ));
    printer.detail(format!(
        "{} logical CPUs from {}, {} physical",
        hardware.logical_cpus,
        if overrides.logical_cpus.is_some() {
            "--cpus (physical assumed equal: no SMT)"
        } else {
            "the CPUs this process may use"
        },
        hardware.physical_cpus
    ));
    if hardware.wsl {
        printer.detail("WSL: the kernel release names Microsoft");
    }
    for note in &hardware.notes {
        printer.detail(note);
    }
    // Only from 1 TiB, as for `--ram 100000` (a bare number is GiB): planning for a machine
    // somewhat bigger than this one is what `--ram` is for.
    if let Some(bytes) = overrides.memory_bytes
        && bytes >= 1024 * GIB
        && let Some(physical) = physical_memory()
        && bytes > physical
    {
        ui::warn(format!(
            "--ram {} is more than this machine's {} (a bare number means GiB: write `MiB` for \
             megabytes); builds here would run out of memory",
            format_size(bytes),
            format_size(physical)
        ));
    }
}

/// This machine's RAM, if the OS says.
fn physical_memory() -> Option<u64> {
    ram_bytes().ok().filter(|&bytes| bytes > 0)
}

/// This machine's RAM (0 when the OS does not say), with a targeted refresh.
fn ram_bytes() -> Result<u64, sysinfo::Error> {
    let mut system = sysinfo::System::new()?;
    system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    Ok(system.total_memory())
}

/// Two sizes to compare, as [`format_size`] prints them, or with two decimals where that would
/// print different sizes the same (`8 would need 1 GiB` within a `1 GiB` budget).
pub fn format_apart(a: u64, b: u64) -> (String, String) {
    let (first, second) = (format_size(a), format_size(b));
    if first != second || a == b {
        return (first, second);
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "sizes far below 2^53, printed to 2 decimals"
    )]
    let precise = |bytes: u64| {
        if bytes < GIB {
            format!("{:.2} MiB", bytes as f64 / MIB as f64)
        } else {
            format!("{:.2} GiB", bytes as f64 / GIB as f64)
        }
    };
    (precise(a), precise(b))
}

/// Formats bytes as GiB with up to one decimal, or MiB below 1 GiB: `7.5 GiB`, `768 MiB`.
pub fn format_size(bytes: u64) -> String {
    if bytes < GIB {
        return format!("{} MiB", bytes.div_ceil(MIB));
    }
    // In u128: a size near u64::MAX (a forged ledger entry, say) must not overflow.
    let tenths = (u128::from(bytes) * 10 + u128::from(GIB / 2)) / u128::from(GIB);
    if tenths.is_multiple_of(10) {
        format!("{} GiB", tenths / 10)
    } else {
        format!("{}.{} GiB", tenths / 10, tenths % 10)
    }
}

/// A fake `/proc` and `/sys/fs/cgroup` holding `files` (path, text), and the sources that read
/// them (tests here and in the governor's live memory).
#[cfg(test)]
pub(crate) fn fake_tree(files: &[(&str, &str)]) -> (tempfile::TempDir, Sources) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let sources = Sources {
        cgroup_root: dir.path().join("sys/fs/cgroup"),
        proc_self_cgroup: dir.path().join("proc/self/cgroup"),
        kernel_release: dir.path().join("proc/sys/kernel/osrelease"),
    };
    (dir, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_size_prints() {
        assert_eq!(format_size(u64::MAX), "17179869184 GiB");
        assert_eq!(format_size(3 * GIB / 2), "1.5 GiB");
    }

    #[test]
    fn sizes_that_differ_are_printed_apart() {
        assert_eq!(format_apart(GIB, 2 * GIB), ("1 GiB".into(), "2 GiB".into()));
        assert_eq!(
            format_apart(GIB, GIB + GIB / 25),
            ("1.00 GiB".into(), "1.04 GiB".into())
        );
        assert_eq!(format_apart(GIB, GIB), ("1 GiB".into(), "1 GiB".into()));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8GiB"), Ok(8 * GIB));
        assert_eq!(parse_size("8G"), Ok(8 * GIB));
        assert_eq!(parse_size("8"), Ok(8 * GIB));
        assert_eq!(parse_size("7.5GiB"), Ok(7 * GIB + GIB / 2));
        assert_eq!(parse_size("6144MiB"), Ok(6 * GIB));
        assert_eq!(parse_size(" 512m "), Ok(512 * MIB));
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("100MiB").is_err());
        assert_eq!(format_size(7 * GIB + GIB / 2), "7.5 GiB");
        assert_eq!(format_size(16 * GIB), "16 GiB");
        assert_eq!(format_size(768 * MIB), "768 MiB");
    }

    #[test]
    fn cgroup_v2_limit_of_own_group_and_ancestors() {
        let (_dir, sources) = fake_tree(&[
            ("proc/self/cgroup", "0::/ci/job\n"),
            ("sys/fs/cgroup/memory.max", "max\n"),
            ("sys/fs/cgroup/ci/memory.max", "4294967296\n"),
            ("sys/fs/cgroup/ci/job/memory.max", "max\n"),
        ]);
        assert_eq!(cgroup_memory_limit(&sources), (Some(4 * GIB), vec![]));
    }

    #[test]
    fn cgroup_v1_limit_and_unlimited_marker() {
        let (_dir, sources) = fake_tree(&[
            ("proc/self/cgroup", "12:cpu,cpuacct:/x\n4:memory:/docker/abc\n"),
            (
                "sys/fs/cgroup/memory/memory.limit_in_bytes",
                "9223372036854771712\n",
            ),
            (
                "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                "2147483648\n",
            ),
        ]);
        assert_eq!(cgroup_memory_limit(&sources), (Some(2 * GIB), vec![]));
    }

    #[test]
    fn no_cgroup_files_means_no_limit() {
        let (_dir, sources) = fake_tree(&[("proc/self/cgroup", "0::/\n")]);
        assert_eq!(cgroup_memory_limit(&sources), (None, vec![]));
    }

    #[test]
    fn unreadable_limit_files_are_noted_not_fatal() {
        let (dir, sources) = fake_tree(&[
            ("proc/self/cgroup", "0::/job\n"),
            (
                "sys/fs/cgroup/job/memory.max/oops",
                "a folder where a file should be",
            ),
            ("sys/fs/cgroup/memory.max", "lots\n"),
        ]);
        let (limit, notes) = cgroup_memory_limit(&sources);
        assert_eq!(limit, None);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].starts_with("could not read the container limit in"),
            "{notes:?}"
        );
        assert!(
            notes[1].ends_with("holds `lots`, not a memory limit; ignored"),
            "{notes:?}"
        );
        // Detection goes on with what it could read, and says what it could not.
        let hardware = detect(
            Overrides {
                logical_cpus: Some(2),
                ..Overrides::default()
            },
            &sources,
        );
        assert!(hardware.memory_bytes > 0);
        assert_eq!(hardware.notes, notes);
        drop(dir);
    }

    #[test]
    fn wsl_is_recognised_by_its_kernel() {
        let (_dir, sources) = fake_tree(&[(
            "proc/sys/kernel/osrelease",
            "5.15.153.1-microsoft-standard-WSL2\n",
        )]);
        let hardware = detect(
            Overrides {
                memory_bytes: Some(8 * GIB),
                logical_cpus: Some(4),
                os: None,
            },
            &sources,
        );
        assert_eq!(hardware.wsl, Os::current() == Os::Linux);
        let (_dir, plain) = fake_tree(&[("proc/sys/kernel/osrelease", "6.8.0-45-generic\n")]);
        assert!(
            !detect(
                Overrides {
                    memory_bytes: Some(8 * GIB),
                    logical_cpus: Some(4),
                    os: None
                },
                &plain
            )
            .wsl
        );
    }

    #[test]
    fn overrides_replace_detection() {
        let hardware = detect(
            Overrides {
                memory_bytes: Some(8 * GIB),
                logical_cpus: Some(4),
                os: Some(Os::Windows),
            },
            &Sources::default(),
        );
        assert_eq!(hardware.memory_bytes, 8 * GIB);
        assert_eq!(hardware.memory_source, MemorySource::Flag);
        assert_eq!((hardware.logical_cpus, hardware.physical_cpus), (4, 4));
        assert_eq!(hardware.os, Os::Windows);
    }
}
