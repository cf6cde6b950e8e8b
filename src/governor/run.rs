//! The governor as `RUSTC_WRAPPER`: wait for memory, run the compilation, measure it, record.
//!
//! Every error of the governor's own (a folder it cannot use, a corrupt ledger) ends in
//! running the command directly, with one line on stderr: the build never fails because of
//! memsafe.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::admit::{self, Step};
use super::history::{self, History, Key, Record};
use super::ledger::{self, Bell, Entry, LedgerDir, State};
use super::{Paths, live};
use crate::calibrate::{ChildStatus, Invocation, Platform, exit_code_for, flag_value, leave_as};

/// The environment variable naming a wrapper to run rustc through (sccache, say): the governor
/// runs `<it> <rustc> <args...>` instead of `<rustc> <args...>`.
pub(crate) const CHAIN_ENV: &str = "MEMSAFE_RUSTC_WRAPPER";

/// Set for the command the governor runs: a memsafe below it (chained to itself by mistake)
/// runs its command directly instead of waiting for the memory its parent already holds.
pub(crate) const INSIDE_ENV: &str = "MEMSAFE_GOVERNOR_INSIDE";

/// How often a wrapper waiting for memory checks the ledger again, at the latest: memory is
/// freed without a doorbell too (a running compilation shrinks, another program ends). One
/// waiting for a CPU checks again at the doorbell, or to check in.
const POLL: Duration = Duration::from_millis(200);

/// Unix time in milliseconds (0 before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The command line to run: the chained wrapper, when there is one, then the program and its
/// arguments, every one as it came and in its order.
pub(crate) fn command_line(chain: Option<&OsStr>, program: &OsString, args: &[OsString]) -> Vec<OsString> {
    chain
        .map(OsString::from)
        .into_iter()
        .chain(std::iter::once(program.clone()))
        .chain(args.iter().cloned())
        .collect()
}

/// Whether `args` compile a crate: a `--crate-name`, and none of cargo's probes (`--print`,
/// `-vV`, `--version`), which compile nothing and run ungoverned.
pub(crate) fn is_compilation(args: &[OsString]) -> bool {
    let probe = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a.starts_with("--print") || a == "-vV" || a == "-V" || a == "--version"
    });
    !probe && flag_value(args, "--crate-name").is_some()
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether `chain` names the program running now: memsafe's own name (`memsafe`,
/// `cargo-memsafe`), or a path or a name on PATH that leads to this same file.
fn is_this_program(chain: &OsStr) -> bool {
    let text = chain.to_string_lossy();
    if crate::current::is_memsafe(&text, "") {
        return true;
    }
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return false;
    };
    let path = Path::new(chain);
    let found = if text.contains(['/', '\\']) {
        Some(path.to_path_buf())
    } else {
        super::find_on_path(chain)
    };
    found
        .and_then(|file| std::fs::canonicalize(file).ok())
        .is_some_and(|file| file == me)
}

/// Wrapper mode: `memsafe <rustc> <args...>` under cargo (`args` without memsafe's own name).
pub(crate) fn wrap(args: &[OsString]) -> ExitCode {
    let Some((program, rest)) = args.split_first() else {
        return ExitCode::from(2);
    };
    // Inside another memsafe (chained to itself by mistake), or chained to this very program
    // (by another name, a link): the chain is not followed, or each memsafe would start the
    // next one without end.
    let inside = std::env::var_os(INSIDE_ENV).is_some();
    let chain = std::env::var_os(CHAIN_ENV)
        .filter(|c| !c.is_empty() && !inside)
        .filter(|c| !is_this_program(c));
    let line = command_line(chain.as_deref(), program, rest);
    let mut command = Command::new(&line[0]);
    command.args(&line[1..]).env(INSIDE_ENV, "1");
    if !is_compilation(rest) || inside {
        return run_plain(&mut command, &line[0]);
    }
    let Some(key) = Key::of(program, rest) else {
        return run_plain(&mut command, &line[0]);
    };
    let setup =
        Paths::from_env().and_then(|paths| LedgerDir::open(&paths.ledger).map(|ledger| (paths, ledger)));
    let (paths, ledger) = match setup {
        Ok(found) => found,
        Err(error) => {
            say(&format!(
                "memsafe: the governor is off for this compilation: {error:#}"
            ));
            return run_plain(&mut command, &line[0]);
        }
    };
    // Nothing of a chained wrapper's compilations is recorded: its server (sccache's) runs
    // them outside the wrapper's process tree, so their peaks would be the client's few MiB.
    let record_in = chain.is_none().then_some(rest);
    governed(&mut command, &line[0], &key, record_in, None, &paths, &ledger)
}

/// `memsafe calibrate`'s wrapper (`memsafe <rustc> <args...>` with the calibration's log
/// named): calibrate's build is one governed build. Each compilation is admitted by memory as
/// under the governor (not by CPUs: calibrate measures the job count it plans for), so that
/// calibrating does not run the machine out of memory either,
/// runs rustc itself (never a chained wrapper, whose server would run the compilation out of
/// sight), and is appended to the log whatever its outcome, and to the governor's history
/// when it succeeded. Where the governor cannot run (its folder unusable), the compilation
/// is still measured and logged, unadmitted.
pub(crate) fn wrap_calibrating(args: &[OsString], log: &Path) -> ExitCode {
    let Some((program, rest)) = args.split_first() else {
        return ExitCode::from(2);
    };
    let mut command = Command::new(program);
    command.args(rest);
    let Some(key) = Key::of(program, rest).filter(|_| is_compilation(rest)) else {
        return run_plain(&mut command, program);
    };
    command.env(INSIDE_ENV, "1");
    match Paths::from_env().and_then(|paths| LedgerDir::open(&paths.ledger).map(|ledger| (paths, ledger))) {
        Ok((paths, ledger)) => governed(
            &mut command,
            program,
            &key,
            Some(rest),
            Some(log),
            &paths,
            &ledger,
        ),
        Err(_) => crate::calibrate::measure_into(&mut command, program, rest, &key, log),
    }
}

/// Where a compilation writes (`--out-dir`), absolute and normalized as
/// [`crate::session::target_dir`] is, so that a plan can tell which project's build it was.
pub(crate) fn out_dir_of(args: &[OsString]) -> Option<String> {
    crate::calibrate::flag_value(args, "--out-dir").map(|dir| {
        let dir = std::env::current_dir().map_or_else(|_| dir.clone().into(), |cwd| cwd.join(&dir));
        crate::project::normalize(&dir).to_string_lossy().into_owned()
    })
}

/// A compilation `memsafe calibrate`'s wrapper measured, recorded in the governor's history
/// as a governed one would be, so that the governor predicts from calibrate's measurements
/// too. Silent: a history that cannot be written only means the governor learns less.
pub(crate) fn learn(program: &OsString, args: &[OsString], invocation: &Invocation, killed: bool) {
    if let (Some(key), Ok(paths)) = (Key::of(program, args), Paths::from_env()) {
        record(&paths, key, args, invocation, killed);
    }
}

/// Appends `invocation` (rustc `args`) to the history at `paths`, when it says what the crate
/// takes: it succeeded (one that failed may have stopped early), or was `killed` by
/// `SIGKILL` (the OOM killer: what it had reached is still the least it needs), and something
/// was measured (a child too short for the sampler's first sample has no anonymous peak: its
/// `ru_maxrss`).
fn record(paths: &Paths, key: Key, args: &[OsString], invocation: &Invocation, killed: bool) {
    let peak_bytes = invocation
        .anon_peak_bytes
        .filter(|&bytes| bytes > 0)
        .unwrap_or(invocation.peak_bytes);
    if (invocation.exit_code != 0 && !killed) || peak_bytes == 0 {
        return;
    }
    let record = Record {
        key,
        peak_bytes,
        duration_ms: invocation.duration_ms,
        at_ms: invocation.start_ms.saturating_add(invocation.duration_ms),
        out_dir: out_dir_of(args),
        metadata_only: history::metadata_only(args),
        profile: invocation.anon_profile.clone(),
        place: invocation.place.clone(),
        cpu_ms: invocation.cpu_ms,
        own_cpu_us: crate::measure::own_cpu_us(),
        start_cpu_us: crate::measure::start_cpu_us(),
        killed,
    };
    let _ = history::append(&paths.history, &record);
}

/// Runs the command directly and leaves with its exit code.
fn run_plain(command: &mut Command, shown: &OsStr) -> ExitCode {
    match command.status() {
        Ok(status) => leave_as(ChildStatus::from(status)),
        Err(error) => cannot_run(shown, &error),
    }
}

fn cannot_run(shown: &OsStr, error: &std::io::Error) -> ExitCode {
    say(&format!(
        "memsafe: cannot run `{}`: {error}",
        shown.to_string_lossy()
    ));
    ExitCode::from(127)
}

/// The prediction for `key` from the history at `paths`: a history that cannot be read gives
/// the default and one warning; lines that do not parse are dropped, with one warning.
fn prediction(paths: &Paths, key: &Key) -> u64 {
    let records = match History::load_for(&paths.history, key) {
        Ok(history) => {
            if history.bad_lines > 0 {
                say(&format!(
                    "memsafe: dropped what could not be read of the governor's history `{}`: {}",
                    paths.history.display(),
                    crate::plan::count(u32::try_from(history.bad_lines).unwrap_or(u32::MAX), "line"),
                ));
                let _ = history::repair(&paths.history);
            }
            (history.records, history.other_peaks)
        }
        Err(error) => {
            say(&format!(
                "memsafe: cannot read the governor's history `{}` ({error}); predicting from defaults",
                paths.history.display()
            ));
            (Vec::new(), Vec::new())
        }
    };
    history::predict_among(&records.0, &records.1, key).0
}

fn governed(
    command: &mut Command,
    shown: &OsStr,
    key: &Key,
    record_in: Option<&[OsString]>,
    log: Option<&Path>,
    paths: &Paths,
    ledger: &LedgerDir,
) -> ExitCode {
    let predicted = prediction(paths, key);
    let budget = live::budget();
    if let Some(warning) = &budget.warning {
        say(&format!("memsafe: {warning}"));
    }
    // calibrate measures the build as cargo runs it at the job count it plans for, so that the
    // model sees the compilations that job count runs together: memory alone admits there.
    let cpus = if log.is_some() {
        usize::MAX
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    };
    let pid = std::process::id();
    let now = now_ms();
    let me = Entry {
        pid,
        start_time: ledger::start_time(pid),
        krate: key.krate.clone(),
        kind: key.kind.clone(),
        reserved_bytes: predicted,
        state: State::Waiting,
        since_ms: now,
        current_bytes: 0,
        seen_ms: now,
    };
    // Wait for memory. Nothing here handles SIGINT: Ctrl-C ends a waiting wrapper at once, and
    // the next access prunes its entry.
    //
    // The doorbell is listened to only once a check said to wait, and checked again at once
    // after: closing an inotify descriptor waits for the kernel's grace period (5 to 15 ms
    // measured), which a compilation admitted at its first check should not pay at its end.
    let mut bell: Option<Bell> = None;
    let wait = |bell: &mut Option<Bell>, timeout: Duration| match bell {
        Some(bell) => bell.wait(timeout),
        None => *bell = Some(ledger.listen()),
    };
    loop {
        let now = now_ms();
        let available = || live::available().bytes;
        match ledger.update(|l| admit::check(l, &me, now, budget.bytes, available, cpus)) {
            Ok(Step::Admitted) => break,
            Ok(Step::Waiting(notice)) => {
                if let Some(notice) = notice {
                    say(&notice);
                }
                wait(&mut bell, POLL);
            }
            Ok(Step::ForCpu) => wait(&mut bell, Duration::from_millis(admit::SEEN_EVERY_MS)),
            Err(error) => {
                say(&format!(
                    "memsafe: the governor is off for this compilation: {error:#}"
                ));
                let _ = ledger.update(|l| l.entries.retain(|e| e.pid != pid));
                return run_plain(command, shown);
            }
        }
    }
    // A waiter's bell is closed while the compilation runs, not at its end.
    if let Some(bell) = bell {
        let _ = std::thread::Builder::new()
            .name("memsafe-bell".into())
            .spawn(move || drop(bell));
    }
    // Run, reporting growth past the reservation from the sampler's thread.
    let clock = Instant::now();
    let running = Entry {
        state: State::Running,
        since_ms: now_ms(),
        ..me.clone()
    };
    let measured = crate::measure::run(command, Some(reporter(ledger.clone(), running)));
    let _ = ledger.update(|l| l.entries.retain(|e| e.pid != pid));
    ledger.ring();
    let measured = match measured {
        Ok(measured) => measured,
        Err(error) => return cannot_run(shown, &error),
    };
    let status = measured.status;
    let code = exit_code_for(status, Platform::current());
    if let Some(args) = record_in {
        let invocation = measured.invocation(key, args, clock, code);
        record(paths, key.clone(), args, &invocation, status.killed());
        if let Some(log) = log {
            crate::calibrate::append_log(log, &invocation);
        }
    }
    leave_as(status)
}

/// While the compilation runs, given each sample of its memory: writes it to the ledger when
/// [`admit::report`] says so (growth past the reservation at most every
/// [`admit::RAISE_EVERY_MS`], a refresh every [`admit::REFRESH_EVERY_MS`]), putting `me`
/// back when its entry is gone (a ledger found corrupt, or replaced, starts empty). It runs in
/// the sampler's thread, so it never waits for the ledger's lock: when another wrapper holds
/// it (or a build stopped with Ctrl-Z), the write is skipped until the next turn, and the
/// samples go on.
fn reporter(ledger: LedgerDir, mut me: Entry) -> crate::measure::OnSample {
    let mut last_write = now_ms();
    Box::new(move |current| {
        let now = now_ms();
        let Some(new) = admit::report(me.reserved_bytes, current, last_write, now) else {
            return;
        };
        last_write = now;
        let written = ledger.try_update(|l| {
            let entry = match l.entries.iter().position(|e| e.pid == me.pid) {
                Some(index) => &mut l.entries[index],
                None => {
                    l.entries.push(me.clone());
                    l.entries.last_mut().expect("just pushed")
                }
            };
            entry.reserved_bytes = new;
            entry.current_bytes = current;
            entry.seen_ms = now;
        });
        if written.is_ok() {
            me.reserved_bytes = new;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_chained_wrapper_goes_first_and_nothing_moves() {
        let args = os(&["--crate-name", "a b", "", "-C", "metadata=1", "--", "x"]);
        let program = OsString::from("/r/rustc");
        assert_eq!(
            command_line(Some(OsStr::new("sccache")), &program, &args),
            os(&[
                "sccache",
                "/r/rustc",
                "--crate-name",
                "a b",
                "",
                "-C",
                "metadata=1",
                "--",
                "x"
            ])
        );
        assert_eq!(
            command_line(None, &program, &args),
            os(&[
                "/r/rustc",
                "--crate-name",
                "a b",
                "",
                "-C",
                "metadata=1",
                "--",
                "x"
            ])
        );
    }

    #[test]
    fn probes_are_not_compilations() {
        assert!(is_compilation(&os(&[
            "--crate-name",
            "foo",
            "--crate-type",
            "lib",
            "src/lib.rs"
        ])));
        assert!(is_compilation(&os(&["--crate-name=foo", "src/lib.rs"])));
        assert!(!is_compilation(&os(&["-vV"])));
        assert!(!is_compilation(&os(&[
            "-",
            "--crate-name",
            "___",
            "--print=file-names",
            "--crate-type",
            "bin"
        ])));
        assert!(!is_compilation(&os(&["--print", "sysroot", "--crate-name", "x"])));
        assert!(!is_compilation(&os(&["src/main.rs"])));
        // clippy-driver's arguments start with the rustc it wraps.
        assert!(is_compilation(&os(&["/r/rustc", "--crate-name", "foo"])));
    }
}
