//! `memsafe remove`: init then remove gives back the original bytes, on every real-world file.

use crate::common::{TestContext, fixtures, text};

fn run(ctx: &TestContext, args: &[&str]) -> (i32, String) {
    let output = ctx.memsafe("p").args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

const INIT: [&str; 8] = ["init", "--yes", "--ram", "16", "--cpus", "8", "--preset", "safe"];

/// Every fixture goes through init (twice), regen on other hardware, and remove; the project
/// must come back byte for byte.
#[test]
fn init_then_remove_gives_back_every_fixture() {
    let manifests = fixtures("cargo-toml");
    let configs = fixtures("cargo-config");
    let settings = fixtures("vscode-settings");
    let rounds = manifests.len().max(configs.len()).max(settings.len());
    for round in 0..rounds {
        let (manifest_name, manifest) = &manifests[round % manifests.len()];
        let (config_name, config) = &configs[round % configs.len()];
        let (settings_name, settings) = &settings[round % settings.len()];
        let label = format!("{manifest_name} + {config_name} + {settings_name}");
        let ctx = TestContext::new();
        ctx.write("p/Cargo.toml", manifest);
        // Every fourth round uses the legacy `.cargo/config` name.
        let config_file = if round % 4 == 3 {
            "p/.cargo/config"
        } else {
            "p/.cargo/config.toml"
        };
        ctx.write(config_file, config);
        ctx.write("p/.vscode/settings.json", settings);
        let original = ctx.snapshot_tree();

        let (code, output) = run(&ctx, &INIT);
        assert_eq!(code, 0, "{label}: {output}");
        let configured = ctx.snapshot_tree();
        let (code, output) = run(&ctx, &INIT);
        assert_eq!(code, 0, "{label}: {output}");
        assert_eq!(
            ctx.snapshot_tree(),
            configured,
            "{label}: a second init changed a file"
        );
        let (code, output) = run(&ctx, &["regen", "--ram", "4", "--cpus", "2"]);
        assert_eq!(code, 0, "{label}: {output}");

        let (code, output) = run(&ctx, &["remove"]);
        assert_eq!(code, 0, "{label}: {output}");
        let restored = ctx.snapshot_tree();
        assert_eq!(
            restored.len(),
            original.len(),
            "{label}: files left behind or lost:\n{output}"
        );
        for ((path, before), (_, after)) in original.iter().zip(&restored) {
            assert!(
                before == after,
                "{label}: {} differs after remove:\n{}",
                path.display(),
                crate::common::diff("file", &text(before), &text(after))
            );
        }
    }
}

#[test]
fn fresh_package_comes_back_exactly_and_created_folders_go() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let original = ctx.snapshot_tree();
    assert_eq!(run(&ctx, &["init", "--yes", "--ram", "8", "--cpus", "4"]).0, 0);
    let (code, output) = run(&ctx, &["remove", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(output.contains("--- a/memsafe.toml\n+++ /dev/null"), "{output}");
    assert_ne!(ctx.snapshot_tree(), original, "dry run wrote something");
    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(ctx.snapshot_tree(), original);
    assert!(
        !ctx.exists("p/.cargo") && !ctx.exists("p/.vscode"),
        "empty folders memsafe made are gone"
    );
}

#[test]
fn user_edits_elsewhere_stay_and_their_keys_in_created_files_too() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let manifest = ctx.read("p/Cargo.toml");
    assert_eq!(run(&ctx, &["init", "--yes", "--ram", "8", "--cpus", "4"]).0, 0);
    // After init the user adds a dependency, an alias and a setting of their own.
    let edited = ctx
        .read("p/Cargo.toml")
        .replace("[dependencies]\n", "[dependencies]\nserde = \"1\"\n");
    ctx.write("p/Cargo.toml", &edited);
    let config = ctx.read("p/.cargo/config.toml");
    ctx.write(
        "p/.cargo/config.toml",
        &format!("{config}\n[alias]\nt = \"test\"\n"),
    );
    let settings = ctx
        .read("p/.vscode/settings.json")
        .replacen('{', "{\n  \"editor.rulers\": [100],", 1);
    ctx.write("p/.vscode/settings.json", &settings);

    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        ctx.read("p/Cargo.toml"),
        manifest.replace("[dependencies]\n", "[dependencies]\nserde = \"1\"\n")
    );
    let config = ctx.read("p/.cargo/config.toml");
    assert!(
        config.contains("[alias]\nt = \"test\"")
            && !config.contains("jobs")
            && !config.contains("RUST_TEST_THREADS"),
        "{config}"
    );
    let settings = ctx.read("p/.vscode/settings.json");
    assert!(
        settings.contains("\"editor.rulers\": [100]") && !settings.contains("rust-analyzer"),
        "{settings}"
    );
    assert!(!settings.contains("watcherExclude"), "{settings}");
    assert!(!ctx.exists("p/memsafe.toml") && !ctx.exists("p/test-safe.sh"));
}

#[test]
fn a_value_changed_by_hand_is_kept_and_named_the_rest_is_undone() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    ctx.write("p/.cargo/config.toml", "[alias]\nb = \"build\"\n");
    assert_eq!(run(&ctx, &["init", "--yes", "--ram", "8", "--cpus", "4"]).0, 0);
    let config = ctx.read("p/.cargo/config.toml").replace("jobs = 3", "jobs = 1");
    ctx.write("p/.cargo/config.toml", &config);
    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 0, "{output}");
    assert!(
        output
            .contains(".cargo/config.toml: kept your `build.jobs = 1`: you changed memsafe's value by hand"),
        "{output}"
    );
    // The hand-edited key stays, with the table it needs; memsafe's other key is gone.
    assert_eq!(
        ctx.read("p/.cargo/config.toml"),
        "[alias]\nb = \"build\"\n\n[build]\njobs = 1\n"
    );
    assert!(!ctx.exists("p/memsafe.toml"));
}

#[test]
fn a_comment_of_the_users_keeps_a_created_file_and_nothing_of_memsafes() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let init = [
        "init", "--yes", "--ram", "8", "--cpus", "4", "--editor", "helix", "--script", "none",
    ];
    assert_eq!(run(&ctx, &init).0, 0);
    let helix = ctx.read("p/.helix/languages.toml");
    assert!(helix.starts_with("# Managed by memsafe"), "{helix}");
    // The user adds a comment above memsafe's first key and one at the end.
    let edited = helix.replacen("numThreads", "# mine, above\nnumThreads", 1) + "# mine, at the end\n";
    ctx.write("p/.helix/languages.toml", &edited);
    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 0, "{output}");
    // Their comments stay; memsafe's header and keys go, and its tables but the one that a
    // comment of theirs now sits above (the comment goes after its key's table: above the next
    // header).
    assert_eq!(
        ctx.read("p/.helix/languages.toml"),
        "# mine, above\n\n[language-server.rust-analyzer.config.cachePriming]\n# mine, at the end\n"
    );
}

#[test]
fn remove_without_a_record_is_an_error() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let (code, output) = run(&ctx, &["remove"]);
    assert_eq!(code, 2);
    assert!(output.contains("memsafe has nothing to undo here"), "{output}");
}
