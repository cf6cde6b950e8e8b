//! Shared helpers: fixtures, fixed hardware, a temporary project, the binary, snapshots.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use memsafe::hardware::{Hardware, MemorySource, Os};
use memsafe::plan::{Answers, Plan, Preset};

pub(crate) const GIB: u64 = 1 << 30;

/// The folder of the copied real-world fixtures.
pub(crate) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every file of one fixture folder, sorted, as (file name, text).
pub(crate) fn fixtures(folder: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(fixtures_dir().join(folder))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Fixed hardware, never the host's.
pub(crate) fn hardware(gib: f64, cpus: u32, os: Os) -> Hardware {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "small test sizes"
    )]
    let memory_bytes = (gib * GIB as f64) as u64;
    Hardware {
        memory_bytes,
        memory_source: MemorySource::Flag,
        logical_cpus: cpus,
        physical_cpus: cpus,
        os,
        wsl: false,
        notes: vec![],
    }
}

pub(crate) fn plan(gib: f64, cpus: u32, preset: Preset) -> Plan {
    Plan::compute(
        &hardware(gib, cpus, Os::Linux),
        &Answers {
            preset,
            ..Answers::default()
        },
    )
}

/// Runs `f` with insta writing to the top-level `snapshots/` folder.
pub(crate) fn snapshots<R>(f: impl FnOnce() -> R) -> R {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(f)
}

/// A temporary folder to run memsafe and cargo in.
pub(crate) struct TestContext {
    pub dir: tempfile::TempDir,
}

impl TestContext {
    pub(crate) fn new() -> TestContext {
        TestContext {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub(crate) fn write(&self, relative: &str, text: &str) -> &TestContext {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    pub(crate) fn exists(&self, relative: &str) -> bool {
        self.path(relative).exists()
    }

    /// A package as `cargo new --lib` makes it (offline, no git).
    pub(crate) fn cargo_new(&self, relative: &str) -> &TestContext {
        succeeds(
            Command::new("cargo")
                .args(["new", "--lib", "--vcs", "none", "--offline", "--quiet"])
                .arg(self.path(relative)),
        );
        self
    }

    /// Compiles the one-file Rust program `source` (optimized) to `name` in the test folder,
    /// with the rustc that builds the tests; returns its path.
    #[cfg(target_os = "linux")]
    pub(crate) fn compile_program(&self, name: &str, source: &str) -> PathBuf {
        let file = format!("{name}.rs");
        self.write(&file, source);
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        succeeds(
            Command::new(rustc)
                .args(["-O", "-o", name, &file])
                .current_dir(self.dir.path()),
        );
        self.path(name)
    }

    /// The memsafe binary, run in `relative`, without a terminal.
    pub(crate) fn memsafe(&self, relative: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_memsafe"));
        command
            .current_dir(self.path(relative))
            .env("NO_COLOR", "1")
            // The governor's files of this test alone: the user's history never moves a plan.
            .env("MEMSAFE_GOVERNOR_DIR", self.dir.path().join(".governor"))
            // The project's own target folder, whatever the test run's environment says.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env_remove("CARGO_BUILD_BUILD_DIR")
            .stdin(Stdio::null());
        command
    }

    /// [`TestContext::snapshot_tree`] with paths relative to the test folder, for messages
    /// that read.
    pub(crate) fn files(&self) -> Vec<(String, Vec<u8>)> {
        self.snapshot_tree()
            .into_iter()
            .map(|(p, b)| (p.strip_prefix(self.dir.path()).unwrap().display().to_string(), b))
            .collect()
    }

    /// Every file, folder and link under the test folder (but `target/`), with its bytes.
    pub(crate) fn snapshot_tree(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                let metadata = std::fs::symlink_metadata(&path).unwrap();
                if metadata.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).unwrap();
                    out.push((path, format!("-> {}", target.display()).into_bytes()));
                } else if metadata.is_dir() {
                    // Folders count too: an empty one left behind is a difference.
                    out.push((path.clone(), b"(folder)".to_vec()));
                    stack.push(path);
                } else {
                    let bytes = std::fs::read(&path).unwrap();
                    out.push((path, bytes));
                }
            }
        }
        out.sort();
        out
    }

    /// `cargo` in `relative`, offline.
    pub(crate) fn cargo(&self, relative: &str, args: &[&str]) -> Output {
        Command::new("cargo")
            .args(args)
            .arg("--offline")
            .current_dir(self.path(relative))
            .env("CARGO_TARGET_DIR", self.path("target"))
            .env_remove("RUST_TEST_THREADS")
            .env_remove("CARGO_BUILD_JOBS")
            .output()
            .unwrap()
    }
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The unified diff between two texts, for snapshots.
pub(crate) fn diff(name: &str, before: &str, after: &str) -> String {
    memsafe::change::FileChange {
        path: PathBuf::from(name),
        display: name.to_string(),
        before: Some(before.to_string()),
        after: Some(after.to_string()),
        executable: false,
        is_record: false,
        create_dirs: vec![],
        remove_dirs: vec![],
        keys: vec![],
        meta: None,
    }
    .unified_diff()
}

/// A test folder with a fresh `cargo new` project in `p`.
pub(crate) fn project() -> TestContext {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx
}

/// `args` followed by `more` (the hardware flags a test module plans for, say).
pub(crate) fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend_from_slice(more);
    all
}

/// Runs `command` to its end and fails the test, with its stderr, unless it succeeded.
pub(crate) fn succeeds(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{:?}: {}",
        command.get_program(),
        String::from_utf8_lossy(&output.stderr)
    );
}
