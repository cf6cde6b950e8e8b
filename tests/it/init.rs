//! `memsafe init` end to end, through the binary, in temporary projects, with real cargo.

use crate::common::{TestContext, text};

fn init_args() -> [&'static str; 6] {
    ["init", "--yes", "--ram", "8", "--cpus", "4"]
}

/// Cargo accepted everything memsafe wrote: no warning about an unknown key or a profile in
/// the wrong manifest.
fn assert_cargo_accepts(ctx: &TestContext, dir: &str, args: &[&str]) {
    let output = ctx.cargo(dir, args);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "cargo {args:?} failed:\n{stderr}");
    for bad in [
        "unused manifest key",
        "unused config key",
        "profiles for the non root package",
        "warning",
    ] {
        assert!(!stderr.contains(bad), "cargo {args:?} warned `{bad}`:\n{stderr}");
    }
}

#[test]
fn fresh_package_builds_without_warnings_and_second_run_changes_nothing() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("Created .cargo/config.toml"), "{stderr}");

    let config = ctx.read("pkg/.cargo/config.toml");
    assert!(config.contains("[build]\njobs = 3\n"), "{config}");
    assert!(config.contains("RUST_TEST_THREADS = \"4\""), "{config}");
    assert!(
        ctx.read("pkg/Cargo.toml")
            .ends_with("[profile.dev.package.\"*\"]\ndebug = false\n")
    );
    assert!(
        ctx.read("pkg/.vscode/settings.json")
            .contains("\"rust-analyzer.check.extraArgs\": [\"--jobs\", \"3\"]")
    );
    assert!(ctx.exists("pkg/test-safe.sh") && ctx.exists("pkg/test-safe.ps1"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ctx.path("pkg/test-safe.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        let mode = std::fs::metadata(ctx.path("pkg/Cargo.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "the manifest kept its permissions");
    }

    assert_cargo_accepts(&ctx, "pkg", &["build"]);
    assert_cargo_accepts(&ctx, "pkg", &["test", "--no-run"]);

    let before = ctx.snapshot_tree();
    let again = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert!(again.status.success());
    assert!(
        text(&again.stderr).contains("Unchanged"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(ctx.snapshot_tree(), before, "a second run changed a file");
}

#[test]
fn workspace_member_configures_the_workspace_root() {
    let ctx = TestContext::new();
    ctx.cargo_new("ws/crates/a").cargo_new("ws/crates/b");
    ctx.write(
        "ws/Cargo.toml",
        "# my workspace\n[workspace]\nmembers = [\"crates/*\"]\nresolver = \"3\"\n",
    );
    let member_manifest = ctx.read("ws/crates/a/Cargo.toml");

    let output = ctx.memsafe("ws/crates/a/src").args(init_args()).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("is a member of the workspace"), "{stderr}");

    assert_eq!(
        ctx.read("ws/crates/a/Cargo.toml"),
        member_manifest,
        "the member's manifest was touched"
    );
    assert!(
        ctx.read("ws/Cargo.toml")
            .starts_with("# my workspace\n[workspace]\n")
    );
    assert!(ctx.read("ws/Cargo.toml").contains("[profile.dev.package.\"*\"]"));
    assert!(ctx.exists("ws/.cargo/config.toml") && !ctx.exists("ws/crates/a/.cargo"));

    assert_cargo_accepts(&ctx, "ws", &["build", "--workspace"]);
    assert_cargo_accepts(&ctx, "ws/crates/b", &["build"]);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let before = ctx.snapshot_tree();
    for args in [
        &["init", "--dry-run", "--ram", "8", "--cpus", "4"][..],
        &["init", "--yes", "--dry-run", "--ram", "8"],
    ] {
        let output = ctx.memsafe("pkg").args(args).output().unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let diff = text(&output.stdout);
        assert!(diff.contains("--- a/Cargo.toml\n+++ b/Cargo.toml\n"), "{diff}");
        assert!(
            diff.contains("--- /dev/null\n+++ b/.cargo/config.toml\n"),
            "{diff}"
        );
        assert!(text(&output.stderr).contains("nothing was written"));
        assert_eq!(ctx.snapshot_tree(), before);
    }
}

#[test]
fn no_terminal_and_no_yes_exits_2_and_writes_nothing() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let before = ctx.snapshot_tree();
    let output = ctx.memsafe("pkg").args(["init", "--ram", "8"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: no terminal"), "{stderr}");
    assert!(stderr.contains("help: pass `--yes`"), "{stderr}");
    assert_eq!(ctx.snapshot_tree(), before);
}

#[test]
fn no_project_is_a_clear_error() {
    let ctx = TestContext::new();
    ctx.write("notes.txt", "not rust\n");
    let output = ctx.memsafe(".").args(init_args()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: no `Cargo.toml` in"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    let missing = ctx
        .memsafe(".")
        .args(["init", "--yes", "--dir", "does/not/exist"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn existing_profiles_and_commented_settings_are_kept() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let manifest = "[package]\nname = \"pkg\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n# fast deps\n[profile.dev.package.\"*\"]\nopt-level = 2 # optimise deps\n\n[profile.release]\nlto = \"thin\"\n";
    ctx.write("pkg/Cargo.toml", manifest);
    let settings = "{\n    // formatting\n    \"editor.formatOnSave\": true,\n    /* old name */\n    \"rust-analyzer.checkOnSave.enable\": false,\n}\n";
    ctx.write("pkg/.vscode/settings.json", settings);

    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("renamed `rust-analyzer.checkOnSave.enable` to `rust-analyzer.checkOnSave`"),
        "{stderr}"
    );
    assert_eq!(
        ctx.read("pkg/Cargo.toml"),
        manifest.replace(
            "opt-level = 2 # optimise deps\n",
            "opt-level = 2 # optimise deps\ndebug = false\n"
        )
    );
    let settings = ctx.read("pkg/.vscode/settings.json");
    assert!(settings.starts_with("{\n    // formatting\n    \"editor.formatOnSave\": true,\n    /* old name */\n    \"rust-analyzer.checkOnSave\": false,\n"), "{settings}");
    assert_cargo_accepts(&ctx, "pkg", &["build"]);
}

#[test]
fn misplaced_build_jobs_leaves_cargo_toml() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let manifest = ctx.read("pkg/Cargo.toml");
    ctx.write("pkg/Cargo.toml", &format!("{manifest}\n[build]\njobs = 16\n"));
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("`[build] jobs` in Cargo.toml (Cargo.toml line"),
        "{}",
        text(&output.stderr)
    );
    assert!(!ctx.read("pkg/Cargo.toml").contains("[build]"));
    assert_cargo_accepts(&ctx, "pkg", &["build"]);
}

#[test]
fn legacy_cargo_config_is_edited_in_place() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    ctx.write("pkg/.cargo/config", "[alias]\nb = \"build\"\n");
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("legacy `.cargo/config`"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        ctx.read("pkg/.cargo/config"),
        "[alias]\nb = \"build\"\n\n[build]\njobs = 3\n\n[env]\nRUST_TEST_THREADS = \"4\"\n"
    );
    assert!(!ctx.exists("pkg/.cargo/config.toml"));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let invalid = std::fs::read_to_string(
        crate::common::fixtures_dir().join("invalid/DioxusLabs__dioxus__Cargo@05fb8c1.toml"),
    )
    .unwrap();
    let cases: [(&str, &str, &str); 4] = [
        (
            "Cargo.toml",
            &invalid,
            "Cargo.toml`: line 82, column 12: duplicate key",
        ),
        (
            ".vscode/settings.json",
            "[\"not\", \"an object\"]\n",
            "cannot edit `.vscode/settings.json`: line 1",
        ),
        (
            ".vscode/settings.json",
            "{ \"a\": }\n",
            "cannot edit `.vscode/settings.json`: line 1, column",
        ),
        (
            ".cargo/config.toml",
            "[build]\njobs = [\n",
            "cannot edit `.cargo/config.toml`: line ",
        ),
    ];
    for (file, content, message) in cases {
        let ctx = TestContext::new();
        ctx.cargo_new("pkg");
        ctx.write(&format!("pkg/{file}"), content);
        let before = ctx.snapshot_tree();
        let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file}: {stderr}");
        assert!(stderr.contains(message), "{file}: {stderr}");
        assert_eq!(ctx.snapshot_tree(), before, "{file}: something was written");
    }
}

#[test]
fn not_utf8_and_folder_in_place_of_a_file() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    std::fs::create_dir_all(ctx.path("pkg/.vscode")).unwrap();
    std::fs::write(
        ctx.path("pkg/.vscode/settings.json"),
        b"{\n  \"a\": \"\xff\"\n}\n",
    )
    .unwrap();
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("`.vscode/settings.json` is not UTF-8 text (line 2, column 9)"),
        "{}",
        text(&output.stderr)
    );

    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    std::fs::create_dir_all(ctx.path("pkg/.cargo/config.toml")).unwrap();
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("`.cargo/config.toml` is a folder"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_script_memsafe_did_not_write_is_left_alone() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    ctx.write("pkg/test-safe.sh", "#!/bin/sh\necho mine\n");
    let output = ctx.memsafe("pkg").args(init_args()).output().unwrap();
    assert!(output.status.success());
    assert!(
        text(&output.stderr).contains("test-safe.sh: left alone"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ctx.read("pkg/test-safe.sh"), "#!/bin/sh\necho mine\n");
}

#[test]
fn editor_none_and_script_none_write_only_cargo_files() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let output = ctx
        .memsafe("pkg")
        .args(init_args())
        .args(["--editor", "none", "--script", "none"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        !ctx.exists("pkg/.vscode") && !ctx.exists("pkg/test-safe.sh") && !ctx.exists("pkg/test-safe.ps1")
    );
    // Without the editor's reserve, more jobs fit: 8 - 1 = 7 GiB budget.
    assert!(ctx.read("pkg/.cargo/config.toml").contains("jobs = 4"));
}
