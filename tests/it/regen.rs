//! memsafe.toml, `memsafe regen` and `memsafe check`, through the binary.

use crate::common::{TestContext, snapshots, text};

fn run(ctx: &TestContext, args: &[&str]) -> (i32, String, String) {
    let output = ctx.memsafe("pkg").args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn configured() -> TestContext {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let (code, _, stderr) = run(&ctx, &["init", "--yes", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0, "{stderr}");
    ctx
}

#[test]
fn hardware_change_is_found_then_fixed_without_questions() {
    let ctx = configured();
    snapshots(|| insta::assert_snapshot!("memsafe_toml_8gib_4cpu", ctx.read("pkg/memsafe.toml")));

    let (code, stdout, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("everything matches the plan (3 build jobs"),
        "{stdout}"
    );

    let (code, stdout, _) = run(&ctx, &["check", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 1);
    snapshots(|| insta::assert_snapshot!("check_after_hardware_change", stdout));

    let (code, _, stderr) = run(&ctx, &["regen", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 0, "{stderr}");
    snapshots(|| insta::assert_snapshot!("regen_after_hardware_change", stderr));
    assert!(ctx.read("pkg/.cargo/config.toml").contains("jobs = 16"));
    assert!(ctx.read("pkg/memsafe.toml").contains("logical_cpus = 16"));

    let (code, stdout, _) = run(&ctx, &["check", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 0, "{stdout}");
    let before = ctx.snapshot_tree();
    let (code, _, stderr) = run(&ctx, &["regen", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 0);
    assert!(stderr.contains("Unchanged"), "{stderr}");
    assert_eq!(ctx.snapshot_tree(), before, "a second regen changed a file");
}

/// After a hardware change, nothing memsafe wrote describes the old machine: the config's
/// header names no hardware, and its values are the new plan's.
#[test]
fn the_config_after_regen_describes_no_old_machine() {
    let ctx = configured();
    let (code, _, stderr) = run(&ctx, &["regen", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 0, "{stderr}");
    let config = ctx.read("pkg/.cargo/config.toml");
    assert!(
        !config.contains("8 GiB") && !config.contains("4 CPUs"),
        "{config}"
    );
    snapshots(|| insta::assert_snapshot!("config_after_regen_32gib_16cpu", config));
}

#[test]
fn team_mode_help_says_what_works() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let (code, _, stderr) = run(&ctx, &["init", "--yes", "--team", "--ram", "16", "--cpus", "8"]);
    assert_eq!(code, 0, "{stderr}");
    // A smaller machine than the team's: regen would change nothing, so check does not say to
    // run it; it says what does help.
    let (code, stdout, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 1);
    assert!(
        !stdout.contains("help: `memsafe regen` updates the files"),
        "{stdout}"
    );
    assert!(stdout.contains("set CARGO_BUILD_JOBS for yourself"), "{stdout}");
    let (code, _, stderr) = run(&ctx, &["regen"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("team mode: the plan is for the machine recorded in memsafe.toml"),
        "{stderr}"
    );
}

#[test]
fn hand_edit_is_reported_and_restored() {
    let ctx = configured();
    let manifest = ctx.read("pkg/Cargo.toml");
    ctx.write(
        "pkg/Cargo.toml",
        &manifest.replace("debug = false", "debug = true # I want it"),
    );

    let (code, stdout, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains(
            "Cargo.toml: profile.dev.package.\"*\".debug is true (changed by hand), the plan says false"
        ),
        "{stdout}"
    );
    let (code, quiet, _) = run(&ctx, &["check", "--quiet", "--ram", "8", "--cpus", "4"]);
    assert_eq!((code, quiet.as_str()), (1, ""));

    let (code, _, stderr) = run(&ctx, &["regen", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("true -> false (edited by hand: restored)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("choose another preset (or no editor) under [answers]"),
        "{stderr}"
    );
    assert_eq!(
        ctx.read("pkg/Cargo.toml"),
        manifest.replace("debug = false", "debug = false # I want it")
    );
}

#[test]
fn missing_managed_file_is_reported() {
    let ctx = configured();
    std::fs::remove_file(ctx.path("pkg/.vscode/settings.json")).unwrap();
    let (code, stdout, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 1);
    assert!(stdout.contains(".vscode/settings.json is missing"), "{stdout}");
}

#[test]
fn pinned_value_survives_any_hardware() {
    let ctx = configured();
    let record = ctx.read("pkg/memsafe.toml");
    ctx.write(
        "pkg/memsafe.toml",
        &record.replace("# jobs = 3", "jobs = 2 # our CI runner"),
    );
    for (ram, cpus) in [("4", "2"), ("64", "32"), ("8", "4")] {
        let (code, _, stderr) = run(&ctx, &["regen", "--ram", ram, "--cpus", cpus]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            ctx.read("pkg/.cargo/config.toml").contains("jobs = 2\n"),
            "{ram} GiB"
        );
        // The whole [overrides] stays the user's, the comment lines after the pin included.
        assert!(
            ctx.read("pkg/memsafe.toml")
                .contains("jobs = 2 # our CI runner\n# test_threads = 2\n"),
            "{}",
            ctx.read("pkg/memsafe.toml")
        );
        let (code, stdout, _) = run(&ctx, &["check", "--ram", ram, "--cpus", cpus]);
        assert_eq!(code, 0, "{stdout}");
    }
    let output = ctx
        .memsafe("pkg")
        .args(["plan", "--ram", "64", "--cpus", "32"])
        .output()
        .unwrap();
    assert!(
        text(&output.stdout).contains("build.jobs = 2\n      pinned to 2 in memsafe.toml [overrides]"),
        "{}",
        text(&output.stdout)
    );
}

/// A pin beyond the budget is kept, and every command that plans says it may run out of memory.
#[test]
fn a_pin_beyond_the_budget_is_warned_about() {
    let ctx = configured();
    let record = ctx.read("pkg/memsafe.toml");
    ctx.write("pkg/memsafe.toml", &record.replace("# jobs = 3", "jobs = 6"));
    for command in ["regen", "check"] {
        let (code, _, stderr) = run(&ctx, &[command, "--ram", "8", "--cpus", "4"]);
        assert_eq!(code, 0, "{command}: {stderr}");
        assert!(
            stderr.contains("warning: `jobs = 6` is pinned in memsafe.toml [overrides]")
                && stderr.contains("the plan would choose 3"),
            "{command}: {stderr}"
        );
    }
    assert!(ctx.read("pkg/.cargo/config.toml").contains("jobs = 6\n"));
}

#[test]
fn second_init_takes_the_recorded_answers() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let (code, _, _) = run(
        &ctx,
        &[
            "init", "--yes", "--ram", "8", "--cpus", "4", "--preset", "safe", "--editor", "none",
        ],
    );
    assert_eq!(code, 0);
    let (code, _, stderr) = run(&ctx, &["init", "--yes", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0);
    assert!(
        stderr.contains("Unchanged"),
        "recorded answers were not the defaults: {stderr}"
    );
    assert!(!ctx.exists("pkg/.vscode"));
}

#[test]
fn team_mode_plans_for_the_recorded_machine() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let (code, _, stderr) = run(&ctx, &["init", "--yes", "--team", "--ram", "16", "--cpus", "8"]);
    assert_eq!(code, 0, "{stderr}");
    let files = ctx.snapshot_tree();
    // A teammate on any machine: regen without flags writes the same files.
    let (code, _, stderr) = run(&ctx, &["regen"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        ctx.snapshot_tree(),
        files,
        "a teammate's regen changed a committed file"
    );
    // A bigger machine passes; a smaller one is told.
    let (code, stdout, _) = run(&ctx, &["check", "--ram", "32", "--cpus", "16"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, stdout, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("is smaller than the team plan's (16 GiB, 8 CPUs)"),
        "{stdout}"
    );
    // Lowering the team's machine is an explicit regen with flags.
    let (code, _, _) = run(&ctx, &["regen", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
    assert_eq!(code, 0);
}

#[test]
fn bad_records_exit_2_and_write_nothing() {
    let cases = [
        (
            "preset = \"balanced\"",
            "preset = \"turbo\"",
            "line 14: `answers.preset` is wrong: unknown variant `turbo`, expected one of `safe`, `balanced`, `fast`",
        ),
        (
            "version = \"0.1.0\"",
            "version = \"99.0.0\"",
            "written by memsafe 99.0.0 (record format 2), newer than this memsafe",
        ),
        (
            "format = 2",
            "format = 3",
            "line 10: written by memsafe 0.1.0 (record format 3), newer than this memsafe",
        ),
        (
            "format = 2",
            "format = 1",
            "line 10: written by memsafe 0.1.0 (record format 1), which this memsafe cannot undo",
        ),
        (
            "format = 2",
            "format = \"2\"",
            "line 10: `memsafe.format` is missing or not an integer",
        ),
        (
            "logical_cpus = 4",
            "logical_cpus = \"four\"",
            "`hardware.logical_cpus` is wrong: invalid type: string \"four\", expected u32",
        ),
        (
            "[plan]",
            "[plan",
            "cannot read `memsafe.toml`: line 31: unclosed table",
        ),
        (
            "# jobs = 3",
            "jobz = 3",
            "unknown field `jobz`, expected `jobs` or `test_threads`",
        ),
    ];
    for (from, to, message) in cases {
        let ctx = configured();
        let record = ctx.read("pkg/memsafe.toml");
        assert!(record.contains(from), "{from}");
        ctx.write("pkg/memsafe.toml", &record.replacen(from, to, 1));
        let before = ctx.snapshot_tree();
        for command in ["regen", "check", "init"] {
            let mut args = vec![command, "--ram", "8", "--cpus", "4"];
            if command == "init" {
                args.push("--yes");
            }
            let (code, _, stderr) = run(&ctx, &args);
            assert_eq!(code, 2, "{command} with `{to}`: {stderr}");
            assert!(stderr.contains(message), "{command} with `{to}`: {stderr}");
        }
        assert_eq!(ctx.snapshot_tree(), before, "`{to}`: something was written");
    }
    // Truncated: half of the file.
    let ctx = configured();
    let record = ctx.read("pkg/memsafe.toml");
    // Cut at every line boundary: each prefix is an error or a record missing whole tables,
    // never a silently shorter undo list.
    let cuts: Vec<usize> = record
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .filter(|&i| i < record.len())
        .collect();
    for cut in cuts {
        ctx.write("pkg/memsafe.toml", &record[..cut]);
        let (code, _, stderr) = run(&ctx, &["check", "--ram", "8", "--cpus", "4"]);
        assert_eq!(code, 2, "cut at byte {cut}: {stderr}");
        assert!(stderr.contains("cannot read `memsafe.toml`"), "{stderr}");
    }
}

#[test]
fn regen_without_a_record_says_to_init() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    for command in ["regen", "check"] {
        let (code, _, stderr) = run(&ctx, &[command]);
        assert_eq!(code, 2);
        assert!(stderr.contains("no memsafe.toml in"), "{stderr}");
        assert!(stderr.contains("help: run `memsafe init` first"), "{stderr}");
    }
}
