//! The ledger: which compilations run and wait right now, shared by every wrapper of this user
//! on this machine (the editor's check, a build and a test build all count against one budget).
//!
//! One JSON file, `ledger.json`, in a private folder, read and rewritten whole under an
//! exclusive lock on `ledger.lock` next to it. Why one file rather than a file per entry:
//! admission needs a consistent view of every entry at once, which one read under the lock
//! gives; the file is small (one entry per live wrapper, a few dozen at most); and the shared
//! notice time lives in the same place. Every reader and writer holds the lock, so the file is
//! rewritten in place, in one write from its start (padded with spaces when the new text is
//! shorter, which JSON allows): a rename over it, where the folder is on an ext4 disk (not
//! the tmpfs of `$XDG_RUNTIME_DIR`: under sudo, in CI, in containers), starts a disk write of
//! the new file and frees the old one, twice a compilation. A writer killed in the middle of
//! its one write can leave a torn file: torn in the padding, it still reads whole; torn in
//! the text, the next access moves it aside as corrupt (the ledger is throwaway state). The lock is an advisory `flock`
//! (std's `File::lock`), which the OS releases when its holder dies, even by SIGKILL.
//!
//! Every access prunes the entries whose process is gone: a wrapper killed with SIGKILL (or
//! Ctrl-C while it waits) leaves its entry, and the next access removes it. A process is told
//! from a later one with the same pid by its start time where the OS gives one cheaply
//! (Linux: field 22 of `/proc/<pid>/stat`; elsewhere, through sysinfo, its start time in
//! seconds).

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The ledger's format version, written in the file.
const VERSION: u32 = 1;

/// The doorbell's file name ([`LedgerDir::ring`]).
const BELL_FILE: &str = "ended";

pub(crate) const LEDGER_FILE: &str = "ledger.json";
const LOCK_FILE: &str = "ledger.lock";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    Waiting,
    Running,
}

/// One wrapper: a compilation waiting for memory, or running with memory reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The wrapper's process (which lives as long as its rustc).
    pub pid: u32,
    /// The wrapper's start time, to tell a reused pid; `None` when unknown (then the pid alone
    /// says whether it lives).
    #[serde(default)]
    pub start_time: Option<u64>,
    #[serde(rename = "crate")]
    pub krate: String,
    pub kind: String,
    /// Waiting: the prediction it waits to fit. Running: what it holds, raised when it grows
    /// past it.
    pub reserved_bytes: u64,
    pub state: State,
    /// Since when it waits (waiting) or runs (running), in Unix milliseconds.
    pub since_ms: u64,
    /// The last sample of its memory (running; 0 before the first).
    #[serde(default)]
    pub current_bytes: u64,
    /// When the wrapper last checked in (waiting) or wrote a sample (running), Unix ms.
    #[serde(default)]
    pub seen_ms: u64,
}

/// The whole ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ledger {
    #[serde(default)]
    pub version: u32,
    /// When a waiter last printed its notice, Unix ms (shared, so that all waiters together
    /// print at most one line every few seconds).
    #[serde(default)]
    pub last_notice_ms: u64,
    #[serde(default)]
    pub entries: Vec<Entry>,
}

impl Ledger {
    /// Parses the ledger file's text; an empty file is an empty ledger.
    pub(crate) fn parse(text: &str) -> Result<Ledger, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Ledger::default());
        }
        // The first JSON value: what follows it can only be the padding of a longer older
        // text, where a write was cut short (see `write_over`).
        serde_json::Deserializer::from_str(text)
            .into_iter::<Ledger>()
            .next()
            .unwrap_or_else(|| serde_json::from_str(text))
    }

    /// Drops the entries whose process is gone, as `alive` says; whether any went.
    pub(crate) fn prune(&mut self, mut alive: impl FnMut(&Entry) -> bool) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| alive(entry));
        self.entries.len() != before
    }
}

/// The ledger's folder, checked to be private to this user.
#[derive(Clone, Debug)]
pub(crate) struct LedgerDir {
    dir: PathBuf,
}

impl LedgerDir {
    /// Creates the folder if needed (mode 0700 on Unix) and checks it: a folder, not a link,
    /// owned by this user; its mode is tightened to 0700 when it was looser.
    pub(crate) fn open(dir: &Path) -> Result<LedgerDir> {
        private_dir(dir).with_context(|| format!("cannot use the governor's folder `{}`", dir.display()))?;
        Ok(LedgerDir {
            dir: dir.to_path_buf(),
        })
    }

    pub(crate) fn file(&self) -> PathBuf {
        self.dir.join(LEDGER_FILE)
    }

    /// The doorbell: a file a wrapper appends a byte to when its compilation ends, so that the
    /// waiters, which listen for it ([`Bell`]), check again at once instead of at their next
    /// poll. Best effort: a bell that cannot ring leaves the polls.
    pub(crate) fn ring(&self) {
        if let Some(mut file) = self.bell_file() {
            let _ = file.write_all(b".");
            // Kept small: emptied once it holds a few KiB (emptying changes it too).
            if file.metadata().is_ok_and(|m| m.len() >= 4096) {
                let _ = file.set_len(0);
            }
        }
    }

    /// The doorbell's file, opened to append, created when missing. Its name is memsafe's in a
    /// folder of memsafe's: anything else there by that name (a link, a pipe, a folder) is
    /// removed and the file made anew, never followed or waited on (a pipe with no reader
    /// would block the open). `None` when that cannot be done: the waiters' polls remain.
    fn bell_file(&self) -> Option<File> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        super::open_own_file(&self.dir.join(BELL_FILE), &mut options).ok()
    }

    /// What the doorbell looks like now: its size and modification time (`None` before it
    /// first rang).
    pub(crate) fn bell_stamp(&self) -> Option<(u64, Option<std::time::SystemTime>)> {
        let metadata = std::fs::metadata(self.dir.join(BELL_FILE)).ok()?;
        Some((metadata.len(), metadata.modified().ok()))
    }

    /// Starts listening for the doorbell. A waiter makes one once a check said to wait, and
    /// checks again before its first wait, so that no ring is missed; closing it (on Linux, an
    /// inotify descriptor) waits for the kernel's grace period, milliseconds, so it is closed
    /// while the compilation runs, not at its end.
    pub(crate) fn listen(&self) -> Bell {
        Bell::new(self)
    }

    /// Under the lock: reads the ledger, prunes dead entries, lets `change` look and change,
    /// and writes the ledger back when anything changed. A ledger that does not parse is moved
    /// aside to `ledger.json.corrupt` (with one warning) and replaced by an empty one; a lock
    /// not had within [`super::LOCK_DEADLINE`] is an error (the caller runs ungoverned).
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut Ledger) -> R) -> Result<R> {
        self.update_within(super::LOCK_DEADLINE, is_alive, change)
    }

    /// [`LedgerDir::update`] only if the lock is free now: an error at once otherwise. For a
    /// caller that must not wait (the sampler, whose next sample is due in milliseconds).
    pub(crate) fn try_update<R>(&self, change: impl FnOnce(&mut Ledger) -> R) -> Result<R> {
        self.update_within(std::time::Duration::ZERO, is_alive, change)
    }

    /// [`LedgerDir::update`] with the liveness test given.
    #[cfg(test)]
    pub(crate) fn update_with<R>(
        &self,
        alive: impl FnMut(&Entry) -> bool,
        change: impl FnOnce(&mut Ledger) -> R,
    ) -> Result<R> {
        self.update_within(super::LOCK_DEADLINE, alive, change)
    }

    fn update_within<R>(
        &self,
        deadline: std::time::Duration,
        alive: impl FnMut(&Entry) -> bool,
        change: impl FnOnce(&mut Ledger) -> R,
    ) -> Result<R> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = super::open_lock(&lock_path)
            .with_context(|| format!("cannot open the governor's lock `{}`", lock_path.display()))?;
        super::lock_within(&lock, deadline)
            .with_context(|| format!("cannot lock `{}`", lock_path.display()))?;
        let file = self.file();
        let mut open = self.open_ledger()?;
        let mut bytes = Vec::new();
        // Past MAX_LEDGER (hand-made, or an old 2 GB file) it is not read at all: every wrapper
        // would hold the lock, and that much memory, while it did.
        let large = open.metadata().map(|m| m.len()).unwrap_or(0) > MAX_LEDGER;
        if !large {
            open.read_to_end(&mut bytes)
                .with_context(|| format!("cannot read `{}`", file.display()))?;
        }
        let parsed = if large {
            Err(format!(
                "larger than {}",
                crate::hardware::format_size(MAX_LEDGER)
            ))
        } else {
            std::str::from_utf8(&bytes)
                .map_err(|_| "not UTF-8".to_string())
                .and_then(|text| Ledger::parse(text).map_err(|error| error.to_string()))
        };
        // The ledger is throwaway state (who runs and waits now): a corrupt one is moved aside,
        // for someone to look at, and the governor starts afresh, saying so once.
        let (mut ledger, before) = match parsed {
            Ok(ledger) => (ledger.clone(), ledger),
            Err(error) => {
                let aside = self.dir.join(format!("{LEDGER_FILE}.corrupt"));
                std::fs::rename(&file, &aside).with_context(|| {
                    format!(
                        "the governor's ledger `{}` is corrupt ({error}) and cannot be moved aside",
                        file.display()
                    )
                })?;
                let _ = writeln!(
                    io::stderr(),
                    "memsafe: the governor's ledger `{}` was corrupt ({error}): moved to `{}`, starting afresh",
                    file.display(),
                    aside.display()
                );
                open = self.open_ledger()?;
                bytes.clear();
                (
                    Ledger::default(),
                    Ledger {
                        version: u32::MAX,
                        ..Ledger::default()
                    },
                )
            }
        };
        ledger.prune(alive);
        let result = change(&mut ledger);
        if ledger != before {
            ledger.version = VERSION;
            if let Err(error) = write_over(&mut open, &ledger, &bytes) {
                // A write cut short (the disk full): the old text goes back where it was, in
                // the space it had, so that no one else's entry is lost.
                let _ = open
                    .seek(io::SeekFrom::Start(0))
                    .and_then(|_| open.write_all(&bytes))
                    .and_then(|_| open.set_len(bytes.len() as u64));
                return Err(error).with_context(|| format!("cannot write `{}`", file.display()));
            }
        }
        drop(lock);
        Ok(result)
    }

    /// The ledger's file, opened to read and write, created when missing, as
    /// [`open_own_file`] opens it.
    fn open_ledger(&self) -> Result<File> {
        let file = self.file();
        let mut options = File::options();
        options.read(true).write(true).create(true).truncate(false);
        super::open_own_file(&file, &mut options).with_context(|| format!("cannot open `{}`", file.display()))
    }
}

/// The largest ledger read: an entry takes about 300 bytes, one for each wrapper running or
/// waiting now.
const MAX_LEDGER: u64 = 4 << 20;

/// Past this many bytes of padding, the file is cut to its text instead of padded: a ledger
/// of a few entries stays within one page, which one write changes whole.
const MAX_PADDING: usize = 4096;

/// Writes `ledger` over `file`, whose content was `old` (its JSON text, then padding): one
/// write from the start, padded with spaces (JSON ends in any whitespace) so that the file
/// is whole after the write; cut to the text only when the padding would pass
/// [`MAX_PADDING`], once the write has covered the old text (a writer killed before the cut
/// leaves a whole file). A write torn inside the padding still reads
/// whole ([`Ledger::parse`] reads the first JSON value); one torn inside the text is corrupt.
fn write_over(file: &mut File, ledger: &Ledger, old: &[u8]) -> io::Result<()> {
    let (old_length, old_text) = (old.len(), old.trim_ascii_end().len());
    let mut text = serde_json::to_string_pretty(ledger)
        .map_err(io::Error::other)?
        .into_bytes();
    text.push(b'\n');
    let length = text.len();
    let cut = old_length > length + MAX_PADDING;
    let padded = if cut { old_text } else { old_length };
    text.resize(padded.max(length), b' ');
    file.seek(io::SeekFrom::Start(0))?;
    file.write_all(&text)?;
    if cut {
        file.set_len(length as u64)?;
    }
    Ok(())
}

/// How a waiting wrapper hears the doorbell ([`LedgerDir::ring`]).
///
/// On Linux, an inotify watch on the bell's file: the waiter sleeps in `poll` until a ring or
/// its timeout, and wakes for nothing else. Elsewhere, or where inotify cannot be had (the
/// per-user limit on inotify instances, say), it looks at the bell's size and time every
/// [`Bell::LOOK_EVERY`]: a `stat`, far cheaper than a check of the ledger, but a wake-up each
/// time. Rings heard while the waiter was checking are kept: its next wait returns at once.
pub(crate) struct Bell {
    ledger: LedgerDir,
    /// The stamp at the last wait's end ([`LedgerDir::bell_stamp`]), for looking.
    seen: Option<(u64, Option<std::time::SystemTime>)>,
    #[cfg(target_os = "linux")]
    watch: Option<inotify::Watch>,
}

impl Bell {
    /// How often a bell without inotify looks: a compilation that ends is replaced within
    /// this long.
    pub(crate) const LOOK_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

    fn new(ledger: &LedgerDir) -> Bell {
        Bell {
            #[cfg(target_os = "linux")]
            watch: Bell::watch(ledger),
            ..Bell::looking(ledger)
        }
    }

    /// A bell that looks, never listens: the path every OS but Linux takes.
    fn looking(ledger: &LedgerDir) -> Bell {
        Bell {
            ledger: ledger.clone(),
            seen: ledger.bell_stamp(),
            #[cfg(target_os = "linux")]
            watch: None,
        }
    }

    /// A watch on the bell's file, made first when missing (making it rings nothing).
    #[cfg(target_os = "linux")]
    fn watch(ledger: &LedgerDir) -> Option<inotify::Watch> {
        ledger
            .bell_file()
            .and_then(|_| inotify::Watch::new(&ledger.dir.join(BELL_FILE)))
    }

    /// Sleeps until the doorbell rings (or rang since the last wait) or `timeout` has passed.
    pub(crate) fn wait(&mut self, timeout: std::time::Duration) {
        #[cfg(target_os = "linux")]
        {
            // A bell deleted or replaced since the watch was made (by hand, say) is watched
            // anew: the old watch would never hear a ring again. A ring may have been missed
            // meanwhile, so the waiter checks again at once.
            let bell = self.ledger.dir.join(BELL_FILE);
            if self.watch.as_ref().is_some_and(|watch| !watch.watches(&bell)) {
                self.watch = Bell::watch(&self.ledger);
                return;
            }
            if let Some(watch) = &self.watch {
                watch.wait(timeout);
                return;
            }
        }
        let clock = std::time::Instant::now();
        while clock.elapsed() < timeout {
            let now = self.ledger.bell_stamp();
            if now != self.seen {
                self.seen = now;
                return;
            }
            std::thread::sleep(Self::LOOK_EVERY.min(timeout));
        }
    }
}

/// The little of inotify the bell needs, on the `libc` crate memsafe already links.
#[cfg(target_os = "linux")]
mod inotify {
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::time::Duration;

    /// An inotify descriptor watching one file for writes (an append, or the truncation
    /// that keeps the bell small).
    pub(crate) struct Watch {
        fd: libc::c_int,
        /// The watched file's device and inode.
        file: (u64, u64),
    }

    impl Watch {
        /// `None` when inotify cannot be had.
        pub(crate) fn new(file: &Path) -> Option<Watch> {
            let path = std::ffi::CString::new(file.as_os_str().as_bytes()).ok()?;
            let identity = identity(file)?;
            // SAFETY: plain system calls on a descriptor this struct owns; `path` outlives
            // the call that reads it.
            let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            let watch = Watch { fd, file: identity };
            // Writes, and the file going away (the waiter then checks and watches anew); a
            // link is not followed.
            let mask = libc::IN_MODIFY | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_DONT_FOLLOW;
            // SAFETY: as above.
            let added = unsafe { libc::inotify_add_watch(fd, path.as_ptr(), mask) };
            (added >= 0).then_some(watch)
        }

        /// Whether `file` is still the file watched.
        pub(crate) fn watches(&self, file: &Path) -> bool {
            identity(file) == Some(self.file)
        }

        /// Sleeps until the file was written (since the last wait too) or `timeout` has
        /// passed, then forgets what was heard.
        pub(crate) fn wait(&self, timeout: Duration) {
            let mut poll = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one pollfd, valid for the call. An interrupted poll (EINTR) returns
            // early, which only means one more check of the ledger.
            let ready = unsafe { libc::poll(&raw mut poll, 1, ms) };
            if ready > 0 {
                let mut events = [0u8; 4096];
                // SAFETY: reads into a buffer of the length given; non-blocking, so it stops
                // once the queue is empty.
                while unsafe { libc::read(self.fd, events.as_mut_ptr().cast(), events.len()) } > 0 {}
            }
        }
    }

    fn identity(file: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        let metadata = std::fs::symlink_metadata(file).ok()?;
        Some((metadata.dev(), metadata.ino()))
    }

    impl Drop for Watch {
        fn drop(&mut self) {
            // SAFETY: the descriptor is this struct's, closed once.
            unsafe { libc::close(self.fd) };
        }
    }
}

#[cfg(unix)]
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let existed = std::fs::symlink_metadata(dir).is_ok();
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    let metadata = std::fs::symlink_metadata(dir)?;
    if !metadata.is_dir() {
        return Err(io::Error::other("it is not a folder"));
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    if metadata.uid() != me {
        return Err(io::Error::other(format!(
            "it belongs to another user (uid {}, not {me})",
            metadata.uid()
        )));
    }
    // A folder memsafe made is its own to tighten (against the umask); one that was there is
    // the user's (`MEMSAFE_GOVERNOR_DIR` may name any folder): its mode is never changed, and
    // one that others can write to is refused, as they could then forge the ledger.
    if !existed && metadata.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    } else if existed && metadata.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!(
            "others can write to it (mode {:o}); memsafe does not change the mode of a folder it did not make",
            metadata.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> io::Result<()> {
    // %LOCALAPPDATA% is the user's own already.
    std::fs::create_dir_all(dir)?;
    if !std::fs::symlink_metadata(dir)?.is_dir() {
        return Err(io::Error::other("it is not a folder"));
    }
    Ok(())
}

/// Linux: the state (field 3) and start time (field 22, clock ticks after boot) in the text of
/// `/proc/<pid>/stat`, counted after the command name's last `)`.
#[cfg(any(target_os = "linux", test))]
pub(crate) fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether a process with this `/proc/<pid>/stat` text is the one recorded with `start`: not
/// a zombie or dead, and started when recorded (when that is known).
#[cfg(any(target_os = "linux", test))]
pub(crate) fn same_process(stat: &str, start: Option<u64>) -> bool {
    match parse_stat(stat) {
        Some((state, _)) if state == 'Z' || state == 'X' => false,
        Some((_, started)) => start.is_none_or(|s| s == started),
        // A stat we cannot read as such: the process is there, keep it.
        None => true,
    }
}

/// The start time of process `pid`, as [`Entry::start_time`] records it.
#[cfg(target_os = "linux")]
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    other_process(pid).flatten()
}

/// Whether the wrapper of `entry` still runs. On Linux every wrapper records its start time,
/// so an entry without one was not written by a wrapper and counts as gone.
#[cfg(target_os = "linux")]
pub(crate) fn is_alive(entry: &Entry) -> bool {
    if entry.start_time.is_none() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", entry.pid)) {
        Ok(stat) => same_process(&stat, entry.start_time),
        Err(error) => error.kind() != io::ErrorKind::NotFound,
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn is_alive(entry: &Entry) -> bool {
    match other_process(entry.pid) {
        None => false,
        Some(started) => entry.start_time.is_none() || started.is_none() || started == entry.start_time,
    }
}

/// Other systems: `None` when there is no process `pid`, else its start time (seconds since
/// the epoch) if sysinfo gives one.
#[cfg(not(target_os = "linux"))]
fn other_process(pid: u32) -> Option<Option<u64>> {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut system = System::new().ok()?;
    let pid = Pid::from_u32(pid);
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing(),
    );
    let process = system.process(pid)?;
    Some(Some(process.start_time()).filter(|&s| s > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: u32, start_time: Option<u64>) -> Entry {
        Entry {
            pid,
            start_time,
            krate: format!("c{pid}"),
            kind: "lib".into(),
            reserved_bytes: 1 << 30,
            state: State::Running,
            since_ms: 1,
            current_bytes: 0,
            seen_ms: 1,
        }
    }

    /// A bell that is rung while nobody waits is heard by the next wait, and one rung while
    /// a waiter sleeps wakes it; with no ring, the wait lasts its timeout. The timeouts are far
    /// longer than a wake-up takes, so these do not time anything: a missed ring would show
    /// as a wait of the whole minute.
    #[test]
    fn the_bell_is_heard_whether_it_rang_before_or_during_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("gov")).unwrap();
        let long = std::time::Duration::from_secs(60);
        let short = std::time::Duration::from_millis(30);
        let listening = ledger.listen();
        #[cfg(target_os = "linux")]
        assert!(listening.watch.is_some(), "inotify is had here");
        for mut bell in [listening, Bell::looking(&ledger)] {
            // Rung between a check and the wait: the wait returns at once.
            ledger.ring();
            let clock = std::time::Instant::now();
            bell.wait(long);
            assert!(clock.elapsed() < long / 2);
            // Nothing rang since: the wait lasts its timeout.
            let clock = std::time::Instant::now();
            bell.wait(short);
            assert!(clock.elapsed() >= short);
            // Rung by another wrapper while this one sleeps.
            assert_hears_a_ring_from_another_thread(&ledger, &mut bell);
        }
    }

    /// Rings `ledger`'s bell from another thread while `bell` waits a minute, and checks that
    /// the wait ended long before.
    fn assert_hears_a_ring_from_another_thread(ledger: &LedgerDir, bell: &mut Bell) {
        let long = std::time::Duration::from_secs(60);
        let ringer = {
            let ledger = ledger.clone();
            std::thread::spawn(move || ledger.ring())
        };
        let clock = std::time::Instant::now();
        bell.wait(long);
        assert!(clock.elapsed() < long / 2);
        ringer.join().unwrap();
    }

    /// The bell's name is memsafe's: a link there is not followed (its target stays as it
    /// was), a pipe is not waited on, a folder is replaced; each becomes a plain file again.
    #[cfg(unix)]
    #[test]
    fn whatever_stands_in_the_bell_s_place_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("gov")).unwrap();
        let bell = dir.path().join("gov").join(BELL_FILE);
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, &bell).unwrap();
        ledger.ring();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&bell).unwrap().is_file());
        std::fs::remove_file(&bell).unwrap();
        crate::governor::make_fifo(&bell);
        ledger.ring();
        assert!(std::fs::symlink_metadata(&bell).unwrap().is_file());
        std::fs::remove_file(&bell).unwrap();
        std::fs::create_dir(&bell).unwrap();
        let _listening = ledger.listen();
        assert!(std::fs::symlink_metadata(&bell).unwrap().is_file());
        ledger.ring();
        assert_eq!(std::fs::read(&bell).unwrap(), b".");
    }

    /// The same for the ledger: a link is not followed (its target stays as it was), nor
    /// written through a hard link; a pipe is not read (that would wait for ever), a folder
    /// is not kept; each becomes the file.
    #[cfg(unix)]
    #[test]
    fn whatever_stands_in_the_ledger_s_place_is_replaced_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("gov")).unwrap();
        let file = ledger.file();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "keep me").unwrap();
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        let add = |pid| {
            ledger
                .update_with(|_| true, |l| l.entries.push(entry(pid, None)))
                .unwrap();
        };
        add(1);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        assert!(std::fs::symlink_metadata(&file).unwrap().is_file());
        std::fs::remove_file(&file).unwrap();
        std::fs::hard_link(&victim, &file).unwrap();
        add(4);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
        std::fs::remove_file(&file).unwrap();
        crate::governor::make_fifo(&file);
        add(2);
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        add(3);
        let written = Ledger::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(written.entries, [entry(3, None)]);
    }

    /// A ledger with a second name (a hard link) is made anew with its entries: the other
    /// name keeps what it held, and no one's entry is lost.
    #[cfg(unix)]
    #[test]
    fn a_hard_linked_ledger_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        ledger
            .update_with(|_| true, |l| l.entries.push(entry(1, None)))
            .unwrap();
        let other = dir.path().join("snapshot.json");
        std::fs::hard_link(ledger.file(), &other).unwrap();
        let before = std::fs::read(&other).unwrap();
        ledger
            .update_with(|_| true, |l| l.entries.push(entry(2, None)))
            .unwrap();
        let written = Ledger::parse(&std::fs::read_to_string(ledger.file()).unwrap()).unwrap();
        assert_eq!(written.entries, [entry(1, None), entry(2, None)]);
        assert_eq!(std::fs::read(&other).unwrap(), before);
    }

    /// A ledger too large to be one (hand-made) is moved aside unread.
    #[test]
    fn a_ledger_too_large_is_moved_aside_unread() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        // A ledger that would parse (its first value), made too long.
        let valid = Ledger {
            entries: vec![entry(7, None)],
            ..Ledger::default()
        };
        std::fs::write(ledger.file(), serde_json::to_string(&valid).unwrap()).unwrap();
        let file = std::fs::File::options().write(true).open(ledger.file()).unwrap();
        file.set_len(MAX_LEDGER + 1).unwrap();
        ledger
            .update_with(|_| true, |l| l.entries.push(entry(1, None)))
            .unwrap();
        let written = Ledger::parse(&std::fs::read_to_string(ledger.file()).unwrap()).unwrap();
        assert_eq!(written.entries, [entry(1, None)]);
        let aside = std::fs::metadata(dir.path().join("ledger.json.corrupt")).unwrap();
        assert_eq!(aside.len(), MAX_LEDGER + 1);
    }

    /// A pipe in the lock's place (which an open for writing would wait on for ever) is
    /// replaced, as a pipe in the ledger's place is.
    #[cfg(unix)]
    #[test]
    fn a_pipe_in_the_lock_s_place_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("gov")).unwrap();
        let lock = dir.path().join("gov").join(LOCK_FILE);
        crate::governor::make_fifo(&lock);
        ledger
            .update_with(|_| true, |l| l.entries.push(entry(1, None)))
            .unwrap();
        assert!(std::fs::symlink_metadata(&lock).unwrap().is_file());
    }

    /// A bell replaced while a waiter listens: the waiter's next wait watches the new file (and
    /// returns at once, in case it missed a ring), and hears the rings after.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_replaced_bell_is_watched_anew() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("gov")).unwrap();
        let mut bell = ledger.listen();
        let file = dir.path().join("gov").join(BELL_FILE);
        let replacement = dir.path().join("gov").join("new");
        std::fs::write(&replacement, "").unwrap();
        std::fs::rename(&replacement, &file).unwrap();
        let long = std::time::Duration::from_secs(60);
        let clock = std::time::Instant::now();
        bell.wait(long);
        assert!(clock.elapsed() < long / 2);
        assert_hears_a_ring_from_another_thread(&ledger, &mut bell);
    }

    #[test]
    fn stat_gives_state_and_start_time() {
        let stat = "4242 (rustc (x)) S 1 4242 4242 0 -1 4194304 100 0 0 0 5 1 0 0 20 0 1 0 987654 1234 56";
        assert_eq!(parse_stat(stat), Some(('S', 987_654)));
        assert!(same_process(stat, Some(987_654)));
        assert!(same_process(stat, None));
        // Another process now has the pid: it started at another time.
        assert!(!same_process(stat, Some(5)));
        // A zombie is gone as far as memory goes.
        assert!(!same_process(&stat.replace(") S ", ") Z "), Some(987_654)));
        assert_eq!(parse_stat("garbage"), None);
        assert!(same_process("garbage", Some(1)));
    }

    #[test]
    fn the_ledger_round_trips_and_an_empty_file_is_empty() {
        let ledger = Ledger {
            version: VERSION,
            last_notice_ms: 7,
            entries: vec![entry(1, Some(2)), entry(3, None)],
        };
        let text = serde_json::to_string(&ledger).unwrap();
        assert!(text.contains("\"crate\":\"c1\""), "{text}");
        assert_eq!(Ledger::parse(&text).unwrap(), ledger);
        assert_eq!(Ledger::parse(" \n").unwrap(), Ledger::default());
        assert!(Ledger::parse("{\"entries\": [{\"pid\": 1}]}").is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_entry_of_a_dead_process_is_pruned_on_the_next_access() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        ledger
            .update(|l| {
                l.entries.push(entry(dead, None));
                l.entries.push(entry(me, start_time(me)));
                // This process, but recorded with another start time: a reused pid.
                l.entries.push(entry(me, start_time(me).map(|s| s + 1)));
            })
            .unwrap();
        let pids = ledger
            .update(|l| {
                l.entries
                    .iter()
                    .map(|e| (e.pid, e.start_time))
                    .collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(pids, [(me, start_time(me))]);
        // The file says so too (the prune was written).
        let text = std::fs::read_to_string(ledger.file()).unwrap();
        assert!(!text.contains(&format!("\"pid\": {dead},")), "{text}");
    }

    #[test]
    fn a_corrupt_ledger_is_moved_aside_and_the_governor_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        for corrupt in [b"{\"entries\": [".to_vec(), vec![0xff, 0xfe], b"null".to_vec()] {
            std::fs::write(ledger.file(), &corrupt).unwrap();
            let count = ledger.update_with(|_| true, |l| l.entries.len()).unwrap();
            assert_eq!(count, 0);
            // What it was is kept for inspection, and the ledger is whole again.
            assert_eq!(
                std::fs::read(dir.path().join("ledger.json.corrupt")).unwrap(),
                corrupt
            );
            assert!(Ledger::parse(&std::fs::read_to_string(ledger.file()).unwrap()).is_ok());
        }
    }

    #[test]
    fn a_lock_held_too_long_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        ledger.update_with(|_| true, |_| ()).unwrap();
        let held = File::options()
            .write(true)
            .open(dir.path().join(LOCK_FILE))
            .unwrap();
        held.lock().unwrap();
        // Another handle (a stopped wrapper's, say) holds it: the deadline passes.
        let other = File::options()
            .write(true)
            .open(dir.path().join(LOCK_FILE))
            .unwrap();
        let error = super::super::lock_within(&other, std::time::Duration::ZERO).unwrap_err();
        assert!(error.to_string().contains("Ctrl-Z"), "{error}");
        held.unlock().unwrap();
        super::super::lock_within(&other, std::time::Duration::ZERO).unwrap();
    }

    #[test]
    fn nothing_changed_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        ledger.update_with(|_| true, |_| ()).unwrap();
        assert_eq!(std::fs::read(ledger.file()).unwrap(), b"");
        ledger
            .update_with(|_| true, |l| l.entries.push(entry(5, None)))
            .unwrap();
        let written = Ledger::parse(&std::fs::read_to_string(ledger.file()).unwrap()).unwrap();
        assert_eq!(written.version, VERSION);
        assert_eq!(written.entries, [entry(5, None)]);
        // Pruned by the liveness given.
        ledger.update_with(|e| e.pid != 5, |_| ()).unwrap();
        assert!(
            Ledger::parse(&std::fs::read_to_string(ledger.file()).unwrap())
                .unwrap()
                .entries
                .is_empty()
        );
    }

    #[test]
    fn a_write_torn_in_the_padding_still_reads_whole() {
        let ledger = Ledger {
            version: VERSION,
            last_notice_ms: 7,
            entries: vec![entry(1, Some(2))],
        };
        let text = serde_json::to_string_pretty(&ledger).unwrap();
        // The new text, then what was left of an older, longer one after it.
        let torn = format!("{text}\n      \"pid\": 9,\n  }}\n]}}");
        assert_eq!(Ledger::parse(&torn).unwrap(), ledger);
        // A write torn inside the text is corrupt.
        assert!(Ledger::parse(&text[..text.len() / 2]).is_err());
    }

    #[test]
    fn a_shorter_ledger_is_padded_in_place_and_cut_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(dir.path()).unwrap();
        ledger
            .update_with(
                |_| true,
                |l| l.entries.extend((1..=3).map(|pid| entry(pid, None))),
            )
            .unwrap();
        let full = std::fs::read(ledger.file()).unwrap().len();
        ledger
            .update_with(|_| true, |l| l.entries.retain(|e| e.pid == 2))
            .unwrap();
        let text = std::fs::read_to_string(ledger.file()).unwrap();
        assert_eq!(text.len(), full, "padded to the old length, not cut");
        assert!(text.ends_with(' '));
        assert_eq!(Ledger::parse(&text).unwrap().entries, [entry(2, None)]);
        // A file far longer than its text (a hand-made one, say) is cut to the text.
        let mut long = text.clone();
        long.push_str(&" ".repeat(MAX_PADDING + 10));
        std::fs::write(ledger.file(), &long).unwrap();
        ledger.update_with(|_| true, |l| l.entries.clear()).unwrap();
        let text = std::fs::read_to_string(ledger.file()).unwrap();
        assert!(text.ends_with("}\n"), "cut to the text: {text:?}");
        assert!(Ledger::parse(&text).unwrap().entries.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn the_folder_is_made_private_and_must_be_a_folder() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("a/governor");
        LedgerDir::open(&inner).unwrap();
        let mode = std::fs::metadata(&inner).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // A folder that was there keeps its mode; one others can write to is refused.
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o755)).unwrap();
        LedgerDir::open(&inner).unwrap();
        assert_eq!(
            std::fs::metadata(&inner).unwrap().permissions().mode() & 0o777,
            0o755
        );
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let error = format!("{:#}", LedgerDir::open(&inner).unwrap_err());
        assert!(error.contains("others can write to it (mode 1777)"), "{error}");
        assert_eq!(
            std::fs::metadata(&inner).unwrap().permissions().mode() & 0o7777,
            0o1777
        );
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        // A file, or a link to a folder, is refused.
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(LedgerDir::open(&file).is_err());
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&inner, &link).unwrap();
        let error = format!("{:#}", LedgerDir::open(&link).unwrap_err());
        assert!(error.contains("not a folder"), "{error}");
    }

    #[test]
    fn the_doorbell_changes_at_every_ring_and_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = LedgerDir::open(&dir.path().join("g")).unwrap();
        assert_eq!(ledger.bell_stamp(), None);
        let mut last = None;
        for _ in 0..5000 {
            ledger.ring();
            let now = ledger.bell_stamp();
            // A waiter that saw the last stamp sees a new one (the size alone, when the clock
            // did not move), the emptying included.
            assert_ne!(now, last);
            last = now;
        }
        assert!(
            std::fs::metadata(dir.path().join("g").join(BELL_FILE))
                .unwrap()
                .len()
                < 4096
        );
    }
}
