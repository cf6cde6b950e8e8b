//! Runs one child process (a rustc, or a wrapper around it) to its end and measures its memory:
//! shared by the calibrate wrapper ([`crate::calibrate::wrap`]) and the governor
//! ([`crate::governor`]).
//!
//! - Linux: `wait4`'s `ru_maxrss` (KiB) and the anonymous peak of the child's process tree,
//!   sampled from `/proc` ([`crate::procmem`]); the latest sample is also published live.
//! - macOS: `ru_maxrss` (bytes) and the physical footprint of the child's tree (what macOS
//!   counts against a process: its dirty private memory), sampled with `proc_pid_rusage`
//!   ([`crate::procmem`]), as the anonymous peak; the latest sample is published live.
//! - Other Unix: `ru_maxrss`; nothing live.
//! - Windows: the child runs in a Job Object of its own, which every process it starts joins,
//!   the linker included; the peak is the job's `PeakJobMemoryUsed`, the most memory (commit
//!   charge) all of them had at once ([`crate::windows`]), 0 ("not measured") when no job could
//!   be made. Commit charge is private memory already, so there is no separate anonymous peak.
//!   Live: the job's commit charge now, polled while it runs.
//!
//! The child inherits stdin, stdout and stderr: its output reaches cargo untouched.

use std::process::Command;

use crate::calibrate::ChildStatus;

/// What one measured run gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Measured {
    /// How the child ended.
    pub status: ChildStatus,
    /// `ru_maxrss` in bytes (Windows: the job's peak); 0 when not measured.
    pub peak_bytes: u64,
    /// Linux: the peak of the anonymous (and shared-memory) pages of the child's tree.
    pub anon_peak_bytes: Option<u64>,
    /// Linux: that tree's anonymous memory over the child's time.
    pub anon_profile: Option<crate::procmem::Profile>,
    /// Unix: the CPU time the child and the children it waited for used (user + system, from
    /// `wait4`), so that a simulation can replay the compilation on another number of CPUs.
    pub cpu_ms: Option<u64>,
}

impl Measured {
    /// The run as the calibration's log and the governor's history record it: `key`'s crate
    /// compiled with rustc's `args` (its place in cargo's graph comes from them and from the
    /// environment cargo gave it), run since `started` and just ended with `exit_code`.
    pub(crate) fn invocation(
        self,
        key: &crate::governor::history::Key,
        args: &[std::ffi::OsString],
        started: std::time::Instant,
        exit_code: i32,
    ) -> crate::calibrate::Invocation {
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let start_ms = crate::governor::run::now_ms().saturating_sub(duration_ms);
        crate::calibrate::Invocation {
            krate: key.krate.clone(),
            kind: key.kind.clone(),
            start_ms,
            duration_ms,
            peak_bytes: self.peak_bytes,
            exit_code,
            anon_peak_bytes: self.anon_peak_bytes,
            anon_profile: self
                .anon_profile
                .map(|profile| profile.slices(duration_ms))
                .filter(|slices| !slices.is_empty()),
            place: crate::calibrate::place_of(args, |name| std::env::var(name).ok()),
            cpu_ms: self.cpu_ms,
        }
    }
}

/// What is done with each sample of a running child's memory, in the thread that samples it:
/// it must not wait (for a lock, say), or the samples wait with it and a peak goes unseen.
pub(crate) type OnSample = Box<dyn FnMut(u64) + Send>;

/// Runs `command` to its end. When `on_sample` is given, it gets each sample of the child's
/// memory now while it runs (Linux, macOS and Windows; elsewhere it is never called).
#[cfg(unix)]
pub(crate) fn run(command: &mut Command, on_sample: Option<OnSample>) -> std::io::Result<Measured> {
    let child = command.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
    #[cfg(target_os = "linux")]
    let sampler = crate::procmem::Sampler::start(
        "/proc",
        child.id(),
        crate::procmem::EVERY,
        on_sample.unwrap_or_else(|| Box::new(|_| {})),
    );
    #[cfg(target_os = "macos")]
    let sampler = crate::procmem::Sampler::footprint(
        child.id(),
        crate::procmem::EVERY,
        on_sample.unwrap_or_else(|| Box::new(|_| {})),
    );
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    drop(on_sample);
    // Wait for the end without reaping (WNOWAIT), stop the sampler, then reap: the pid cannot
    // be reused by another process while the sampler still reads it.
    #[cfg(any(target_os = "linux", target_os = "macos"))]
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
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    let (anon_peak, anon_profile) = sampler.finish_with_profile().unzip();
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    let (anon_peak, anon_profile) = (None, None);
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
    let peak_bytes = if cfg!(target_os = "macos") {
        max_rss
    } else {
        max_rss * 1024
    };
    Ok(Measured {
        status,
        peak_bytes,
        anon_peak_bytes: anon_peak,
        anon_profile,
        cpu_ms: Some((micros(&usage.ru_utime) + micros(&usage.ru_stime)) / 1000),
    })
}

/// [`own_cpu_us`] when memsafe's `main` began ([`mark_start`]).
static START_CPU_US: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// Notes the CPU time this process used before memsafe's `main`: starting the program (the
/// `exec`, the dynamic loader), and what the parent left to its child. cargo, with its own
/// pipe jobserver, starts each compilation with a `fork` of its own address space, and the
/// child's `exec` then frees that copy: about 3 ms in a real build (docs/measurements.md,
/// M13), which a rustc that cargo starts directly pays in the same way.
pub(crate) fn mark_start() {
    let _ = START_CPU_US.set(own_cpu_us());
}

/// What [`mark_start`] noted; `None` when it was not called or nothing is measured.
pub(crate) fn start_cpu_us() -> Option<u64> {
    START_CPU_US.get().copied().flatten()
}

/// The CPU time this process has used so far (user and system, every thread), in
/// microseconds; `None` where it is not measured (Windows).
pub(crate) fn own_cpu_us() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut usage) } != 0 {
            return None;
        }
        Some(micros(&usage.ru_utime) + micros(&usage.ru_stime))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
fn micros(time: &libc::timeval) -> u64 {
    let seconds = u64::try_from(time.tv_sec).unwrap_or(0);
    seconds * 1_000_000 + u64::try_from(time.tv_usec).unwrap_or(0)
}

/// How often the job's memory is read for `live` on Windows (a list of processes and one call
/// per process: cheap, but not as cheap as Linux's few small file reads).
#[cfg(windows)]
const WINDOWS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(windows)]
pub(crate) fn run(command: &mut Command, on_sample: Option<OnSample>) -> std::io::Result<Measured> {
    let (mut child, job) = crate::windows::spawn_in_job(command)?;
    let job = job.map(std::sync::Arc::new);
    // A thread reads the job's memory now until the child ends (the channel closes).
    let watcher = match (&job, on_sample) {
        (Some(job), Some(mut on_sample)) => {
            let job = std::sync::Arc::clone(job);
            let (stop, stopped) = std::sync::mpsc::channel::<()>();
            let thread = std::thread::Builder::new()
                .name("memsafe-job-watcher".into())
                .spawn(move || {
                    loop {
                        if let Some(bytes) = job.bytes_in_use() {
                            on_sample(bytes);
                        }
                        match stopped.recv_timeout(WINDOWS_EVERY) {
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                            _ => return,
                        }
                    }
                })
                .ok();
            Some((stop, thread))
        }
        _ => None,
    };
    let status = child.wait();
    if let Some((stop, thread)) = watcher {
        drop(stop);
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
    let status = status?;
    let peak_bytes = job.and_then(|job| job.peak_bytes()).unwrap_or(0);
    Ok(Measured {
        status: status.into(),
        peak_bytes,
        anon_peak_bytes: None,
        anon_profile: None,
        cpu_ms: None,
    })
}

#[cfg(not(any(unix, windows)))]
pub(crate) fn run(command: &mut Command, on_sample: Option<OnSample>) -> std::io::Result<Measured> {
    // No peak measurement here: 0 means "not measured".
    drop(on_sample);
    let status = command.status()?;
    Ok(Measured {
        status: status.into(),
        peak_bytes: 0,
        anon_peak_bytes: None,
        anon_profile: None,
        cpu_ms: None,
    })
}
