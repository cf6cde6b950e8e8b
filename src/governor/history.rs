//! History: the measured peak of every governed compilation, for the next prediction.
//!
//! One JSON record a line in `governor-history.jsonl` (in the user's cache folder). A wrapper
//! appends its line under an exclusive lock on `governor-history.lock`, and while it holds the
//! lock, compacts the file when it grew past [`MAX_BYTES`] (or held lines that do not parse):
//! the last [`KEEP`] records of every key, at most [`MAX_RECORDS`] and [`COMPACT_TO_BYTES`]
//! in all (the newest always), written to a
//! temporary file and renamed over the old one. Appends and compaction under one lock lose no
//! record; readers take no lock (a line is appended with one write, and the rename swaps whole
//! files).
//!
//! A key is what makes two compilations the same: the crate, its kind, cargo's `-C metadata=`
//! hash (which changes with the version, the features, the profile and the rustc) and the
//! rustc program. The prediction ([`predict_among`]), in order:
//! 1. this key's last [`LAST`] peaks: their largest, times [`SAFETY_PERCENT`];
//! 2. else the same crate and kind with this rustc under another hash (other features, another
//!    profile), the same way;
//! 3. else, with at least [`MIN_FOR_P90`] records for this rustc, the 90th percentile of their
//!    peaks (the rustc path stands for the workspace: the wrapper is not told the workspace);
//! 4. else the balanced preset's estimate per further job ([`crate::plan::JobCost`]): the
//!    wrapper does not know which preset the project chose, and balanced is the default.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::calibrate::{codegen_option, flag_value, flag_values, kind_of};
use crate::plan::{JobCost, Preset};

/// How many of a key's last peaks the prediction looks at.
pub(crate) const LAST: usize = 3;
/// How many of a key's records compaction keeps.
pub(crate) const KEEP: usize = 5;
/// The prediction's margin over the largest recent peak, in percent.
pub(crate) const SAFETY_PERCENT: u64 = 110;
/// Records needed for this rustc before a new crate gets their 90th percentile.
pub(crate) const MIN_FOR_P90: usize = 10;
/// The file is compacted when it grows past this.
pub(crate) const MAX_BYTES: u64 = 1 << 20;
/// At most this many records survive a compaction (the most recent).
pub(crate) const MAX_RECORDS: usize = 1_500;
/// And at most this many bytes of them: a record with its profile and its place in the graph
/// takes 600 to 1,200 bytes, and a compaction (the whole file parsed and written again) that
/// kept [`MAX_RECORDS`] of 650 bytes left the file 70 KiB under [`MAX_BYTES`], so the next one
/// came about 100 compilations later. A quarter of the file free puts it hundreds away.
pub(crate) const COMPACT_TO_BYTES: usize = (MAX_BYTES as usize) / 4 * 3;

pub(crate) const HISTORY_FILE: &str = "governor-history.jsonl";
const LOCK_FILE: &str = "governor-history.lock";

/// What identifies a compilation across builds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Key {
    #[serde(rename = "crate")]
    pub krate: String,
    pub kind: String,
    /// cargo's `-C metadata=` hash, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// The program cargo named (the rustc, or clippy-driver).
    pub rustc: String,
}

impl Key {
    /// The key of `program args...`, when it compiles a crate (it has `--crate-name`).
    pub(crate) fn of(program: &OsString, args: &[OsString]) -> Option<Key> {
        let krate = flag_value(args, "--crate-name")?;
        Some(Key {
            kind: kind_of(args, &krate),
            krate,
            metadata: codegen_option(args, "metadata"),
            rustc: program.to_string_lossy().into_owned(),
        })
    }
}

/// One governed compilation that succeeded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    #[serde(flatten)]
    pub key: Key,
    pub peak_bytes: u64,
    pub duration_ms: u64,
    /// When it ended, Unix ms.
    pub at_ms: u64,
    /// Where cargo had it write (`--out-dir`): tells which project's target folder it built
    /// in, so that a plan can find the project's last governed build ([`last_build`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<String>,
    /// `cargo check`, clippy, rust-analyzer: only metadata, no code generation (`--emit`
    /// without `link`). Far lighter than a build of the same crate: not a build's measurement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metadata_only: bool,
    /// Its memory over its run, as the calibration records it
    /// ([`crate::calibrate::Invocation::anon_profile`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<u64>>,
    /// Where it sat in cargo's graph ([`crate::calibrate::Place`]).
    #[serde(flatten)]
    pub place: crate::calibrate::Place,
    /// The CPU time it used ([`crate::calibrate::Invocation::cpu_ms`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// The CPU time the governor itself used for it, in microseconds: memsafe's own cost
    /// (starting, waiting, sampling, the ledger), up to the moment it recorded this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_cpu_us: Option<u64>,
    /// Of [`Record::own_cpu_us`], what was used before memsafe's `main` began
    /// ([`crate::measure::mark_start`]): the program's start, and what cargo's `fork` left to
    /// it (the second, a compilation that cargo starts without memsafe pays too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cpu_us: Option<u64>,
    /// Killed by `SIGKILL` (the OOM killer's signal) before it could end: its peak is what it
    /// had reached, less than it needed. Predictions learn from it (the next build does not
    /// take the crate for a light one again); a plan's model of a build, which needs whole
    /// compilations, leaves it out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub killed: bool,
}

impl Record {
    /// A record with only `key` and `peak_bytes` (all that [`predict_among`] reads), the rest
    /// empty.
    pub(crate) fn bare(key: Key, peak_bytes: u64) -> Record {
        Record {
            key,
            peak_bytes,
            duration_ms: 0,
            at_ms: 0,
            out_dir: None,
            metadata_only: false,
            profile: None,
            place: crate::calibrate::Place::default(),
            cpu_ms: None,
            own_cpu_us: None,
            start_cpu_us: None,
            killed: false,
        }
    }
}

/// Whether rustc's arguments ask for metadata only: an `--emit` without `link` (what
/// `cargo check`, clippy and rust-analyzer ask for).
pub(crate) fn metadata_only(args: &[OsString]) -> bool {
    let emits = flag_values(args, "--emit");
    !emits.is_empty()
        && !emits
            .iter()
            .flat_map(|e| e.split(','))
            .any(|kind| kind.split('=').next() == Some("link"))
}

/// Compilations that end or start within this long of each other belong to one build.
pub(crate) const BUILD_GAP_MS: u64 = 60_000;

/// A governed build needs this many compilations to stand for the project (a rebuild of one
/// or two changed crates says little about the rest).
pub(crate) const MIN_BUILD: usize = 10;

/// The last governed build as the calibration's model reads it: one compilation a record,
/// its peak as the anonymous peak it is (the governor measures anonymous memory on Linux, the
/// physical footprint on macOS, the job's commit charge on Windows).
pub(crate) fn invocations(build: &[Record]) -> Vec<crate::calibrate::Invocation> {
    build
        .iter()
        .map(|record| crate::calibrate::Invocation {
            krate: record.key.krate.clone(),
            kind: record.key.kind.clone(),
            start_ms: record.at_ms.saturating_sub(record.duration_ms),
            duration_ms: record.duration_ms,
            peak_bytes: record.peak_bytes,
            exit_code: 0,
            anon_peak_bytes: Some(record.peak_bytes),
            anon_profile: record.profile.clone(),
            place: record.place.clone(),
            cpu_ms: record.cpu_ms,
        })
        .collect()
}

/// The last governed build in `target` (a project's target folder) of one project: the
/// records whose `--out-dir` lies in it and that generated code (not `cargo check`'s),
/// grouped into builds (compilations with no gap of more than [`BUILD_GAP_MS`] between them),
/// the most recent group with at least [`MIN_BUILD`] compilations that built one of the
/// project's own packages, in start order. A target folder may be shared by several projects
/// (`CARGO_TARGET_DIR`): a group none of whose packages (the records' `package_dir`) is
/// `ours` is another project's; one without any (an older history) is taken as it is. Empty
/// when there is none.
pub(crate) fn last_build(records: &[Record], target: &Path, ours: impl Fn(&Path) -> bool) -> Vec<Record> {
    let mut mine: Vec<&Record> = records
        .iter()
        .filter(|r| !r.metadata_only && !r.killed)
        .filter(|r| {
            r.out_dir
                .as_deref()
                .is_some_and(|dir| Path::new(dir).starts_with(target))
        })
        .collect();
    mine.sort_by_key(|r| r.at_ms.saturating_sub(r.duration_ms));
    let mut builds: Vec<Vec<&Record>> = Vec::new();
    let mut end: u64 = 0;
    for record in mine {
        let start = record.at_ms.saturating_sub(record.duration_ms);
        match builds.last_mut() {
            Some(build) if start <= end.saturating_add(BUILD_GAP_MS) => build.push(record),
            _ => builds.push(vec![record]),
        }
        end = end.max(record.at_ms);
    }
    // Each package folder once (`ours` may read its manifests).
    let theirs_only = |build: &Vec<&Record>| {
        let packages: std::collections::BTreeSet<&str> = build
            .iter()
            .filter_map(|r| r.place.package_dir.as_deref())
            .collect();
        !packages.is_empty() && !packages.iter().any(|dir| ours(Path::new(dir)))
    };
    builds
        .into_iter()
        .rev()
        .find(|build| build.len() >= MIN_BUILD && !theirs_only(build))
        .map(|build| build.into_iter().cloned().collect())
        .unwrap_or_default()
}

/// The records of a history file, oldest first, and how many lines did not parse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct History {
    pub records: Vec<Record>,
    pub bad_lines: usize,
    /// [`History::load_for`] only: the peaks of the other crates' lines under the rustc asked
    /// for, all [`predict_among`] reads of them.
    pub other_peaks: Vec<u64>,
}

impl History {
    #[cfg(test)]
    pub(crate) fn parse(text: &str) -> History {
        let mut history = History::default();
        for line in text.lines() {
            history.take(line);
        }
        history
    }

    /// Reads the history file: a missing file is an empty history; one that cannot be read
    /// is an error (the caller predicts from defaults, and says so once).
    pub(crate) fn load(path: &Path) -> io::Result<History> {
        let mut history = History::default();
        // Read whole, the last line too: under the lock (a repair, a compaction) no append is
        // under way, and a record cut short is one to keep or to count bad, not to drop.
        let too_long = each_line(path, true, |line| history.take(line))?;
        history.bad_lines += too_long;
        Ok(history)
    }

    /// Adds the record `line` holds, or counts it bad; a blank line is nothing.
    fn take(&mut self, line: &str) {
        if line.trim().is_empty() {
            return;
        }
        match serde_json::from_str(line) {
            Ok(record) => self.records.push(record),
            Err(_) => self.bad_lines += 1,
        }
    }

    /// The records of compilations that wrote into `target` (a project's target folder), for
    /// [`last_build`]: every `plan` and `check` reads them, so the other lines are passed
    /// over by text, not parsed.
    pub(crate) fn load_in(path: &Path, target: &Path) -> io::Result<History> {
        let marker = serde_json::to_string(&target.to_string_lossy()).map_err(io::Error::other)?;
        // `"out_dir":"/p/target` without the closing quote: the folder and those below it.
        let marker = format!("\"out_dir\":{}", marker.trim_end_matches('"'));
        let mut history = History::default();
        let too_long = each_line(path, false, |line| {
            if line.contains(&marker) {
                history.take(line);
            }
        })?;
        history.bad_lines += too_long;
        Ok(history)
    }

    /// [`History::load`] as [`LineSorter`] sorts it, for predicting `key` (every compilation
    /// reads this file, and it grows to about 1 MiB).
    pub(crate) fn load_for(path: &Path, key: &Key) -> io::Result<History> {
        let sorter = LineSorter::new(key);
        let mut history = History::default();
        let too_long = each_line(path, false, |line| sorter.take(line, &mut history))?;
        history.bad_lines += too_long;
        Ok(history)
    }
}

/// Calls `each` with every line of the history at `path` (none when there is no file), read
/// a piece at a time into one buffer, each line handed over where it lies: read whole, a
/// 1 MiB history's fresh buffer pages cost more than the reading, and a file without newlines
/// would be held whole. A line longer than [`MAX_LINE`] is passed over unread, and counted
/// (the count is returned); the last line, when no newline ends it, is read with `whole`,
/// else left for later: a record being appended now (a reader without the lock). Each line is
/// checked as UTF-8 the fast way first, then read lossily.
fn each_line(path: &Path, whole: bool, mut each: impl FnMut(&str)) -> io::Result<usize> {
    let Some(mut file) = open(path)? else {
        return Ok(0);
    };
    let mut call = |line: &[u8]| match std::str::from_utf8(line) {
        Ok(text) => each(text),
        Err(_) => each(&String::from_utf8_lossy(line)),
    };
    let max = usize::try_from(MAX_LINE).unwrap_or(usize::MAX);
    let mut buffer = vec![0; PIECE.min(max)];
    // The bytes read and not yet handed over: `buffer[..end]`, a line's start first.
    let mut end = 0;
    // Inside a line too long to read: its bytes are dropped up to its newline.
    let mut skipping = false;
    let mut too_long = 0;
    loop {
        let read = match io::Read::read(&mut file, &mut buffer[end..]) {
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if read == 0 {
            if end > 0 && whole && !skipping {
                call(&buffer[..end]);
            }
            return Ok(too_long);
        }
        let (old_end, mut start) = (end, 0);
        end += read;
        // A newline can only be among the bytes just read.
        let mut from = old_end;
        while let Some(at) = memchr::memchr(b'\n', &buffer[from..end]) {
            let line_end = from + at + 1;
            if skipping {
                skipping = false;
            } else {
                call(&buffer[start..line_end]);
            }
            start = line_end;
            from = line_end;
        }
        if skipping {
            end = 0;
            continue;
        }
        buffer.copy_within(start..end, 0);
        end -= start;
        if end == buffer.len() {
            if buffer.len() < max {
                buffer.resize((buffer.len() * 2).min(max), 0);
            } else {
                too_long += 1;
                skipping = true;
                end = 0;
            }
        }
    }
}

/// How much of the history is read at a time.
const PIECE: usize = 64 * 1024;

/// The longest line read from the history, and written to it: a record is a few hundred
/// bytes, a few KiB with many dependencies (the graph's), and the whole file is compacted
/// past [`MAX_BYTES`].
const MAX_LINE: u64 = 1 << 20;

/// The history's file, opened to read; `None` when there is none. Anything but a plain file
/// there (a pipe, which a read or a write would wait on for ever; a folder) is an error.
fn open(path: &Path) -> io::Result<Option<std::fs::File>> {
    open_with(path, std::fs::File::options().read(true))
}

/// [`open`] with the `options` given (to append, say).
fn open_with(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<Option<std::fs::File>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    match options.open(path) {
        Ok(file) if file.metadata()?.is_file() => Ok(Some(file)),
        Ok(_) => Err(io::Error::other("not a file")),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// What [`History::load_for`] looks for in each line, made once for all of them: the history
/// as [`predict_among`] needs it for one key, read cheaply. A line of this crate is parsed for its
/// key and peak (the rest of it is skipped over, not built); of another crate with this rustc
/// only its peak is taken (the 90th percentile needs nothing else), found by text; other
/// lines are only checked to look like a record. A line that fails counts as bad.
///
/// The texts looked for are compiled once ([`memchr::memmem::Finder`]): set up for each line,
/// as `str::contains` does, the search for the rustc's long path cost more than the search.
struct LineSorter {
    /// `"crate":"<name>",` as the history writes it.
    krate: memchr::memmem::Finder<'static>,
    /// `"rustc":"<path>",`.
    rustc: memchr::memmem::Finder<'static>,
    /// `"peak_bytes":`.
    peak: memchr::memmem::Finder<'static>,
}

/// What [`predict_among`] reads of a line of the crate asked for: [`Key`]'s fields, spelled out
/// (a flattened one would copy the whole line, profile and all, before reading it).
#[derive(Deserialize)]
struct KeyAndPeak {
    #[serde(rename = "crate")]
    krate: String,
    kind: String,
    #[serde(default)]
    metadata: Option<String>,
    rustc: String,
    peak_bytes: u64,
    // Not read, but required of a record: a line without them is bad here as in a whole read.
    #[allow(dead_code)]
    duration_ms: u64,
    #[allow(dead_code)]
    at_ms: u64,
}

impl LineSorter {
    fn new(key: &Key) -> LineSorter {
        let json = |text: &str| serde_json::to_string(text).unwrap_or_default();
        let finder = |text: String| memchr::memmem::Finder::new(text.as_bytes()).into_owned();
        LineSorter {
            krate: finder(format!("\"crate\":{},", json(&key.krate))),
            rustc: finder(format!("\"rustc\":{},", json(&key.rustc))),
            peak: finder("\"peak_bytes\":".to_owned()),
        }
    }

    /// Adds what `line` gives to `history`, or counts it bad.
    fn take(&self, line: &str, history: &mut History) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let bytes = line.as_bytes();
        // The history writes the crate first: `{"crate":"syn",...`; a line in another order
        // is searched whole.
        let this_crate = match bytes.strip_prefix(b"{") {
            Some(rest) if rest.starts_with(b"\"crate\":") => rest.starts_with(self.krate.needle()),
            _ => self.krate.find(bytes).is_some(),
        };
        if this_crate {
            match serde_json::from_str::<KeyAndPeak>(line) {
                Ok(found) => {
                    let key = Key {
                        krate: found.krate,
                        kind: found.kind,
                        metadata: found.metadata,
                        rustc: found.rustc,
                    };
                    history.records.push(Record::bare(key, found.peak_bytes));
                }
                Err(_) => history.bad_lines += 1,
            }
        } else if self.rustc.find(bytes).is_some() {
            match self.peak_of(bytes) {
                Some(peak_bytes) => history.other_peaks.push(peak_bytes),
                None => history.bad_lines += 1,
            }
        } else if !(line.starts_with('{') && line.ends_with('}')) {
            history.bad_lines += 1;
        }
    }

    /// The unsigned number right after `"peak_bytes":` in `line`.
    fn peak_of(&self, line: &[u8]) -> Option<u64> {
        let rest = &line[self.peak.find(line)? + self.peak.needle().len()..];
        let end = rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
    }
}

/// Where a prediction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Basis {
    /// This key's recent peaks.
    Same,
    /// The same crate and kind under another `-C metadata` hash.
    OtherHash,
    /// The 90th percentile of this rustc's compilations.
    Percentile,
    /// Nothing measured: the balanced preset's estimate.
    Default,
}

/// The memory a compilation of `key` is expected to take at its peak (see the module docs).
#[cfg(test)]
pub(crate) fn predict(records: &[Record], key: &Key) -> (u64, Basis) {
    predict_among(records, &[], key)
}

/// The memory a compilation of `key` is expected to take at its peak (see the module docs),
/// from `records` and the `other_peaks` of other crates' compilations under `key`'s rustc
/// ([`History::load_for`]'s two parts; none from a whole [`History::load`]).
pub(crate) fn predict_among(records: &[Record], other_peaks: &[u64], key: &Key) -> (u64, Basis) {
    let recent = |matches: &dyn Fn(&Key) -> bool| {
        records
            .iter()
            .rev()
            .filter(|r| matches(&r.key))
            .take(LAST)
            .map(|r| r.peak_bytes)
            .max()
            .map(|peak| peak.saturating_mul(SAFETY_PERCENT) / 100)
    };
    if let Some(bytes) = recent(&|k: &Key| k == key) {
        return (bytes, Basis::Same);
    }
    if let Some(bytes) = recent(&|k: &Key| k.krate == key.krate && k.kind == key.kind && k.rustc == key.rustc)
    {
        return (bytes, Basis::OtherHash);
    }
    let mut peaks: Vec<u64> = records
        .iter()
        .filter(|r| r.key.rustc == key.rustc)
        .map(|r| r.peak_bytes)
        .chain(other_peaks.iter().copied())
        .collect();
    if peaks.len() >= MIN_FOR_P90 {
        peaks.sort_unstable();
        return (peaks[(peaks.len() - 1) * 90 / 100], Basis::Percentile);
    }
    (JobCost::for_preset(Preset::Balanced).each_bytes, Basis::Default)
}

/// The records a compaction keeps: each key's last [`KEEP`], of the most recent at most
/// [`MAX_RECORDS`] and [`COMPACT_TO_BYTES`] written, in their order.
pub(crate) fn compact(records: Vec<Record>) -> Vec<Record> {
    let mut kept: Vec<Record> = Vec::new();
    let mut bytes = 0;
    let mut counts: std::collections::HashMap<Key, usize> = std::collections::HashMap::new();
    for record in records.into_iter().rev() {
        if kept.len() >= MAX_RECORDS {
            break;
        }
        let count = counts.entry(record.key.clone()).or_default();
        if *count < KEEP {
            // Its line, newline included.
            bytes += serde_json::to_string(&record).map_or(0, |line| line.len() + 1);
            // The newest record stays, however long.
            if bytes > COMPACT_TO_BYTES && !kept.is_empty() {
                break;
            }
            *count += 1;
            kept.push(record);
        }
    }
    kept.reverse();
    kept
}

/// The history's lock, next to the file at `path`, held (within [`super::LOCK_DEADLINE`]) until
/// the returned file is dropped.
fn lock(path: &Path) -> io::Result<File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let lock = super::open_lock(&dir.join(LOCK_FILE))?;
    super::lock_within(&lock, super::LOCK_DEADLINE)?;
    Ok(lock)
}

/// Appends `record` to the history file at `path` under its lock, and compacts the file when
/// it grew past [`MAX_BYTES`] (lines that do not parse go then too; [`repair`] drops them
/// at once).
pub(crate) fn append(path: &Path, record: &Record) -> io::Result<()> {
    let line = serde_json::to_string(record).map_err(io::Error::other)? + "\n";
    if line.len() as u64 > MAX_LINE {
        // Longer than a reader takes: it would only be warned about, then dropped.
        return Ok(());
    }
    let lock = lock(path)?;
    let mut options = File::options();
    options.create(true).append(true).read(true);
    let mut file = open_with(path, &mut options)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    // A last line without its newline (cut short, or written by hand) is not glued to this one.
    let mut last = [b'\n'];
    if file.metadata()?.len() > 0 {
        io::Seek::seek(&mut file, io::SeekFrom::End(-1))?;
        io::Read::read_exact(&mut file, &mut last)?;
    }
    let line = if last[0] == b'\n' {
        line
    } else {
        format!("\n{line}")
    };
    file.write_all(line.as_bytes())?;
    let size = file.metadata()?.len();
    drop(file);
    let history = if size > MAX_BYTES {
        Some(History::load(path)?)
    } else {
        None
    };
    if let Some(history) = history {
        rewrite(path, compact(history.records))?;
    }
    drop(lock);
    Ok(())
}

/// Drops the lines that do not parse and compacts, under the lock (a history found corrupt).
pub(crate) fn repair(path: &Path) -> io::Result<()> {
    let _lock = lock(path)?;
    let history = History::load(path)?;
    rewrite(path, compact(history.records))
}

fn rewrite(path: &Path, records: Vec<Record>) -> io::Result<()> {
    let mut text = String::new();
    for record in &records {
        text += &serde_json::to_string(record).map_err(io::Error::other)?;
        text.push('\n');
    }
    let temporary = PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn key(krate: &str, metadata: &str) -> Key {
        Key {
            krate: krate.into(),
            kind: "lib".into(),
            metadata: Some(metadata.into()),
            rustc: "/r/rustc".into(),
        }
    }

    fn record(key: &Key, peak_mib: u64) -> Record {
        Record {
            duration_ms: 10,
            at_ms: 1,
            ..Record::bare(key.clone(), peak_mib * MIB)
        }
    }

    #[test]
    fn the_cheap_read_predicts_as_the_whole_parse() {
        // Crates a..l under this rustc, `syn` under two hashes, one under another rustc, and
        // a bad line.
        let mut records: Vec<Record> = (0..12u64)
            .map(|i| record(&key(&format!("c{i}"), "1"), 100 + i * 10))
            .collect();
        records.push(record(&key("syn", "a"), 400));
        records.push(record(&key("syn", "b"), 700));
        records.push(Record {
            key: Key {
                rustc: "/other/rustc".into(),
                ..key("big", "1")
            },
            ..record(&key("big", "1"), 9_000)
        });
        let mut text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        text.push_str("not json\n");
        let whole = History::parse(&text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        std::fs::write(&path, &text).unwrap();
        for asked in [key("syn", "a"), key("syn", "z"), key("new", "1"), key("c3", "1")] {
            let cheap = History::load_for(&path, &asked).unwrap();
            assert_eq!(
                predict_among(&cheap.records, &cheap.other_peaks, &asked),
                predict(&whole.records, &asked),
                "{asked:?}"
            );
            assert_eq!(cheap.bad_lines, 1);
        }
        // Another rustc: only its own records count.
        let other = Key {
            rustc: "/other/rustc".into(),
            ..key("new", "1")
        };
        assert_eq!(
            {
                let cheap = History::load_for(&path, &other).unwrap();
                predict_among(&cheap.records, &cheap.other_peaks, &other)
            },
            predict(&whole.records, &other)
        );
    }

    /// A pipe in the history's place is an error, never a read or a write that waits for ever.
    #[cfg(unix)]
    #[test]
    fn a_pipe_in_the_history_s_place_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        crate::governor::make_fifo(&path);
        assert!(History::load_for(&path, &key("a", "1")).is_err());
        assert!(History::load(&path).is_err());
        assert!(append(&path, &record(&key("a", "1"), 1)).is_err());
        // In the lock's place, a pipe is replaced: appending works.
        std::fs::remove_file(&path).unwrap();
        std::fs::remove_file(dir.path().join(LOCK_FILE)).unwrap();
        crate::governor::make_fifo(&dir.path().join(LOCK_FILE));
        append(&path, &record(&key("a", "1"), 1)).unwrap();
        assert_eq!(History::load(&path).unwrap().records.len(), 1);
    }

    #[test]
    fn a_line_of_the_longest_length_is_read_and_one_byte_more_is_not() {
        // Records padded with spaces (JSON allows them) to MAX_LINE bytes with their newline,
        // then to one byte more; then a short record after each.
        let padded = |peak: u64, length: usize| {
            let mut line = serde_json::to_string(&record(&key("a", "1"), peak)).unwrap();
            line.push_str(&" ".repeat(length - line.len() - 1));
            line + "\n"
        };
        let max = MAX_LINE as usize;
        let text = padded(1, max)
            + &serde_json::to_string(&record(&key("a", "1"), 2)).unwrap()
            + "\n"
            + &padded(3, max + 1)
            + &serde_json::to_string(&record(&key("a", "1"), 4)).unwrap()
            + "\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        std::fs::write(&path, &text).unwrap();
        for history in [
            History::load(&path).unwrap(),
            History::load_for(&path, &key("a", "1")).unwrap(),
        ] {
            let peaks: Vec<u64> = history.records.iter().map(|r| r.peak_bytes / MIB).collect();
            assert_eq!((peaks, history.bad_lines), (vec![1, 2, 4], 1));
        }
    }

    #[test]
    fn a_long_history_is_read_whole_in_pieces() {
        // Past the reader's 64 KiB: lines cross its pieces' edges.
        let records: Vec<Record> = (0..2_000u64)
            .map(|i| record(&key(&format!("crate_{}", i % 97), "1"), 10 + i % 300))
            .collect();
        let mut bytes: Vec<u8> = records
            .iter()
            .flat_map(|r| {
                serde_json::to_string(r)
                    .unwrap()
                    .into_bytes()
                    .into_iter()
                    .chain([b'\n'])
            })
            .collect();
        assert!(bytes.len() > 3 * 64 * 1024);
        // A record of crate_5 with a byte that is not UTF-8 in a string: read, the byte
        // replaced.
        let odd = serde_json::to_string(&Record {
            out_dir: Some("/p/@".into()),
            ..record(&key("crate_5", "1"), 5)
        })
        .unwrap()
        .replace('@', "\u{1}");
        bytes.extend_from_slice(
            &odd.into_bytes()
                .into_iter()
                .map(|b| if b == 1 { 0xff } else { b })
                .collect::<Vec<u8>>(),
        );
        bytes.push(b'\n');
        // A line longer than any record: bad, passed over.
        bytes.extend_from_slice(&vec![b'x'; MAX_LINE as usize + 1]);
        bytes.push(b'\n');
        let whole = History::parse(&String::from_utf8_lossy(&bytes));
        // The end of a record being appended (no newline yet): not read, not bad.
        bytes.extend_from_slice(b"{\"crate\":\"crate_5\",\"kind\":");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        std::fs::write(&path, &bytes).unwrap();
        for asked in [key("crate_5", "1"), key("crate_96", "1"), key("unseen", "1")] {
            let streamed = History::load_for(&path, &asked).unwrap();
            assert_eq!(
                streamed.records.len() + streamed.other_peaks.len(),
                2_001,
                "every line of this rustc counts"
            );
            assert_eq!(streamed.bad_lines, 1, "the long line");
            assert_eq!(
                streamed.records.iter().filter(|r| r.key == asked).count(),
                whole.records.iter().filter(|r| r.key == asked).count()
            );
            assert_eq!(
                predict_among(&streamed.records, &streamed.other_peaks, &asked),
                predict(&whole.records, &asked)
            );
        }
        assert_eq!(
            History::load_for(&dir.path().join("missing"), &key("a", "1"))
                .unwrap()
                .records
                .len(),
            0
        );
    }

    #[test]
    fn a_plan_reads_only_its_target_folders_records() {
        let in_dir = |krate: &str, dir: &str| Record {
            out_dir: Some(dir.into()),
            ..record(&key(krate, "1"), 100)
        };
        let records = [
            in_dir("a", "/p/target/debug/deps"),
            in_dir("b", "/q/target/debug/deps"),
            in_dir("c", "/p/target/debug/build/c-1"),
            record(&key("d", "1"), 100),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        std::fs::write(&path, text + "garbage elsewhere\n").unwrap();
        let mine = History::load_in(&path, Path::new("/p/target")).unwrap();
        assert_eq!(mine.records, [records[0].clone(), records[2].clone()]);
        assert_eq!(mine.bad_lines, 0);
        assert!(
            History::load_in(&dir.path().join("none"), Path::new("/p"))
                .unwrap()
                .records
                .is_empty()
        );
    }

    #[test]
    fn check_clippy_and_rust_analyzer_emit_metadata_only() {
        assert!(metadata_only(&os(&[
            "--crate-name",
            "a",
            "--emit=dep-info,metadata"
        ])));
        assert!(metadata_only(&os(&["--emit", "metadata", "--crate-name", "a"])));
        assert!(!metadata_only(&os(&[
            "--emit=dep-info,metadata,link",
            "--crate-name",
            "a"
        ])));
        assert!(!metadata_only(&os(&["--emit=link=out/a.rlib"])));
        // No --emit: rustc links by default.
        assert!(!metadata_only(&os(&["--crate-name", "a"])));
    }

    /// The packages of a project at `root`: its folder and those below.
    fn under(root: &'static str) -> impl Fn(&Path) -> bool {
        move |dir: &Path| dir.starts_with(root)
    }

    #[test]
    fn the_last_build_is_the_latest_group_of_enough_compilations_in_the_target_folder() {
        // (crate, out-dir, start s, duration s)
        let at = |krate: &str, dir: &str, start: u64, duration: u64| Record {
            at_ms: (start + duration) * 1000,
            duration_ms: duration * 1000,
            out_dir: Some(dir.into()),
            ..record(&key(krate, "1"), 100)
        };
        let mine = "/p/target/debug/deps";
        let mut records: Vec<Record> = Vec::new();
        // A full build at 0-100 s: 12 compilations.
        records.extend((0..12).map(|i| at(&format!("a{i}"), mine, i * 8, 10)));
        // Another project's build at the same time, and a build script's folder of this one.
        records.extend((0..12).map(|i| at(&format!("o{i}"), "/q/target/debug/deps", i * 8, 10)));
        records.push(at("build_script", "/p/target/debug/build/x-1", 50, 5));
        // A rebuild of two crates an hour later: too few to stand for the project.
        records.extend((0..2).map(|i| at(&format!("b{i}"), mine, 3_600 + i, 5)));
        let build = last_build(&records, Path::new("/p/target"), under("/p"));
        assert_eq!(build.len(), 13, "{build:?}");
        assert!(
            build
                .iter()
                .all(|r| r.out_dir.as_deref().unwrap().starts_with("/p/target"))
        );
        assert_eq!(build[0].key.krate, "a0");
        // A `cargo check` of the whole project later says nothing of a build's memory.
        records.extend((0..20).map(|i| Record {
            metadata_only: true,
            ..at(&format!("k{i}"), mine, 5_000 + i, 5)
        }));
        assert_eq!(
            last_build(&records, Path::new("/p/target"), under("/p")).len(),
            13
        );
        // A second full build later wins; a gap over a minute splits builds.
        records.extend((0..10).map(|i| at(&format!("c{i}"), mine, 7_200 + i * 30, 20)));
        let build = last_build(&records, Path::new("/p/target"), under("/p"));
        assert_eq!(build.len(), 10);
        assert!(build.iter().all(|r| r.key.krate.starts_with('c')));
        assert!(last_build(&records, Path::new("/nowhere"), under("/p")).is_empty());
        // `/p/target2` is not inside `/p/target`.
        assert!(last_build(&records, Path::new("/p/targ"), under("/p")).is_empty());
        // A target folder shared with another project `/q`: its build, later, with its own
        // packages marked, is not `/p`'s; `/p`'s marked build is.
        let package = |dir: &str, r: Record| Record {
            place: crate::calibrate::Place {
                package_dir: Some(dir.into()),
                ..r.place.clone()
            },
            ..r
        };
        records.push(package("/p/app", at("app", mine, 7_300, 5)));
        records.extend((0..12).map(|i| at(&format!("q{i}"), mine, 9_000 + i, 5)));
        records.push(package("/q", at("q", mine, 9_012, 5)));
        let build = last_build(&records, Path::new("/p/target"), under("/p"));
        assert_eq!(build.len(), 11, "{build:?}");
        assert!(build.iter().any(|r| r.key.krate == "app"));
        assert_eq!(
            last_build(&records, Path::new("/p/target"), under("/q")).len(),
            13
        );
        // `/pq` is not inside `/p`: neither marked build is its own, and the unmarked one of
        // an older history (at 0 s) is all it gets.
        let build = last_build(&records, Path::new("/p/target"), under("/pq"));
        assert_eq!(build[0].key.krate, "a0", "{build:?}");
    }

    #[test]
    fn a_killed_compilation_teaches_predictions_and_stays_out_of_a_build() {
        let heavy = key("heavy", "1");
        let killed = Record {
            killed: true,
            out_dir: Some("/p/target/debug/deps".into()),
            ..record(&heavy, 900)
        };
        // Killed at 900 MiB: the next prediction is at least that, not the default.
        assert_eq!(
            predict(std::slice::from_ref(&killed), &heavy),
            ((900u64 << 20) * SAFETY_PERCENT / 100, Basis::Same)
        );
        // A build of the project around it leaves it out (its profile stops at the kill).
        let mut records: Vec<Record> = (0..12)
            .map(|i| Record {
                out_dir: Some("/p/target/debug/deps".into()),
                ..record(&key(&format!("c{i}"), "1"), 10)
            })
            .collect();
        records.push(killed);
        let build = last_build(&records, Path::new("/p/target"), under("/p"));
        assert_eq!(build.len(), 12);
        assert!(build.iter().all(|r| !r.killed));
    }

    #[test]
    fn the_key_comes_from_cargos_arguments() {
        let args = os(&[
            "--crate-name",
            "hir_ty",
            "--edition=2021",
            "src/lib.rs",
            "--crate-type",
            "lib",
            "-C",
            "embed-bitcode=no",
            "-C",
            "metadata=0123abcd",
            "-C",
            "extra-filename=-0123abcd",
        ]);
        assert_eq!(
            Key::of(&"/t/bin/rustc".into(), &args),
            Some(Key {
                krate: "hir_ty".into(),
                kind: "lib".into(),
                metadata: Some("0123abcd".into()),
                rustc: "/t/bin/rustc".into(),
            })
        );
        assert_eq!(
            codegen_option(&os(&["-Cmetadata=ff"]), "metadata"),
            Some("ff".into())
        );
        assert_eq!(
            codegen_option(&os(&["--codegen", "metadata=ee"]), "metadata"),
            Some("ee".into())
        );
        assert_eq!(codegen_option(&os(&["-C", "opt-level=3"]), "metadata"), None);
        let test = Key::of(&"rustc".into(), &os(&["--crate-name", "foo", "--test"])).unwrap();
        assert_eq!((test.kind.as_str(), test.metadata), ("test", None));
        assert_eq!(Key::of(&"rustc".into(), &os(&["-vV"])), None);
    }

    #[test]
    fn prediction_is_the_largest_of_the_last_three_plus_ten_percent() {
        let k = key("syn", "a");
        let records: Vec<Record> = [2000, 100, 300, 200]
            .iter()
            .map(|&peak| record(&k, peak))
            .collect();
        // The 2000 MiB one is older than the last three.
        assert_eq!(predict(&records, &k), (330 * MIB, Basis::Same));
        // Another hash of the same crate: its records.
        assert_eq!(predict(&records, &key("syn", "b")), (330 * MIB, Basis::OtherHash));
        // Another rustc, or another kind, is another compilation.
        let mut other = key("syn", "a");
        other.rustc = "/other/rustc".into();
        assert_eq!(predict(&records, &other).1, Basis::Default);
    }

    #[test]
    fn a_new_crate_gets_the_90th_percentile_or_the_default() {
        let mut records: Vec<Record> = (1..=9)
            .map(|i| record(&key(&format!("c{i}"), "x"), i * 100))
            .collect();
        let new = key("new", "x");
        assert_eq!(
            predict(&records, &new),
            (JobCost::for_preset(Preset::Balanced).each_bytes, Basis::Default)
        );
        records.push(record(&key("c10", "x"), 1000));
        // 10 peaks of 100..1000 MiB: the 90th percentile is the 9th.
        assert_eq!(predict(&records, &new), (900 * MIB, Basis::Percentile));
        assert_eq!(predict(&[], &new).1, Basis::Default);
    }

    #[test]
    fn compaction_keeps_the_last_records_of_each_key() {
        let (a, b) = (key("a", "1"), key("b", "1"));
        let mut records = Vec::new();
        for peak in 0..8 {
            records.push(record(&a, peak));
        }
        records.push(record(&b, 50));
        let kept = compact(records);
        let peaks: Vec<u64> = kept.iter().map(|r| r.peak_bytes / MIB).collect();
        assert_eq!(peaks, [3, 4, 5, 6, 7, 50]);
        let many: Vec<Record> = (0..MAX_RECORDS + 10)
            .map(|i| record(&key(&i.to_string(), "x"), 1))
            .collect();
        let kept = compact(many);
        assert_eq!(kept.len(), MAX_RECORDS);
        assert_eq!(kept[0].key.krate, "10");
        // Records of a real size (a profile, an output folder): a quarter of the file is left
        // free, whatever the count.
        let heavy = |i: usize| Record {
            profile: Some(vec![123_456_789; 32]),
            out_dir: Some(format!("/home/user/{}/target/debug/deps", "project".repeat(20))),
            ..record(&key(&i.to_string(), "x"), 1)
        };
        let many: Vec<Record> = (0..MAX_RECORDS).map(heavy).collect();
        let line = serde_json::to_string(&many[0]).unwrap().len() + 1;
        assert!(
            line * MAX_RECORDS > COMPACT_TO_BYTES,
            "records this size fill the file"
        );
        let kept = compact(many);
        let written: usize = kept
            .iter()
            .map(|r| serde_json::to_string(r).unwrap().len() + 1)
            .sum();
        assert!(
            written <= COMPACT_TO_BYTES && written + 2 * line > COMPACT_TO_BYTES,
            "{written}"
        );
        assert_eq!(
            kept.last().unwrap().key.krate,
            (MAX_RECORDS - 1).to_string(),
            "the newest kept"
        );
        // A newest record longer than that alone is kept all the same.
        let huge = Record {
            out_dir: Some("x".repeat(COMPACT_TO_BYTES)),
            ..record(&key("huge", "x"), 1)
        };
        let kept = compact(vec![record(&key("a", "x"), 1), huge]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].key.krate, "huge");
    }

    #[test]
    fn bad_lines_are_counted_and_skipped() {
        let line = serde_json::to_string(&record(&key("a", "1"), 5)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        std::fs::write(&path, format!("{line}\nnot json\n\n{{\"crate\": 1}}\n{line}\n")).unwrap();
        let history = History::load(&path).unwrap();
        assert_eq!(history.records.len(), 2);
        assert_eq!(history.bad_lines, 2);
    }

    #[test]
    fn appends_are_kept_and_a_large_file_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(HISTORY_FILE);
        let k = key("a", "1");
        append(&path, &record(&k, 7)).unwrap();
        append(&path, &record(&k, 8)).unwrap();
        assert_eq!(History::load(&path).unwrap().records.len(), 2);
        // Past the size limit, the next append compacts to KEEP records of the key.
        let line = serde_json::to_string(&record(&k, 1)).unwrap() + "\n";
        let filler = line.repeat(usize::try_from(MAX_BYTES).unwrap() / line.len() + 1);
        std::fs::write(&path, filler).unwrap();
        append(&path, &record(&k, 9)).unwrap();
        let history = History::load(&path).unwrap();
        assert_eq!(history.records.len(), KEEP);
        assert_eq!(history.records.last().unwrap().peak_bytes, 9 * MIB);
        // A corrupt file is repaired: the bad lines go.
        std::fs::write(&path, format!("garbage\n{line}")).unwrap();
        repair(&path).unwrap();
        assert_eq!(History::load(&path).unwrap(), History::parse(&line));
        // A last record without its newline: the next one goes on a line of its own, and both
        // are read.
        std::fs::write(&path, line.trim_end()).unwrap();
        append(&path, &record(&k, 9)).unwrap();
        let history = History::load(&path).unwrap();
        assert_eq!(history.bad_lines, 0);
        assert_eq!(history.records.len(), 2);
    }

    /// A record longer than any memsafe writes is dropped by a repair, so that its warning
    /// does not come back at every compilation.
    #[test]
    fn a_line_too_long_to_read_goes_at_the_repair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let long = serde_json::to_string(&Record {
            out_dir: Some("x".repeat(MAX_LINE as usize)),
            ..record(&key("a", "1"), 5)
        })
        .unwrap();
        std::fs::write(&path, format!("{long}\n")).unwrap();
        assert_eq!(History::load_for(&path, &key("a", "1")).unwrap().bad_lines, 1);
        repair(&path).unwrap();
        let after = History::load_for(&path, &key("a", "1")).unwrap();
        assert_eq!((after.bad_lines, after.records.len()), (0, 0));
        // Nor is such a record written.
        let too_long: Record = serde_json::from_str(&long).unwrap();
        append(&path, &too_long).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        // A last record without its newline is kept by a repair (under the lock, no append
        // is under way), though a prediction leaves it for later.
        let line = serde_json::to_string(&record(&key("a", "1"), 5)).unwrap();
        std::fs::write(&path, format!("garbage\n{line}")).unwrap();
        assert!(
            History::load_for(&path, &key("a", "1"))
                .unwrap()
                .records
                .is_empty()
        );
        repair(&path).unwrap();
        assert_eq!(History::load(&path).unwrap().records.len(), 1);
    }
}
