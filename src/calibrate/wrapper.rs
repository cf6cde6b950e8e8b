//! The wrapper: memsafe as `RUSTC_WRAPPER`, running the real rustc untouched and measuring it.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use super::Place;

/// The environment variable that puts memsafe in wrapper mode and names the log.
pub const LOG_ENV: &str = "MEMSAFE_CALIBRATE_LOG";

/// Wrapper mode: `memsafe <rustc> <args...>` under cargo. Runs rustc as one governed
/// compilation ([`crate::governor::run::wrap_calibrating`]), records it, and exits with
/// rustc's code.
pub fn wrap(args: &[OsString], log: &Path) -> ExitCode {
    crate::governor::wrap_calibrating(args, log)
}

/// Runs `command` (rustc compiling `key`'s crate, `args` its arguments) measured, without the
/// governor, appends it to `log` and to the governor's history, and exits with its code.
pub(crate) fn measure_into(
    command: &mut Command,
    program: &OsString,
    args: &[OsString],
    key: &crate::governor::history::Key,
    log: &Path,
) -> ExitCode {
    let clock = Instant::now();
    let measured = match crate::measure::run(command, None) {
        Ok(measured) => measured,
        Err(error) => {
            let _ = writeln!(
                std::io::stderr(),
                "memsafe: cannot run `{}`: {error}",
                program.to_string_lossy()
            );
            return ExitCode::from(127);
        }
    };
    let status = measured.status;
    let code = exit_code_for(status, Platform::current());
    let invocation = measured.invocation(key, args, clock, code);
    append_log(log, &invocation);
    // The governor learns from calibrate's build as from a governed one.
    crate::governor::learn(program, args, &invocation, status.killed());
    leave_as(status)
}

/// Appends `invocation` to the calibration's log: one write of one line to a file opened for
/// appending, so that concurrent wrappers do not interleave (O_APPEND positions every write at
/// the end atomically).
pub(crate) fn append_log(log: &Path, invocation: &super::Invocation) {
    if let Ok(line) = serde_json::to_string(invocation)
        && let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log)
    {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}

/// How a child process ended, as the OS reported it: an exit code, or (Unix) the signal that
/// killed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ChildStatus {
    /// Killed by `SIGKILL`, the signal the OOM killer (and a memory cgroup over its limit)
    /// ends a process with.
    pub fn killed(self) -> bool {
        self.code.is_none() && self.signal == Some(9)
    }
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

/// Leaves the way the wrapped child did: with its exit code ([`exit_code_for`], [`exit_with`]),
/// or, on Unix, killed by the same signal, so that cargo says `signal: 9, SIGKILL: kill` of a
/// rustc the OOM killer ended, as it would without memsafe, not `exit status: 137`. The signal
/// is set back to its default action and unblocked first, and memsafe's core size limit set
/// to 0 (the child's core is the one worth having; a `core_pattern` that pipes to a program
/// may still take one). Where the signal does not end memsafe after all, it leaves with
/// 128 + the signal, as a shell reports it.
pub(crate) fn leave_as(status: ChildStatus) -> ExitCode {
    #[cfg(unix)]
    if let (None, Some(signal)) = (status.code, status.signal)
        && (1..=64).contains(&signal)
    {
        // SAFETY: plain libc calls on values built here; `raise` ends the process (or returns
        // when the signal cannot end it, and memsafe then exits as below).
        unsafe {
            let mut core: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_CORE, &raw mut core) == 0 {
                core.rlim_cur = 0;
                libc::setrlimit(libc::RLIMIT_CORE, &raw const core);
            }
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const set, std::ptr::null_mut());
            libc::raise(signal);
        }
    }
    exit_with(exit_code_for(status, Platform::current()))
}

/// Leaves with `code`. `ExitCode` carries only a byte portably (`ExitCodeExt::from_raw`, the
/// Windows way to a 32-bit `ExitCode`, is not stable), so on Windows a code that does not fit in
/// a byte leaves through `std::process::exit`, which passes all 32 bits to `ExitProcess`.
/// Nothing is left to drop at that point: the log line is written and its file closed.
pub(crate) fn exit_with(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(byte) => ExitCode::from(byte),
        Err(_) if cfg!(windows) => std::process::exit(code),
        Err(_) => ExitCode::from(1),
    }
}

pub(crate) fn flag_value(args: &[OsString], flag: &str) -> Option<String> {
    flag_values(args, flag).into_iter().next()
}

/// Every value of `flag` in `args`, in order: `flag value` and `flag=value` alike.
pub(crate) fn flag_values(args: &[OsString], flag: &str) -> Vec<String> {
    let prefix = format!("{flag}=");
    let mut values = Vec::new();
    let mut iter = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == flag {
            values.extend(iter.next().map(std::borrow::Cow::into_owned));
        } else if let Some(value) = arg.strip_prefix(&prefix) {
            values.push(value.to_string());
        }
    }
    values
}

/// The value of `-C name=value` (or `-Cname=value`, `--codegen name=value`) in `args`.
pub(crate) fn codegen_option(args: &[OsString], name: &str) -> Option<String> {
    let mut iter = args.iter().map(|a| a.to_string_lossy());
    let prefix = format!("{name}=");
    while let Some(arg) = iter.next() {
        let option = if arg == "-C" || arg == "--codegen" {
            iter.next().map(std::borrow::Cow::into_owned)
        } else {
            arg.strip_prefix("-C")
                .or_else(|| arg.strip_prefix("--codegen="))
                .map(str::to_string)
        };
        if let Some(value) = option.as_deref().and_then(|o| o.strip_prefix(&prefix)) {
            return Some(value.to_string());
        }
    }
    None
}

/// Where rustc's `args` put the compilation in cargo's graph ([`Place`]); `env` reads the
/// environment cargo gave it.
pub(crate) fn place_of(args: &[OsString], env: impl Fn(&str) -> Option<String>) -> Place {
    // The hash cargo puts in a file name: `libserde-0123abcd.rlib`, `serde_derive-0123.dll`.
    let hash = |path: &str| {
        let stem = Path::new(path).file_stem()?.to_str()?;
        let (_, hash) = stem.rsplit_once('-')?;
        (!hash.is_empty()).then(|| hash.to_string())
    };
    let mut deps: Vec<String> = Vec::new();
    // `name=path`; a bare `name` (from the sysroot) is nothing cargo builds.
    for dep in flag_values(args, "--extern")
        .iter()
        .filter_map(|v| hash(v.split_once('=')?.1))
    {
        if !deps.contains(&dep) {
            deps.push(dep);
        }
    }
    let krate = flag_value(args, "--crate-name").unwrap_or_default();
    let script_of = (krate.starts_with("build_script_") || env("OUT_DIR").is_some())
        .then(|| {
            Some(format!(
                "{}@{}",
                env("CARGO_PKG_NAME")?,
                env("CARGO_PKG_VERSION")?
            ))
        })
        .flatten();
    Place {
        unit: codegen_option(args, "extra-filename")
            .map(|suffix| suffix.trim_start_matches('-').to_string())
            .filter(|unit| !unit.is_empty()),
        deps,
        script_of,
        package_dir: env("CARGO_PRIMARY_PACKAGE")
            .and(env("CARGO_MANIFEST_DIR"))
            .map(|dir| {
                crate::project::normalize(Path::new(&dir))
                    .to_string_lossy()
                    .into_owned()
            }),
    }
}

pub(crate) fn kind_of(args: &[OsString], krate: &str) -> String {
    if args.iter().any(|a| a == "--test") {
        return "test".into();
    }
    if krate.starts_with("build_script_") {
        return "build-script".into();
    }
    flag_value(args, "--crate-type").unwrap_or_else(|| "lib".into())
}
