//! What differs by platform: the PowerShell script parses, Windows reserves more, macOS and
//! Windows keep cargo's split-debuginfo, WSL is said.

use memsafe::hardware::Os;
use memsafe::owned::FileId;
use memsafe::plan::{Answers, Plan};
use memsafe::render::{self, Templates};

use crate::common::{self, TestContext, hardware, text};

/// test-safe.ps1 parses as PowerShell (tree-sitter-powershell, from PyPI: .ci/run installs it
/// in a venv and names its python in MEMSAFE_TEST_PS_PYTHON). PowerShell itself cannot be
/// installed from the registries this project reaches.
#[test]
fn ps1_script_parses_as_powershell() {
    let Some(python) = std::env::var_os("MEMSAFE_TEST_PS_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set MEMSAFE_TEST_PS_PYTHON (see .ci/run)"
        );
        return;
    };
    let ctx = TestContext::new();
    let check = r#"
import sys, tree_sitter, tree_sitter_powershell as grammar
parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))
def errors(node, out):
    if node.type == "ERROR" or node.is_missing:
        out.append(f"line {node.start_point[0] + 1}: {node.type}")
    for child in node.children:
        errors(child, out)
    return out
failed = False
for path in sys.argv[1:]:
    found = errors(parser.parse(open(path, "rb").read()).root_node, [])
    if found:
        failed = True
        print(path, found)
sys.exit(1 if failed else 0)
"#;
    ctx.write("check.py", check);
    let mut paths = Vec::new();
    for (index, os) in [Os::Windows, Os::Linux].into_iter().enumerate() {
        let plan = Plan::compute(&hardware(8.0, 4, os), &Answers::default());
        let name = format!("test-safe-{index}.ps1");
        ctx.write(&name, &Templates::new().render(render::TEST_PS1, &plan));
        paths.push(ctx.path(&name));
    }
    // A broken copy must fail, or the check checks nothing.
    let broken = ctx.read("test-safe-0.ps1").replace("} finally {", "} finally ");
    ctx.write("broken.ps1", &broken);
    let run = |files: &[std::path::PathBuf]| {
        std::process::Command::new(&python)
            .arg(ctx.path("check.py"))
            .args(files)
            .output()
            .unwrap()
    };
    let good = run(&paths);
    assert!(
        good.status.success(),
        "{}{}",
        text(&good.stdout),
        text(&good.stderr)
    );
    assert!(
        !run(&[ctx.path("broken.ps1")]).status.success(),
        "the parser did not notice a broken script"
    );
}

#[test]
fn windows_reserves_more_and_keeps_packed_debuginfo() {
    let answers = Answers::default();
    let windows = Plan::compute(&hardware(16.0, 8, Os::Windows), &answers);
    let linux = Plan::compute(&hardware(16.0, 8, Os::Linux), &answers);
    let macos = Plan::compute(&hardware(16.0, 8, Os::Macos), &answers);
    assert!(windows.budget_bytes < macos.budget_bytes && macos.budget_bytes < linux.budget_bytes);
    let split = |plan: &Plan| plan.reason("profile.dev.split-debuginfo").unwrap().why.clone();
    assert!(split(&windows).contains("MSVC supports only `packed`"));
    assert!(split(&macos).contains("already uses `unpacked` on macOS"));
    // No platform gets a split-debuginfo key written.
    for plan in [&windows, &linux, &macos] {
        assert!(
            !Templates::new()
                .fragment(FileId::Manifest, plan)
                .contains("split-debuginfo")
        );
    }
}

#[test]
fn wsl_is_said_in_the_plan() {
    let mut wsl = hardware(8.0, 4, Os::Linux);
    wsl.wsl = true;
    let plan = Plan::compute(&wsl, &Answers::default());
    let reason = plan.reason("wsl").expect("a WSL reason");
    assert!(reason.why.contains(".wslconfig"), "{}", reason.why);
    assert!(
        common::plan(8.0, 4, memsafe::plan::Preset::Balanced)
            .reasons
            .iter()
            .all(|r| r.setting != "wsl")
    );
}
