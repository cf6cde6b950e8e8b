//! Starting from what the repo already has: the popular hand-made recipe, the user's stricter
//! choices, and values that beat memsafe's.

use crate::common::{TestContext, fixtures_dir, snapshots, text};

fn run(ctx: &TestContext, dir: &str, args: &[&str]) -> (i32, String, String) {
    let output = ctx
        .memsafe(dir)
        .args(args)
        .env_remove("CARGO_BUILD_JOBS")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

const WINDOWS: [&str; 6] = ["--ram", "16GiB", "--cpus", "8", "--os", "windows"];

fn with<'a>(args: &[&'a str], hardware: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(hardware).copied().collect()
}

/// The write-up's repo: its Cargo.toml, settings.json and test-safe.ps1.
fn writeup() -> TestContext {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    for file in ["Cargo.toml", ".vscode/settings.json", "test-safe.ps1"] {
        let bytes = std::fs::read(fixtures_dir().join("writeup").join(file)).unwrap();
        let path = ctx.path(&format!("p/{file}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    ctx
}

fn tree(ctx: &TestContext) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    ctx.snapshot_tree()
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == "target") && !p.ends_with("Cargo.lock"))
        .collect()
}

#[test]
fn the_popular_recipe_comes_out_correct_and_every_change_explained() {
    let ctx = writeup();
    let original = tree(&ctx);
    // Before: cargo warns about the misplaced [build].
    let before = ctx.cargo("p", &["build"]);
    assert!(text(&before.stderr).contains("unused manifest key: build"));

    let (code, plan, _) = run(&ctx, "p", &with(&["plan"], &WINDOWS));
    assert_eq!(code, 0);
    for finding in [
        "wrong: `[build] jobs` in Cargo.toml (Cargo.toml line 10)",
        "wrong: `split-debuginfo = \"off\"` in [profile.dev] (Cargo.toml line 15)",
        "slow: `opt-level = 1`, `codegen-units = 1` in [profile.test] (Cargo.toml line 18)",
        "taste: `incremental = false` in [profile.dev] (Cargo.toml line 14)",
        "slow: `cargo clean` before the tests (test-safe.ps1 line 2)",
        "stale: `rust-analyzer.lens.run` (.vscode/settings.json line 4)",
    ] {
        assert!(plan.contains(finding), "{finding}\n{plan}");
    }
    assert!(plan.contains("profile.dev.debug = 1\n"), "{plan}");
    snapshots(|| insta::assert_snapshot!("plan_writeup_windows", plan));
    let (_, json, _) = run(&ctx, "p", &with(&["plan", "--json"], &WINDOWS));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let debug = json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "profile.dev.debug")
        .unwrap();
    assert_eq!(debug["current"], "yours: 1 (Cargo.toml line 13), kept");
    snapshots(|| insta::assert_json_snapshot!("plan_writeup_windows_json", json));

    // --yes applies the plainly wrong fixes only; the test profile is a choice to make.
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes"], &WINDOWS));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("`[build] jobs` in Cargo.toml (Cargo.toml line 10): taken out"),
        "{stderr}"
    );
    let manifest = ctx.read("p/Cargo.toml");
    assert!(
        !manifest.contains("[build]") && !manifest.contains("split-debuginfo"),
        "{manifest}"
    );
    assert!(
        manifest.contains("debug = 1             # line tables only"),
        "{manifest}"
    );
    assert!(manifest.contains("opt-level = 1"), "{manifest}");
    let after = ctx.cargo("p", &["build"]);
    assert!(after.status.success());
    assert!(
        !text(&after.stderr).contains("warning"),
        "{}",
        text(&after.stderr)
    );
    assert_eq!(
        ctx.read("p/test-safe.ps1"),
        std::fs::read_to_string(fixtures_dir().join("writeup/test-safe.ps1")).unwrap()
    );

    // The slow test profile, fixed on request; regen keeps every fix, with no question.
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--fix", "all"], &WINDOWS));
    assert_eq!(code, 0, "{stderr}");
    assert!(!ctx.read("p/Cargo.toml").contains("[profile.test]"));
    let (code, _, stderr) = run(&ctx, "p", &with(&["regen"], &WINDOWS));
    assert_eq!(code, 0);
    assert!(stderr.contains("Unchanged"), "{stderr}");

    // Every fix is undone by remove like any other change.
    let (code, _, stderr) = run(&ctx, "p", &["remove"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tree(&ctx), original);
}

#[test]
fn a_users_stricter_debug_stays_under_every_preset() {
    for preset in ["safe", "balanced", "fast"] {
        let ctx = TestContext::new();
        ctx.cargo_new("p");
        let manifest = format!(
            "{}\n[profile.dev]\ndebug = 0  # we never use a debugger\nincremental = false\n",
            ctx.read("p/Cargo.toml")
        );
        ctx.write("p/Cargo.toml", &manifest);
        let (code, _, stderr) = run(
            &ctx,
            "p",
            &[
                "init", "--yes", "--preset", preset, "--ram", "8GiB", "--cpus", "4", "--os", "linux",
            ],
        );
        assert_eq!(code, 0, "{stderr}");
        let after = ctx.read("p/Cargo.toml");
        assert!(
            after.contains("debug = 0  # we never use a debugger\nincremental = false\n"),
            "{preset}: {after}"
        );
        let (_, plan, _) = run(
            &ctx,
            "p",
            &["plan", "--ram", "8GiB", "--cpus", "4", "--os", "linux"],
        );
        assert!(plan.contains("profile.dev.debug = 0\n"), "{preset}: {plan}");
        assert!(
            plan.contains("now: yours: 0 (Cargo.toml line"),
            "{preset}: {plan}"
        );
        let (code, _, _) = run(
            &ctx,
            "p",
            &["check", "--ram", "8GiB", "--cpus", "4", "--os", "linux"],
        );
        assert_eq!(code, 0, "{preset}");
    }
}

#[test]
fn values_that_beat_memsafes_are_warned_about() {
    let ctx = TestContext::new();
    ctx.write(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"a\"]\nresolver = \"2\"\n",
    );
    ctx.cargo_new("ws/a");
    ctx.write("ws/a/.cargo/config.toml", "[build]\njobs = 4\n");
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    let (code, _, stderr) = run(&ctx, "ws", &with(&["init", "--yes"], &hw));
    assert_eq!(code, 0, "{stderr}");
    for command in ["plan", "check"] {
        let output = ctx
            .memsafe("ws")
            .args(with(&[command], &hw))
            .env("CARGO_BUILD_JOBS", "16")
            .output()
            .unwrap();
        let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
        assert!(all.contains("CARGO_BUILD_JOBS=16"), "{command}: {all}");
        assert!(all.contains("it beats .cargo/config.toml"), "{command}: {all}");
        assert!(
            all.contains("`build.jobs = 4` in a member's config (a/.cargo/config.toml line 2)"),
            "{command}: {all}"
        );
    }
}
