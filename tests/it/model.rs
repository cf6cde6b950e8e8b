//! A model-based property test: random sequences of `init` (any preset, editors, machine),
//! `regen` on another machine, the user's own edits, and a final `remove`, on real-world
//! settings files. After every step: cargo reads the project without a word about memsafe's
//! keys, `check` agrees with what memsafe wrote, and every edit of the user's is still there.
//! After `remove`: every edit survives, and without edits the tree is the original, byte for
//! byte.

use proptest::prelude::*;

use crate::common::{TestContext, fixtures, text};

#[derive(Clone, Debug)]
enum Step {
    Init {
        preset: &'static str,
        editors: &'static str,
        ram: &'static str,
    },
    Regen {
        ram: &'static str,
    },
    /// A line appended at the end of Cargo.toml.
    AppendToManifest,
    /// A comment above the first table of `.cargo/config.toml`.
    CommentAboveTable,
    /// A setting of the user's added to the VS Code settings.
    AddSetting,
    /// memsafe's job count changed by hand.
    EditJobs,
    /// The VS Code settings file deleted.
    DeleteSettings,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (
            prop::sample::select(vec!["safe", "balanced", "fast"]),
            prop::sample::select(vec!["vscode", "zed", "vscode,helix", "none", "vscode,zed,helix"]),
            prop::sample::select(vec!["4GiB", "8GiB", "32GiB"]),
        )
            .prop_map(|(preset, editors, ram)| Step::Init { preset, editors, ram }),
        2 => prop::sample::select(vec!["3GiB", "16GiB", "64GiB"]).prop_map(|ram| Step::Regen { ram }),
        1 => Just(Step::AppendToManifest),
        1 => Just(Step::CommentAboveTable),
        1 => Just(Step::AddSetting),
        1 => Just(Step::EditJobs),
        1 => Just(Step::DeleteSettings),
    ]
}

fn run(ctx: &TestContext, args: &[&str]) -> (i32, String) {
    let output = ctx.memsafe("p").args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

/// cargo's warnings about keys memsafe writes.
fn cargo_complaints(ctx: &TestContext) -> Vec<String> {
    let output = ctx.cargo("p", &["metadata", "--no-deps", "--format-version", "1"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "cargo cannot read the project: {stderr}");
    stderr
        .lines()
        .filter(|l| {
            l.contains("warning") && ["profile", "build", "jobs", "env"].iter().any(|k| l.contains(k))
        })
        .map(str::to_string)
        .collect()
}

fn sequence(config: usize, settings: usize, steps: &[Step]) -> Result<(), TestCaseError> {
    let configs = fixtures("cargo-config");
    let vscode = fixtures("vscode-settings");
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    // Real-world files, where cargo can read them here (no missing tools in the config).
    let (_, config_text) = &configs[config % configs.len()];
    if !config.is_multiple_of(3) {
        ctx.write("p/.cargo/config.toml", config_text);
        if !ctx
            .cargo("p", &["metadata", "--no-deps", "--format-version", "1"])
            .status
            .success()
        {
            std::fs::remove_file(ctx.path("p/.cargo/config.toml")).unwrap();
        }
    }
    if settings.is_multiple_of(2) {
        let (_, text) = &vscode[settings % vscode.len()];
        ctx.write("p/.vscode/settings.json", text);
    }
    let original = ctx.files();
    let baseline = cargo_complaints(&ctx);
    // The user's edits: (file, text that must stay in it).
    let mut edits: Vec<(&str, &str)> = Vec::new();
    let mut deleted_settings = false;
    let mut initialized = false;
    for (index, step) in steps.iter().enumerate() {
        let mut fresh_plan = None;
        match step {
            Step::Init { preset, editors, ram } => {
                let (code, output) = run(
                    &ctx,
                    &[
                        "init", "--yes", "--preset", preset, "--editor", editors, "--ram", ram, "--cpus",
                        "8", "--os", "linux",
                    ],
                );
                // A real-world file memsafe cannot edit (a value where it needs a table) is
                // refused whole, with nothing written: the sequence ends there.
                if code == 2 && output.contains("cannot edit") {
                    return Ok(());
                }
                prop_assert_eq!(code, 0, "step {} {:?}: {}", index, step, output);
                initialized = true;
                fresh_plan = Some(*ram);
            }
            Step::Regen { ram } if initialized => {
                let (code, output) = run(&ctx, &["regen", "--ram", ram, "--cpus", "8", "--os", "linux"]);
                prop_assert_eq!(code, 0, "step {} {:?}: {}", index, step, output);
                fresh_plan = Some(*ram);
            }
            Step::Regen { .. } => continue,
            Step::AppendToManifest => {
                let manifest = ctx.read("p/Cargo.toml");
                ctx.write("p/Cargo.toml", &format!("{manifest}\n# the user's note\n"));
                edits.push(("p/Cargo.toml", "# the user's note"));
            }
            Step::CommentAboveTable => {
                if ctx.exists("p/.cargo/config.toml") {
                    let config = ctx.read("p/.cargo/config.toml");
                    if let Some(at) = config.find("\n[") {
                        let edited =
                            format!("{}\n# the user's table comment{}", &config[..at], &config[at..]);
                        ctx.write("p/.cargo/config.toml", &edited);
                        edits.push(("p/.cargo/config.toml", "# the user's table comment"));
                    }
                }
            }
            Step::AddSetting => {
                if ctx.exists("p/.vscode/settings.json") {
                    let settings = ctx.read("p/.vscode/settings.json");
                    if let Some(at) = settings.find('{') {
                        let edited = format!(
                            "{}{{\n  \"editor.rulers\": [99],{}",
                            &settings[..at],
                            &settings[at + 1..]
                        );
                        ctx.write("p/.vscode/settings.json", &edited);
                        edits.push(("p/.vscode/settings.json", "\"editor.rulers\": [99]"));
                    }
                }
            }
            Step::EditJobs => {
                if ctx.exists("p/.cargo/config.toml") {
                    let config = ctx.read("p/.cargo/config.toml");
                    let edited = regex_free_replace_jobs(&config);
                    if edited != config {
                        ctx.write("p/.cargo/config.toml", &edited);
                    }
                }
            }
            Step::DeleteSettings => {
                if ctx.exists("p/.vscode/settings.json") {
                    std::fs::remove_file(ctx.path("p/.vscode/settings.json")).unwrap();
                    edits.retain(|(file, _)| *file != "p/.vscode/settings.json");
                    deleted_settings = true;
                }
            }
        }
        // Invariants after every step.
        prop_assert_eq!(
            cargo_complaints(&ctx),
            baseline.clone(),
            "step {} {:?}",
            index,
            step
        );
        for (file, edit) in &edits {
            prop_assert!(
                ctx.exists(file) && ctx.read(file).contains(edit),
                "step {} {:?}: {} lost {}",
                index,
                step,
                file,
                edit
            );
        }
        if let Some(ram) = fresh_plan {
            // Every owned key holds the plan's value, absence included.
            let (code, output) = run(&ctx, &["check", "--ram", ram, "--cpus", "8", "--os", "linux"]);
            prop_assert_eq!(code, 0, "step {} {:?}: {}", index, step, output);
            let again = match step {
                Step::Init { preset, editors, ram } => run(
                    &ctx,
                    &[
                        "init", "--yes", "--preset", preset, "--editor", editors, "--ram", ram, "--cpus",
                        "8", "--os", "linux",
                    ],
                ),
                Step::Regen { ram } => run(&ctx, &["regen", "--ram", ram, "--cpus", "8", "--os", "linux"]),
                _ => unreachable!(),
            };
            prop_assert!(
                again.1.contains("Unchanged"),
                "step {} {:?}: a second run changed something: {}",
                index,
                step,
                again.1
            );
        }
    }
    if initialized {
        let (code, output) = run(&ctx, &["remove"]);
        prop_assert_eq!(code, 0, "remove: {}", output);
    }
    prop_assert!(!ctx.exists("p/memsafe.toml") && !ctx.exists("p/.memsafe-journal"));
    for (file, edit) in &edits {
        prop_assert!(
            ctx.read(file).contains(edit),
            "remove lost the user's {} in {}",
            edit,
            file
        );
    }
    let untouched =
        edits.is_empty() && !deleted_settings && !steps.iter().any(|s| matches!(s, Step::EditJobs));
    if untouched {
        prop_assert_eq!(ctx.files(), original, "remove did not give the original back");
    }
    Ok(())
}

/// `jobs = N` in `[build]` set to 7, as a user would.
fn regex_free_replace_jobs(config: &str) -> String {
    config
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("jobs = ") {
                "jobs = 7".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if config.ends_with('\n') { "\n" } else { "" }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_keeps_the_users_edits_and_remove_gives_the_rest_back(
        config in 0..100usize,
        settings in 0..100usize,
        steps in prop::collection::vec(step(), 1..7),
    ) {
        sequence(config, settings, &steps)?;
    }
}
