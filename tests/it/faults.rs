//! Faults: nothing half-written, nothing lost. Read-only files and folders, symlinks, a write
//! failing midway, two memsafes at once, SIGKILL at every step, oversized and malformed input.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{TestContext, project, text};

const INIT: [&str; 6] = ["init", "--yes", "--ram", "8", "--cpus", "4"];

#[cfg(unix)]
fn chmod(ctx: &TestContext, relative: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(ctx.path(relative), std::fs::Permissions::from_mode(mode)).unwrap();
}

#[cfg(unix)]
#[test]
fn read_only_file_or_folder_is_a_clear_error_and_nothing_changes() {
    let ctx = project();
    chmod(&ctx, "p/Cargo.toml", 0o444);
    let before = ctx.snapshot_tree();
    let output = ctx.memsafe("p").args(INIT).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("cannot write `Cargo.toml`: the file is read-only"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ctx.snapshot_tree(), before);

    let ctx = project();
    ctx.write("p/.vscode/settings.json", "{}\n");
    chmod(&ctx, "p/.vscode", 0o555);
    let before = ctx.snapshot_tree();
    let output = ctx.memsafe("p").args(INIT).output().unwrap();
    chmod(&ctx, "p/.vscode", 0o755);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("is read-only"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ctx.snapshot_tree(), before);
}

#[cfg(unix)]
#[test]
fn symlinks_inside_the_project_are_written_through_others_refused() {
    // A link to a file inside the project: written through, the link stays a link.
    let ctx = project();
    ctx.write("p/config/cargo.toml", "[alias]\nb = \"build\"\n");
    std::fs::create_dir_all(ctx.path("p/.cargo")).unwrap();
    std::os::unix::fs::symlink("../config/cargo.toml", ctx.path("p/.cargo/config.toml")).unwrap();
    let output = ctx.memsafe("p").args(INIT).output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        std::fs::symlink_metadata(ctx.path("p/.cargo/config.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        ctx.read("p/config/cargo.toml")
            .starts_with("[alias]\nb = \"build\"\n\n[build]\njobs = 3\n")
    );
    let output = ctx.memsafe("p").arg("remove").output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(ctx.read("p/config/cargo.toml"), "[alias]\nb = \"build\"\n");

    // A link out of the project, and a dangling one: exit 2, nothing written anywhere.
    for target in ["../../shared/config.toml", "../missing/config.toml"] {
        let ctx = project();
        ctx.write("shared/config.toml", "[alias]\nb = \"build\"\n");
        std::fs::create_dir_all(ctx.path("p/.cargo")).unwrap();
        std::os::unix::fs::symlink(target, ctx.path("p/.cargo/config.toml")).unwrap();
        let before = ctx.snapshot_tree();
        let output = ctx.memsafe("p").args(INIT).output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{target}: {stderr}");
        assert!(
            stderr.contains("memsafe only writes inside the project"),
            "{stderr}"
        );
        assert_eq!(ctx.snapshot_tree(), before, "{target}");
        assert!(!ctx.path("p/missing").exists() && !ctx.path("missing").exists());
    }
}

#[test]
fn a_write_failing_midway_restores_what_was_written() {
    let ctx = project();
    ctx.write("p/.vscode/settings.json", "{ \"editor.tabSize\": 4 }\n");
    let before = ctx.snapshot_tree();
    let output = ctx
        .memsafe("p")
        .args(INIT)
        .env("MEMSAFE_FAULT_FAIL_WRITE", ".vscode/settings.json")
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("failed to write `.vscode/settings.json`; the files already written were restored (`memsafe.toml`, `Cargo.toml`, `.cargo/config.toml`)"),
        "{stderr}"
    );
    assert_eq!(ctx.snapshot_tree(), before);
}

#[test]
fn a_second_memsafe_on_the_same_project_refuses() {
    let ctx = project();
    let root = ctx.path("p");
    let held = memsafe::lock::acquire(&root).unwrap();
    let before = ctx.snapshot_tree();
    let output = ctx.memsafe("p").args(INIT).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("another memsafe is changing"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ctx.snapshot_tree(), before);
    drop(held);
    assert!(ctx.memsafe("p").args(INIT).output().unwrap().status.success());
}

/// Kills memsafe (SIGKILL) at every step of its writes: every file is then either as it was
/// or as memsafe writes it, never a mix, never empty.
#[cfg(unix)]
#[test]
fn killed_at_any_step_every_file_is_old_or_new() {
    // What a complete run writes.
    let reference = project();
    reference.write(
        "p/.vscode/settings.json",
        "{\n  // mine\n  \"editor.tabSize\": 4\n}\n",
    );
    let old = reference.snapshot_tree();
    assert!(
        reference
            .memsafe("p")
            .args(INIT)
            .output()
            .unwrap()
            .status
            .success()
    );
    let relative = |ctx: &TestContext, tree: Vec<(std::path::PathBuf, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        tree.into_iter()
            .map(|(p, b)| (p.strip_prefix(ctx.dir.path()).unwrap().display().to_string(), b))
            .collect()
    };
    let old = relative(&reference, old);
    let new = relative(&reference, reference.snapshot_tree());

    let mut stops = 0;
    for step in 1.. {
        let ctx = project();
        ctx.write(
            "p/.vscode/settings.json",
            "{\n  // mine\n  \"editor.tabSize\": 4\n}\n",
        );
        let mut child = ctx
            .memsafe("p")
            .args(INIT)
            .env("MEMSAFE_FAULT_STOP_AT", step.to_string())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let stopped = stderr
            .lines()
            .map_while(Result::ok)
            .any(|line| line == format!("memsafe-fault: stop {step}"));
        if stopped {
            child.kill().unwrap();
        }
        child.wait().unwrap();
        if !stopped {
            break;
        }
        stops += 1;
        for (path, bytes) in relative(&ctx, ctx.snapshot_tree()) {
            if path.rsplit('/').next().unwrap().starts_with(".memsafe-") {
                continue; // a temporary file of the interrupted write; the target is untouched
            }
            let was = old.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
            let will = new.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
            assert!(
                Some(&bytes) == was || Some(&bytes) == will,
                "step {step}: {path} is neither old nor new"
            );
            assert!(!bytes.is_empty(), "step {step}: {path} is empty");
        }
    }
    // Three steps per file: before, inside and after its write.
    assert!(stops >= 3 * 5, "only {stops} stops");
}

#[test]
fn oversized_files_are_refused_without_reading_them() {
    for file in [".vscode/settings.json", "Cargo.toml"] {
        let ctx = project();
        let path = ctx.path(&format!("p/{file}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Sparse: 300 MB on paper, nothing on disk.
        std::fs::File::create(&path).unwrap().set_len(300 << 20).unwrap();
        let output = ctx.memsafe("p").args(INIT).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{file}");
        assert!(
            text(&output.stderr).contains("is 300 MiB, too large for a configuration file"),
            "{}",
            text(&output.stderr)
        );
    }
}

#[test]
fn profile_that_is_not_a_table_names_its_line() {
    let ctx = project();
    let manifest = ctx.read("p/Cargo.toml");
    ctx.write("p/Cargo.toml", &format!("profile = \"fast\"\n{manifest}"));
    let before = ctx.snapshot_tree();
    let output = ctx.memsafe("p").args(INIT).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr)
            .contains("cannot edit `Cargo.toml`: line 1: `profile` is a string, expected a table"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(ctx.snapshot_tree(), before);
}
