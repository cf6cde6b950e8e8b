//! The generated test-safe scripts: shellcheck clean, arguments passed right, cargo's exit code
//! passed on, and a real run of a tiny project's tests.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use memsafe::plan::Preset;
use memsafe::render::{self, Templates};

use crate::common::{self, TestContext, text};

#[test]
fn sh_script_passes_shellcheck() {
    let Ok(version) = Command::new("shellcheck").arg("--version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install shellcheck (see .ci/run)"
        );
        #[expect(clippy::print_stderr, reason = "a skipped check says so")]
        {
            eprintln!("shellcheck is not installed: skipped (CI installs it)");
        }
        return;
    };
    assert!(version.status.success());
    let ctx = TestContext::new();
    for preset in [Preset::Safe, Preset::Fast] {
        ctx.write(
            "test-safe.sh",
            &Templates::new().render(render::TEST_SH, &common::plan(8.0, 4, preset)),
        );
        let output = Command::new("shellcheck")
            .args(["--shell=sh", "--severity=style"])
            .arg(ctx.path("test-safe.sh"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stdout));
    }
}

/// A fake `cargo` first on PATH: logs its arguments (and its folder, in `$FAKE_LOG.pwd`),
/// answers `nextest --version` as told by `$FAKE_NEXTEST`, `metadata` with a doctest target when
/// `$FAKE_DOCTEST` is set, and exits with `$FAKE_NEXTEST_EXIT` (`nextest run`) or `$FAKE_EXIT`.
fn with_fake_cargo(ctx: &TestContext) -> String {
    ctx.write(
        "bin/cargo",
        r#"#!/bin/sh
pwd > "$FAKE_LOG.pwd"
case "$1 ${2-}" in
    "nextest --version") exit "${FAKE_NEXTEST:-1}" ;;
    "metadata --no-deps")
        if [ -n "${FAKE_DOCTEST-}" ]; then echo '{"targets":[{"doctest":true}]}'; else echo '{"targets":[{"doctest":false}]}'; fi
        exit 0 ;;
esac
printf '%s|' "$@" >> "$FAKE_LOG"
echo >> "$FAKE_LOG"
if [ "$1 ${2-}" = "nextest run" ]; then exit "${FAKE_NEXTEST_EXIT:-${FAKE_EXIT:-0}}"; fi
exit "${FAKE_EXIT:-0}"
"#,
    );
    std::fs::set_permissions(ctx.path("bin/cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        ctx.path("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// One run of a script under the fake cargo.
struct Run {
    code: i32,
    /// Every cargo command but the probes, one per line, arguments ending in `|`.
    log: String,
    stderr: String,
    /// The folder cargo ran in.
    pwd: String,
}

/// Runs `sh -- SCRIPT ARGS` from the test folder with the fake cargo and `env`.
fn run_script(ctx: &TestContext, path: &str, script: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let log = ctx.path("cargo.log");
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new("sh");
    command
        .arg("--")
        .arg(script)
        .args(args)
        .current_dir(ctx.path("."))
        .env("PATH", path)
        .env("FAKE_LOG", &log)
        .env_remove("TEST_SAFE_NO_DOC");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        log: std::fs::read_to_string(&log).unwrap_or_default(),
        stderr: text(&output.stderr),
        pwd: std::fs::read_to_string(ctx.path("cargo.log.pwd"))
            .unwrap_or_default()
            .trim_end()
            .to_string(),
    }
}

const NO_NEXTEST: &[(&str, &str)] = &[];
const NEXTEST: &[(&str, &str)] = &[("FAKE_NEXTEST", "0"), ("FAKE_DOCTEST", "1")];

fn balanced_script(ctx: &TestContext, folder: &str) -> String {
    ctx.write(
        &format!("{folder}/test-safe.sh"),
        &Templates::new().render(render::TEST_SH, &common::plan(8.0, 4, Preset::Balanced)),
    );
    format!("{folder}/test-safe.sh")
}

#[test]
fn sh_script_without_nextest_runs_cargo_test() {
    let ctx = TestContext::new();
    // A folder with a space: every path in the script is quoted.
    let script = balanced_script(&ctx, "project dir");
    let path = with_fake_cargo(&ctx);
    let run = |args: &[&str], env: &[(&str, &str)]| run_script(&ctx, &path, &script, args, env);

    let first = run(&[], NO_NEXTEST);
    assert_eq!(
        (first.code, first.log.as_str()),
        (0, "test|--jobs|3|--|--test-threads=4|\n")
    );
    assert_eq!(
        first.stderr,
        "test-safe: cargo test, build jobs: 3, test threads: 4 (cargo-nextest is not installed)\n"
    );
    assert!(first.pwd.ends_with("/project dir"), "{}", first.pwd);

    let log = run(&["-p", "a b", "--", "--nocapture"], NO_NEXTEST).log;
    assert_eq!(log, "test|--jobs|3|-p|a b|--|--nocapture|--test-threads=4|\n");

    // A thread count given by the caller replaces the planned one, before or after `--`.
    let log = run(&["--", "--test-threads=1"], NO_NEXTEST).log;
    assert_eq!(log, "test|--jobs|3|--|--test-threads=1|\n");
    let log = run(
        &[
            "--test-threads",
            "2",
            "it's",
            "--jobs=1",
            "--",
            "--test-threads",
            "1",
        ],
        NO_NEXTEST,
    )
    .log;
    assert_eq!(log, "test|--jobs|1|it's|--|--test-threads=1|\n");

    let clean = run(&["--clean", "--lib"], &[("FAKE_EXIT", "101")]);
    assert_eq!(
        (clean.code, clean.log.as_str()),
        (101, "clean|\n"),
        "a failed clean stops the run with its code"
    );
}

#[test]
fn sh_script_with_nextest_translates_test_arguments() {
    let ctx = TestContext::new();
    let script = balanced_script(&ctx, "p");
    let path = with_fake_cargo(&ctx);
    let run = |args: &[&str], env: &[(&str, &str)]| run_script(&ctx, &path, &script, args, env);

    // A target selection: no doctests (`cargo test --doc --lib` is an error); cargo's code.
    let lib = run(&["--lib"], &[NEXTEST, &[("FAKE_EXIT", "100")]].concat());
    assert_eq!(
        (lib.code, lib.log.as_str()),
        (100, "nextest|run|--build-jobs|3|--test-threads|4|--lib|\n")
    );
    assert_eq!(
        lib.stderr,
        "test-safe: cargo nextest run, build jobs: 3, test threads: 4\n"
    );

    // The issue's two failures: `-- --test-threads=1` and `--test-threads 1 foo`.
    let run_1 = run(&["--", "--test-threads=1"], NEXTEST);
    assert_eq!(
        (run_1.code, run_1.log.as_str()),
        (
            0,
            "nextest|run|--build-jobs|3|--test-threads|1|\n\
             test|--doc|--jobs|3|--|--test-threads=1|\n"
        )
    );
    assert_eq!(
        run_1.stderr,
        "test-safe: cargo nextest run, build jobs: 3, test threads: 1; then the doctests with cargo test --doc (--no-doc skips them)\n"
    );
    assert_eq!(
        run(&["--test-threads", "1", "foo"], NEXTEST).log,
        "nextest|run|--build-jobs|3|--test-threads|1|foo|\ntest|--doc|--jobs|3|foo|--|--test-threads=1|\n"
    );

    // `--list` is nextest's `list` command, which takes no test threads.
    let list = run(&["-p", "x", "--", "--list", "--ignored"], NEXTEST);
    assert_eq!(list.log, "nextest|list|--build-jobs|3|--run-ignored|only|-p|x|\n");
    assert_eq!(list.stderr, "test-safe: cargo nextest list, build jobs: 3\n");

    // nextest's own flags; test names, --exact and --skip after its `--`.
    assert_eq!(
        run(
            &["-p", "x", "--", "--nocapture", "--ignored", "--exact", "my::test"],
            NEXTEST
        )
        .log,
        "nextest|run|--build-jobs|3|--test-threads|4|--run-ignored|only|--no-capture|-p|x|--|--exact|my::test|\n\
         test|--doc|--jobs|3|-p|x|--|--nocapture|--ignored|--exact|my::test|--test-threads=4|\n"
    );
    assert_eq!(
        run(
            &["--", "--include-ignored", "--skip", "slow one", "--no-capture"],
            NEXTEST
        )
        .log,
        "nextest|run|--build-jobs|3|--test-threads|4|--run-ignored|all|--no-capture|--|--skip|slow one|\n\
         test|--doc|--jobs|3|--|--include-ignored|--skip|slow one|--nocapture|--test-threads=4|\n"
    );
    // `-j` is cargo's build jobs; cargo's `--profile` is nextest's `--cargo-profile`.
    assert_eq!(
        run(&["-j", "2", "--profile", "ci"], NEXTEST).log,
        "nextest|run|--build-jobs|2|--test-threads|4|--cargo-profile|ci|\n\
         test|--doc|--jobs|2|--profile|ci|--|--test-threads=4|\n"
    );
}

#[test]
fn sh_script_falls_back_to_cargo_test_and_says_why() {
    let ctx = TestContext::new();
    let script = balanced_script(&ctx, "p");
    let path = with_fake_cargo(&ctx);
    let run = |args: &[&str], env: &[(&str, &str)]| run_script(&ctx, &path, &script, args, env);

    let show = run(&["--", "--show-output", "name"], NEXTEST);
    assert_eq!(
        show.log,
        "test|--jobs|3|--|--show-output|name|--test-threads=4|\n"
    );
    assert_eq!(
        show.stderr,
        "test-safe: cargo test, build jobs: 3, test threads: 4 (nextest cannot take --show-output)\n"
    );
    let doc = run(&["--doc"], NEXTEST);
    assert_eq!(doc.log, "test|--jobs|3|--doc|--|--test-threads=4|\n");
    assert!(
        doc.stderr.contains("(nextest runs no doctests (--doc))"),
        "{}",
        doc.stderr
    );
}

#[test]
fn sh_script_doctests_follow_nextest_unless_told_not_to() {
    let ctx = TestContext::new();
    let script = balanced_script(&ctx, "p");
    let path = with_fake_cargo(&ctx);
    let run = |args: &[&str], env: &[(&str, &str)]| run_script(&ctx, &path, &script, args, env);
    let nextest_only = "nextest|run|--build-jobs|3|--test-threads|4|\n";

    assert_eq!(run(&["--no-doc"], NEXTEST).log, nextest_only);
    assert_eq!(
        run(&[], &[NEXTEST, &[("TEST_SAFE_NO_DOC", "1")]].concat()).log,
        nextest_only
    );
    // No library with doctests in the project: `cargo test --doc` would fail.
    assert_eq!(run(&[], &[("FAKE_NEXTEST", "0")]).log, nextest_only);
    // A failed nextest run is the answer; its "no tests matched" (4) is not.
    let failed = run(&[], &[NEXTEST, &[("FAKE_NEXTEST_EXIT", "100")]].concat());
    assert_eq!((failed.code, failed.log.as_str()), (100, nextest_only));
    let none = run(&["name"], &[NEXTEST, &[("FAKE_NEXTEST_EXIT", "4")]].concat());
    assert_eq!(
        (none.code, none.log.as_str()),
        (
            0,
            "nextest|run|--build-jobs|3|--test-threads|4|name|\ntest|--doc|--jobs|3|name|--|--test-threads=4|\n"
        )
    );
    // The doctests' failure is the script's.
    let doc_failed = run(
        &[],
        &[NEXTEST, &[("FAKE_NEXTEST_EXIT", "0"), ("FAKE_EXIT", "101")]].concat(),
    );
    assert_eq!(doc_failed.code, 101);
}

#[test]
fn sh_script_runs_cargo_in_its_own_folder_even_named_with_a_dash() {
    let ctx = TestContext::new();
    let script = balanced_script(&ctx, "-dir");
    let path = with_fake_cargo(&ctx);
    let run = run_script(&ctx, &path, &script, &[], NO_NEXTEST);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.pwd.ends_with("/-dir"), "cargo ran in {}", run.pwd);
}

/// PowerShell cannot be installed here, so test-safe.ps1 is held to the sh script's logic by
/// its words: every translation and message of one is in the other (platforms.rs parses it).
#[test]
fn ps1_script_has_the_sh_scripts_translations() {
    let plan = common::plan(8.0, 4, Preset::Balanced);
    let sh = Templates::new().render(render::TEST_SH, &plan);
    let ps1 = Templates::new().render(render::TEST_PS1, &plan);
    for both in [
        "--test-threads",
        "--build-jobs",
        "--cargo-profile",
        "--run-ignored",
        "'only'",
        "'all'",
        "--no-capture",
        "--nocapture",
        "--include-ignored",
        "--exact",
        "--skip",
        "--list",
        "nextest list",
        "nextest run",
        "test --doc",
        "\"doctest\":true",
        "TEST_SAFE_NO_DOC",
        "--no-doc",
        "nextest exits 4 when no test matched",
        "--all-targets",
        "--message-format",
        "test-safe: cargo test, build jobs: $jobs, test threads: $threads ($why)",
        "test-safe: cargo nextest list, build jobs: $jobs",
        "test-safe: cargo nextest run, build jobs: $jobs, test threads: $threads",
        "then the doctests with cargo test --doc",
        "cargo-nextest is not installed",
        "nextest cannot take $arg",
        "nextest runs no doctests (--doc)",
    ] {
        let in_sh = sh.contains(both) || (both.starts_with('\'') && sh.contains(both.trim_matches('\'')));
        assert!(in_sh, "test-safe.sh lacks {both}");
        assert!(ps1.contains(both), "test-safe.ps1 lacks {both}");
    }
}

#[test]
fn sh_script_runs_a_real_projects_tests() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let output = ctx
        .memsafe("pkg")
        .args([
            "init", "--yes", "--ram", "8", "--cpus", "2", "--editor", "none", "--script", "sh",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run = Command::new(ctx.path("pkg/test-safe.sh"))
        .arg("--offline")
        .env("CARGO_TARGET_DIR", ctx.path("target"))
        .output()
        .unwrap();
    let all = format!("{}{}", text(&run.stdout), text(&run.stderr));
    assert!(run.status.success(), "{all}");
    assert!(all.contains("it_works"), "{all}");

    // A failing test fails the script with cargo's code.
    let lib = ctx
        .read("pkg/src/lib.rs")
        .replace("assert_eq!(result, 4)", "assert_eq!(result, 5)");
    ctx.write("pkg/src/lib.rs", &lib);
    let failed = Command::new(ctx.path("pkg/test-safe.sh"))
        .arg("--offline")
        .env("CARGO_TARGET_DIR", ctx.path("target"))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    assert!(
        matches!(failed.status.code(), Some(100 | 101)),
        "{:?}",
        failed.status
    );
}
