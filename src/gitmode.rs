//! The run bit of `test-safe.sh` in git.
//!
//! Windows file systems keep no executable bit, so a script written there reaches git, and
//! from git the Linux and macOS teammates, without one. git keeps the bit in its index instead
//! (mode 100755). After writing the script on Windows, memsafe looks at the index: a tracked
//! script without the bit gets it (only the mode of the index entry changes, not its staged
//! content); an untracked one gets a note with the `git add --chmod=+x` command. Outside a git
//! work tree, for an ignored script, or without git on PATH, nothing happens.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

/// What git's index says about the script.
#[derive(Clone, Debug, PartialEq, Eq)]
enum InGit {
    /// Not in a git work tree (or git could not say).
    Outside,
    /// Untracked and ignored: it does not reach anyone through git.
    Ignored,
    Untracked,
    /// In the index with this mode (`100644`, `100755`, ...) and blob.
    Tracked {
        mode: String,
        object: String,
    },
}

/// What memsafe does about it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    Nothing,
    /// Set the index entry's mode to 100755, keeping its blob.
    SetExecutable {
        object: String,
    },
    /// Tell the user how to add the script with the bit.
    AddWithBit,
}

fn decide(in_git: &InGit) -> Action {
    match in_git {
        InGit::Outside | InGit::Ignored => Action::Nothing,
        InGit::Untracked => Action::AddWithBit,
        // Only a regular file without the bit: a symlink (120000) or a submodule is left alone.
        InGit::Tracked { mode, object } if mode == "100644" => Action::SetExecutable {
            object: object.clone(),
        },
        InGit::Tracked { .. } => Action::Nothing,
    }
}

/// After memsafe wrote the script `script` (relative to `root`): on Windows, makes sure git
/// records its run bit, or says how. Returns a note for the user, if there is one.
pub(crate) fn after_writing_script(root: &Path, script: &Path) -> Option<String> {
    ensure_run_bit(OsStr::new("git"), root, script, cfg!(windows))
}

/// [`after_writing_script`] with its inputs open for tests: the git program, and whether the
/// file system keeps no run bit (Windows). Where it keeps one, the script was written with it
/// and `git add` records it: git is not even run.
fn ensure_run_bit(git: &OsStr, root: &Path, script: &Path, no_run_bit_on_disk: bool) -> Option<String> {
    if !no_run_bit_on_disk {
        return None;
    }
    // git takes `/` on every OS; the note shows the path the same way.
    let path = script.to_string_lossy().replace('\\', "/");
    match decide(&look_up(git, root, &path)) {
        Action::Nothing => None,
        Action::SetExecutable { object } => {
            let recorded = run(
                git,
                root,
                &["update-index", "--cacheinfo", &format!("100755,{object},{path}")],
            )
            .is_some();
            Some(if recorded {
                format!(
                    "`{path}`: recorded its run bit in git's index (Windows keeps none on disk), so \
                     that it runs on Linux and macOS; commit the change"
                )
            } else {
                format!(
                    "`{path}` has no run bit in git (Windows keeps none on disk): run \
                     `git update-index --chmod=+x {path}` so that it runs on Linux and macOS"
                )
            })
        }
        Action::AddWithBit => Some(format!(
            "`{path}` has no run bit (Windows keeps none on disk): add it to git with \
             `git add --chmod=+x {path}` so that it runs on Linux and macOS"
        )),
    }
}

/// Whether git tracks `path` (relative to `root`, `/`-separated): `git ls-files
/// --error-unmatch`. Outside a git work tree, or without git on PATH: `false`.
pub(crate) fn is_tracked(root: &Path, path: &str) -> bool {
    tracked(OsStr::new("git"), root, path)
}

fn tracked(git: &OsStr, root: &Path, path: &str) -> bool {
    run(
        git,
        root,
        &["--literal-pathspecs", "ls-files", "--error-unmatch", "--", path],
    )
    .is_some()
}

fn look_up(git: &OsStr, root: &Path, path: &str) -> InGit {
    if run(git, root, &["rev-parse", "--is-inside-work-tree"]).as_deref() != Some("true") {
        return InGit::Outside;
    }
    // A literal pathspec: the name is a path, not a pattern (check-ignore takes paths anyway).
    let staged = run(
        git,
        root,
        &["--literal-pathspecs", "ls-files", "--stage", "--", path],
    );
    let Some(staged) = staged else {
        return InGit::Outside;
    };
    // `<mode> <object> <stage>\t<path>`; nothing when untracked.
    let mut fields = staged.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(mode), Some(object)) => InGit::Tracked {
            mode: mode.to_string(),
            object: object.to_string(),
        },
        _ if run(git, root, &["check-ignore", "--quiet", "--", path]).is_some() => InGit::Ignored,
        _ => InGit::Untracked,
    }
}

/// Runs git in `root`; its trimmed stdout when it succeeded, `None` when it failed or could not
/// start (no git on PATH). The repository is the one that holds `root`: `GIT_DIR` and its
/// relatives, which a hook or a script may have set for another one, are not passed on.
fn run(git: &OsStr, root: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new(git)
        .args(args)
        .current_dir(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "test-safe.sh";

    /// git in `dir`, for setting up the repository; panics when it fails.
    fn git(dir: &Path, args: &[&str]) -> String {
        run(OsStr::new("git"), dir, args).unwrap_or_else(|| panic!("git {args:?} failed"))
    }

    /// A temporary folder with a git repository and a script without the run bit in it.
    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--quiet"]);
        std::fs::write(dir.path().join(SCRIPT), "#!/bin/sh\necho hi\n").unwrap();
        dir
    }

    fn on_windows(root: &Path) -> Option<String> {
        ensure_run_bit(OsStr::new("git"), root, Path::new(SCRIPT), true)
    }

    fn index_entry(root: &Path) -> String {
        git(root, &["ls-files", "--stage", "--", SCRIPT])
    }

    #[test]
    fn tracked_means_in_gits_index() {
        let dir = repo();
        assert!(!is_tracked(dir.path(), SCRIPT), "untracked");
        git(dir.path(), &["add", "--", SCRIPT]);
        assert!(is_tracked(dir.path(), SCRIPT));
        assert!(!is_tracked(dir.path(), "missing.toml"));
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join(SCRIPT), "#!/bin/sh\n").unwrap();
        assert!(!is_tracked(plain.path(), SCRIPT), "outside git");
        assert!(!tracked(
            OsStr::new("memsafe-test-no-such-git"),
            dir.path(),
            SCRIPT
        ));
    }

    #[test]
    fn the_decision() {
        let tracked = |mode: &str| InGit::Tracked {
            mode: mode.into(),
            object: "abc".into(),
        };
        assert_eq!(decide(&InGit::Outside), Action::Nothing);
        assert_eq!(decide(&InGit::Ignored), Action::Nothing);
        assert_eq!(decide(&InGit::Untracked), Action::AddWithBit);
        assert_eq!(
            decide(&tracked("100644")),
            Action::SetExecutable { object: "abc".into() }
        );
        assert_eq!(decide(&tracked("100755")), Action::Nothing);
        assert_eq!(decide(&tracked("120000")), Action::Nothing);
    }

    #[test]
    fn a_tracked_script_gets_the_bit_in_the_index_and_keeps_its_staged_content() {
        let dir = repo();
        git(dir.path(), &["add", "--", SCRIPT]);
        let before = index_entry(dir.path());
        assert!(before.starts_with("100644 "), "{before}");
        // memsafe rewrites the script; the new content is not staged by memsafe.
        std::fs::write(dir.path().join(SCRIPT), "#!/bin/sh\necho changed\n").unwrap();
        let note = on_windows(dir.path()).unwrap();
        assert!(note.contains("recorded its run bit"), "{note}");
        let after = index_entry(dir.path());
        assert_eq!(after, before.replacen("100644", "100755", 1));
        // A second run has nothing to do.
        assert_eq!(on_windows(dir.path()), None);
    }

    #[test]
    fn an_untracked_script_gets_the_command_to_add_it_with_the_bit() {
        let dir = repo();
        let note = on_windows(dir.path()).unwrap();
        assert!(note.contains("`git add --chmod=+x test-safe.sh`"), "{note}");
        assert_eq!(index_entry(dir.path()), "", "nothing was added");
    }

    #[test]
    fn nothing_happens_where_there_is_nothing_to_do() {
        // Ignored.
        let dir = repo();
        std::fs::write(dir.path().join(".gitignore"), "test-safe.sh\n").unwrap();
        assert_eq!(on_windows(dir.path()), None);
        // Not a git work tree.
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join(SCRIPT), "#!/bin/sh\n").unwrap();
        assert_eq!(on_windows(plain.path()), None);
        // No git on PATH.
        let dir = repo();
        git(dir.path(), &["add", "--", SCRIPT]);
        let missing = OsStr::new("memsafe-test-no-such-git");
        assert_eq!(ensure_run_bit(missing, dir.path(), Path::new(SCRIPT), true), None);
        // A file system that keeps the bit (Linux, macOS): git is not asked.
        assert_eq!(
            ensure_run_bit(OsStr::new("git"), dir.path(), Path::new(SCRIPT), false),
            None
        );
        assert!(index_entry(dir.path()).starts_with("100644 "));
    }
}
