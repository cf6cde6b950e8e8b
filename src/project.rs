//! Finds the project root the way cargo does, by reading manifests (never `cargo metadata`,
//! which resolves dependencies, may need the network, and fails when a member is missing).
//!
//! From the start folder upwards, the first `Cargo.toml` is the package (or a virtual
//! workspace). If it has no `[workspace]`, the parents are searched for a workspace whose
//! `members` take it in (and whose `exclude` does not), or `package.workspace` names it.
//! Profiles only count in the workspace root (docs/measurements.md M4), so that is the root.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use toml_edit::{DocumentMut, Item};

use crate::error::UsageError;

/// The project memsafe configures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Project {
    /// The folder of the root manifest.
    pub root: PathBuf,
    /// The folder of the package the search started in, when it differs from the root.
    pub member: Option<PathBuf>,
}

/// A usage error unless `start` is a folder: the first thing to check, before asking for a
/// terminal or reading anything.
pub(crate) fn check_start(start: &Path) -> Result<()> {
    if start.is_dir() {
        return Ok(());
    }
    let what = if start.exists() {
        "is not a folder"
    } else {
        "does not exist"
    };
    Err(UsageError::new(format!("`{}` {what}", start.display()))
        .with_help("check the folder given to `--dir`")
        .into())
}

/// Finds the project that `start` belongs to.
pub(crate) fn find(start: &Path) -> Result<Project> {
    check_start(start)?;
    let start =
        std::path::absolute(start).with_context(|| format!("cannot resolve `{}`", start.display()))?;
    // The nearest `Cargo.toml` of any kind: one that is not a file stops the search, as in cargo.
    let nearest = start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").symlink_metadata().is_ok());
    if let Some(dir) = nearest {
        manifest_is_a_file(dir)?;
    }
    let Some(package_dir) = nearest else {
        return Err(UsageError::new(format!(
            "no `Cargo.toml` in `{}` or any folder above it",
            start.display()
        ))
        .with_help("run memsafe inside a Rust project, or pass `--dir` with the project's folder")
        .into());
    };
    let package_dir = package_dir.to_path_buf();
    let manifest = read_manifest(&package_dir)?;
    if manifest.get("workspace").is_some() {
        return Ok(Project {
            root: package_dir,
            member: None,
        });
    }
    // An explicit `package.workspace = "../.."` wins over the search.
    let explicit = manifest.get("package").and_then(|p| p.get("workspace"));
    if let Some(item) = explicit.filter(|item| item.as_str().is_none()) {
        // cargo refuses a non-string here too; guessing a root instead could write elsewhere.
        return Err(UsageError::new(format!(
            "`package.workspace` in `{}` is {}, not a path",
            package_dir.join("Cargo.toml").display(),
            item.type_name()
        ))
        .with_help("write the workspace root's folder as a string, e.g. `workspace = \"..\"`")
        .into());
    }
    if let Some(path) = explicit.and_then(Item::as_str) {
        let root = normalize(&package_dir.join(path));
        if !root.join("Cargo.toml").is_file() {
            return Err(UsageError::new(format!(
                "`package.workspace = \"{path}\"` in `{}` names `{}`, which has no Cargo.toml",
                package_dir.join("Cargo.toml").display(),
                root.display()
            ))
            .with_help("point `package.workspace` at the workspace root's folder, or remove the key")
            .into());
        }
        // cargo itself refuses a root that is not a workspace taking this package in
        // ("root of a workspace inferred but wasn't a root"): so does memsafe, which would
        // otherwise write into another project.
        let root_manifest = read_manifest(&root)?;
        let member = root_manifest.get("workspace").is_some_and(|workspace| {
            package_dir
                .strip_prefix(&root)
                .is_ok_and(|relative| is_member(workspace, relative))
        });
        if !member {
            return Err(UsageError::new(format!(
                "`package.workspace = \"{path}\"` in `{}` names `{}`, which is not a workspace that \
                 has this package as a member",
                package_dir.join("Cargo.toml").display(),
                root.display()
            ))
            .with_help("point `package.workspace` at the workspace root's folder, or remove the key")
            .into());
        }
        return Ok(Project {
            root,
            member: Some(package_dir),
        });
    }
    for dir in package_dir.ancestors().skip(1) {
        if dir.join("Cargo.toml").symlink_metadata().is_err() {
            continue;
        }
        manifest_is_a_file(dir)?;
        let candidate = read_manifest(dir)?;
        let Some(workspace) = candidate.get("workspace") else {
            continue;
        };
        let relative = package_dir.strip_prefix(dir).expect("an ancestor");
        if is_member(workspace, relative) {
            return Ok(Project {
                root: dir.to_path_buf(),
                member: Some(package_dir),
            });
        }
        // Cargo stops at the first workspace it finds, member or not.
        break;
    }
    Ok(Project {
        root: package_dir,
        member: None,
    })
}

/// A usage error when `dir/Cargo.toml` exists but is not a file (a folder, say).
fn manifest_is_a_file(dir: &Path) -> Result<()> {
    let manifest = dir.join("Cargo.toml");
    if manifest.is_file() {
        return Ok(());
    }
    Err(UsageError::new(format!(
        "`{}` is not a file: a Cargo.toml must be the manifest",
        manifest.display()
    ))
    .with_help("rename or remove it, or pass `--dir` with another project's folder")
    .into())
}

fn read_manifest(dir: &Path) -> Result<DocumentMut> {
    let path = dir.join("Cargo.toml");
    let text = crate::read::read_existing(&path.display().to_string(), &path)?
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let (_, body) = crate::merge::text::Shape::of(&text);
    crate::merge::toml::parse(&body)
        .map_err(|error| UsageError::new(format!("`{}`: {error}", path.display())).into())
}

fn is_member(workspace: &Item, relative: &Path) -> bool {
    let patterns = |key: &str| -> Vec<String> {
        workspace
            .get(key)
            .and_then(Item::as_array)
            .map(|array| {
                array
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let relative: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let matches = |pattern: &String| {
        let parts: Vec<&str> = pattern
            .trim_end_matches('/')
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        parts.len() == relative.len() && parts.iter().zip(&relative).all(|(p, r)| glob_match(p, r))
    };
    // `exclude` takes a path prefix, `members` globs (cargo's workspace docs).
    let excluded = patterns("exclude").iter().any(|prefix| {
        let parts: Vec<&str> = prefix
            .trim_end_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        parts.len() <= relative.len() && parts.iter().zip(&relative).all(|(p, r)| p == r)
    });
    !excluded && patterns("members").iter().any(matches)
}

/// `*`, `?` and `[...]`-free glob matching within one path component.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Resolves `.` and `..` without touching the filesystem (and drops doubled separators), as
/// cargo's own `normalize_path` does.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("crate-?", "crate-a"));
        assert!(glob_match("uv-*", "uv-trampoline"));
        assert!(!glob_match("uv-*", "ruff"));
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        dir
    }

    #[test]
    fn member_finds_workspace_root() {
        let dir = tree(&[
            (
                "Cargo.toml",
                "[workspace]\nmembers = [\"crates/*\"]\nexclude = [\"crates/old\"]\n",
            ),
            ("crates/a/Cargo.toml", "[package]\nname = \"a\"\n"),
            ("crates/a/src/lib.rs", ""),
            ("crates/old/Cargo.toml", "[package]\nname = \"old\"\n"),
        ]);
        let root = std::path::absolute(dir.path()).unwrap();
        let project = find(&dir.path().join("crates/a/src")).unwrap();
        assert_eq!(project.root, root);
        assert_eq!(project.member, Some(root.join("crates/a")));
        let excluded = find(&dir.path().join("crates/old")).unwrap();
        assert_eq!(excluded.root, root.join("crates/old"));
    }

    #[test]
    fn non_string_package_workspace_is_a_usage_error() {
        let dir = tree(&[
            ("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n"),
            ("a/Cargo.toml", "[package]\nname = \"a\"\nworkspace = 5\n"),
        ]);
        let error = find(&dir.path().join("a")).unwrap_err();
        let usage = error.downcast_ref::<UsageError>().expect("a usage error");
        assert!(usage.to_string().contains("is integer, not a path"), "{usage}");
    }

    #[test]
    fn no_manifest_is_a_usage_error() {
        let dir = tree(&[("readme.txt", "")]);
        let error = find(dir.path()).unwrap_err();
        assert!(error.downcast_ref::<UsageError>().is_some());
    }
}
