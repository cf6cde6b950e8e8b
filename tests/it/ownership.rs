//! What memsafe owns, across presets, machines, editors, hand edits, interruptions and undo:
//! every case of the ownership issue, through the binary.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{TestContext, project, text};

/// Runs memsafe in `p` with fixed hardware; returns (exit code, stdout + stderr).
fn run(ctx: &TestContext, args: &[&str]) -> (i32, String) {
    let output = ctx.memsafe("p").args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

fn ok(ctx: &TestContext, args: &[&str]) -> String {
    let (code, output) = run(ctx, args);
    assert_eq!(code, 0, "memsafe {args:?}: {output}");
    output
}

const HW: [&str; 6] = ["--ram", "16GiB", "--cpus", "8", "--os", "linux"];

fn with_hw<'a>(args: &[&'a str]) -> Vec<&'a str> {
    crate::common::with(args, &HW)
}

/// cargo reads the project without a word about memsafe's keys.
fn cargo_accepts(ctx: &TestContext) {
    let output = ctx.cargo("p", &["metadata", "--no-deps", "--format-version", "1"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn keys_a_plan_stops_writing_go_back_to_the_users() {
    let ctx = project();
    let start = ctx.files();
    ok(
        &ctx,
        &with_hw(&["init", "--yes", "--preset", "safe", "--editor", "vscode,zed"]),
    );
    assert!(ctx.read("p/Cargo.toml").contains("incremental = false"));
    assert!(ctx.read("p/.vscode/settings.json").contains("procMacro.enable"));
    ok(&ctx, &with_hw(&["init", "--yes", "--preset", "balanced"]));
    let manifest = ctx.read("p/Cargo.toml");
    assert!(
        !manifest.contains("line-tables-only") && !manifest.contains("incremental"),
        "{manifest}"
    );
    for settings in ["p/.vscode/settings.json", "p/.zed/settings.json"] {
        let text = ctx.read(settings);
        assert!(
            !text.contains("procMacro") && !text.contains("\"enable\""),
            "{settings}: {text}"
        );
    }
    let (code, output) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 0, "{output}");
    let plan = ok(&ctx, &with_hw(&["plan"]));
    assert!(
        plan.contains("profile.dev.debug = cargo's default (full)"),
        "{plan}"
    );
    cargo_accepts(&ctx);

    // Back to safe by editing the record, then regen: the keys come back; check agrees.
    let record = ctx
        .read("p/memsafe.toml")
        .replace("preset = \"balanced\"", "preset = \"safe\"");
    ctx.write("p/memsafe.toml", &record);
    ok(&ctx, &with_hw(&["regen"]));
    assert!(ctx.read("p/Cargo.toml").contains("incremental = false"));
    assert_eq!(run(&ctx, &with_hw(&["check"])).0, 0);

    // A small machine turns cache priming off; a bigger one takes that back.
    ok(&ctx, &["regen", "--ram", "4GiB", "--cpus", "8", "--os", "linux"]);
    ok(&ctx, &with_hw(&["init", "--yes", "--preset", "balanced"]));
    assert!(
        !ctx.read("p/.vscode/settings.json")
            .contains("cachePriming.enable")
    );

    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start, "remove left something behind");
}

#[test]
fn remove_after_a_regen_that_restored_a_hand_edit() {
    let ctx = project();
    ctx.write(
        "p/Cargo.toml",
        &format!("{}\n[profile.dev]\nopt-level = 1\n", ctx.read("p/Cargo.toml")),
    );
    let start = ctx.files();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let config = ctx.read("p/.cargo/config.toml");
    ctx.write("p/.cargo/config.toml", &config.replace("jobs = 8", "jobs = 2"));
    let manifest = ctx.read("p/Cargo.toml");
    ctx.write("p/Cargo.toml", &manifest.replace("debug = false", "debug = true"));
    let output = ok(&ctx, &with_hw(&["regen"]));
    assert!(output.contains("(edited by hand: restored)"), "{output}");
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start);
}

#[test]
fn a_missing_final_newline_and_lines_appended_later() {
    let ctx = project();
    let manifest = ctx.read("p/Cargo.toml");
    let original = format!("{}\nserde_json = \"1\"", manifest.trim_end());
    ctx.write("p/Cargo.toml", &original);
    ctx.write("p/.cargo/config.toml", "[alias]\nb = \"build\"");
    ok(&ctx, &with_hw(&["init", "--yes"]));
    assert!(
        !ctx.read("p/Cargo.toml").ends_with('\n'),
        "the file had no final newline"
    );
    // The user appends after memsafe's lines.
    let appended = format!("{}\n\n[features]\nextra = []", ctx.read("p/Cargo.toml"));
    ctx.write("p/Cargo.toml", &appended);
    let config = format!("{}\n[alias]\nt = \"test\"", ctx.read("p/.cargo/config.toml")).replace(
        "[alias]\nt",
        "[target.x86_64-unknown-linux-gnu]\nrunner = \"env\"\n\n[alias2]\nt",
    );
    ctx.write("p/.cargo/config.toml", &config);
    ok(&ctx, &["remove"]);
    let manifest = ctx.read("p/Cargo.toml");
    assert_eq!(manifest, format!("{original}\n\n[features]\nextra = []"));
    let config = ctx.read("p/.cargo/config.toml");
    assert!(config.starts_with("[alias]\nb = \"build\"\n"), "{config:?}");
    assert!(
        !config.contains("jobs") && !config.contains("RUST_TEST_THREADS"),
        "{config}"
    );
    assert!(config.parse::<toml_edit::DocumentMut>().is_ok(), "{config}");
}

#[test]
fn a_created_file_with_the_users_content_in_it_stays() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes", "--editor", "vscode"]));
    let settings =
        ctx.read("p/.vscode/settings.json")
            .replacen('{', "{\n  \"editor.formatOnSave\": true,", 1);
    ctx.write("p/.vscode/settings.json", &settings);
    ok(&ctx, &with_hw(&["init", "--yes", "--editor", "none"]));
    let settings = ctx.read("p/.vscode/settings.json");
    assert!(
        settings.contains("formatOnSave") && !settings.contains("rust-analyzer"),
        "{settings}"
    );
    ok(&ctx, &["remove"]);
    assert_eq!(
        ctx.read("p/.vscode/settings.json"),
        "{\n  \"editor.formatOnSave\": true\n}\n"
    );

    // A legacy .cargo/config that takes over from memsafe's .cargo/config.toml.
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let config = ctx.read("p/.cargo/config.toml");
    ctx.write(
        "p/.cargo/config.toml",
        &format!("{config}\n[alias]\nb = \"build\"\n"),
    );
    ctx.write("p/.cargo/config", "[alias]\nt = \"test\"\n");
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let toml = ctx.read("p/.cargo/config.toml");
    assert!(toml.contains("b = \"build\"") && !toml.contains("jobs"), "{toml}");
    assert!(ctx.read("p/.cargo/config").contains("jobs = 8"));
    ok(&ctx, &["remove"]);
    assert!(ctx.read("p/.cargo/config.toml").contains("b = \"build\""));
    assert_eq!(ctx.read("p/.cargo/config"), "[alias]\nt = \"test\"\n");

    // A test-safe.sh of the user's own.
    let ctx = project();
    ctx.write("p/test-safe.sh", "#!/bin/sh\ncargo test\n");
    let output = ok(&ctx, &with_hw(&["init", "--yes"]));
    assert!(output.contains("test-safe.sh: left alone"), "{output}");
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.read("p/test-safe.sh"), "#!/bin/sh\ncargo test\n");
}

#[test]
fn the_record_is_untrusted() {
    for (from, to) in [
        ("path = \".cargo/config.toml\"", "path = \"/etc/hostname\""),
        ("path = \".cargo/config.toml\"", "path = \"../outside.toml\""),
        ("path = \".cargo/config.toml\"", "path = \"src/lib.rs\""),
        ("path = \"test-safe.sh\"", "path = \"./test-safe.sh\""),
    ] {
        let ctx = project();
        ctx.write("outside.toml", "[build]\njobs = 8\n");
        ok(&ctx, &with_hw(&["init", "--yes"]));
        let record = ctx.read("p/memsafe.toml");
        assert!(record.contains(from));
        // With the digest left as it was, and with it recomputed: both refused.
        for text in [record.replace(from, to), with_digest(&record.replace(from, to))] {
            ctx.write("p/memsafe.toml", &text);
            let before = ctx.files();
            for command in [vec!["remove"], with_hw(&["regen"]), with_hw(&["check"])] {
                let (code, output) = run(&ctx, &command);
                assert_eq!(code, 2, "{command:?} with {to}: {output}");
                assert!(output.contains("memsafe.toml"), "{output}");
            }
            assert_eq!(ctx.files(), before, "{to}");
        }
    }
}

/// `text` with `[memsafe] owned` set to the digest of its `[[file]]` entries, as a forger
/// would compute it.
fn with_digest(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Files {
        #[serde(default)]
        file: Vec<memsafe::record::FileRecord>,
    }
    let files: Files = toml_edit::de::from_str(text).unwrap_or(Files { file: Vec::new() });
    let digest = memsafe::record::hash(serde_json::to_string(&files.file).unwrap().as_bytes());
    let old = text.lines().find(|l| l.starts_with("owned = ")).unwrap();
    text.replace(old, &format!("owned = \"{digest}\""))
}

#[test]
fn pins_out_of_range_are_refused_by_name() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let record = ctx.read("p/memsafe.toml");
    for pin in ["jobs = 4294967295", "jobs = 0", "test_threads = 2000"] {
        ctx.write(
            "p/memsafe.toml",
            &record.replace("[overrides]\n", &format!("[overrides]\n{pin}\n")),
        );
        let (code, output) = run(&ctx, &with_hw(&["regen"]));
        assert_eq!(code, 2, "{pin}: {output}");
        let key = pin.split(' ').next().unwrap();
        assert!(
            output.contains(&format!("`overrides.{key}`")) && output.contains("1 to 1024"),
            "{output}"
        );
    }
}

#[test]
fn normal_edits_never_block_remove() {
    let ctx = project();
    let settings = "{\n  // the team's\n  \"editor.tabSize\": 4\n}\n";
    ctx.write("p/.vscode/settings.json", settings);
    ok(&ctx, &with_hw(&["init", "--yes"]));
    // VS Code's Settings UI appends at the end; a comment goes above memsafe's table.
    let edited = ctx
        .read("p/.vscode/settings.json")
        .replace("\n}\n", ",\n  \"editor.wordWrap\": \"on\"\n}\n");
    ctx.write("p/.vscode/settings.json", &edited);
    let manifest = ctx.read("p/Cargo.toml").replace(
        "[profile.dev.package.\"*\"]",
        "# mine\n[profile.dev.package.\"*\"]",
    );
    ctx.write("p/Cargo.toml", &manifest);
    let config = ctx
        .read("p/.cargo/config.toml")
        .replace("[build]", "# faster\n[build]");
    ctx.write("p/.cargo/config.toml", &config);
    ok(&ctx, &["remove"]);
    assert_eq!(
        ctx.read("p/.vscode/settings.json"),
        "{\n  // the team's\n  \"editor.tabSize\": 4,\n  \"editor.wordWrap\": \"on\"\n}\n"
    );
    // The user's comment keeps the table it is on (now empty), and the file memsafe created.
    assert!(ctx.read("p/Cargo.toml").contains("# mine"));
    assert!(ctx.read("p/.cargo/config.toml").contains("# faster"));
    cargo_accepts(&ctx);
}

#[test]
fn line_endings_outside_owned_keys_never_change() {
    let ctx = project();
    let mixed =
        "[package]\r\nname = \"p\"\nversion = \"0.1.0\"\r\nedition = \"2021\"\n\r\n[dependencies]\r\n";
    ctx.write("p/Cargo.toml", mixed);
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let after = ctx.read("p/Cargo.toml");
    assert!(after.starts_with(mixed), "{after:?}");
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.read("p/Cargo.toml"), mixed);
}

#[test]
fn the_last_of_duplicate_keys_is_the_one_edited_and_checked() {
    let ctx = project();
    let settings = "{\n  \"rust-analyzer.numThreads\": 2,\n  \"rust-analyzer.numThreads\": 9\n}\n";
    ctx.write("p/.vscode/settings.json", settings);
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let after = ctx.read("p/.vscode/settings.json");
    assert!(
        after.starts_with("{\n  \"rust-analyzer.numThreads\": 2,\n  \"rust-analyzer.numThreads\": 4"),
        "{after}"
    );
    ctx.write(
        "p/.vscode/settings.json",
        &after.replace(
            "\"rust-analyzer.numThreads\": 4",
            "\"rust-analyzer.numThreads\": 7",
        ),
    );
    let (code, output) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("rust-analyzer.numThreads is 7"), "{output}");
}

#[cfg(unix)]
#[test]
fn owner_and_mode_are_kept() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ctx = project();
    let manifest = ctx.path("p/Cargo.toml");
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o640)).unwrap();
    let is_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if is_root {
        std::os::unix::fs::chown(&manifest, Some(1000), Some(1000)).unwrap();
    }
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let metadata = std::fs::metadata(&manifest).unwrap();
    assert_eq!(metadata.mode() & 0o777, 0o640);
    if is_root {
        assert_eq!((metadata.uid(), metadata.gid()), (1000, 1000));
    }
}

#[test]
fn the_lock_does_not_depend_on_tmpdir() {
    let ctx = project();
    let held = memsafe::lock::acquire(&ctx.path("p")).unwrap();
    let other_tmp = ctx.path("tmp");
    std::fs::create_dir_all(&other_tmp).unwrap();
    let output = ctx
        .memsafe("p")
        .args(with_hw(&["init", "--yes"]))
        .env("TMPDIR", &other_tmp)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("another memsafe is changing"));
    drop(held);
}

#[test]
fn scripts_edited_by_hand_and_folders_that_were_there() {
    let ctx = project();
    std::fs::create_dir_all(ctx.path("p/.vscode")).unwrap();
    std::fs::create_dir_all(ctx.path("p/.cargo")).unwrap();
    let start = ctx.files();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let script = ctx.read("p/test-safe.sh").replace("set -u", "set -u\necho mine");
    ctx.write("p/test-safe.sh", &script);
    let output = ok(
        &ctx,
        &["regen", "--ram", "32GiB", "--cpus", "16", "--os", "linux"],
    );
    assert!(output.contains("test-safe.sh: left as it is"), "{output}");
    assert_eq!(ctx.read("p/test-safe.sh"), script);
    // It is the user's now: remove leaves it.
    ok(&ctx, &["remove"]);
    assert_eq!(
        ctx.read("p/test-safe.sh"),
        script,
        "remove deleted an edited script"
    );
    std::fs::remove_file(ctx.path("p/test-safe.sh")).unwrap();
    // The folders that were there before memsafe stay, empty.
    assert_eq!(ctx.files(), start);
}

#[test]
fn a_rolled_back_init_leaves_no_folder_behind() {
    let ctx = project();
    let start = ctx.files();
    let output = ctx
        .memsafe("p")
        .args(with_hw(&["init", "--yes"]))
        .env("MEMSAFE_FAULT_FAIL_WRITE", "test-safe.ps1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(ctx.files(), start);
}

type Stopped = (std::process::Child, BufReader<std::process::ChildStderr>);

/// Starts memsafe stopped at write step `step`, with the rest of its stderr to read; `None`
/// when the run had fewer steps.
fn stopped_at(ctx: &TestContext, args: &[&str], step: usize) -> Option<Stopped> {
    let mut child = ctx
        .memsafe("p")
        .args(args)
        .env("MEMSAFE_FAULT_STOP_AT", step.to_string())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut stopped = false;
    let mut line = String::new();
    while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
        if line.trim_end() == format!("memsafe-fault: stop {step}") {
            stopped = true;
            break;
        }
        line.clear();
    }
    if stopped {
        // The line comes just before the stop: wait for the stop itself, so that a signal sent
        // next never arrives before it.
        #[cfg(unix)]
        {
            let mut status = 0;
            // SAFETY: waits on our own child, reporting a stop without reaping it.
            unsafe {
                libc::waitpid(
                    i32::try_from(child.id()).unwrap(),
                    &raw mut status,
                    libc::WUNTRACED,
                );
            }
        }
        Some((child, stderr))
    } else {
        child.wait().unwrap();
        None
    }
}

#[cfg(unix)]
fn signal(child: &std::process::Child, signal: libc::c_int) {
    // SAFETY: sends a signal to our own child process.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), signal);
    }
}

#[cfg(unix)]
#[test]
fn killed_at_every_step_the_next_command_recovers_and_remove_gives_the_original_back() {
    let setup = |ctx: &TestContext| {
        ctx.write(
            "p/.vscode/settings.json",
            "{\n  // mine\n  \"editor.tabSize\": 4\n}\n",
        );
    };
    let init = with_hw(&["init", "--yes"]);
    let regen = ["regen", "--ram", "4GiB", "--cpus", "2", "--os", "linux"];
    for (name, args) in [
        ("init", init.as_slice()),
        ("regen", &regen[..]),
        ("remove", &["remove"][..]),
    ] {
        let mut steps = 0;
        for step in 1.. {
            let ctx = project();
            setup(&ctx);
            let original = ctx.files();
            if name != "init" {
                ok(&ctx, &init);
            }
            let before = ctx.files();
            let Some((mut child, _stderr)) = stopped_at(&ctx, args, step) else {
                break;
            };
            child.kill().unwrap();
            child.wait().unwrap();
            steps += 1;
            // A read-only command says so and writes nothing.
            let interrupted = ctx.files();
            let (code, output) = run(&ctx, &with_hw(&["check"]));
            if ctx.exists("p/.memsafe-journal") {
                assert!(
                    output.contains("interrupted") && code != 0,
                    "{name} step {step}: {output}"
                );
            }
            assert_eq!(
                ctx.files(),
                interrupted,
                "{name} step {step}: check wrote something"
            );
            // The next command that writes rolls the run back first.
            if name == "init" {
                // Rolled back (or only a temporary file swept); no record is left to undo.
                let (code, output) = run(&ctx, &["remove"]);
                assert!(code == 0 || code == 2, "{name} step {step}: {output}");
            } else {
                let (code, output) = run(&ctx, &init);
                assert_eq!(code, 0, "{name} step {step}: {output}");
                assert_eq!(
                    ctx.files(),
                    before,
                    "{name} step {step}: not as before the run: {output}"
                );
                ok(&ctx, &["remove"]);
            }
            assert_eq!(
                ctx.files(),
                original,
                "{name} step {step}: remove did not give the original back"
            );
        }
        assert!(steps >= 6, "{name}: only {steps} steps");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_the_writes_puts_everything_back_and_exits_130() {
    for step in [2, 5, 9] {
        let ctx = project();
        let before = ctx.files();
        let (child, _stderr) =
            stopped_at(&ctx, &with_hw(&["init", "--yes"]), step).expect("the run has this step");
        signal(&child, libc::SIGINT);
        signal(&child, libc::SIGCONT);
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(130), "step {step}");
        assert_eq!(ctx.files(), before, "step {step}: a file was written");
    }
}

#[cfg(unix)]
#[test]
fn a_file_changed_while_memsafe_works_is_named_and_nothing_is_written() {
    let ctx = project();
    ctx.write("p/.cargo/config.toml", "[alias]\nb = \"build\"\n");
    // Stop before the second file (Cargo.toml) is written, edit it as `cargo add` would.
    let (child, mut stderr) =
        stopped_at(&ctx, &with_hw(&["init", "--yes"]), 5).expect("the run has this step");
    let mut expected = ctx.files();
    let edited = ctx
        .read("p/Cargo.toml")
        .replace("[dependencies]", "[dependencies]\nserde = \"1\"");
    ctx.write("p/Cargo.toml", &edited);
    for (path, bytes) in &mut expected {
        if path == "p/Cargo.toml" {
            *bytes = edited.clone().into_bytes();
        }
    }
    // What stands now, while memsafe waits (its journal, a temporary file), must go.
    expected.retain(|(path, _)| !path.starts_with("p/.memsafe-") && path != "p/memsafe.toml");
    signal(&child, libc::SIGCONT);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = rest;
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("`Cargo.toml` changed while memsafe was working"),
        "{stderr}"
    );
    assert_eq!(
        ctx.files(),
        expected,
        "the user's edit is kept and nothing of memsafe's stays"
    );
}

#[cfg(unix)]
#[test]
fn a_remove_that_fails_midway_is_finished_by_a_retry() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = project();
    let start = ctx.files();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    std::fs::set_permissions(ctx.path("p/.vscode"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let before = ctx.files();
    let (code, output) = run(&ctx, &["remove"]);
    std::fs::set_permissions(ctx.path("p/.vscode"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(code, 1, "{output}");
    assert_eq!(ctx.files(), before, "a failed remove wrote something");
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start);
}

/// Killed after Cargo.toml was written, then the user edits Cargo.toml (`cargo add`): the next
/// command cannot roll that file back, so it keeps the run's record, and `remove` undoes
/// memsafe's keys there and keeps the user's edit.
#[cfg(unix)]
#[test]
fn a_killed_run_then_an_edit_keeps_the_record_so_remove_can_finish() {
    let ctx = project();
    let original = ctx.read("p/Cargo.toml");
    // Steps: 3 for the journal, then 4 per file (memsafe.toml first, Cargo.toml second).
    let (mut child, _stderr) = stopped_at(&ctx, &with_hw(&["init", "--yes", "--preset", "safe"]), 12)
        .expect("the run has this step");
    child.kill().unwrap();
    child.wait().unwrap();
    let manifest = ctx.read("p/Cargo.toml");
    assert!(
        manifest.contains("line-tables-only"),
        "Cargo.toml was not written yet: {manifest}"
    );
    ctx.write(
        "p/Cargo.toml",
        &manifest.replace("[dependencies]", "[dependencies]\nserde = \"1\""),
    );
    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("left `Cargo.toml` as they are") && output.contains("kept the run's memsafe.toml"),
        "{output}"
    );
    assert_eq!(
        ctx.read("p/Cargo.toml"),
        original.replace("[dependencies]", "[dependencies]\nserde = \"1\"")
    );
    assert!(!ctx.exists("p/memsafe.toml") && !ctx.exists("p/.memsafe-journal"));
}

/// A user's text that looks like memsafe's own markers is never taken for one.
#[test]
fn text_that_looks_like_a_marker_stays_the_users() {
    let ctx = project();
    let config =
        "[env]\nX = \"@@memsafe0-restore-0@@\"\nY = \"@@memsafe-restore-0@@\"\n\n[build]\njobs = 16\n";
    ctx.write("p/.cargo/config.toml", config);
    ctx.write(
        "p/.vscode/settings.json",
        "{\n  \"my.note\": \"@@memsafe0-value-0@@\",\n  \"rust-analyzer.numThreads\": 8\n}\n",
    );
    let start = ctx.files();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.files(), start);
}

/// A `.cargo/config` renamed to `.cargo/config.toml` (as cargo's warning asks) keeps memsafe's
/// record of it: the original value is not lost.
#[test]
fn a_renamed_legacy_config_keeps_its_record() {
    let ctx = project();
    ctx.write("p/.cargo/config", "[build]\njobs = 1\n");
    ok(&ctx, &with_hw(&["init", "--yes"]));
    std::fs::rename(ctx.path("p/.cargo/config"), ctx.path("p/.cargo/config.toml")).unwrap();
    let (code, output) = run(&ctx, &with_hw(&["check"]));
    assert_eq!(code, 0, "{output}");
    ok(&ctx, &with_hw(&["regen"]));
    ok(&ctx, &["remove"]);
    assert_eq!(ctx.read("p/.cargo/config.toml"), "[build]\njobs = 1\n");
}

#[cfg(unix)]
#[test]
fn two_managed_names_for_one_file_are_refused() {
    let ctx = project();
    std::fs::create_dir_all(ctx.path("p/.cargo")).unwrap();
    std::os::unix::fs::symlink("../Cargo.toml", ctx.path("p/.cargo/config.toml")).unwrap();
    let before = ctx.files();
    let (code, output) = run(&ctx, &with_hw(&["init", "--yes"]));
    assert_eq!(code, 2, "{output}");
    assert!(output.contains("are the same file"), "{output}");
    assert_eq!(ctx.files(), before);
}

#[test]
fn a_huge_memory_in_the_record_is_refused_not_a_panic() {
    let ctx = project();
    ok(&ctx, &with_hw(&["init", "--yes"]));
    let record = ctx.read("p/memsafe.toml");
    let line = record.lines().find(|l| l.starts_with("memory_bytes")).unwrap();
    ctx.write(
        "p/memsafe.toml",
        &record.replace(line, "memory_bytes = 9223372036854775807"),
    );
    for command in ["plan", "regen", "check"] {
        let (code, output) = run(&ctx, &with_hw(&[command]));
        assert_eq!(code, 2, "{command}: {output}");
        assert!(output.contains("`hardware.memory_bytes`"), "{output}");
    }
}
