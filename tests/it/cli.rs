//! The command-line contract: `plan` output, `--json` fields, help, usage errors.

use crate::common::{TestContext, text};

#[test]
fn plan_json_has_the_contract_fields() {
    let ctx = TestContext::new();
    let output = ctx
        .memsafe(".")
        .args([
            "plan", "--json", "--ram", "16GiB", "--cpus", "8", "--os", "windows",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["hardware"]["memory_bytes"], 16u64 << 30);
    assert_eq!(plan["hardware"]["logical_cpus"], 8);
    assert_eq!(plan["hardware"]["physical_cpus"], 8);
    assert_eq!(plan["hardware"]["os"], "windows");
    assert!(plan["budget_bytes"].as_u64().unwrap() < 16u64 << 30);
    assert!(plan["jobs"].as_u64().unwrap() >= 1);
    assert!(plan["test_threads"].as_u64().unwrap() >= 1);
    let reasons = plan["reasons"].as_array().unwrap();
    let jobs = reasons.iter().find(|r| r["setting"] == "build.jobs").unwrap();
    assert_eq!(jobs["value"], plan["jobs"].to_string());
    assert!(jobs["why"].as_str().unwrap().contains("balanced estimate"));
}

#[test]
fn plan_text_explains_every_value() {
    let ctx = TestContext::new();
    let output = ctx
        .memsafe(".")
        .args([
            "plan", "--ram", "6144MiB", "--cpus", "4", "--os", "linux", "--preset", "safe",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(
            "hardware\n  memory  6 GiB (from --ram)\n  cpus    4 logical, 4 physical\n  os      linux\n"
        ),
        "{stdout}"
    );
    for setting in [
        "build.jobs = ",
        "test threads = ",
        "profile.dev.debug = \"line-tables-only\"",
        "rust-analyzer.procMacro.enable = false",
    ] {
        assert!(stdout.contains(setting), "{setting}:\n{stdout}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let ctx = TestContext::new();
    for args in [
        &["plan", "--ram", "lots"][..],
        &["plan", "--cpus", "0"],
        &["plan", "--os", "beos"],
        &["plan", "--preset", "reckless"],
        &["init", "--script", "bat"],
        &["frobnicate"],
    ] {
        let output = ctx.memsafe(".").args(args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let output = ctx
        .memsafe(".")
        .args(["plan", "--ram", "8 parsecs"])
        .output()
        .unwrap();
    assert!(
        text(&output.stderr).contains("unknown unit in `8 parsecs`"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn help_lists_commands_and_version_prints() {
    let ctx = TestContext::new();
    let help = text(&ctx.memsafe(".").arg("--help").output().unwrap().stdout);
    assert!(help.contains("init") && help.contains("plan"), "{help}");
    let init_help = text(&ctx.memsafe(".").args(["help", "init"]).output().unwrap().stdout);
    for flag in [
        "--dir",
        "--yes",
        "--dry-run",
        "--preset",
        "--ram",
        "--cpus",
        "--os",
        "--editor",
        "--script",
    ] {
        assert!(init_help.contains(flag), "{flag} missing from init --help");
    }
    let version = text(&ctx.memsafe(".").arg("--version").output().unwrap().stdout);
    assert_eq!(version, format!("memsafe {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_output_is_stable() {
    let ctx = TestContext::new();
    let help = text(&ctx.memsafe(".").arg("--help").output().unwrap().stdout);
    crate::common::snapshots(|| insta::assert_snapshot!("help_memsafe", help));
    for &command in memsafe::COMMANDS.iter().filter(|c| **c != "help") {
        let output = ctx.memsafe(".").args(["help", command]).output().unwrap();
        assert!(output.status.success());
        crate::common::snapshots(|| insta::assert_snapshot!(format!("help_{command}"), text(&output.stdout)));
    }
}

#[test]
fn every_flag_has_a_help_line() {
    use clap::CommandFactory;
    let command = memsafe::cli::Cli::command();
    let mut missing = Vec::new();
    for sub in command.get_subcommands().chain(std::iter::once(&command)) {
        for arg in sub.get_arguments() {
            if arg.get_help().is_none() && !["help", "version"].contains(&arg.get_id().as_str()) {
                missing.push(format!("{} --{}", sub.get_name(), arg.get_id()));
            }
        }
    }
    assert!(missing.is_empty(), "flags without help: {missing:?}");
}

#[test]
fn completions_load_in_bash() {
    let ctx = TestContext::new();
    let script = ctx.memsafe(".").args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    ctx.write("memsafe.bash", &text(&script.stdout));
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p memsafe && COMP_WORDS=(memsafe re); COMP_CWORD=1; _memsafe memsafe re memsafe; echo \"${{COMPREPLY[@]}}\"",
            ctx.path("memsafe.bash").display()
        ))
        .output()
        .unwrap();
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        stdout.contains("complete -o bashdefault -o default -o nosort -F _memsafe memsafe"),
        "{stdout}"
    );
    assert!(
        stdout.contains("regen remove"),
        "completing `re` offers regen and remove: {stdout}"
    );
    for shell in ["zsh", "fish", "powershell"] {
        let output = ctx.memsafe(".").args(["completions", shell]).output().unwrap();
        assert!(output.status.success() && output.stdout.len() > 200, "{shell}");
    }
}

#[test]
fn cargo_memsafe_runs_as_a_cargo_subcommand() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let cargo_memsafe = std::path::Path::new(env!("CARGO_BIN_EXE_cargo-memsafe"));
    let path = format!(
        "{}:{}",
        cargo_memsafe.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new("cargo")
        .args(["memsafe", "plan", "--ram", "8", "--cpus", "2", "--json"])
        .current_dir(ctx.path("pkg"))
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["hardware"]["logical_cpus"], 2);
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let stderr = |args: &[&str], no_color: Option<&str>| {
        let mut command = ctx.memsafe("pkg");
        command.env_remove("NO_COLOR").args(args);
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        text(&command.output().unwrap().stderr)
    };
    let dry = ["init", "--yes", "--dry-run", "--ram", "8", "--cpus", "2"];
    assert!(
        stderr(&[&dry[..], &["--color", "always"]].concat(), None).contains("\u{1b}["),
        "always colours"
    );
    assert!(!stderr(&[&dry[..], &["--color", "never"]].concat(), None).contains("\u{1b}["));
    assert!(
        !stderr(&dry, Some("1")).contains("\u{1b}["),
        "NO_COLOR turns auto off"
    );
    assert!(
        stderr(&[&dry[..], &["--color", "always"]].concat(), Some("1")).contains("\u{1b}["),
        "always wins"
    );
}

#[test]
fn quiet_and_verbose() {
    let ctx = TestContext::new();
    ctx.cargo_new("pkg");
    let quiet = ctx
        .memsafe("pkg")
        .args(["init", "--yes", "-q", "--ram", "8", "--cpus", "2"])
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert_eq!(text(&quiet.stderr), "", "quiet says nothing on success");
    let verbose = ctx
        .memsafe("pkg")
        .args(["regen", "-v", "--ram", "16", "--cpus", "2"])
        .output()
        .unwrap();
    assert!(
        text(&verbose.stderr).contains("the plan, with its reasons:"),
        "{}",
        text(&verbose.stderr)
    );
    let both = ctx.memsafe("pkg").args(["plan", "-q", "-v"]).output().unwrap();
    assert_eq!(both.status.code(), Some(2));
}

/// The README's quick start runs `cargo run --release -- init ...` in this repository, which
/// has two binaries: `default-run` must pick `memsafe`, and the README's first command must
/// not name another binary.
#[test]
fn readme_quick_start_runs_the_memsafe_binary() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest: toml_edit::DocumentMut = std::fs::read_to_string(root.join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        manifest["package"]["default-run"].as_str(),
        Some("memsafe"),
        "without default-run, `cargo run` cannot choose between memsafe and cargo-memsafe"
    );
    assert!(std::path::Path::new(env!("CARGO_BIN_EXE_memsafe")).exists());
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let quick_start = readme
        .split("## Quick start")
        .nth(1)
        .expect("README has a Quick start");
    let first = quick_start
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("cargo "))
        .expect("the quick start has a cargo command");
    assert!(first.starts_with("cargo run --release -- "), "{first}");
    let after = first.trim_start_matches("cargo run --release -- ");
    let subcommand = after.split_whitespace().next().unwrap();
    // The subcommand the README runs exists, and `--version` works the same way.
    let ctx = TestContext::new();
    let help = ctx.memsafe(".").args(["help", subcommand]).output().unwrap();
    assert!(help.status.success(), "{first}: {}", text(&help.stderr));
    let output = ctx.memsafe(".").arg("--version").output().unwrap();
    assert_eq!(
        text(&output.stdout),
        format!("memsafe {}\n", env!("CARGO_PKG_VERSION"))
    );
}
