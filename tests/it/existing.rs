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
    // The summary puts what the repo has next to the plan.
    assert!(
        stderr.contains("profile.dev.debug = 1: yours: 1 (Cargo.toml line 13), kept"),
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
    // A later run that changes something else does not announce the earlier fix again.
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--preset", "safe"], &WINDOWS));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Updated"), "{stderr}");
    assert!(!stderr.contains("`[build] jobs` in Cargo.toml"), "{stderr}");
    let (code, _, stderr) = run(
        &ctx,
        "p",
        &with(&["init", "--yes", "--preset", "balanced"], &WINDOWS),
    );
    assert_eq!(code, 0, "{stderr}");
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
        assert!(all.contains("it beats the files"), "{command}: {all}");
        assert!(
            all.contains("`build.jobs = 4` in a member's config (a/.cargo/config.toml line 2)"),
            "{command}: {all}"
        );
    }
}

#[test]
fn a_stricter_value_set_by_hand_after_memsafe_stays() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx.write(
        "p/Cargo.toml",
        &format!(
            "{}\n[profile.dev]\ndebug = 2  # full please\n",
            ctx.read("p/Cargo.toml")
        ),
    );
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--preset", "safe"], &hw));
    assert_eq!(code, 0, "{stderr}");
    let manifest = ctx.read("p/Cargo.toml");
    assert!(
        manifest.contains("debug = \"line-tables-only\"  # full please"),
        "{manifest}"
    );
    // The user lowers it further by hand: memsafe keeps it, and says so.
    ctx.write(
        "p/Cargo.toml",
        &manifest.replace("debug = \"line-tables-only\"", "debug = 0"),
    );
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--preset", "safe"], &hw));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        ctx.read("p/Cargo.toml").contains("debug = 0  # full please"),
        "{stderr}"
    );
    assert!(stderr.contains("kept your `profile.dev.debug = 0`"), "{stderr}");
    let (code, _, _) = run(&ctx, "p", &with(&["check"], &hw));
    assert_eq!(code, 0);
    // A looser value set by hand is not kept: the preset lowers it again.
    ctx.write(
        "p/Cargo.toml",
        &ctx.read("p/Cargo.toml").replace("debug = 0", "debug = true"),
    );
    let (code, _, _) = run(&ctx, "p", &with(&["init", "--yes", "--preset", "safe"], &hw));
    assert_eq!(code, 0);
    assert!(ctx.read("p/Cargo.toml").contains("debug = \"line-tables-only\""));
}

#[test]
fn the_environment_never_decides_what_goes_into_the_files() {
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    let plain = TestContext::new();
    plain.cargo_new("p");
    let (code, _, _) = run(&plain, "p", &with(&["init", "--yes", "--preset", "safe"], &hw));
    assert_eq!(code, 0);
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let output = ctx
        .memsafe("p")
        .args(with(&["init", "--yes", "--preset", "safe"], &hw))
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("CARGO_PROFILE_DEV_DEBUG=0"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        ctx.read("p/Cargo.toml"),
        plain.read("p/Cargo.toml"),
        "the shell changed the files"
    );
    let (code, _, _) = run(&ctx, "p", &with(&["check"], &hw));
    assert_eq!(code, 0);
}

#[test]
fn a_finding_outside_cargo_toml_is_reported_not_claimed_fixed() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx.write("p/.cargo/config.toml", "[profile.test]\nopt-level = 1\n");
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--fix", "all"], &WINDOWS));
    assert_eq!(code, 0, "{stderr}");
    assert!(ctx.read("p/.cargo/config.toml").contains("opt-level = 1"));
    assert!(
        stderr.contains("`opt-level = 1` in [profile.test] (.cargo/config.toml line 2): left as it is"),
        "{stderr}"
    );
    let (_, plan, _) = run(&ctx, "p", &with(&["plan"], &WINDOWS));
    assert!(plan.contains("memsafe's fixes edit Cargo.toml only"), "{plan}");
}

#[test]
fn a_key_added_back_after_a_fix_is_the_users() {
    let ctx = writeup();
    let original = tree(&ctx);
    let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--fix", "all"], &WINDOWS));
    assert_eq!(code, 0, "{stderr}");
    let fixed = ctx.read("p/Cargo.toml");
    assert!(!fixed.contains("[build]"));
    ctx.write("p/Cargo.toml", &format!("{fixed}\n[build]\njobs = 7\n"));
    for _ in 0..2 {
        let (code, _, stderr) = run(&ctx, "p", &with(&["init", "--yes", "--fix", "all"], &WINDOWS));
        assert_eq!(code, 0, "{stderr}");
        assert!(
            ctx.read("p/Cargo.toml").ends_with("[build]\njobs = 7\n"),
            "{stderr}"
        );
    }
    let (_, plan, _) = run(&ctx, "p", &with(&["plan"], &WINDOWS));
    assert!(
        plan.contains("added back by hand after memsafe took it out"),
        "{plan}"
    );
    let (code, _, stderr) = run(&ctx, "p", &["remove"]);
    assert_eq!(code, 0, "{stderr}");
    // The user's jobs = 7 stays; everything else is as it was.
    let manifest = ctx.read("p/Cargo.toml");
    assert!(
        manifest.contains("jobs = 7") && !manifest.contains("jobs = 1"),
        "{manifest}"
    );
    assert_eq!(tree(&ctx).len(), original.len());
}

/// Putting back a dotted entry never overwrites a table the user wrote since.
#[test]
fn a_table_written_since_a_fix_is_kept_on_remove() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let manifest = format!("build.jobs = 1\n{}", ctx.read("p/Cargo.toml"));
    ctx.write("p/Cargo.toml", &manifest);
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    assert_eq!(run(&ctx, "p", &with(&["init", "--yes"], &hw)).0, 0);
    ctx.write(
        "p/Cargo.toml",
        &format!(
            "{}\n[build]\ntarget-dir = \"mytarget\"\n",
            ctx.read("p/Cargo.toml")
        ),
    );
    let (code, _, stderr) = run(&ctx, "p", &["remove"]);
    assert_eq!(code, 0, "{stderr}");
    let after = ctx.read("p/Cargo.toml");
    assert!(
        after.contains("target-dir = \"mytarget\"") && after.contains("jobs = 1"),
        "{after}"
    );
}

/// The split-debuginfo fix made for Windows stays made on the next run from Linux: a committed
/// Cargo.toml does not change with who runs memsafe.
#[test]
fn a_fix_does_not_flip_with_the_os() {
    let ctx = writeup();
    assert_eq!(run(&ctx, "p", &with(&["init", "--yes"], &WINDOWS)).0, 0);
    let fixed = ctx.read("p/Cargo.toml");
    assert!(!fixed.contains("split-debuginfo"));
    let linux = ["--ram", "16GiB", "--cpus", "8", "--os", "linux"];
    let (code, _, stderr) = run(&ctx, "p", &with(&["regen"], &linux));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(ctx.read("p/Cargo.toml"), fixed, "{stderr}");
}

/// `package.workspace` naming a folder that is not this package's workspace: exit 2, nothing
/// written there (cargo refuses that layout too).
#[test]
fn package_workspace_naming_another_project_is_refused() {
    let ctx = TestContext::new();
    ctx.cargo_new("victim");
    ctx.cargo_new("p");
    let manifest = ctx
        .read("p/Cargo.toml")
        .replace("[package]\n", "[package]\nworkspace = \"../victim\"\n");
    ctx.write("p/Cargo.toml", &manifest);
    let before = ctx.snapshot_tree();
    let (code, _, stderr) = run(&ctx, "p", &["init", "--yes", "--ram", "8GiB", "--cpus", "4"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not a workspace that has this package as a member"),
        "{stderr}"
    );
    assert_eq!(ctx.snapshot_tree(), before);
}

/// A member's own `build.jobs` is warned about, and `--fix member-jobs` takes it out so that the
/// root's applies there too; `remove` puts it back.
#[test]
fn a_members_jobs_can_be_managed() {
    let ctx = TestContext::new();
    ctx.write(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"a\"]\nresolver = \"2\"\n",
    );
    ctx.cargo_new("ws/a");
    let member = "[alias]\nt = \"test\"\n\n# this folder is heavy\n[build]\njobs = 4\n";
    ctx.write("ws/a/.cargo/config.toml", member);
    let start = tree(&ctx);
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    let (code, _, stderr) = run(&ctx, "ws", &with(&["init", "--yes"], &hw));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        ctx.read("ws/a/.cargo/config.toml"),
        member,
        "--yes alone leaves it"
    );
    let (code, _, stderr) = run(&ctx, "ws", &with(&["init", "--yes", "--fix", "member-jobs"], &hw));
    assert_eq!(code, 0, "{stderr}");
    // The key goes; its table and the user's comment over it stay (an empty table is fine in a
    // config file).
    assert_eq!(
        ctx.read("ws/a/.cargo/config.toml"),
        "[alias]\nt = \"test\"\n\n# this folder is heavy\n[build]\n"
    );
    let (code, _, stderr) = run(&ctx, "ws", &with(&["regen"], &hw));
    assert_eq!(code, 0);
    assert!(stderr.contains("Unchanged"), "{stderr}");
    let (code, stdout, stderr) = run(&ctx, "ws", &with(&["check"], &hw));
    assert_eq!(code, 0, "{stdout}");
    assert!(
        !stderr.contains("warning"),
        "a member's jobs that memsafe took out no longer beat anything: {stderr}"
    );
    let (code, _, stderr) = run(&ctx, "ws", &["remove"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(tree(&ctx), start);
}

/// Two members' `build.jobs`, and one added back by hand: the record holds both, the one added
/// back stays the user's across runs, and remove gives the rest back.
#[test]
fn several_members_and_a_value_added_back() {
    let ctx = TestContext::new();
    ctx.write(
        "ws/Cargo.toml",
        "[workspace]\nmembers = [\"x\", \"y\"]\nresolver = \"2\"\n",
    );
    for member in ["x", "y"] {
        ctx.cargo_new(&format!("ws/{member}"));
        ctx.write(
            &format!("ws/{member}/.cargo/config.toml"),
            "[alias]\nb = \"build\"\n\n[build]\njobs = 6\n",
        );
    }
    let hw = ["--ram", "8GiB", "--cpus", "4", "--os", "linux"];
    let (code, _, stderr) = run(&ctx, "ws", &with(&["init", "--yes", "--fix", "member-jobs"], &hw));
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run(&ctx, "ws", &with(&["check"], &hw));
    assert_eq!(code, 0, "{stdout}");
    ctx.write(
        "ws/x/.cargo/config.toml",
        "[alias]\nb = \"build\"\n\n[build]\njobs = 7\n",
    );
    for command in [vec!["init", "--yes", "--fix", "member-jobs"], vec!["regen"]] {
        let (code, _, stderr) = run(&ctx, "ws", &with(&command, &hw));
        assert_eq!(code, 0, "{stderr}");
        assert!(
            ctx.read("ws/x/.cargo/config.toml").contains("jobs = 7"),
            "{command:?}: {stderr}"
        );
        let (code, stdout, _) = run(&ctx, "ws", &with(&["check"], &hw));
        assert_eq!(code, 0, "{command:?}: {stdout}");
    }
    let (code, _, stderr) = run(&ctx, "ws", &["remove"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(ctx.read("ws/x/.cargo/config.toml").contains("jobs = 7"));
    assert_eq!(
        ctx.read("ws/y/.cargo/config.toml"),
        "[alias]\nb = \"build\"\n\n[build]\njobs = 6\n"
    );
}
