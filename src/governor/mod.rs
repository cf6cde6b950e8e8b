//! The governor (experimental): memsafe as a `RUSTC_WRAPPER` that stays on. cargo runs as many
//! jobs as it likes; each rustc waits in the wrapper until its predicted memory peak fits, so
//! that a build, a test build and the editor's check together stay inside one budget.
//!
//! How one compilation goes ([`run`]):
//! 1. cargo runs `memsafe <rustc> <args...>` ([`is_wrapper_call`] tells this from memsafe's own
//!    commands). cargo's probes (`-vV`, `--print`, anything without `--crate-name`) run
//!    straight through, neither governed nor recorded.
//! 2. The prediction: this crate's recent peaks from the history ([`history`]).
//! 3. The wrapper puts itself in the ledger as waiting ([`ledger`]) and checks, every 200 ms,
//!    whether it may start ([`admit::decide`]): alone it always may; otherwise the running
//!    reservations plus its prediction must fit the budget, its prediction the memory
//!    available now ([`live`]), and fewer compilations run, across every cargo of the user,
//!    than the machine has CPUs ([`admit::decide_on`]). Fairness: small crates may pass a big one that does not fit
//!    yet (throughput), until the big one has waited 20 seconds; from then on no later
//!    arrival passes it. Waiters print at most one line every 5 seconds between them.
//! 4. Admitted, it runs the command (through `MEMSAFE_RUSTC_WRAPPER`, e.g. sccache, when set),
//!    samples its memory, and raises its reservation when the compilation grows past it.
//! 5. At the end it leaves the ledger, records the peak in the history, and exits with the
//!    command's exit code; the command's stdin, stdout and stderr were its own throughout.
//!
//! Failure rules: the build never fails because of memsafe. A ledger that cannot be used
//! (corrupt, a folder of another user) runs the compilation ungoverned with one warning; a
//! history that cannot be read gives default predictions with one warning.
//!
//! Environment: `MEMSAFE_GOVERNOR_DIR` puts the ledger and the history in one folder (tests,
//! benchmarks); `MEMSAFE_GOVERNOR_BUDGET` replaces the budget ([`live`]);
//! `MEMSAFE_RUSTC_WRAPPER` chains another wrapper.

pub(crate) mod admit;
pub(crate) mod history;
pub(crate) mod ledger;
pub(crate) mod live;
pub(crate) mod run;
pub(crate) mod simulate;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

pub(crate) use self::run::{CHAIN_ENV, learn, wrap, wrap_calibrating};

/// The environment variable that puts the ledger and the history in one folder.
pub(crate) const DIR_ENV: &str = "MEMSAFE_GOVERNOR_DIR";

/// Whether memsafe was started by cargo as `RUSTC_WRAPPER`: `memsafe <program> <args...>`
/// where `<program>` is not one of memsafe's commands or flags (`commands`, and `memsafe`
/// itself, which `cargo memsafe` passes), and is:
/// - a rustc (its file name starts with `rustc`: `rustc`, `rustc.exe`, `rustc-1.80`) or a
///   clippy-driver;
/// - or a path to an existing file (`is_file`): a workspace wrapper, a rustc named otherwise;
/// - or, followed by arguments (cargo always passes some), a program that PATH finds
///   (`on_path`): `RUSTC=myrustc`, a workspace wrapper given by name.
///
/// The tests are given, so that tests run them on fakes.
pub(crate) fn is_wrapper_call(
    args: &[OsString],
    commands: &[&str],
    is_file: impl Fn(&Path) -> bool,
    on_path: impl Fn(&OsStr) -> bool,
) -> bool {
    let Some(first) = args.get(1) else {
        return false;
    };
    let text = first.to_string_lossy();
    if text.is_empty() || text.starts_with('-') || text == "memsafe" || commands.iter().any(|c| *c == text) {
        return false;
    }
    let path = Path::new(first);
    let name = path.file_name().map(|s| s.to_string_lossy());
    let stem = path.file_stem().map(|s| s.to_string_lossy());
    if name.is_some_and(|n| n.starts_with("rustc")) || stem.as_deref() == Some("clippy-driver") {
        return true;
    }
    if text.chars().any(std::path::is_separator) {
        return is_file(path);
    }
    args.len() > 2 && on_path(first)
}

/// Whether PATH finds an executable file named `name` (on Windows, `name.exe` too).
pub(crate) fn on_path(name: &OsStr) -> bool {
    find_on_path(name).is_some()
}

/// The file PATH finds first for `name` (on Windows, `name.exe` too).
pub(crate) fn find_on_path(name: &OsStr) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).find_map(|dir| {
        let file = dir.join(name);
        let exe = file.with_extension("exe");
        if file.is_file() {
            Some(file)
        } else {
            (cfg!(windows) && exe.is_file()).then_some(exe)
        }
    })
}

/// How long a wrapper waits for the ledger's (or the history's) lock before it gives up and
/// runs its rustc ungoverned (or does not record it): the lock is held for a read and a write, milliseconds; one held longer belongs
/// to a stopped process (Ctrl-Z in another terminal), which must not stop everyone's builds.
pub(crate) const LOCK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Takes the exclusive lock on `lock`, trying until `deadline` has passed. A lock is held for
/// well under a millisecond, and every waiter checks at once when the doorbell rings: the
/// first retry comes after 1 ms, then each after twice as long, up to 10 ms.
pub(crate) fn lock_within(lock: &File, deadline: std::time::Duration) -> io::Result<()> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::other(format!(
                    "another memsafe has held it for over {} s (a build stopped with Ctrl-Z?)",
                    deadline.as_secs()
                )));
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
    }
}

/// Opens `path`, a file of memsafe's in its own folder, with `options` (which create it):
/// anything else there by that name (a link, a pipe, a folder) is removed and the file made
/// anew, never followed or waited on (a pipe with no writer would block a read for ever). A
/// file with other names too (a hard link), or made read-only (by hand, or an old tool), is
/// made anew with what it held: it is written in place.
pub(crate) fn open_own_file(path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<File> {
    clear_odd(path);
    no_follow(options);
    let file = match options.open(path) {
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            return made_anew(path, options).map_err(|_| error);
        }
        opened => opened?,
    };
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(io::Error::other("not a file"));
    }
    if is_shared(&opened) {
        drop(file);
        let file = made_anew(path, options)?;
        return if is_shared(&file.metadata()?) {
            Err(io::Error::other("linked to another file"))
        } else {
            Ok(file)
        };
    }
    Ok(file)
}

/// The plain file at `path` made anew under the same name, with what it held, opened with
/// `options`.
fn made_anew(path: &Path, options: &std::fs::OpenOptions) -> io::Result<File> {
    let mut reading = File::options();
    reading.read(true);
    no_follow(&mut reading);
    let mut held = Vec::new();
    io::Read::read_to_end(&mut reading.open(path)?, &mut held)?;
    std::fs::remove_file(path)?;
    let mut file = options.open(path)?;
    io::Write::write_all(&mut file, &held)?;
    io::Seek::seek(&mut file, io::SeekFrom::Start(0))?;
    Ok(file)
}

/// Opens the lock file `path` (made when missing), as [`open_own_file`] does but for what
/// only its lock is used for: another wrapper may hold the lock on the file there now, so a
/// plain file is never replaced (each would hold a lock of its own), whatever its links; one
/// made read-only is opened to read, which locks as well.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    clear_odd(path);
    let mut options = File::options();
    options.create(true).truncate(false).write(true);
    no_follow(&mut options);
    let file = match options.open(path) {
        Err(error) if error.kind() == io::ErrorKind::PermissionDenied => {
            let mut options = File::options();
            options.read(true);
            no_follow(&mut options);
            options.open(path).map_err(|_| error)?
        }
        opened => opened?,
    };
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::other("not a file"))
    }
}

/// Removes what stands at `path` that is not a plain file (a link, a pipe, a folder).
fn clear_odd(path: &Path) {
    if let Ok(found) = std::fs::symlink_metadata(path)
        && !found.is_file()
    {
        // A link to a folder is a folder to Windows' `remove_file`.
        let removed = if found.is_dir() {
            std::fs::remove_dir(path)
        } else {
            std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path))
        };
        drop(removed);
    }
}

/// Whether a file has other names (hard links); never known on Windows.
fn is_shared(metadata: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        std::os::unix::fs::MetadataExt::nlink(metadata) > 1
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// Opens never follow a link, nor wait on a pipe (Unix; Windows has no such flags).
fn no_follow(options: &mut std::fs::OpenOptions) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    {
        let _ = options;
    }
}

/// Makes a pipe at `path` (tests of what stands in a file's place).
#[cfg(all(test, unix))]
pub(crate) fn make_fifo(path: &Path) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; mkfifo creates a pipe there.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// Where the governor keeps its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Paths {
    /// The ledger's folder (per user and machine).
    pub ledger: PathBuf,
    /// The history file.
    pub history: PathBuf,
}

/// The systems whose folders differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum System {
    Linux,
    Macos,
    Windows,
}

impl Paths {
    /// The paths for this process's environment.
    pub(crate) fn from_env() -> Result<Paths> {
        let system = if cfg!(windows) {
            System::Windows
        } else if cfg!(target_os = "macos") {
            System::Macos
        } else {
            System::Linux
        };
        #[cfg(unix)]
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        #[cfg(not(unix))]
        let uid = 0;
        Paths::from_vars(|name| std::env::var_os(name), system, &std::env::temp_dir(), uid)
    }

    /// The paths from the environment variables `var` gives (only absolute paths count, as
    /// the XDG specification says):
    /// - both in `MEMSAFE_GOVERNOR_DIR` when set;
    /// - the ledger: `$XDG_RUNTIME_DIR/memsafe-governor`, else `<temp>/memsafe-governor-<uid>`
    ///   (Unix); `%LOCALAPPDATA%\memsafe\governor` (Windows);
    /// - the history, `governor-history.jsonl` in the user's cache folder: `$XDG_CACHE_HOME/memsafe`
    ///   or `~/.cache/memsafe` (Linux and others), `~/Library/Caches/memsafe` (macOS),
    ///   `%LOCALAPPDATA%\memsafe` (Windows); in the ledger's folder when there is none.
    pub(crate) fn from_vars(
        var: impl Fn(&str) -> Option<OsString>,
        system: System,
        temp: &Path,
        uid: u32,
    ) -> Result<Paths> {
        let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
        if let Some(dir) = absolute(DIR_ENV) {
            return Ok(Paths {
                history: dir.join(history::HISTORY_FILE),
                ledger: dir,
            });
        }
        let local = absolute("LOCALAPPDATA").map(|p| p.join("memsafe"));
        let ledger = match system {
            System::Windows => local
                .clone()
                .map(|p| p.join("governor"))
                .ok_or_else(|| anyhow!("%LOCALAPPDATA% is not set"))?,
            System::Linux | System::Macos => absolute("XDG_RUNTIME_DIR").map_or_else(
                || temp.join(format!("memsafe-governor-{uid}")),
                |p| p.join("memsafe-governor"),
            ),
        };
        let home = absolute("HOME");
        let cache = match system {
            System::Windows => local,
            System::Macos => home.map(|h| h.join("Library/Caches/memsafe")),
            System::Linux => absolute("XDG_CACHE_HOME")
                .or_else(|| home.map(|h| h.join(".cache")))
                .map(|p| p.join("memsafe")),
        };
        let history = cache
            .unwrap_or_else(|| ledger.clone())
            .join(history::HISTORY_FILE);
        Ok(Paths { ledger, history })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two wrappers must never each hold a lock of their own: a lock file with another name
    /// too (a hard link) stays the file the holder locked.
    #[cfg(unix)]
    #[test]
    fn a_lock_file_is_never_replaced_under_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.lock");
        File::create(&path).unwrap();
        std::fs::hard_link(&path, dir.path().join("other")).unwrap();
        let held = open_lock(&path).unwrap();
        held.lock().unwrap();
        let second = open_lock(&path).unwrap();
        assert!(matches!(
            second.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        // A pipe there is replaced (no wrapper can hold one: opening it would wait).
        drop((held, second));
        std::fs::remove_file(&path).unwrap();
        crate::governor::make_fifo(&path);
        open_lock(&path).unwrap().lock().unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn commands() -> Vec<&'static str> {
        vec!["init", "plan", "governor", "help"]
    }

    #[test]
    fn cargo_calls_are_told_from_memsafes_commands() {
        let exists = |p: &Path| p == Path::new("/opt/wrap/ws-wrapper") || p == Path::new("./init");
        let found = |name: &OsStr| name == "myrustc" || name == "ls";
        let wrapper = |args: &[&str]| is_wrapper_call(&os(args), &commands(), exists, found);
        // A rustc: bare, as a path, with .exe; cargo's probes too (the wrapper runs them through).
        assert!(wrapper(&["memsafe", "rustc", "--crate-name", "foo"]));
        assert!(wrapper(&[
            "memsafe",
            "/home/u/.rustup/toolchains/x/bin/rustc",
            "-vV"
        ]));
        assert!(wrapper(&[
            "memsafe",
            "rustc",
            "-",
            "--crate-name",
            "___",
            "--print=file-names"
        ]));
        assert!(wrapper(&["memsafe", "rustc.exe", "-vV"]));
        // The workspace wrapper (clippy), then rustc.
        assert!(wrapper(&[
            "memsafe",
            "/t/bin/clippy-driver",
            "/t/bin/rustc",
            "--crate-name",
            "a"
        ]));
        assert!(wrapper(&["memsafe", "clippy-driver", "rustc", "-vV"]));
        // Another workspace wrapper: a path to an existing file.
        assert!(wrapper(&["memsafe", "/opt/wrap/ws-wrapper", "rustc", "-vV"]));
        assert!(wrapper(&["memsafe", "./init", "rustc"]));
        // memsafe's own commands and flags, and things that are neither.
        assert!(!wrapper(&["memsafe", "init", "--yes"]));
        assert!(!wrapper(&["memsafe", "governor", "status"]));
        assert!(!wrapper(&["memsafe", "--help"]));
        assert!(!wrapper(&["memsafe", "-V"]));
        assert!(!wrapper(&["memsafe"]));
        assert!(!wrapper(&["memsafe", ""]));
        assert!(!wrapper(&["memsafe", "/opt/wrap/missing", "rustc"]));
        assert!(!wrapper(&["memsafe", "frobnicate"]));
        // cargo-memsafe's own `memsafe` argument.
        assert!(!wrapper(&["cargo-memsafe", "memsafe", "plan"]));
        // A rustc by another name: a versioned one, or one that PATH finds (`RUSTC=myrustc`),
        // when arguments follow; a program name alone is a mistyped command.
        assert!(wrapper(&["memsafe", "rustc-1.80", "-vV"]));
        assert!(wrapper(&["memsafe", "myrustc", "-vV"]));
        assert!(wrapper(&["memsafe", "myrustc", "-", "--crate-name", "___"]));
        assert!(!wrapper(&["memsafe", "myrustc"]));
        assert!(!wrapper(&["memsafe", "frobnicate", "-vV"]));
    }

    #[cfg(unix)]
    #[test]
    fn paths_follow_each_systems_conventions() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let temp = Path::new("/tmp");
        let linux = Paths::from_vars(
            vars(&[("XDG_RUNTIME_DIR", "/run/user/1000"), ("HOME", "/home/u")]),
            System::Linux,
            temp,
            1000,
        )
        .unwrap();
        assert_eq!(linux.ledger, Path::new("/run/user/1000/memsafe-governor"));
        assert_eq!(
            linux.history,
            Path::new("/home/u/.cache/memsafe/governor-history.jsonl")
        );
        let bare = Paths::from_vars(
            vars(&[("XDG_CACHE_HOME", "/c"), ("XDG_RUNTIME_DIR", "relative/run")]),
            System::Linux,
            temp,
            7,
        )
        .unwrap();
        assert_eq!(bare.ledger, Path::new("/tmp/memsafe-governor-7"));
        assert_eq!(bare.history, Path::new("/c/memsafe/governor-history.jsonl"));
        let homeless = Paths::from_vars(vars(&[]), System::Linux, temp, 7).unwrap();
        assert_eq!(
            homeless.history,
            Path::new("/tmp/memsafe-governor-7/governor-history.jsonl")
        );
        let mac = Paths::from_vars(vars(&[("HOME", "/Users/u")]), System::Macos, temp, 501).unwrap();
        assert_eq!(
            mac.history,
            Path::new("/Users/u/Library/Caches/memsafe/governor-history.jsonl")
        );
        let given = Paths::from_vars(
            vars(&[("MEMSAFE_GOVERNOR_DIR", "/g"), ("HOME", "/home/u")]),
            System::Linux,
            temp,
            1,
        )
        .unwrap();
        assert_eq!(
            given,
            Paths {
                ledger: "/g".into(),
                history: "/g/governor-history.jsonl".into()
            }
        );
        assert!(Paths::from_vars(vars(&[]), System::Windows, temp, 0).is_err());
    }

    #[cfg(windows)]
    #[test]
    fn windows_paths_are_under_localappdata() {
        let var = |name: &str| (name == "LOCALAPPDATA").then(|| OsString::from(r"C:\Users\u\AppData\Local"));
        let paths = Paths::from_vars(var, System::Windows, Path::new(r"C:\t"), 0).unwrap();
        assert_eq!(
            paths.ledger,
            Path::new(r"C:\Users\u\AppData\Local\memsafe\governor")
        );
        assert_eq!(
            paths.history,
            Path::new(r"C:\Users\u\AppData\Local\memsafe\governor-history.jsonl")
        );
    }
}
