//! The wrapper: memsafe as `RUSTC_WRAPPER`, running the real rustc untouched and measuring it.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::*;

/// The environment variable that puts memsafe in wrapper mode and names the log.
pub const LOG_ENV: &str = "MEMSAFE_CALIBRATE_LOG";

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
    let (status, peak_bytes, sampled) = match run_measured(program, rest) {
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
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        let invocation = Invocation {
            kind: kind_of(rest, &krate),
            krate,
            start_ms: u64::try_from(started).unwrap_or(u64::MAX),
            duration_ms,
            peak_bytes,
            exit_code: code,
            anon_peak_bytes: sampled.as_ref().map(|(peak, _)| *peak),
            anon_profile: sampled
                .map(|(_, profile)| profile.slices(duration_ms))
                .filter(|slices| !slices.is_empty()),
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
pub(super) fn exit_with(code: i32) -> ExitCode {
    match u8::try_from(code) {
        Ok(byte) => ExitCode::from(byte),
        Err(_) if cfg!(windows) => std::process::exit(code),
        Err(_) => ExitCode::from(1),
    }
}

pub(super) fn flag_value(args: &[OsString], flag: &str) -> Option<String> {
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

pub(super) fn kind_of(args: &[OsString], krate: &str) -> String {
    if args.iter().any(|a| a == "--test") {
        return "test".into();
    }
    if krate.starts_with("build_script_") {
        return "build-script".into();
    }
    flag_value(args, "--crate-type").unwrap_or_else(|| "lib".into())
}

/// What one wrapped run measured: how it ended, `ru_maxrss` (or the Windows job's peak), and
/// the anonymous peak and its profile over time where they are measured (Linux).
type Measured = (ChildStatus, u64, Option<(u64, crate::procmem::Profile)>);

#[cfg(unix)]
pub(super) fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
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
    let anon_peak = sampler.finish_with_profile();
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
pub(super) fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
    let (mut child, job) = crate::windows::spawn_in_job(Command::new(program).args(args))?;
    let status = child.wait()?;
    let peak = job.and_then(|job| job.peak_bytes()).unwrap_or(0);
    Ok((status.into(), peak, None))
}

#[cfg(not(any(unix, windows)))]
pub(super) fn run_measured(program: &OsString, args: &[OsString]) -> std::io::Result<Measured> {
    // No peak measurement here: 0 means "not measured", and the plan keeps its estimate.
    let status = Command::new(program).args(args).status()?;
    Ok((status.into(), 0, None))
}
