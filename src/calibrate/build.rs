//! The calibration build: cargo with memsafe as the wrapper, the toolchain the project uses,
//! the progress shown, the calibration folder.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::*;

/// Today, UTC, as days since 1970-01-01.
pub fn today() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(seconds / 86_400).unwrap_or(0)
}

/// The toolchain part of the environment memsafe started in: `RUSTUP_TOOLCHAIN`, and
/// `RUSTUP_TOOLCHAIN_SOURCE`, which rustup (1.28 and later) sets next to it for the programs
/// its proxies start (`cargo memsafe`, `cargo run -- ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolchainEnv {
    pub toolchain: Option<String>,
    pub source: Option<String>,
}

impl ToolchainEnv {
    pub fn from_env() -> ToolchainEnv {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        ToolchainEnv {
            toolchain: var("RUSTUP_TOOLCHAIN"),
            source: var("RUSTUP_TOOLCHAIN_SOURCE"),
        }
    }

    /// Whether the inherited `RUSTUP_TOOLCHAIN` is the user's choice: set by hand (`env`, or no
    /// source: set without a rustup proxy, or by an older rustup that did not say) or by
    /// `cargo +toolchain` (`cli`). Otherwise rustup picked it for the folder memsafe was started
    /// in (a toolchain file there, an override, the default), which need not be the project's:
    /// it is dropped, and rustup picks again in the project's folder, as a `cargo build` there
    /// would.
    pub fn chosen(&self) -> bool {
        self.toolchain.is_some() && matches!(self.source.as_deref(), None | Some("env" | "cli"))
    }

    /// Prepares `command` (cargo or rustc) to run with the toolchain the project uses.
    pub fn apply(&self, command: &mut Command) {
        if self.toolchain.is_some() && !self.chosen() {
            command
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("RUSTUP_TOOLCHAIN_SOURCE");
        }
    }

    /// The cargo to run: `$CARGO` (the cargo that started memsafe) when its toolchain is the
    /// chosen one, else rustup's `cargo`, which picks the project's.
    pub fn cargo(&self) -> OsString {
        match std::env::var_os("CARGO") {
            Some(cargo) if self.toolchain.is_none() || self.chosen() => cargo,
            _ => "cargo".into(),
        }
    }

    /// Where the toolchain of a build in `dir` comes from, in words.
    pub fn words(&self, dir: &Path) -> String {
        if let (true, Some(toolchain)) = (self.chosen(), &self.toolchain) {
            return format!("RUSTUP_TOOLCHAIN={toolchain}");
        }
        match toolchain_file(dir) {
            Some(file) => format!("the toolchain pinned in `{}`", file.display()),
            None => "no rust-toolchain.toml pins one: rustup's default".into(),
        }
    }
}

/// The `rust-toolchain.toml` or `rust-toolchain` file in `dir` or the nearest folder above,
/// the file rustup reads there.
pub fn toolchain_file(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .flat_map(|folder| [folder.join("rust-toolchain"), folder.join("rust-toolchain.toml")])
        .find(|file| file.is_file())
}

/// `rustc --version` as cargo would run it in `dir` (`$RUSTC`, else `rustc`, with the
/// project's toolchain: see [`ToolchainEnv::apply`]).
pub fn rustc_version(dir: &Path, env: &ToolchainEnv) -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(rustc);
    command.arg("--version").current_dir(dir);
    env.apply(&mut command);
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// What the calibration build reports while it runs.
pub trait Progress: Send + Sync {
    /// A unit (crate) was built.
    fn unit(&self, name: &str);
    /// A line cargo or rustc wrote for the user (warnings, errors, cargo's status).
    fn line(&self, line: &str);
    /// `--quiet` was given: cargo is asked to be quiet too.
    fn quiet(&self) -> bool;
}

/// The calibration build: `cargo test --no-run` (profile `test`) or `cargo build` (`dev`),
/// with `jobs` jobs, in `target_dir`, memsafe as the wrapper. cargo's stderr goes through
/// `progress`, line by line, so that a progress bar and cargo's output do not write over each
/// other; `color` keeps cargo's colours although its stderr is then a pipe. Returns the wall
/// time in seconds, and (Linux) cargo's own anonymous peak, which every estimate includes.
#[expect(clippy::too_many_arguments, reason = "one build, described in full")]
pub fn build(
    root: &Path,
    target_dir: &Path,
    log: &Path,
    profile: &str,
    jobs: u32,
    extra: &[String],
    color: bool,
    progress: &dyn Progress,
) -> Result<(u64, Option<u64>)> {
    let exe = std::env::current_exe().context("cannot find memsafe's own binary for RUSTC_WRAPPER")?;
    let toolchain = ToolchainEnv::from_env();
    let mut command = Command::new(toolchain.cargo());
    toolchain.apply(&mut command);
    if profile == "test" {
        command.args(["test", "--no-run"]);
    } else {
        command.arg("build");
    }
    if progress.quiet() {
        command.arg("--quiet");
    }
    command
        .args([
            "--message-format=json-render-diagnostics",
            "--jobs",
            &jobs.to_string(),
        ])
        .args(["--color", if color { "always" } else { "never" }])
        .args(extra)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTC_WRAPPER", &exe)
        .env(LOG_ENV, log)
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let clock = Instant::now();
    let mut child = command.spawn().context("cannot run cargo")?;
    #[cfg(target_os = "linux")]
    let cargo_sampler = crate::procmem::Sampler::start_process("/proc", child.id(), crate::procmem::EVERY);
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                progress.line(&line);
            }
        });
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(message) = serde_json::from_str::<serde_json::Value>(&line)
                && message["reason"] == "compiler-artifact"
            {
                progress.unit(message["target"]["name"].as_str().unwrap_or("?"));
            }
        }
    });
    // cargo has closed its output, so it is ending: the sampler stops before cargo is reaped,
    // so that it never reads another process under a reused pid.
    #[cfg(target_os = "linux")]
    let cargo_peak = cargo_sampler.finish();
    let status = child.wait().context("cargo did not finish")?;
    #[cfg(not(target_os = "linux"))]
    let cargo_peak = None;
    if !status.success() {
        bail!("the calibration build failed ({status}); nothing was recorded");
    }
    Ok((clock.elapsed().as_secs(), cargo_peak))
}

/// The packages a `Cargo.lock` lists (`[[package]]` tables): an estimate of how many crates a
/// build compiles, known before it starts. cargo's exact build plan (`--unit-graph`) needs
/// nightly. The estimate is rough both ways: the lock file lists packages for other platforms
/// too, and one package can build several units (a library, its tests, a build script).
pub fn lock_packages(lock: &str) -> u64 {
    lock.lines().filter(|line| line.trim() == "[[package]]").count() as u64
}

/// How the progress of a build is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressShape {
    /// A bar of `len` crates (an estimate): the count is still below it.
    Bar { len: u64 },
    /// A spinner and the count: no estimate, or the count has reached it.
    Count,
}

/// The shape of the progress after `built` crates, when about `estimate` are expected: a bar
/// only while the count is below the estimate, so that a bar is never full before the build
/// ends; beyond the estimate, a spinner with the count (never a total that grows with it).
pub fn progress_shape(estimate: Option<u64>, built: u64) -> ProgressShape {
    match estimate {
        Some(len) if built < len => ProgressShape::Bar { len },
        _ => ProgressShape::Count,
    }
}

/// The bytes of the files under `dir` (0 when it does not exist; unreadable entries count 0).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => dir_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Where calibration builds and logs.
pub fn target_dir(root: &Path) -> PathBuf {
    root.join("target").join("memsafe-calibrate")
}
