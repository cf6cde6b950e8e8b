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

/// A fake `cargo` first on PATH: logs its arguments, answers `nextest --version` as told,
/// exits with `$FAKE_EXIT`.
fn with_fake_cargo(ctx: &TestContext) -> String {
    ctx.write(
        "bin/cargo",
        "#!/bin/sh\nif [ \"$1 $2\" = \"nextest --version\" ]; then exit \"${FAKE_NEXTEST:-1}\"; fi\n\
         printf '%s|' \"$@\" >> \"$FAKE_LOG\"\necho >> \"$FAKE_LOG\"\nexit \"${FAKE_EXIT:-0}\"\n",
    );
    std::fs::set_permissions(ctx.path("bin/cargo"), std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "{}:{}",
        ctx.path("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn run_script(ctx: &TestContext, path: &str, args: &[&str], nextest: bool, exit: i32) -> (i32, String) {
    let log = ctx.path("cargo.log");
    let _ = std::fs::remove_file(&log);
    let status = Command::new("sh")
        .arg(ctx.path("project dir/test-safe.sh"))
        .args(args)
        .env("PATH", path)
        .env("FAKE_LOG", &log)
        .env("FAKE_NEXTEST", if nextest { "0" } else { "1" })
        .env("FAKE_EXIT", exit.to_string())
        .status()
        .unwrap();
    (
        status.code().unwrap(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn sh_script_builds_the_right_cargo_command() {
    let ctx = TestContext::new();
    // A folder with a space: every path in the script is quoted.
    ctx.write(
        "project dir/test-safe.sh",
        &Templates::new().render(render::TEST_SH, &common::plan(8.0, 4, Preset::Balanced)),
    );
    let path = with_fake_cargo(&ctx);

    let (code, log) = run_script(&ctx, &path, &[], false, 0);
    assert_eq!((code, log.as_str()), (0, "test|--jobs|3|--|--test-threads=4|\n"));

    let (_, log) = run_script(&ctx, &path, &["-p", "a b", "--", "--nocapture"], false, 0);
    assert_eq!(log, "test|--jobs|3|-p|a b|--|--nocapture|--test-threads=4|\n");

    let (_, log) = run_script(&ctx, &path, &["--", "--test-threads=1"], false, 0);
    assert_eq!(log, "test|--jobs|3|--|--test-threads=1|\n");

    let (code, log) = run_script(&ctx, &path, &["--clean", "--lib"], false, 101);
    assert_eq!(
        (code, log.as_str()),
        (101, "clean|\n"),
        "a failed clean stops the run with its code"
    );

    let (code, log) = run_script(&ctx, &path, &["--lib"], true, 100);
    assert_eq!(
        (code, log.as_str()),
        (100, "nextest|run|--build-jobs|3|--test-threads|4|--lib|\n")
    );
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
