//! Turning the governor on and off through `init`, `regen`, `plan`, `check` and `remove`: its
//! keys in `.cargo/config.toml` under the ownership model, chaining to a wrapper the repo
//! already had, team mode's refusal, the warnings, and a real cargo build through it.

use std::process::Command;

use crate::common::{TestContext, project, text};

/// 4 GiB and 8 CPUs: the memory alone allows 1 job, the governor plans 8.
const HW: [&str; 6] = ["--ram", "4GiB", "--cpus", "8", "--os", "linux"];

/// memsafe in `p`, without a wrapper from the test's own environment.
fn memsafe(ctx: &TestContext, args: &[&str]) -> Command {
    let mut command = ctx.memsafe("p");
    command
        .args(args)
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER");
    command
}

/// (exit code, stdout, stderr).
fn run(ctx: &TestContext, args: &[&str]) -> (i32, String, String) {
    let output = memsafe(ctx, args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn ok(ctx: &TestContext, args: &[&str]) -> String {
    let (code, stdout, stderr) = run(ctx, args);
    assert_eq!(code, 0, "memsafe {args:?}: {stdout}{stderr}");
    format!("{stdout}{stderr}")
}

fn with_hw<'a>(args: &[&'a str]) -> Vec<&'a str> {
    crate::common::with(args, &HW)
}

/// The program memsafe writes for itself in the tests: the test binary is not on PATH, so its
/// absolute path.
fn program() -> String {
    env!("CARGO_BIN_EXE_memsafe").to_string()
}

#[test]
fn on_writes_the_wrapper_and_a_job_per_cpu_then_nothing_then_remove_gives_everything_back() {
    let ctx = project();
    let start = ctx.files();
    ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
    let config = ctx.read("p/.cargo/config.toml");
    assert!(
        config.contains(&format!("rustc-wrapper = \"{}\"\n", program())),
        "{config}"
    );
    assert!(config.contains("jobs = 8\n"), "{config}");
    assert!(!config.contains("MEMSAFE_RUSTC_WRAPPER"), "{config}");
    // rust-analyzer's check keeps the job count the memory allows.
    let settings = ctx.read("p/.vscode/settings.json");
    assert!(settings.contains("[\"--jobs\", \"1\"]"), "{settings}");
    let record = ctx.read("p/memsafe.toml");
    assert!(record.contains("governor = true"), "{record}");

    let configured = ctx.files();
    let again = ok(&ctx, &with_hw(&["init", "--yes"]));
    assert!(again.contains("Unchanged"), "{again}");
    assert_eq!(ctx.files(), configured, "a second run changed something");
    let (code, stdout, stderr) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let plan = ok(&ctx, &with_hw(&["plan"]));
    assert!(plan.contains("governor: on"), "{plan}");
    assert!(
        plan.contains("the governor is on: cargo may start one rustc per logical CPU (8)"),
        "{plan}"
    );

    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start, "remove left something behind");
}

#[test]
fn an_existing_wrapper_is_taken_over_chained_and_given_back_byte_for_byte() {
    let ctx = project();
    let original = "# the team's cache\r\n[build]\r\nrustc-wrapper = \"sccache\"  # shared cache\r\n";
    ctx.write("p/.cargo/config.toml", original);
    let start = ctx.files();
    let output = ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
    assert!(
        output.contains(
            "was \"sccache\" (.cargo/config.toml line 3): memsafe runs it after admitting each rustc"
        ),
        "{output}"
    );
    let config = ctx.read("p/.cargo/config.toml");
    assert!(
        config.contains(&format!("rustc-wrapper = \"{}\"  # shared cache\r\n", program())),
        "{config:?}"
    );
    assert!(
        config.contains("MEMSAFE_RUSTC_WRAPPER = \"sccache\"\r\n"),
        "{config:?}"
    );
    let plan = ok(&ctx, &with_hw(&["plan"]));
    assert!(
        plan.contains("memsafe runs sccache after admitting each rustc"),
        "{plan}"
    );

    // Off: the user's line comes back, memsafe's env key goes.
    let output = ok(&ctx, &with_hw(&["regen", "--governor", "off"]));
    assert!(output.contains("-> \"sccache\""), "{output}");
    let config = ctx.read("p/.cargo/config.toml");
    assert!(
        config.contains("\r\nrustc-wrapper = \"sccache\"  # shared cache\r\n"),
        "{config:?}"
    );
    assert!(!config.contains("MEMSAFE_RUSTC_WRAPPER"), "{config:?}");
    assert!(ctx.read("p/memsafe.toml").contains("governor = false"));
    // regen keeps the answer: off stays off.
    let output = ok(&ctx, &with_hw(&["regen"]));
    assert!(output.contains("Unchanged"), "{output}");
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.read("p/.cargo/config.toml"), original);
    assert_eq!(ctx.files(), start, "remove after off left something behind");

    // On again, then straight to remove.
    ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
    assert!(ctx.read("p/.cargo/config.toml").contains("MEMSAFE_RUSTC_WRAPPER"));
    // `init --yes` without the flag keeps the recorded answer.
    ok(&ctx, &with_hw(&["init", "--yes"]));
    assert!(ctx.read("p/.cargo/config.toml").contains("MEMSAFE_RUSTC_WRAPPER"));
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start, "remove after on left something behind");
}

/// A project whose config ran `sccache` as cargo's wrapper, with the governor turned on over it:
/// the project and its config now.
fn governed_over_sccache() -> (TestContext, String) {
    let ctx = project();
    ctx.write(
        "p/.cargo/config.toml",
        "[build]\nrustc-wrapper = \"sccache\"  # shared cache\n",
    );
    ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
    let config = ctx.read("p/.cargo/config.toml");
    (ctx, config)
}

#[test]
fn a_chained_wrapper_changed_by_hand_goes_back_in_place_of_the_older_one() {
    for undo in [&["remove"][..], &["regen", "--governor", "off"][..]] {
        let (ctx, config) = governed_over_sccache();
        // The user points the governor at another wrapper.
        let edited = config.replace(
            "MEMSAFE_RUSTC_WRAPPER = \"sccache\"",
            "MEMSAFE_RUSTC_WRAPPER = '/usr/bin/env'",
        );
        assert_ne!(edited, config);
        ctx.write("p/.cargo/config.toml", &edited);
        // It is the user's choice now: the plan runs it, and `regen` keeps it.
        let plan = ok(&ctx, &with_hw(&["plan"]));
        assert!(
            plan.contains("memsafe runs /usr/bin/env after admitting each rustc"),
            "{plan}"
        );
        for _ in 0..2 {
            let output = ok(&ctx, &with_hw(&["regen"]));
            assert!(!output.contains("set back"), "{output}");
            assert_eq!(ctx.read("p/.cargo/config.toml"), edited);
            ok(&ctx, &with_hw(&["check"]));
        }
        let args = if undo[0] == "remove" {
            undo.to_vec()
        } else {
            with_hw(undo)
        };
        let output = ok(&ctx, &args);
        assert!(
            output.contains(
                "your `env.MEMSAFE_RUSTC_WRAPPER = '/usr/bin/env'` goes back to `build.rustc-wrapper`"
            ),
            "{undo:?}: {output}"
        );
        // Theirs, as they wrote it, where cargo runs it, with the comment of the line; not the
        // older `sccache`, and no key left that nothing reads.
        let config = ctx.read("p/.cargo/config.toml");
        assert!(
            config.starts_with("[build]\nrustc-wrapper = '/usr/bin/env'  # shared cache\n"),
            "{undo:?}: {config}"
        );
        assert!(!config.contains("MEMSAFE_RUSTC_WRAPPER"), "{undo:?}: {config}");
        assert!(!config.contains("sccache\""), "{undo:?}: {config}");
    }
}

#[test]
fn a_wrapper_written_in_memsafes_place_is_chained_from_then_on_and_given_back() {
    let (ctx, config) = governed_over_sccache();
    let edited = config.replace(
        &format!("rustc-wrapper = \"{}\"", program()),
        "rustc-wrapper = \"/usr/bin/env\"",
    );
    assert_ne!(edited, config);
    ctx.write("p/.cargo/config.toml", &edited);
    // memsafe takes its place back and chains the user's wrapper, then and at every run after.
    for _ in 0..3 {
        ok(&ctx, &with_hw(&["regen"]));
        let config = ctx.read("p/.cargo/config.toml");
        assert!(
            config.contains("MEMSAFE_RUSTC_WRAPPER = \"/usr/bin/env\""),
            "{config}"
        );
        assert!(
            config.contains(&format!("rustc-wrapper = \"{}\"", program())),
            "{config}"
        );
        ok(&ctx, &with_hw(&["check"]));
    }
    // `remove` gives back the user's newest wrapper, with the line's comment.
    ok(&ctx, &["remove"]);
    assert_eq!(
        ctx.read("p/.cargo/config.toml"),
        "[build]\nrustc-wrapper = \"/usr/bin/env\"  # shared cache\n"
    );
}

#[test]
fn a_relative_wrapper_of_the_repos_comes_back_as_it_was_written() {
    for wrapper in ["./tools/wrap", "../tools/wrap"] {
        let ctx = project();
        let original = format!("[build]\nrustc-wrapper = \"{wrapper}\"\n");
        ctx.write("p/.cargo/config.toml", &original);
        ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
        // Chained resolved against the project folder, as cargo resolves it ...
        let config = ctx.read("p/.cargo/config.toml");
        assert!(config.contains("MEMSAFE_RUSTC_WRAPPER = \"/"), "{config}");
        ok(&ctx, &with_hw(&["regen"]));
        // ... and given back as the repo wrote it: not this machine's path.
        ok(&ctx, &["remove"]);
        assert_eq!(ctx.read("p/.cargo/config.toml"), original, "{wrapper}");
    }
}

#[test]
fn team_mode_refuses_the_governor_and_writes_nothing() {
    let ctx = project();
    let start = ctx.files();
    let (code, _, stderr) = run(&ctx, &with_hw(&["init", "--yes", "--team", "--governor", "on"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the governor cannot be turned on in team mode: it is per machine"),
        "{stderr}"
    );
    assert!(stderr.contains("`RUSTC_WRAPPER=memsafe`"), "{stderr}");
    assert_eq!(ctx.files(), start, "something was written");
    // A team record refuses it later too.
    ok(&ctx, &with_hw(&["init", "--yes", "--team"]));
    let configured = ctx.files();
    for command in ["regen", "plan"] {
        let (code, _, stderr) = run(&ctx, &with_hw(&[command, "--governor", "on"]));
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stderr.contains("team mode"), "{command}: {stderr}");
    }
    assert_eq!(ctx.files(), configured, "something was written");
    // A record with both, written by hand, fails `check` as it fails plan and regen.
    let record = ctx.read("p/memsafe.toml");
    assert!(record.contains("governor = false"), "{record}");
    ctx.write(
        "p/memsafe.toml",
        &record.replace("governor = false", "governor = true"),
    );
    for command in ["check", "regen", "plan"] {
        let (code, _, stderr) = run(&ctx, &with_hw(&[command]));
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(stderr.contains("team mode"), "{command}: {stderr}");
    }
}

#[test]
fn a_wrapper_in_the_environment_gets_a_warning() {
    let ctx = project();
    let plan = |variable: &str, value: &str| {
        let output = memsafe(&ctx, &with_hw(&["plan", "--governor", "on"]))
            .env(variable, value)
            .output()
            .unwrap();
        assert!(output.status.success());
        text(&output.stdout)
    };
    let shown = plan("RUSTC_WRAPPER", "sccache");
    assert!(
        shown.contains(
            "warning: `RUSTC_WRAPPER=sccache` in the environment beats .cargo/config.toml's \
             build.rustc-wrapper: cargo runs sccache, not memsafe, so the governor is off in this shell; \
             replace it with `MEMSAFE_RUSTC_WRAPPER=sccache`"
        ),
        "{shown}"
    );
    let shown = plan("CARGO_BUILD_RUSTC_WRAPPER", "/opt/bin/cachepot");
    assert!(
        shown.contains("`CARGO_BUILD_RUSTC_WRAPPER=/opt/bin/cachepot` in the environment beats"),
        "{shown}"
    );
    // memsafe itself there is the governor already; with the governor off nobody asked.
    assert!(!plan("RUSTC_WRAPPER", "memsafe").contains("warning: `RUSTC_WRAPPER"));
    let output = memsafe(&ctx, &with_hw(&["plan"]))
        .env("RUSTC_WRAPPER", "sccache")
        .output()
        .unwrap();
    assert!(!text(&output.stdout).contains("RUSTC_WRAPPER"));
}

#[test]
fn a_config_tracked_by_git_gets_a_warning() {
    let ctx = project();
    ctx.write("p/.cargo/config.toml", "[build]\njobs = 2\n");
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .args(args)
            .current_dir(ctx.path("p"))
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
            .output()
            .unwrap()
            .status;
        assert!(status.success(), "git {args:?}");
    };
    let warning = "`.cargo/config.toml` is tracked by git and now names memsafe";
    // Outside git: nothing to say.
    assert!(!ok(&ctx, &with_hw(&["plan", "--governor", "on"])).contains(warning));
    git(&["init", "--quiet"]);
    assert!(!ok(&ctx, &with_hw(&["plan", "--governor", "on"])).contains(warning));
    git(&["add", ".cargo/config.toml"]);
    assert!(ok(&ctx, &with_hw(&["plan", "--governor", "on"])).contains(warning));
    assert!(!ok(&ctx, &with_hw(&["plan"])).contains(warning));
}

#[test]
fn check_fails_when_cargo_cannot_find_the_wrapper() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes", "--governor", "on"]));
    let config = ctx.read("p/.cargo/config.toml");
    ctx.write(
        "p/.cargo/config.toml",
        &config.replace(&program(), "/nonexistent/memsafe"),
    );
    let (code, stdout, _) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(
            ".cargo/config.toml: build.rustc-wrapper = \"/nonexistent/memsafe\" cannot be found (no such \
             file): cargo cannot start any rustc here"
        ),
        "{stdout}"
    );
    ok(&ctx, &with_hw(&["regen"]));
    let (code, stdout, _) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn a_governor_answer_of_the_wrong_type_is_an_error_naming_the_line() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let record = ctx.read("p/memsafe.toml");
    assert!(record.contains("governor = false"), "{record}");
    let line = record.lines().position(|l| l == "governor = false").unwrap() + 1;
    ctx.write(
        "p/memsafe.toml",
        &record.replace("governor = false", "governor = \"yes\""),
    );
    let before = ctx.files();
    for command in ["regen", "check", "init", "plan"] {
        let mut args = with_hw(&[command]);
        if command == "init" {
            args.push("--yes");
        }
        let (code, _, stderr) = run(&ctx, &args);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot read `memsafe.toml`: line {line}: `answers.governor` is wrong: invalid type: \
                 string \"yes\", expected a boolean"
            )),
            "{command}: {stderr}"
        );
    }
    assert_eq!(ctx.files(), before, "something was written");
}

/// A record written before the governor existed has no `governor`: off, and nothing changes.
#[test]
fn an_older_record_without_the_answer_loads_as_off() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let record = ctx.read("p/memsafe.toml");
    let older: String = record
        .lines()
        .filter(|l| !l.starts_with("governor =") && !l.contains("the governor, experimental"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(older, record);
    ctx.write("p/memsafe.toml", &older);
    let before = ctx.files();
    let output = ok(&ctx, &with_hw(&["regen"]));
    assert!(output.contains("Unchanged"), "{output}");
    assert_eq!(ctx.files(), before, "regen rewrote an older record");
}

/// The real thing: cargo runs memsafe from the config, [env] reaches it, memsafe admits rustc
/// and runs the repo's own wrapper; after `remove`, cargo runs that wrapper directly again.
#[cfg(unix)]
#[test]
fn cargo_builds_through_the_governor_and_its_chained_wrapper() {
    use std::os::unix::fs::PermissionsExt;

    let ctx = project();
    let log = ctx.path("wrapper.log");
    ctx.write(
        "bin/wrap.sh",
        &format!(
            "#!/bin/sh\necho \"inside=$MEMSAFE_GOVERNOR_INSIDE $*\" >> '{}'\nexec \"$@\"\n",
            log.display()
        ),
    );
    let wrap = ctx.path("bin/wrap.sh");
    std::fs::set_permissions(&wrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx.write(
        "p/.cargo/config.toml",
        &format!("[build]\nrustc-wrapper = \"{}\"\n", wrap.display()),
    );
    let original = ctx.read("p/.cargo/config.toml");
    ok(
        &ctx,
        &[
            "init",
            "--yes",
            "--governor",
            "on",
            "--editor",
            "none",
            "--script",
            "none",
            "--ram",
            "8GiB",
            "--cpus",
            "2",
            "--os",
            "linux",
        ],
    );
    assert!(
        ctx.read("p/.cargo/config.toml")
            .contains(&format!("MEMSAFE_RUSTC_WRAPPER = \"{}\"", wrap.display()))
    );
    let build = || {
        let output = Command::new("cargo")
            .args(["build", "--offline"])
            .current_dir(ctx.path("p"))
            .env("CARGO_TARGET_DIR", ctx.path("target"))
            .env("MEMSAFE_GOVERNOR_DIR", ctx.path("gov"))
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("MEMSAFE_RUSTC_WRAPPER")
            .env_remove("MEMSAFE_GOVERNOR_BUDGET")
            .env_remove("MEMSAFE_GOVERNOR_INSIDE")
            .env_remove("MEMSAFE_CALIBRATE_LOG")
            .env_remove("CARGO_BUILD_JOBS")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    build();
    let compile = compile_line(&log);
    // Through the governor: it set its marker, then ran the wrapper with rustc first.
    assert!(compile.starts_with("inside=1 "), "{compile}");
    let rustc = compile.split(' ').nth(1).unwrap();
    assert!(
        std::path::Path::new(rustc)
            .file_stem()
            .is_some_and(|s| s == "rustc"),
        "{compile}"
    );
    // A chained wrapper's compilations are not recorded: the wrapper's server (sccache's) would
    // do the work outside the governor's process tree, and its peaks would be the client's.
    let history = std::fs::read_to_string(ctx.path("gov/governor-history.jsonl")).unwrap_or_default();
    assert!(!history.contains("\"crate\":\"p\""), "{history}");

    ok(&ctx, &["remove"]);
    assert_eq!(ctx.read("p/.cargo/config.toml"), original);
    std::fs::remove_file(&log).unwrap();
    std::fs::remove_dir_all(ctx.path("target")).unwrap();
    build();
    let compile = compile_line(&log);
    assert!(
        compile.starts_with("inside= "),
        "called by memsafe after remove: {compile}"
    );
    assert_eq!(
        std::fs::read_to_string(ctx.path("gov/governor-history.jsonl")).unwrap_or_default(),
        history,
        "the governor ran after remove"
    );
}

/// `memsafe plan` with the governor on, chaining the repo's wrapper (this memsafe's path shown
/// as `<memsafe>`).
#[test]
fn the_plan_says_what_the_governor_writes_and_why() {
    let ctx = project();
    ctx.write("p/.cargo/config.toml", "[build]\nrustc-wrapper = \"sccache\"\n");
    // No memsafe on PATH whatever the machine has: the absolute path, always.
    let output = memsafe(&ctx, &with_hw(&["plan", "--governor", "on", "--editor", "none"]))
        .env("PATH", ctx.path("no-bin"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan = text(&output.stdout).replace(&program(), "<memsafe>");
    crate::common::snapshots(|| insta::assert_snapshot!("plan_governor_on_chained", plan));
}

/// A governed build of `p` in the governor's history: `count` compilations of `peak_mib`
/// each, 10 s apart and 20 s long (two at a time), ending on `day` (days since 1970).
fn governed_history(ctx: &TestContext, day: u64, count: u64, peak_mib: u64) {
    governed_history_in(ctx, "p/target/debug/deps", day, count, peak_mib);
}

/// [`governed_history`] with the compilations writing to `out_dir` (relative to the test folder).
fn governed_history_in(ctx: &TestContext, out_dir: &str, day: u64, count: u64, peak_mib: u64) {
    let target = ctx.path(out_dir);
    let end = day * 86_400_000 + 43_200_000;
    let lines: Vec<String> = (0..count)
        .map(|i| {
            serde_json::json!({
                "crate": format!("c{i}"), "kind": "lib", "metadata": format!("{i:016x}"),
                "rustc": "/toolchain/bin/rustc", "peak_bytes": peak_mib << 20,
                "duration_ms": 20_000, "at_ms": end - (count - 1 - i) * 10_000,
                "out_dir": target.to_string_lossy(),
            })
            .to_string()
        })
        .collect();
    std::fs::create_dir_all(ctx.path(".governor")).unwrap();
    ctx.write(".governor/governor-history.jsonl", &(lines.join("\n") + "\n"));
}

fn planned_jobs(ctx: &TestContext) -> (u64, String) {
    planned_jobs_in(ctx, "p")
}

/// [`planned_jobs`] with memsafe run in `folder`.
fn planned_jobs_in(ctx: &TestContext, folder: &str) -> (u64, String) {
    let output = ctx
        .memsafe(folder)
        .args([
            "plan", "--json", "--editor", "none", "--ram", "8GiB", "--cpus", "16", "--os", "linux",
        ])
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_RUSTC_WRAPPER")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: serde_json::Value = serde_json::from_str(&text(&output.stdout)).unwrap();
    let reason = plan["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "build.jobs")
        .unwrap()
        .clone();
    (
        plan["jobs"].as_u64().unwrap(),
        reason["why"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_last_governed_build_measures_the_plan_without_calibrate() {
    let ctx = project();
    // Without a governed build: the balanced preset's guess.
    let (guessed, why) = planned_jobs(&ctx);
    assert!(why.contains("memsafe calibrate"), "{why}");
    // 30 compilations of 300 MiB, two at a time: the model's estimate is about 100 MiB for
    // cargo + 300 + 300 a job, far below the guess's 1 GiB a job.
    governed_history(&ctx, 20_000, 30, 300);
    let (measured, why) = planned_jobs(&ctx);
    assert!(
        why.contains("the governor in this project's last governed build (30 compilations"),
        "{why}"
    );
    assert!(measured > guessed, "{measured} jobs measured, {guessed} guessed");
    // A build elsewhere (another target folder) says nothing about this project.
    let other = TestContext::new();
    other.cargo_new("p");
    std::fs::create_dir_all(other.path(".governor")).unwrap();
    std::fs::copy(
        ctx.path(".governor/governor-history.jsonl"),
        other.path(".governor/governor-history.jsonl"),
    )
    .unwrap();
    assert_eq!(planned_jobs(&other).0, guessed);
    // The summary plans, but is never written to memsafe.toml (which keeps what `memsafe
    // calibrate` measures), and `check` agrees with the files it planned.
    ok(
        &ctx,
        &[
            "init", "--yes", "--editor", "none", "--script", "none", "--ram", "8GiB", "--cpus", "16", "--os",
            "linux",
        ],
    );
    let record = ctx.read("p/memsafe.toml");
    assert!(!record.contains("[calibration]"), "{record}");
    let config = ctx.read("p/.cargo/config.toml");
    assert!(config.contains(&format!("jobs = {measured}")), "{config}");
    ok(&ctx, &["check", "--ram", "8GiB", "--cpus", "16", "--os", "linux"]);
    // A `cargo check` of the project later (metadata only) does not stand for a build.
    governed_history(&ctx, 20_001, 30, 10);
    let text = ctx.read(".governor/governor-history.jsonl");
    let checks: String = text
        .lines()
        .map(|line| line.replace("\"peak_bytes\"", "\"metadata_only\":true,\"peak_bytes\"") + "\n")
        .collect();
    governed_history(&ctx, 20_000, 30, 300);
    let builds = ctx.read(".governor/governor-history.jsonl");
    ctx.write(".governor/governor-history.jsonl", &(builds + &checks));
    assert_eq!(planned_jobs(&ctx).0, measured);
    // Team mode plans for the recorded machine, never from this machine's builds.
    let team = project();
    ok(
        &team,
        &[
            "init", "--yes", "--team", "--editor", "none", "--script", "none", "--ram", "8GiB", "--cpus",
            "16", "--os", "linux",
        ],
    );
    std::fs::create_dir_all(team.path(".governor")).unwrap();
    governed_history(&team, 20_000, 30, 300);
    let (team_jobs, why) = planned_jobs(&team);
    assert!(!why.contains("governed build"), "{why}");
    assert_eq!(team_jobs, guessed);
}

#[test]
fn a_target_folder_set_in_the_folder_the_plan_runs_in_is_found_as_cargo_finds_it() {
    // `m` (a member's folder, say) sends its builds elsewhere in its own config file, spelled
    // with a `.`: cargo reads that file when it runs in `m`, and so does the plan.
    let ctx = project();
    std::fs::create_dir_all(ctx.path("p/m/.cargo")).unwrap();
    ctx.write("p/m/.cargo/config.toml", "[build]\ntarget-dir = \"./mt\"\n");
    let (guessed, _) = planned_jobs_in(&ctx, "p/m");
    governed_history_in(&ctx, "p/m/mt/debug/deps", 20_000, 30, 300);
    let (measured, why) = planned_jobs_in(&ctx, "p/m");
    assert!(
        why.contains("the governor in this project's last governed build (30 compilations"),
        "{why}"
    );
    assert!(measured > guessed, "{measured} jobs measured, {guessed} guessed");
    // From the project's root, cargo builds into `target`, where nothing was measured.
    assert_eq!(planned_jobs(&ctx).0, guessed);
}

#[test]
fn a_build_of_a_project_nested_in_this_one_is_not_this_ones() {
    // `p/nested` is a project of its own inside `p` (not a member), and both build into one
    // shared target folder (`p`'s config applies in `p/nested` too).
    let ctx = project();
    ctx.cargo_new("p/nested");
    std::fs::create_dir_all(ctx.path("p/.cargo")).unwrap();
    ctx.write("p/.cargo/config.toml", "[build]\ntarget-dir = \"target\"\n");
    let (guessed, _) = planned_jobs(&ctx);
    governed_history_in(&ctx, "p/target/debug/deps", 20_000, 30, 300);
    // The compilations of nested's own package, as cargo marks them.
    let nested = ctx.path("p/nested").to_string_lossy().into_owned();
    let history = ctx.read(".governor/governor-history.jsonl");
    let marked: String = history
        .lines()
        .map(|line| line.replacen('{', &format!("{{\"package_dir\":{nested:?},"), 1) + "\n")
        .collect();
    ctx.write(".governor/governor-history.jsonl", &marked);
    assert_eq!(planned_jobs(&ctx).0, guessed, "p took nested's build for its own");
    // nested's own plan measures from it.
    let (measured, why) = planned_jobs_in(&ctx, "p/nested");
    assert!(why.contains("last governed build (30 compilations"), "{why}");
    assert!(measured > guessed);
}

/// The line the fake wrapper logged for the compilation of crate `p`.
fn compile_line(log: &std::path::Path) -> String {
    let calls = std::fs::read_to_string(log).unwrap();
    calls
        .lines()
        .find(|l| l.contains("--crate-name p "))
        .unwrap_or_else(|| panic!("the wrapper never compiled the crate: {calls}"))
        .to_string()
}
