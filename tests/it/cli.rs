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
