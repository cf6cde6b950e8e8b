//! The memory a process tree cannot give back: on Linux read from `/proc`, on macOS its
//! physical footprint ([`macos`]).
//!
//! A compilation's `ru_maxrss` counts every page rustc maps, rustc's own shared library
//! (`librustc_driver`, one copy for all rustcs) and the files the linker maps included. What a
//! memory cgroup or the OOM killer runs out of is the anonymous memory: `RssAnon` in
//! `/proc/<pid>/status`, plus `RssShmem` (shared memory and memfds, which cannot be dropped
//! either; rustc and the linkers use next to none). [`Sampler`] reads both for rustc and every
//! process below it (the linker, and whatever the linker starts) every few milliseconds, in a
//! thread that sleeps between samples, and keeps the largest sum.
//!
//! The children of a process are in `/proc/<pid>/task/<tid>/children` (one file per thread: a
//! child belongs to the thread that started it). A kernel built without that file
//! (`CONFIG_PROC_CHILDREN`) gets a scan of every `/proc/<pid>/stat` for its parent instead.
//! The `/proc` root is a parameter, so that tests run all of this on a fake tree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How often the wrapper samples: often enough for a link that lasts a fraction of a second,
/// rarely enough to cost little: on a virtual machine, waking a thread costs about 50 µs of
/// CPU time before it reads anything, so the sampler's cost is mostly its wake-ups.
pub(crate) const EVERY: Duration = Duration::from_millis(20);

/// The most processes a tree walk follows: a bound against a pathological tree, far above what
/// a rustc starts (a linker, and at most a few helpers).
const MAX_PROCESSES: usize = 256;

/// The memory of one process that cannot be reclaimed, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// `RssAnon`: heap, stacks, private writable mappings.
    pub anon: u64,
    /// `RssShmem`: shared memory, memfds, tmpfs pages mapped.
    pub shmem: u64,
}

impl Usage {
    pub(crate) fn bytes(self) -> u64 {
        self.anon + self.shmem
    }
}

/// Reads `RssAnon` and `RssShmem` (kB) from the text of `/proc/<pid>/status`. `None` when
/// there is no `RssAnon` line: a zombie (its memory is gone already), a kernel thread, or a
/// kernel before 4.5. A missing `RssShmem` counts 0.
pub(crate) fn parse_status(text: &str) -> Option<Usage> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            let kib: u64 = value.trim().strip_suffix("kB")?.trim().parse().ok()?;
            Some(kib * 1024)
        })
    };
    Some(Usage {
        anon: field("RssAnon")?,
        shmem: field("RssShmem").unwrap_or(0),
    })
}

/// The parent pid in the text of `/proc/<pid>/stat`: `pid (comm) state ppid ...`. The command
/// name can hold spaces and parentheses, so the fields are counted after its last `)`.
pub(crate) fn parse_parent(stat: &str) -> Option<u32> {
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The direct children of `pid`, from the `children` file of each of its threads; when the
/// kernel has no such file, from a scan of every process's parent.
///
/// Each file is read with one `pread` into one buffer ([`read_small`]): read as a whole file
/// is, with its size asked first and a buffer doubled from 32 bytes, a `/proc` file took up
/// to ten system calls, and a walk reads one per thread of rustc's.
pub(crate) fn children(proc_root: &Path, pid: u32) -> Vec<u32> {
    let mut text = Vec::with_capacity(256);
    if proc_root
        .join(pid.to_string())
        .join("task")
        .join(pid.to_string())
        .join("children")
        .exists()
    {
        return threads_children(proc_root, pid, &mut Vec::new(), &mut Vec::new(), 0, &mut text);
    }
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&other| {
            read_small(&proc_root.join(other.to_string()).join("stat"), &mut text).is_ok()
                && parse_parent(&String::from_utf8_lossy(&text)) == Some(pid)
        })
        .collect()
}

/// The whole of the small file at `path` into `text` ([`read_from_start`]).
fn read_small(path: &Path, text: &mut Vec<u8>) -> std::io::Result<()> {
    read_from_start(&std::fs::File::open(path)?, text)
}

/// The direct children of `pid`, from the `children` file of each of its threads: the one
/// `before` kept open for that thread while the thread's folder is the same one
/// ([`Thread`]), else the file opened by path. Up to `keep` of the files read are moved to
/// `kept`, for the next walk.
fn threads_children(
    proc_root: &Path,
    pid: u32,
    before: &mut Vec<Thread>,
    kept: &mut Vec<Thread>,
    keep: usize,
    text: &mut Vec<u8>,
) -> Vec<u32> {
    let tasks = proc_root.join(pid.to_string()).join("task");
    let Ok(threads) = std::fs::read_dir(&tasks) else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for (tid, folder) in threads.filter_map(Result::ok).filter_map(|entry| {
        Some((
            entry.file_name().to_str()?.parse::<u32>().ok()?,
            folder_id(&entry),
        ))
    }) {
        let open = before
            .iter()
            .position(|thread| thread.tid == tid)
            .map(|index| before.swap_remove(index))
            .filter(|thread| thread.folder == folder)
            .map(|thread| thread.children)
            .filter(|file| read_from_start(file, text).is_ok());
        let file = match open {
            Some(file) => Some(file),
            None => std::fs::File::open(tasks.join(tid.to_string()).join("children"))
                .ok()
                .filter(|file| read_from_start(file, text).is_ok()),
        };
        let Some(file) = file else { continue };
        children.extend(
            String::from_utf8_lossy(text)
                .split_whitespace()
                .filter_map(|child| child.parse::<u32>().ok()),
        );
        if kept.len() < keep {
            kept.push(Thread {
                tid,
                folder,
                children: file,
            });
        }
    }
    children
}

/// `root` and every process below it, `root` first (each pid once, at most
/// [`MAX_PROCESSES`]), each with its parent (`None` for `root`).
pub(crate) fn tree(proc_root: &Path, root: u32) -> Vec<(u32, Option<u32>)> {
    tree_by(root, |pid| children(proc_root, pid))
}

/// [`tree`], with each process's children from `children_of`.
fn tree_by(root: u32, mut children_of: impl FnMut(u32) -> Vec<u32>) -> Vec<(u32, Option<u32>)> {
    let mut seen = BTreeSet::from([root]);
    let mut found = vec![(root, None)];
    let mut next = 0;
    while next < found.len() && found.len() < MAX_PROCESSES {
        let parent = found[next].0;
        for child in children_of(parent) {
            if found.len() < MAX_PROCESSES && seen.insert(child) {
                found.push((child, Some(parent)));
            }
        }
        next += 1;
    }
    found
}

/// Whether processes `a` and `b` share one address space (`kcmp(2)`, `KCMP_VM`): a child that
/// `vfork` or `posix_spawn` started (how rustc starts its linker, and the linker driver `ld`)
/// runs in its parent's memory until it calls `exec`, and its `RssAnon` is the parent's, which
/// a walk in that moment would count twice. `false` where it cannot be told (a kernel without
/// `kcmp`, another user's process).
#[cfg(target_os = "linux")]
fn same_address_space(a: u32, b: u32) -> bool {
    const KCMP_VM: libc::c_long = 1;
    let (Ok(a), Ok(b)) = (libc::pid_t::try_from(a), libc::pid_t::try_from(b)) else {
        return false;
    };
    // SAFETY: kcmp only compares two processes' kernel objects; it reads no memory of ours.
    unsafe { libc::syscall(libc::SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn same_address_space(_: u32, _: u32) -> bool {
    false
}

/// The memory of one process that cannot be reclaimed, now (0 when it has none or is gone).
pub(crate) fn process_bytes(proc_root: &Path, pid: u32) -> u64 {
    process_usage(proc_root, pid).map_or(0, Usage::bytes)
}

/// [`parse_status`] of one process's `status`; `None` when it is gone, has no memory lines
/// (a zombie) or is not text.
fn process_usage(proc_root: &Path, pid: u32) -> Option<Usage> {
    let mut status = Vec::with_capacity(2048);
    read_small(&proc_root.join(pid.to_string()).join("status"), &mut status).ok()?;
    parse_status(std::str::from_utf8(&status).ok()?)
}

/// A full tree walk every this many samples; the samples between read the processes the last
/// walk found. A walk reads one `children` file per thread, and a rustc in code generation
/// runs a dozen threads or more: a walk costs several times a sample of the processes alone.
/// A child that starts between walks (rustc starts its linker from one of its threads) is
/// found at most this many samples later: 80 ms at [`EVERY`], short against any link whose
/// memory matters.
pub(crate) const WALK_EVERY: u32 = 4;

/// How many processes of a tree [`TreeReader`] keeps the `statm` of open (rustc, its linker
/// and what the linker starts fit; more are read by path).
const KEEP_OPEN: usize = 16;

/// What `/proc/<pid>/statm` says (`size resident shared ...`, in pages), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Statm {
    /// `resident - shared`: the kernel counts as shared the file-backed and the shared-memory
    /// pages, and as resident those plus the anonymous ones.
    pub anon: u64,
    /// The file-backed and shared-memory pages.
    pub shared: u64,
}

/// Reads a `statm` text. `None` when it is not that, or when nothing is resident: a zombie,
/// whose memory is gone (its `statm` is all zeros).
pub(crate) fn parse_statm(text: &[u8], page: u64) -> Option<Statm> {
    let mut fields = std::str::from_utf8(text).ok()?.split_ascii_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    (resident > 0).then(|| Statm {
        anon: resident.saturating_sub(shared).saturating_mul(page),
        shared: shared.saturating_mul(page),
    })
}

/// The size of a memory page, in bytes.
fn page_size() -> u64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions; it returns -1 for a name it does not know.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = u64::try_from(page)
            && page > 0
        {
            return page;
        }
    }
    4096
}

/// One process a [`TreeReader`] follows between walks.
struct Followed {
    pid: u32,
    /// Its `statm`, kept open; `None` beyond [`KEEP_OPEN`] processes (read by path).
    statm: Option<std::fs::File>,
    /// `RssShmem` at the last walk.
    shmem: u64,
    /// Its `statm`'s shared pages at the last walk (bytes): shared memory it lets go of since
    /// shows as a drop there, and stops counting.
    shared: u64,
}

/// The memory of a process tree that cannot be reclaimed: the sum of [`Usage::bytes`] over
/// `root` and the processes below it that still have memory (one that just ended counts 0),
/// read over and over as a sampler takes it.
///
/// The tree is walked every [`WALK_EVERY`] samples (the first one included), and each process
/// found is read from its `status` then. At the samples between, each is read from its
/// `statm`, kept open: its anonymous memory there, plus the `RssShmem` of the last walk (rustc
/// and the linkers use next to none, and it changes rarely). The kernel makes `statm` several
/// times faster than `status`, whose dozens of lines it formats at every read, and an open
/// file is read with one system call where opening it by path took three and a path walk. An
/// open `statm` also keeps to its process: once that process is gone it reads nothing
/// (`ESRCH`), even if its pid is reused.
pub(crate) struct TreeReader {
    proc_root: PathBuf,
    root: u32,
    page: u64,
    /// [`same_address_space`]; a fake in tests.
    shares_memory: fn(u32, u32) -> bool,
    followed: Vec<Followed>,
    /// The `children` files of the threads the last walk read, kept open (at most
    /// [`KEEP_OPEN_THREADS`]): a walk reads each with one `pread`, where opening it by path
    /// took three calls and a path walk, for each of rustc's dozen threads or more.
    threads: Vec<Thread>,
    /// Whether this kernel has `children` files; asked at the first walk.
    children_files: Option<bool>,
    samples: u32,
    text: Vec<u8>,
}

/// A thread's `children` file, kept open by a [`TreeReader`]. Once its thread has ended it
/// reads as empty, without an error, even if the thread id goes to a new thread: so it is
/// read again only while the thread's folder in `/proc/<pid>/task` is the same one (its
/// inode, which the listing gives with no call of its own; a new thread gets a new one).
struct Thread {
    tid: u32,
    /// The inode of `/proc/<pid>/task/<tid>` when the file was opened.
    folder: u64,
    children: std::fs::File,
}

/// How many threads' `children` files a [`TreeReader`] keeps open (rustc's threads, its
/// linker's, and what the linker starts fit; more are read by path).
const KEEP_OPEN_THREADS: usize = 64;

impl TreeReader {
    pub(crate) fn new(proc_root: PathBuf, root: u32) -> TreeReader {
        TreeReader {
            proc_root,
            root,
            page: page_size(),
            shares_memory: same_address_space,
            followed: Vec::new(),
            threads: Vec::new(),
            children_files: None,
            samples: 0,
            text: Vec::with_capacity(512),
        }
    }

    /// The tree's memory now: walked anew, or from the processes the last walk found.
    pub(crate) fn bytes(&mut self) -> u64 {
        let walk = self.samples.is_multiple_of(WALK_EVERY);
        self.samples = self.samples.wrapping_add(1);
        if walk { self.walk() } else { self.between_walks() }
    }

    /// Walks the tree, reads each process's `status`, and keeps what the samples until the
    /// next walk need. A child still in its parent's address space (started, not yet `exec`ed)
    /// is passed over: its memory is the parent's, counted once already.
    fn walk(&mut self) -> u64 {
        let mut before = std::mem::take(&mut self.followed);
        let mut sum = 0;
        let found = self.tree();
        for (nth, (pid, parent)) in found.into_iter().enumerate() {
            if parent.is_some_and(|parent| (self.shares_memory)(pid, parent)) {
                continue;
            }
            let Some(usage) = process_usage(&self.proc_root, pid) else {
                // Gone, or a zombie: nothing to follow.
                continue;
            };
            sum += usage.bytes();
            // Its `statm`, read once here (the text stays in `self.text`): a file kept open since
            // an earlier walk is still this process's unless that one ended and its pid went to
            // a new one (then the old file reads nothing, and the new one's is opened).
            let text = &mut self.text;
            let proc_root = &self.proc_root;
            let open = |text: &mut Vec<u8>| {
                std::fs::File::open(proc_root.join(pid.to_string()).join("statm"))
                    .ok()
                    .filter(|file| read_from_start(file, text).is_ok())
            };
            let statm = match before.iter().position(|known| known.pid == pid) {
                Some(index) => match before.swap_remove(index).statm {
                    Some(file) if read_from_start(&file, text).is_ok() => Some(file),
                    Some(_) => open(text),
                    None => None,
                },
                // Beyond the first few processes (a build script's tree, say), each is read by
                // path: the open files must not eat into a low descriptor limit.
                None if nth >= KEEP_OPEN => None,
                None => open(text),
            };
            // The shared pages now, beside the `status` just read.
            let shared = statm
                .as_ref()
                .and_then(|_| parse_statm(&self.text, self.page))
                .map_or(0, |statm| statm.shared);
            self.followed.push(Followed {
                pid,
                statm,
                shmem: usage.shmem,
                shared,
            });
        }
        sum
    }

    /// The tree now, each process's children read from the `children` files of its threads,
    /// those of the last walk kept open ([`TreeReader::threads`]).
    fn tree(&mut self) -> Vec<(u32, Option<u32>)> {
        let proc_root = self.proc_root.clone();
        // Asked once, while the root is there to ask (a root already gone says nothing).
        let has_files = match self.children_files {
            Some(known) => known,
            None => {
                let pid = self.root.to_string();
                let task = proc_root.join(&pid).join("task");
                let known = task.join(&pid).join("children").exists();
                if known || task.exists() {
                    self.children_files = Some(known);
                }
                known
            }
        };
        if !has_files {
            return tree(&proc_root, self.root);
        }
        let mut before = std::mem::take(&mut self.threads);
        let mut kept = Vec::new();
        let text = &mut self.text;
        let found = tree_by(self.root, |pid| {
            threads_children(&proc_root, pid, &mut before, &mut kept, KEEP_OPEN_THREADS, text)
        });
        self.threads = kept;
        found
    }

    /// The processes the last walk found, read again.
    fn between_walks(&mut self) -> u64 {
        let mut sum = 0;
        for process in &mut self.followed {
            let Some(statm) = &process.statm else {
                sum += process_bytes(&self.proc_root, process.pid);
                continue;
            };
            if read_from_start(statm, &mut self.text).is_ok()
                && let Some(now) = parse_statm(&self.text, self.page)
            {
                // The shared memory of the last walk, less what the shared pages dropped by
                // since: memory unmapped is not counted on, beside the anonymous memory that
                // may have taken its place.
                let let_go = process.shared.saturating_sub(now.shared);
                sum += now.anon + process.shmem.saturating_sub(let_go);
            }
        }
        sum
    }
}

/// What tells one thread's folder in `/proc/<pid>/task` from a later one of the same name:
/// its inode (0 where there is none to read, which keeps a file open by its name alone).
fn folder_id(entry: &std::fs::DirEntry) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::DirEntryExt::ino(entry)
    }
    #[cfg(not(unix))]
    {
        let _ = entry;
        0
    }
}

/// The whole of `file` again, from its start, into `text`.
fn read_from_start(file: &std::fs::File, text: &mut Vec<u8>) -> std::io::Result<()> {
    text.clear();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut chunk = [0u8; 4096];
        loop {
            let offset = text.len() as u64;
            let read = file.read_at(&mut chunk, offset)?;
            text.extend_from_slice(&chunk[..read]);
            // A short read is the end: a file in `/proc` hands over all it has that fits.
            if read < chunk.len() {
                return Ok(());
            }
        }
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut file = file;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.read_to_end(text).map(|_| ())
    }
}

/// Samples a process tree's memory ([`TreeReader`]) in a thread of its own until [`Sampler::finish`],
/// keeping the peak and the latest sample. The thread sleeps between samples (on a condition
/// variable, so that `finish` wakes it at once instead of waiting for the next sample).
pub(crate) struct Sampler {
    peak: Arc<AtomicU64>,
    profile: Arc<Mutex<Profile>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How many slices of a compilation's duration [`Profile::slices`] gives: enough to tell a
/// compilation that peaks briefly at its end (a link) from one that holds its peak throughout.
pub(crate) const SLICES: usize = 32;

/// A compilation's memory over time, in a bounded space: [`BUCKETS`] buckets holding the
/// largest sample in each; when the time runs past the last bucket, neighbouring buckets
/// merge in pairs and each covers twice the time. A compilation of 10 ms or of an hour takes
/// the same room, and its shape is kept at a resolution of 1/32 of its duration or finer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Profile {
    /// The largest sample in each bucket; 0 where no sample fell.
    buckets: Vec<u64>,
    /// The time one bucket covers, in milliseconds.
    width_ms: u64,
}

/// Buckets a [`Profile`] keeps.
const BUCKETS: usize = 64;

impl Default for Profile {
    fn default() -> Profile {
        Profile {
            buckets: vec![0; BUCKETS],
            width_ms: 1,
        }
    }
}

impl Profile {
    /// Records a sample of `bytes` taken `at_ms` after the start.
    pub(crate) fn record(&mut self, at_ms: u64, bytes: u64) {
        while at_ms / self.width_ms >= BUCKETS as u64 {
            let merged: Vec<u64> = self.buckets.chunks(2).map(|pair| pair[0].max(pair[1])).collect();
            self.buckets = merged;
            self.buckets.resize(BUCKETS, 0);
            self.width_ms *= 2;
        }
        let index = usize::try_from(at_ms / self.width_ms).unwrap_or(BUCKETS - 1);
        self.buckets[index] = self.buckets[index].max(bytes);
    }

    /// The largest sample in each of [`SLICES`] equal slices of `duration_ms`. A slice no
    /// sample fell in (a compilation shorter than the sampling period) takes the value of the
    /// slice before it, or of the first sample for the leading ones: memory is assumed to stay
    /// as last seen, never to be zero while rustc runs. Empty when nothing was sampled.
    pub(crate) fn slices(&self, duration_ms: u64) -> Vec<u64> {
        let Some(first) = self.buckets.iter().copied().find(|b| *b > 0) else {
            return Vec::new();
        };
        let duration = duration_ms.max(1);
        let mut slices = vec![0u64; SLICES];
        for (index, bucket) in self.buckets.iter().enumerate() {
            if *bucket == 0 {
                continue;
            }
            // The slice a bucket's start falls in; samples after the end (the sampler stops a
            // moment after rustc) count in the last slice.
            let start = index as u64 * self.width_ms;
            let slice = usize::try_from(start * SLICES as u64 / duration)
                .unwrap_or(SLICES)
                .min(SLICES - 1);
            slices[slice] = slices[slice].max(*bucket);
        }
        let mut last = first;
        for slice in &mut slices {
            if *slice == 0 {
                *slice = last;
            }
            last = *slice;
        }
        slices
    }
}

impl Sampler {
    /// Starts sampling `root` under `proc_root` (`/proc`) every `every`; the first sample is
    /// taken at once.
    ///
    /// Every sample is also given to `on_sample`, in the sampler's thread, for a user that
    /// wants the memory now rather than the peak (the governor, which reports it to the
    /// ledger from there rather than from a thread of its own).
    pub(crate) fn start(
        proc_root: impl Into<PathBuf>,
        root: u32,
        every: Duration,
        on_sample: crate::measure::OnSample,
    ) -> Sampler {
        let mut reader = TreeReader::new(proc_root.into(), root);
        Sampler::start_with(move || reader.bytes(), every, on_sample)
    }

    /// As [`Sampler::start`], for `pid` alone, not the processes below it (cargo itself,
    /// whose children are the compilations measured one by one).
    pub(crate) fn start_process(proc_root: impl Into<PathBuf>, pid: u32, every: Duration) -> Sampler {
        let proc_root = proc_root.into();
        Sampler::start_with(move || process_bytes(&proc_root, pid), every, Box::new(|_| {}))
    }

    /// macOS: samples the physical footprint of `root` and the processes below it
    /// ([`macos::tree_footprint`]).
    #[cfg(target_os = "macos")]
    pub(crate) fn footprint(root: u32, every: Duration, on_sample: crate::measure::OnSample) -> Sampler {
        Sampler::start_with(move || macos::tree_footprint(root), every, on_sample)
    }

    /// Samples what `read` returns every `every`, in a thread of its own.
    fn start_with(
        mut read: impl FnMut() -> u64 + Send + 'static,
        every: Duration,
        mut on_sample: crate::measure::OnSample,
    ) -> Sampler {
        let peak = Arc::new(AtomicU64::new(0));
        let profile = Arc::new(Mutex::new(Profile::default()));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let (peak, profile, stop) = (Arc::clone(&peak), Arc::clone(&profile), Arc::clone(&stop));
            let clock = std::time::Instant::now();
            std::thread::Builder::new()
                .name("memsafe-sampler".into())
                .spawn(move || {
                    let (lock, wake) = &*stop;
                    loop {
                        let bytes = read();
                        peak.fetch_max(bytes, Ordering::Relaxed);
                        on_sample(bytes);
                        if let Ok(mut profile) = profile.lock() {
                            let at = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
                            profile.record(at, bytes);
                        }
                        let Ok(stopped) = lock.lock() else { return };
                        let Ok((stopped, _)) = wake.wait_timeout_while(stopped, every, |s| !*s) else {
                            return;
                        };
                        if *stopped {
                            return;
                        }
                    }
                })
                .ok()
        };
        Sampler {
            peak,
            profile,
            stop,
            thread,
        }
    }

    /// The largest sample so far.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Stops the thread and returns the peak; `None` when the thread could not be started.
    pub(crate) fn finish(self) -> Option<u64> {
        self.finish_with_profile().map(|(peak, _)| peak)
    }

    /// Stops the thread and returns the peak and the profile over time.
    pub(crate) fn finish_with_profile(mut self) -> Option<(u64, Profile)> {
        let thread = self.thread.take()?;
        let (lock, wake) = &*self.stop;
        if let Ok(mut stopped) = lock.lock() {
            *stopped = true;
        }
        wake.notify_all();
        thread.join().ok()?;
        let profile = self.profile.lock().ok()?.clone();
        Some((self.peak(), profile))
    }
}

/// macOS: a process tree's physical footprint, the memory the system counts against a process
/// (`ri_phys_footprint` of `proc_pid_rusage`: its dirty private memory, compressed memory
/// included; not the pages of the files and shared libraries it maps). The children come from
/// `proc_listchildpids`. Compiled for macOS here, not run: the Linux build and its tests do not
/// reach it.
#[cfg(target_os = "macos")]
pub(crate) mod macos {
    use super::MAX_PROCESSES;

    /// The pids whose parent is `pid`.
    fn children(pid: i32) -> Vec<i32> {
        let mut pids = vec![0 as libc::c_int; 64];
        loop {
            let room = i32::try_from(pids.len() * size_of::<libc::c_int>()).unwrap_or(i32::MAX);
            // SAFETY: the buffer is valid for `room` bytes of writes.
            let count = unsafe { libc::proc_listchildpids(pid, pids.as_mut_ptr().cast(), room) };
            let Ok(count) = usize::try_from(count) else {
                return Vec::new();
            };
            // A full buffer may have been cut short: try again with more room.
            if count < pids.len() || pids.len() >= MAX_PROCESSES {
                pids.truncate(count.min(pids.len()));
                return pids;
            }
            pids.resize(pids.len() * 2, 0);
        }
    }

    /// `ri_phys_footprint` of one process; 0 when it is gone or cannot be read.
    fn footprint(pid: i32) -> u64 {
        // SAFETY: a zeroed rusage_info_v4 is a valid value for proc_pid_rusage to fill.
        let mut info: libc::rusage_info_v4 = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a rusage_info_v4, the flavour asked for.
        let done = unsafe { libc::proc_pid_rusage(pid, libc::RUSAGE_INFO_V4, (&raw mut info).cast()) };
        if done == 0 { info.ri_phys_footprint } else { 0 }
    }

    /// The physical footprint of `root` and every process below it, now.
    pub(crate) fn tree_footprint(root: u32) -> u64 {
        let Ok(root) = i32::try_from(root) else { return 0 };
        let mut found = vec![root];
        let mut next = 0;
        while next < found.len() && found.len() < MAX_PROCESSES {
            for child in children(found[next]) {
                if found.len() < MAX_PROCESSES && !found.contains(&child) {
                    found.push(child);
                }
            }
            next += 1;
        }
        found.into_iter().map(footprint).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc`: `(pid, parent, RssAnon kB, RssShmem kB, threads)`; with `children_files`
    /// each thread gets its `children` file (the first thread's lists the children).
    fn fake_proc(processes: &[(u32, u32, u64, u64, u32)], children_files: bool) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for &(pid, parent, anon, shmem, threads) in processes {
            let folder = dir.path().join(pid.to_string());
            std::fs::create_dir_all(&folder).unwrap();
            set_memory(dir.path(), pid, anon, shmem);
            std::fs::write(
                folder.join("stat"),
                format!("{pid} (a (weird) name) S {parent} 1 1 0 -1"),
            )
            .unwrap();
            if children_files {
                let kids: Vec<String> = processes
                    .iter()
                    .filter(|p| p.1 == pid && p.0 != pid)
                    .map(|p| p.0.to_string())
                    .collect();
                for thread in 0..threads {
                    let task = folder.join("task").join((pid + thread).to_string());
                    std::fs::create_dir_all(&task).unwrap();
                    // A child belongs to the thread that started it: the last thread here.
                    let listed = if thread + 1 == threads {
                        kids.join(" ") + " "
                    } else {
                        String::new()
                    };
                    std::fs::write(task.join("children"), listed).unwrap();
                }
            }
        }
        dir
    }

    /// Gives `pid` these kB of anonymous and shared memory, and 54321 kB of file-backed memory
    /// that must not count: in its `status`, and in its `statm` in pages (exact for the
    /// multiples of 64 kB, on any page size up to 64 kB).
    fn set_memory(proc: &Path, pid: u32, anon: u64, shmem: u64) {
        let folder = proc.join(pid.to_string());
        std::fs::write(
            folder.join("status"),
            format!(
                "Name:\tx\nVmRSS:\t{} kB\nRssAnon:\t{anon} kB\nRssFile:\t  54321 kB\nRssShmem:\t{shmem} kB\n",
                anon + shmem + 54321
            ),
        )
        .unwrap();
        set_statm(proc, pid, anon, shmem);
    }

    /// Writes only `pid`'s `statm`, as [`set_memory`] does.
    fn set_statm(proc: &Path, pid: u32, anon: u64, shmem: u64) {
        let pages = |kib: u64| kib * 1024 / page_size();
        let shared = pages(54321) + pages(shmem);
        std::fs::write(
            proc.join(pid.to_string()).join("statm"),
            format!("99999 {} {shared} 10 0 {} 0\n", shared + pages(anon), pages(anon)),
        )
        .unwrap();
    }

    /// `pid` ended and was not yet reaped: its `status` has no memory lines, its `statm` zeros.
    fn end(proc: &Path, pid: u32) {
        let folder = proc.join(pid.to_string());
        std::fs::write(folder.join("status"), "Name:\tx\nState:\tZ (zombie)\n").unwrap();
        std::fs::write(folder.join("statm"), "0 0 0 0 0 0 0\n").unwrap();
    }

    /// rustc (100) with 4 threads, which started a linker `cc` (200), which started `ld` (300);
    /// an unrelated process (400, child of 1) and the wrapper (1).
    const BUILD: &[(u32, u32, u64, u64, u32)] = &[
        (1, 0, 5_000, 0, 1),
        (100, 1, 300_000, 1_000, 4),
        (200, 100, 2_000, 0, 1),
        (300, 200, 150_000, 24, 2),
        (400, 1, 900_000, 0, 1),
    ];

    #[test]
    fn status_gives_anonymous_and_shared_memory_in_bytes() {
        let text = "Name:\trustc\nVmHWM:\t  812344 kB\nVmRSS:\t  712344 kB\nRssAnon:\t  512000 kB\nRssFile:\t  200000 kB\nRssShmem:\t     344 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Usage {
                anon: 512_000 * 1024,
                shmem: 344 * 1024
            })
        );
        assert_eq!(parse_status(text).unwrap().bytes(), 512_344 * 1024);
        // A zombie's status has no memory lines; a line that only starts alike is not it.
        assert_eq!(parse_status("Name:\trustc\nState:\tZ (zombie)\n"), None);
        assert_eq!(parse_status("RssAnonX:\t5 kB\n"), None);
        assert_eq!(
            parse_status("RssAnon:\t7 kB\n"),
            Some(Usage {
                anon: 7 << 10,
                shmem: 0
            })
        );
    }

    #[test]
    fn stat_gives_the_parent_even_with_parentheses_in_the_name() {
        assert_eq!(parse_parent("300 (ld) S 200 300 1 0 -1"), Some(200));
        assert_eq!(parse_parent("301 (a) b (c) R 7 1 1"), Some(7));
        assert_eq!(parse_parent("garbage"), None);
    }

    #[test]
    fn the_tree_walk_finds_the_linker_below_rustc_with_and_without_children_files() {
        for children_files in [true, false] {
            let proc = fake_proc(BUILD, children_files);
            assert_eq!(children(proc.path(), 100), [200], "{children_files}");
            let mut found = tree(proc.path(), 100);
            assert_eq!(found[0], (100, None));
            found.sort_unstable();
            // The linker and what it started, each with its parent; not the wrapper, not the
            // unrelated process.
            assert_eq!(
                found,
                [(100, None), (200, Some(100)), (300, Some(200))],
                "{children_files}"
            );
            assert_eq!(tree(proc.path(), 300), [(300, None)]);
            // rustc + cc + ld, RssShmem included; the file-backed 54321 kB of each not.
            assert_eq!(
                TreeReader::new(proc.path().to_path_buf(), 100).bytes(),
                (300_000 + 1_000 + 2_000 + 150_000 + 24) * 1024,
                "{children_files}"
            );
        }
    }

    #[test]
    fn a_reader_walks_the_tree_every_few_samples_and_reads_what_it_found_at_each() {
        // rustc (100) alone at first; the linker (200) is started after the first walk.
        let proc = fake_proc(
            &[(1, 0, 5, 0, 1), (100, 1, 320, 64, 4), (200, 100, 64, 0, 1)],
            true,
        );
        let rustc_children = proc.path().join("100/task/103/children");
        std::fs::write(&rustc_children, "").unwrap();
        let mut reader = TreeReader::new(proc.path().to_path_buf(), 100);
        assert_eq!(reader.bytes(), (320 + 64) << 10);
        std::fs::write(&rustc_children, "200 ").unwrap();
        // Between walks, what the last walk found is read from its `statm`: rustc's growth
        // shows at once, with the shared memory the walk read in its `status`.
        set_statm(proc.path(), 100, 448, 64);
        for _ in 1..WALK_EVERY {
            assert_eq!(reader.bytes(), (448 + 64) << 10);
        }
        // The next walk finds the linker, and reads every process's `status`.
        set_memory(proc.path(), 100, 512, 0);
        assert_eq!(reader.bytes(), (512 + 64) << 10);
        // A process that ended counts 0 (a real one reads nothing; a zombie has no memory)
        // until the walk after forgets it.
        end(proc.path(), 200);
        assert_eq!(reader.bytes(), 512 << 10);
        // A process gone altogether (its pid free) is not counted either.
        std::fs::remove_dir_all(proc.path().join("200")).unwrap();
        for _ in 2..WALK_EVERY {
            assert_eq!(reader.bytes(), 512 << 10);
        }
        assert_eq!(reader.bytes(), 512 << 10);
        assert_eq!(reader.followed.len(), 1);
        // rustc's four threads' `children` files are kept open from walk to walk.
        assert_eq!(reader.threads.len(), 4);
        // A thread started since (104) that started a process (300): found at the next walk,
        // its file kept open beside the others'; one that ended (101) is let go.
        std::fs::create_dir_all(proc.path().join("300")).unwrap();
        set_memory(proc.path(), 300, 128, 0);
        std::fs::create_dir_all(proc.path().join("100/task/104")).unwrap();
        std::fs::write(proc.path().join("100/task/104/children"), "300 ").unwrap();
        std::fs::remove_dir_all(proc.path().join("100/task/101")).unwrap();
        for _ in 1..WALK_EVERY {
            assert_eq!(reader.bytes(), 512 << 10);
        }
        assert_eq!(reader.bytes(), (512 + 128) << 10);
        let mut open: Vec<u32> = reader.threads.iter().map(|t| t.tid).collect();
        open.sort_unstable();
        assert_eq!(open, [100, 102, 103, 104]);
        // Thread 102 ends and its id goes to a new thread, which starts a process (400). The
        // old thread's file, still open, reads as empty without an error (as a real one
        // does): the new thread's folder is told apart, and its file opened.
        // (The new folder is made while the old one still holds its inode, then moved in.)
        std::fs::create_dir_all(proc.path().join("100/new")).unwrap();
        std::fs::write(proc.path().join("100/new/children"), "400 ").unwrap();
        std::fs::remove_dir_all(proc.path().join("100/task/102")).unwrap();
        std::fs::rename(proc.path().join("100/new"), proc.path().join("100/task/102")).unwrap();
        std::fs::create_dir_all(proc.path().join("400")).unwrap();
        set_memory(proc.path(), 400, 64, 0);
        for _ in 1..WALK_EVERY {
            reader.bytes();
        }
        assert_eq!(reader.bytes(), (512 + 128 + 64) << 10);
    }

    #[test]
    fn a_child_in_its_parents_address_space_is_not_counted_twice() {
        // rustc (100) has just started its linker (200) with posix_spawn: until the linker's
        // `exec`, its `status` shows rustc's own memory.
        let proc = fake_proc(&[(100, 1, 512_000, 0, 2), (200, 100, 512_000, 0, 1)], true);
        let mut reader = TreeReader::new(proc.path().to_path_buf(), 100);
        reader.shares_memory = |child, parent| (child, parent) == (200, 100);
        assert_eq!(reader.bytes(), 512_000 << 10);
        assert_eq!(reader.followed.len(), 1);
        // Once it has `exec`ed it is a process of its own, found at the next walk.
        reader.shares_memory = |_, _| false;
        set_memory(proc.path(), 200, 64_000, 0);
        for _ in 1..WALK_EVERY {
            assert_eq!(reader.bytes(), 512_000 << 10);
        }
        assert_eq!(reader.bytes(), (512_000 + 64_000) << 10);
    }

    #[test]
    fn a_pid_that_went_to_a_new_process_is_read_anew() {
        // The linker (200) is followed, ends, and its pid goes to another child of rustc
        // before the next walk: the file kept open reads nothing, and the walk opens the new
        // process's.
        let proc = fake_proc(&[(100, 1, 64, 0, 1), (200, 100, 128, 0, 1)], true);
        let mut reader = TreeReader::new(proc.path().to_path_buf(), 100);
        assert_eq!(reader.bytes(), (64 + 128) << 10);
        let statm = proc.path().join("200/statm");
        std::fs::remove_file(&statm).unwrap();
        set_memory(proc.path(), 200, 256, 0);
        // A real process's `statm` reads nothing once it has ended; here the file kept open
        // is one opened for writing only, which reads nothing either.
        let followed = reader.followed.iter_mut().find(|p| p.pid == 200).unwrap();
        followed.statm = Some(std::fs::File::options().write(true).open(&statm).unwrap());
        for _ in 1..WALK_EVERY {
            reader.bytes();
        }
        assert_eq!(
            reader.bytes(),
            (64 + 256) << 10,
            "the walk reads the status by path"
        );
        // Between walks, the new process's `statm`.
        assert_eq!(reader.bytes(), (64 + 256) << 10);
    }

    #[test]
    fn statm_gives_the_anonymous_and_shared_memory_in_bytes() {
        // resident 1000 pages, of which 300 file-backed or shared.
        let statm = |anon, shared| Some(Statm { anon, shared });
        assert_eq!(
            parse_statm(b"5000 1000 300 10 0 800 0\n", 4096),
            statm(700 * 4096, 300 * 4096)
        );
        assert_eq!(
            parse_statm(b"5000 1000 300 10 0 800 0\n", 65536),
            statm(700 * 65536, 300 * 65536)
        );
        // A zombie: nothing resident, not even its shared memory of the last walk.
        assert_eq!(parse_statm(b"0 0 0 0 0 0 0\n", 4096), None);
        assert_eq!(parse_statm(b"5000 10 300\n", 4096), statm(0, 300 * 4096));
        assert_eq!(parse_statm(b"5000\n", 4096), None);
        assert_eq!(parse_statm(b"a b c\n", 4096), None);
        assert_eq!(parse_statm(&[0xff, b' ', b'1'], 4096), None);
    }

    #[test]
    fn shared_memory_let_go_between_walks_is_not_counted_beside_what_took_its_place() {
        // rustc (100) holds 640 kB of shared memory at the walk...
        let proc = fake_proc(&[(100, 1, 64, 640, 1)], true);
        let mut reader = TreeReader::new(proc.path().to_path_buf(), 100);
        assert_eq!(reader.bytes(), (64 + 640) << 10);
        // ... unmaps it, and takes as much anonymous memory before the next walk: 704, not
        // 1344.
        set_statm(proc.path(), 100, 704, 0);
        assert_eq!(reader.bytes(), 704 << 10);
        // Shared memory it keeps is still counted between walks.
        set_statm(proc.path(), 100, 64, 640);
        assert_eq!(reader.bytes(), (64 + 640) << 10);
    }

    #[test]
    fn a_reader_counts_the_processes_beyond_those_it_keeps_open() {
        // rustc (100) with 20 children of 10 kB each: more than KEEP_OPEN.
        let mut processes = vec![(100, 1, 1_000, 0, 1)];
        processes.extend((0..20).map(|i| (200 + i, 100, 10, 0, 1)));
        let proc = fake_proc(&processes, true);
        let mut reader = TreeReader::new(proc.path().to_path_buf(), 100);
        assert_eq!(reader.bytes(), (1_000 + 20 * 10) << 10);
        assert_eq!(
            reader.followed.iter().filter(|p| p.statm.is_some()).count(),
            KEEP_OPEN
        );
    }

    #[test]
    fn a_cycle_or_a_vanished_process_does_not_stop_the_walk() {
        // 100 lists 200, which (pid reused, say) lists 100 again, and 999, which is gone.
        let proc = fake_proc(&[(100, 200, 10, 0, 1), (200, 100, 20, 0, 1)], true);
        std::fs::write(proc.path().join("200/task/200/children"), "100 999 ").unwrap();
        assert_eq!(
            tree(proc.path(), 100),
            [(100, None), (200, Some(100)), (999, Some(200))]
        );
        assert_eq!(TreeReader::new(proc.path().to_path_buf(), 100).bytes(), 30 * 1024);
        // No such process at all.
        assert_eq!(TreeReader::new(proc.path().to_path_buf(), 12345).bytes(), 0);
    }

    #[test]
    fn a_profile_keeps_the_shape_in_bounded_room() {
        let mut profile = Profile::default();
        // 10 s sampled every 15 ms: 100 MiB, then 400 MiB in the last tenth (a link).
        for at in (0..10_000).step_by(15) {
            profile.record(at, if at >= 9_000 { 400 << 20 } else { 100 << 20 });
        }
        assert_eq!(profile.buckets.len(), BUCKETS);
        assert!(profile.width_ms * BUCKETS as u64 > 10_000 && profile.width_ms <= 10_000 / 32);
        let slices = profile.slices(10_000);
        assert_eq!(slices.len(), SLICES);
        // 9/10 of 32 slices is 28.8: slices 0..28 hold 100 MiB, the bucket straddling 9 s
        // lifts slice 28, the last three are the link.
        assert!(slices[..28].iter().all(|s| *s == 100 << 20), "{slices:?}");
        assert!(slices[29..].iter().all(|s| *s == 400 << 20), "{slices:?}");
    }

    #[test]
    fn a_short_compilation_fills_its_slices_from_the_samples_it_has() {
        let mut profile = Profile::default();
        profile.record(0, 30);
        profile.record(15, 50);
        // 20 ms: two samples for 32 slices; the slices between keep the last value seen, and
        // a sample after the end counts in the last slice.
        let slices = profile.slices(20);
        assert_eq!(slices[0], 30);
        assert_eq!(slices[23], 30);
        assert_eq!(slices[24], 50);
        assert_eq!(slices[31], 50);
        profile.record(40, 70);
        assert_eq!(profile.slices(20)[31], 70);
        assert_eq!(Profile::default().slices(100), Vec::<u64>::new());
    }

    #[test]
    fn the_sampler_keeps_the_peak_of_the_sum() {
        let proc = fake_proc(BUILD, true);
        let current = Arc::new(AtomicU64::new(0));
        let latest = Arc::clone(&current);
        let sampler = Sampler::start(
            proc.path(),
            100,
            Duration::from_millis(1),
            Box::new(move |bytes| latest.store(bytes, Ordering::Relaxed)),
        );
        // The first sample is taken at once; wait for it by polling, not by sleeping a guess.
        while sampler.peak() == 0 {
            std::thread::yield_now();
        }
        let first = sampler.peak();
        assert_eq!(first, (300_000 + 1_000 + 2_000 + 150_000 + 24) * 1024);
        // The linker ends (its process is gone): the sum drops, the peak stays.
        std::fs::write(proc.path().join("100/task/103/children"), "").unwrap();
        for ended in [200, 300] {
            end(proc.path(), ended);
        }
        // rustc grows (its 1000 kB of shared memory stay): a new peak.
        set_memory(proc.path(), 100, 600_000, 1_000);
        // (The sample is handed over after the peak is kept: wait for the one handed over.)
        while current.load(Ordering::Relaxed) != 601_000 * 1024 || sampler.peak() != 601_000 * 1024 {
            std::thread::yield_now();
        }
        // rustc shrinks: the current value follows, the peak stays.
        set_memory(proc.path(), 100, 1024, 1_000);
        while current.load(Ordering::Relaxed) != 2024 * 1024 {
            std::thread::yield_now();
        }
        assert_eq!(sampler.finish(), Some(601_000 * 1024));
        // rustc alone (2024 kB now), without the linker (150 000 kB) and what it started.
        let alone = Sampler::start_process(proc.path(), 100, Duration::from_millis(1));
        while alone.peak() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(alone.finish(), Some(2024 * 1024));
        assert_eq!(process_bytes(proc.path(), 300), 0, "ended");
        assert_eq!(process_bytes(proc.path(), 999), 0);
    }
}
