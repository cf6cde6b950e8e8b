//! Zed and Helix next to VS Code: each editor's project file, merged like the others, chosen
//! with `--editor` or found by its folder.

use crate::common::{TestContext, text};

const ZED: &str = r#"// Zed settings
{
  "theme": "One Dark", // mine
  "lsp": {
    "rust-analyzer": {
      "initialization_options": {
        "check": {
          "command": "clippy",
          "extraArgs": ["--all-features"],
        },
      },
    },
  },
}
"#;

const HELIX: &str = "# Helix, per project\n[[language]]\nname = \"rust\"\nauto-format = true\n\n[language-server.rust-analyzer.config.check]\ncommand = \"clippy\" # lint on save\nextraArgs = [\"--all-features\"]\n";

fn run(ctx: &TestContext, args: &[&str]) -> String {
    let output = ctx.memsafe("p").args(args).output().unwrap();
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{args:?}: {all}");
    all
}

#[test]
fn editor_folders_choose_the_default_and_files_are_merged() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx.write("p/.zed/settings.json", ZED);
    ctx.write("p/.helix/languages.toml", HELIX);
    let original = ctx.snapshot_tree();
    run(&ctx, &["init", "--yes", "--ram", "16", "--cpus", "8"]);
    assert!(
        !ctx.exists("p/.vscode"),
        "VS Code was not asked for and has no folder here"
    );
    assert!(
        ctx.read("p/memsafe.toml")
            .contains("editors = [\"zed\", \"helix\"]")
    );

    let zed = ctx.read("p/.zed/settings.json");
    insta::assert_snapshot!(zed, @r#"
    // Zed settings
    {
      "theme": "One Dark", // mine
      "lsp": {
        "rust-analyzer": {
          "initialization_options": {
            "check": {
              "command": "clippy",
              "extraArgs": ["--all-features", "--jobs", "8"],
            },
            "numThreads": 4,
            "cachePriming": {
              "numThreads": 4
            },
          },
        },
      },
    }
    "#);
    let helix = ctx.read("p/.helix/languages.toml");
    insta::assert_snapshot!(helix, @r#"
    # Helix, per project
    [[language]]
    name = "rust"
    auto-format = true

    [language-server.rust-analyzer.config]
    numThreads = 4

    [language-server.rust-analyzer.config.check]
    command = "clippy" # lint on save
    extraArgs = ["--all-features", "--jobs", "8"]

    [language-server.rust-analyzer.config.cachePriming]
    numThreads = 4
    "#);

    assert!(run(&ctx, &["init", "--yes", "--ram", "16", "--cpus", "8"]).contains("Unchanged"));
    run(&ctx, &["remove"]);
    assert_eq!(ctx.snapshot_tree(), original);
}

#[test]
fn editor_flag_takes_a_list_and_none() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    run(
        &ctx,
        &[
            "init",
            "--yes",
            "--ram",
            "8",
            "--cpus",
            "4",
            "--editor",
            "vscode,zed",
            "--editor",
            "helix",
        ],
    );
    assert!(ctx.exists("p/.vscode/settings.json") && ctx.exists("p/.zed/settings.json"));
    assert!(ctx.exists("p/.helix/languages.toml"));
    // Changing the answer to none takes memsafe's keys out of the editors' files on remove.
    run(&ctx, &["remove"]);
    assert!(!ctx.exists("p/.vscode") && !ctx.exists("p/.zed") && !ctx.exists("p/.helix"));

    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx.write("p/.vscode/settings.json", "{}\n");
    run(
        &ctx,
        &["init", "--yes", "--ram", "8", "--cpus", "4", "--editor", "none"],
    );
    assert_eq!(ctx.read("p/.vscode/settings.json"), "{}\n");
    assert!(ctx.read("p/memsafe.toml").contains("editors = []"));
}
