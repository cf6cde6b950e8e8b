//! The governor through the binary: cargo's wrapper call with fake rustc programs (shell
//! scripts), a chained wrapper, the ledger and the history in a temporary folder
//! (`MEMSAFE_GOVERNOR_DIR`), and `memsafe governor status` on a hand-made ledger.

#![cfg(unix)]
// The tests of waiting and of the ledger's pids need Linux's /proc; their helpers are unused
// on the other Unix systems.
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{TestContext, text};

/// What the fake rustc writes, byte for byte: UTF-8 beyond ASCII, an empty line, no final
/// newline.
const STDOUT: &str = "out line 1\nout \u{e9}t\u{e9}\nno newline";
const STDERR: &str = "warning: from the fake rustc\n\nerr end";

/// A fake rustc in `bin/rustc`: writes [`STDOUT`] and [`STDERR`] and exits with `code`.
fn fake_rustc(ctx: &TestContext, code: u8) -> PathBuf {
    ctx.write(
        "bin/rustc",
        &format!("#!/bin/sh\nprintf '%s' '{STDOUT}'\nprintf '%s' '{STDERR}' >&2\nexit {code}\n"),
    );
    executable(&ctx.path("bin/rustc"))
}

fn executable(path: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// memsafe as cargo runs it, with the governor's files in `gov/`.
fn wrapper(ctx: &TestContext, rustc: &Path, args: &[&str]) -> Command {
    let mut command = ctx.memsafe(".");
    command
        .arg(rustc)
        .args(args)
        .env("MEMSAFE_GOVERNOR_DIR", ctx.path("gov"))
        .env_remove("MEMSAFE_GOVERNOR_BUDGET")
        .env_remove("MEMSAFE_RUSTC_WRAPPER")
        .env_remove("MEMSAFE_GOVERNOR_INSIDE")
        .env_remove("MEMSAFE_CALIBRATE_LOG");
    command
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// The ledger, read under its lock, as every wrapper reads it (they rewrite it in place).
fn ledger(ctx: &TestContext) -> serde_json::Value {
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(ctx.path("gov/ledger.lock"))
        .unwrap();
    lock.lock().unwrap();
    serde_json::from_str(&ctx.read("gov/ledger.json")).unwrap()
}

fn history(ctx: &TestContext) -> Vec<serde_json::Value> {
    ctx.read("gov/governor-history.jsonl")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A process's start time as the wrapper records it (Linux: field 22 of `/proc/<pid>/stat`);
/// `None` for a process that is gone, and on other systems.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// A ledger entry as the wrapper writes it.
fn entry(pid: u32, krate: &str, state: &str, reserved: u64) -> serde_json::Value {
    serde_json::json!({
        "pid": pid, "start_time": start_time(pid), "crate": krate, "kind": "lib",
        "reserved_bytes": reserved, "state": state, "since_ms": now_ms() - 12_000,
        "current_bytes": 0, "seen_ms": now_ms(),
    })
}

fn write_ledger(ctx: &TestContext, entries: &[serde_json::Value]) {
    std::fs::create_dir_all(ctx.path("gov")).unwrap();
    let ledger = serde_json::json!({ "version": 1, "last_notice_ms": 0, "entries": entries });
    ctx.write("gov/ledger.json", &ledger.to_string());
}

/// The pid of a process that has ended (and been reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn sleeper() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

/// `command`'s output, or `None` when it has not ended within `limit`: then it and every
/// process it started (its process group) are killed.
fn output_within(command: &mut Command, limit: Duration) -> Option<std::process::Output> {
    use std::os::unix::process::CommandExt;
    let child = command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let group = libc::pid_t::try_from(child.id()).unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match receiver.recv_timeout(limit) {
        Ok(output) => Some(output.unwrap()),
        Err(_) => {
            // SAFETY: signals the process group this test started.
            unsafe { libc::kill(-group, libc::SIGKILL) };
            None
        }
    }
}

#[test]
fn a_chain_to_memsafe_itself_is_not_followed() {
    let ctx = TestContext::new();
    std::fs::create_dir_all(ctx.path("bin")).unwrap();
    let rustc = fake_rustc(&ctx, 3);
    // memsafe by its path, and by a link of another name found on PATH: each memsafe would
    // start the next one without end.
    let link = ctx.path("bin/ms");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_memsafe"), &link).unwrap();
    for chain in [env!("CARGO_BIN_EXE_memsafe"), "ms"] {
        for args in [
            &["--crate-name", "foo", "--crate-type", "lib", "src/lib.rs"][..],
            &["-vV"][..],
        ] {
            let mut command = wrapper(&ctx, &rustc, args);
            command
                .env("MEMSAFE_RUSTC_WRAPPER", chain)
                .env("PATH", ctx.path("bin"));
            let output = output_within(&mut command, Duration::from_secs(60))
                .unwrap_or_else(|| panic!("{chain} {args:?}: memsafe started memsafe without end"));
            assert_eq!(
                output.status.code(),
                Some(3),
                "{chain} {args:?}: {}",
                text(&output.stderr)
            );
            assert_eq!(output.stdout, STDOUT.as_bytes());
        }
    }
}

#[test]
fn a_rustc_killed_by_a_signal_ends_the_governed_wrapper_by_the_same_signal() {
    let ctx = TestContext::new();
    std::fs::create_dir_all(ctx.path("bin")).unwrap();
    // As the OOM killer ends a rustc: SIGKILL, after some output.
    ctx.write(
        "bin/rustc",
        &format!("#!/bin/sh\nprintf '%s' '{STDOUT}'\nprintf '%s' '{STDERR}' >&2\nkill -KILL $$\n"),
    );
    let compile = |rustc: &Path, krate: &str| {
        wrapper(
            &ctx,
            rustc,
            &["--crate-name", krate, "--crate-type", "lib", "src/lib.rs"],
        )
        .output()
        .unwrap()
    };
    let output = compile(&executable(&ctx.path("bin/rustc")), "foo");
    // cargo then reports `signal: 9, SIGKILL`, as without memsafe, not an exit status of 137.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&output.status),
        Some(9),
        "{:?}: {}",
        output.status,
        text(&output.stderr)
    );
    assert_eq!(output.stdout, STDOUT.as_bytes());
    assert_eq!(output.stderr, STDERR.as_bytes());
    // The history learns what the killed compilation had reached, marked killed; a
    // compilation that failed otherwise (exit 3) teaches nothing.
    let history = ctx.read("gov/governor-history.jsonl");
    let records: Vec<serde_json::Value> = history
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{history}");
    assert_eq!(records[0]["crate"], "foo");
    assert_eq!(records[0]["killed"], true);
    assert!(records[0]["peak_bytes"].as_u64().unwrap() > 0, "{history}");
    let output = compile(&fake_rustc(&ctx, 3), "bar");
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(ctx.read("gov/governor-history.jsonl"), history);
}

#[test]
fn a_chained_wrapper_gets_every_argument_and_the_output_and_code_pass_through() {
    let ctx = TestContext::new();
    let rustc = fake_rustc(&ctx, 3);
    // The chained wrapper writes its arguments, NUL-separated, then runs them.
    ctx.write(
        "bin/chain",
        &format!(
            "#!/bin/sh\nprintf '%s\\0' \"$@\" >> '{}'\nexec \"$@\"\n",
            ctx.path("chain-args").display()
        ),
    );
    let chain = executable(&ctx.path("bin/chain"));
    let args = [
        "--crate-name",
        "foo",
        "--edition=2021",
        "src/lib.rs",
        "--crate-type",
        "lib",
        "a b",
        "",
        "-C",
        "metadata=abc123",
        "--cfg",
        "feature=\"x\"",
    ];
    let output = wrapper(&ctx, &rustc, &args)
        .env("MEMSAFE_RUSTC_WRAPPER", &chain)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_eq!(output.stdout, STDOUT.as_bytes());
    assert_eq!(output.stderr, STDERR.as_bytes());
    let mut expected: Vec<String> = vec![rustc.display().to_string()];
    expected.extend(args.iter().map(|a| (*a).to_string()));
    let recorded = std::fs::read(ctx.path("chain-args")).unwrap();
    let recorded: Vec<String> = text(&recorded).split_terminator('\0').map(String::from).collect();
    assert_eq!(recorded, expected);
    // Governed: it went through the ledger, and left it. A failed compilation is not history.
    assert_eq!(ledger(&ctx)["entries"], serde_json::json!([]));
    assert!(!ctx.exists("gov/governor-history.jsonl"));

    // cargo's probes go through the chain too, ungoverned: no ledger is touched.
    std::fs::remove_dir_all(ctx.path("gov")).unwrap();
    std::fs::remove_file(ctx.path("chain-args")).unwrap();
    for probe in [
        &["-vV"][..],
        &[
            "-",
            "--crate-name",
            "___",
            "--print=file-names",
            "--crate-type",
            "bin",
        ],
    ] {
        let output = wrapper(&ctx, &rustc, probe)
            .env("MEMSAFE_RUSTC_WRAPPER", &chain)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(output.stdout, STDOUT.as_bytes());
        assert_eq!(output.stderr, STDERR.as_bytes());
    }
    assert!(!ctx.exists("gov"));
    assert!(
        text(&std::fs::read(ctx.path("chain-args")).unwrap()).contains("-vV\0"),
        "the probe went through the chained wrapper"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_governed_compilation_is_recorded_and_leaves_the_ledger_empty() {
    let ctx = TestContext::new();
    let rustc = fake_rustc(&ctx, 0);
    let args = [
        "--crate-name",
        "foo",
        "--crate-type",
        "lib",
        "-C",
        "metadata=0f0f",
    ];
    let output = wrapper(&ctx, &rustc, &args).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(output.stdout, STDOUT.as_bytes());
    assert_eq!(output.stderr, STDERR.as_bytes());
    assert_eq!(ledger(&ctx)["entries"], serde_json::json!([]));
    let records = history(&ctx);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["crate"], "foo");
    assert_eq!(record["kind"], "lib");
    assert_eq!(record["metadata"], "0f0f");
    assert_eq!(record["rustc"], rustc.display().to_string());
    assert!(record["peak_bytes"].as_u64().unwrap() > 0, "{record}");
    // The ledger's folder is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ctx.path("gov")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// Closing an inotify descriptor waits for the kernel's grace period (milliseconds, at the end
/// of every compilation): a compilation admitted at its first check listens for no doorbell.
/// The fake rustc lists its parent's (the wrapper's) open descriptors while it runs.
#[cfg(target_os = "linux")]
#[test]
fn a_compilation_admitted_at_once_opens_no_inotify_descriptor() {
    let ctx = TestContext::new();
    ctx.write(
        "bin/rustc",
        "#!/bin/sh
for fd in /proc/$PPID/fd/*; do readlink \"$fd\"; done\n",
    );
    let rustc = executable(&ctx.path("bin/rustc"));
    let output = wrapper(&ctx, &rustc, &["--crate-name", "foo", "--crate-type", "lib"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let fds = text(&output.stdout);
    // The listing worked (the wrapper's standard streams are there), and holds no inotify.
    assert!(fds.lines().count() >= 3, "{fds}");
    assert!(!fds.contains("inotify"), "{fds}");
}

#[test]
fn a_corrupt_ledger_is_moved_aside_with_one_warning_and_the_build_goes_on() {
    let ctx = TestContext::new();
    let rustc = fake_rustc(&ctx, 0);
    std::fs::create_dir_all(ctx.path("gov")).unwrap();
    ctx.write("gov/ledger.json", "{\"entries\": [");
    let output = wrapper(&ctx, &rustc, &["--crate-name", "foo"]).output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(output.stdout, STDOUT.as_bytes());
    let (warning, rest) = stderr.split_once('\n').unwrap();
    assert!(
        warning.starts_with("memsafe: the governor's ledger ")
            && warning.contains("was corrupt")
            && warning.contains("ledger.json.corrupt"),
        "{stderr}"
    );
    assert_eq!(rest, STDERR);
    // What it was is kept for inspection; the ledger is whole again and the compilation was
    // governed (it is in the history).
    assert_eq!(ctx.read("gov/ledger.json.corrupt"), "{\"entries\": [");
    assert!(serde_json::from_str::<serde_json::Value>(&ctx.read("gov/ledger.json")).is_ok());
    assert_eq!(history(&ctx).len(), 1);
    // The next compilation says nothing.
    let again = wrapper(&ctx, &rustc, &["--crate-name", "foo"]).output().unwrap();
    assert_eq!(text(&again.stderr), STDERR);
}

#[cfg(target_os = "linux")]
#[test]
fn a_compilation_that_does_not_fit_waits_until_the_running_one_ends() {
    let ctx = TestContext::new();
    let rustc = fake_rustc(&ctx, 0);
    let mut blocker = sleeper();
    write_ledger(&ctx, &[entry(blocker.id(), "big", "running", 10 << 30)]);
    // A budget of 1 MiB: the running entry alone is over it, so a new crate (predicted from
    // the default estimate) cannot start beside it.
    let mut waiter = wrapper(&ctx, &rustc, &["--crate-name", "foo", "--crate-type", "lib"])
        .env("MEMSAFE_GOVERNOR_BUDGET", "1MiB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Poll the ledger until the wrapper's entry says it waits (bounded: a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    let waiting = loop {
        let now = ledger(&ctx);
        let found = now["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["crate"] == "foo")
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "the wrapper never appeared: {now}");
        std::thread::yield_now();
    };
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(waiting["pid"], waiter.id());
    assert_eq!(waiting["reserved_bytes"], 1u64 << 30, "the default estimate");
    // It is still waiting: the fake rustc has not run.
    assert!(waiter.try_wait().unwrap().is_none());
    blocker.kill().unwrap();
    blocker.wait().unwrap();
    // The dead entry is pruned; alone, the wrapper is admitted whatever the budget.
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(output.stdout, STDOUT.as_bytes());
    assert!(text(&output.stderr).ends_with(STDERR), "{}", text(&output.stderr));
    assert_eq!(ledger(&ctx)["entries"], serde_json::json!([]));
    assert_eq!(history(&ctx)[0]["crate"], "foo");
}

/// A program that allocates `MiB` MiB and touches every page (with `wipe` after them, then
/// empties the ledger), then reads the ledger (its parent is the wrapper) until the wrapper's
/// entry reserves at least 40 MiB: it prints the reservation and exits 0, or exits 3 after
/// 60 s.
#[cfg(target_os = "linux")]
const GROW: &str = r#"
use std::time::{Duration, Instant};
fn main() {
    let mib: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let ledger = std::env::args().nth(2).unwrap();
    let mut block = vec![1u8; mib << 20];
    std::hint::black_box(&mut block);
    if std::env::args().nth(3).as_deref() == Some("wipe") {
        // The ledger starts afresh (found corrupt, or replaced), under its lock.
        let lock = std::fs::File::options().create(true).truncate(false).write(true)
            .open(std::path::Path::new(&ledger).with_file_name("ledger.lock")).unwrap();
        lock.lock().unwrap();
        std::fs::write(&ledger, "").unwrap();
        lock.unlock().unwrap();
    }
    let me = format!("\"pid\": {},", std::os::unix::process::parent_id());
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&ledger).unwrap_or_default();
        let reserved = text.split_once(&me).and_then(|(_, entry)| {
            let (_, after) = entry.split_once("\"reserved_bytes\": ")?;
            after.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok()
        });
        if let Some(bytes) = reserved.filter(|b| *b >= 40 << 20) {
            println!("reserved {} MiB", bytes >> 20);
            std::hint::black_box(&block);
            std::process::exit(0);
        }
        std::thread::yield_now();
    }
    std::process::exit(3);
}
"#;

/// A program that takes the ledger's lock (`lock`, its second argument) and holds it while it
/// works for 1.2 s, then allocates `MiB` MiB, touches every page for 0.3 s, frees them, and
/// lets the lock go: the wrapper's attempt to refresh its entry (after 1 s) finds the lock
/// taken while the memory is there.
#[cfg(target_os = "linux")]
const LOCKED: &str = r#"
use std::time::{Duration, Instant};
fn busy(time: Duration, mut work: impl FnMut()) {
    let start = Instant::now();
    while start.elapsed() < time {
        work();
    }
}
fn main() {
    let mib: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let lock = std::fs::File::options().create(true).truncate(false).write(true)
        .open(std::env::args().nth(2).unwrap()).unwrap();
    lock.lock().unwrap();
    busy(Duration::from_millis(1200), || std::hint::black_box(()));
    let mut block = vec![0u8; mib << 20];
    busy(Duration::from_millis(300), || {
        for page in block.chunks_mut(4096) {
            page[0] = page[0].wrapping_add(1);
        }
        std::hint::black_box(&mut block);
    });
    drop(block);
    lock.unlock().unwrap();
    println!("done");
}
"#;

/// Runs `program` with `args` as the rustc of crate `krate` under the governor, with a history
/// that predicts 11 MiB for it (a peak of 10 MiB recorded) and a budget of 64 GiB.
#[cfg(target_os = "linux")]
fn governed_program(ctx: &TestContext, krate: &str, program: &Path, args: &[&Path]) -> std::process::Output {
    let record = serde_json::json!({
        "crate": krate, "kind": "lib", "metadata": "1", "rustc": ctx.path("bin/rustc"),
        "peak_bytes": 10u64 << 20, "duration_ms": 100, "at_ms": now_ms(),
    });
    ctx.write("gov/governor-history.jsonl", &format!("{record}\n"));
    let quoted: Vec<String> = std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.display()))
        .collect();
    ctx.write("bin/rustc", &format!("#!/bin/sh\nexec {}\n", quoted.join(" ")));
    let rustc = executable(&ctx.path("bin/rustc"));
    wrapper(
        ctx,
        &rustc,
        &["--crate-name", krate, "--crate-type", "lib", "-C", "metadata=1"],
    )
    .env("MEMSAFE_GOVERNOR_BUDGET", "64GiB")
    .output()
    .unwrap()
}

/// [`GROW`] at 64 MiB under the governor, with `more` arguments; it must have seen its
/// entry's reservation raised (exit 0).
#[cfg(target_os = "linux")]
fn run_grow(ctx: &TestContext, more: &[&Path]) -> std::process::Output {
    let grow = ctx.compile_program("grow", GROW);
    let ledger = ctx.path("gov/ledger.json");
    let args: Vec<&Path> = [Path::new("64"), ledger.as_path()]
        .into_iter()
        .chain(more.iter().copied())
        .collect();
    let output = governed_program(ctx, "grow", &grow, &args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    output
}

/// A compilation that grows past its reservation has it raised while it runs, so that the
/// next admission sees it: the prediction here is 11 MiB, the program touches 64 MiB and
/// waits to see its wrapper's entry say so.
#[cfg(target_os = "linux")]
#[test]
fn a_compilation_growing_past_its_reservation_has_it_raised_while_it_runs() {
    let ctx = TestContext::new();
    let output = run_grow(&ctx, &[]);
    let shown = text(&output.stdout);
    let mib: u64 = shown
        .trim()
        .strip_prefix("reserved ")
        .and_then(|s| s.strip_suffix(" MiB"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{shown}"));
    assert!((40..=100).contains(&mib), "{shown}");
    // The history learns the peak.
    let records = history(&ctx);
    assert!(
        records[1]["peak_bytes"].as_u64().unwrap() >= 60 << 20,
        "{records:?}"
    );
}

/// A running compilation whose entry is gone from the ledger (a ledger found corrupt or
/// replaced starts empty) puts it back at its next report, so that admission counts it again.
#[cfg(target_os = "linux")]
#[test]
fn a_running_compilation_puts_its_lost_entry_back() {
    let ctx = TestContext::new();
    let output = run_grow(&ctx, &[Path::new("wipe")]);
    assert!(
        text(&output.stdout).starts_with("reserved "),
        "{}",
        text(&output.stdout)
    );
}

/// The reports to the ledger never hold the samples up: with the ledger's lock taken (by
/// another wrapper, or a build stopped with Ctrl-Z) when the wrapper wants to write, the
/// sampler still sees the memory the compilation takes meanwhile.
#[cfg(target_os = "linux")]
#[test]
fn a_taken_ledger_lock_does_not_stop_the_samples() {
    let ctx = TestContext::new();
    let locked = ctx.compile_program("locked", LOCKED);
    std::fs::create_dir_all(ctx.path("gov")).unwrap();
    let output = governed_program(
        &ctx,
        "locked",
        &locked,
        &[Path::new("64"), &ctx.path("gov/ledger.lock")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), "done\n");
    let records = history(&ctx);
    let peak = records[1]["peak_bytes"].as_u64().unwrap();
    assert!(peak >= 60 << 20, "recorded {} MiB of 64", peak >> 20);
}

#[cfg(target_os = "linux")]
#[test]
fn status_shows_the_live_entries_and_prunes_the_dead() {
    let ctx = TestContext::new();
    let mut waiter = sleeper();
    let dead = dead_pid();
    write_ledger(
        &ctx,
        &[
            entry(std::process::id(), "hir_ty", "running", 3 << 29),
            entry(dead, "gone", "running", 1 << 30),
            entry(waiter.id(), "syn", "waiting", 1 << 30),
        ],
    );
    let status = |json: bool| {
        let mut command = ctx.memsafe(".");
        command
            .args(["governor", "status"])
            .env("MEMSAFE_GOVERNOR_DIR", ctx.path("gov"))
            .env("MEMSAFE_GOVERNOR_BUDGET", "2GiB");
        if json {
            command.arg("--json");
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    let words = status(false);
    assert!(
        words.starts_with("budget     2 GiB (MEMSAFE_GOVERNOR_BUDGET=2GiB)\n"),
        "{words}"
    );
    assert!(
        words.contains("running    1\n  hir_ty (lib): reserved 1.5 GiB, for ")
            && words.contains(&format!(" s (pid {})\nwaiting", std::process::id())),
        "{words}"
    );
    assert!(
        words.contains("waiting    1\n  syn (lib): needs 1 GiB, waited ")
            && words.contains(&format!(
                " s, for memory: the running reservations fill the budget (pid {})\nhistory",
                waiter.id()
            )),
        "{words}"
    );
    assert!(!words.contains("gone"), "{words}");
    assert!(
        words.contains("governor-history.jsonl (0 compilations"),
        "{words}"
    );

    let json: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(json["budget_bytes"], 2u64 << 30);
    assert_eq!(json["running"].as_array().unwrap().len(), 1);
    assert_eq!(json["running"][0]["crate"], "hir_ty");
    assert_eq!(json["running"][0]["reserved_bytes"], 3u64 << 29);
    assert_eq!(json["waiting"][0]["crate"], "syn");
    assert_eq!(json["waiting"][0]["needs_bytes"], 1u64 << 30);
    assert_eq!(
        json["waiting"][0]["why"],
        "for memory: the running reservations fill the budget"
    );
    assert!(json["available_source"].as_str().is_some());
    assert_eq!(json["history"]["records"], 0);
    // The dead entry is gone from the file too.
    assert_eq!(ledger(&ctx)["entries"].as_array().unwrap().len(), 2);
    waiter.kill().unwrap();
    waiter.wait().unwrap();
}

#[test]
fn status_help_names_the_environment() {
    let ctx = TestContext::new();
    let output = ctx
        .memsafe(".")
        .args(["governor", "status", "--help"])
        .output()
        .unwrap();
    let help = text(&output.stdout);
    for name in [
        "MEMSAFE_GOVERNOR_BUDGET",
        "MEMSAFE_GOVERNOR_DIR",
        "MEMSAFE_RUSTC_WRAPPER",
        "--json",
    ] {
        assert!(help.contains(name), "{name}: {help}");
    }
}
