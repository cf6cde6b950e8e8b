//! The interactive flow in a real pseudo-terminal: arrow keys, space and Enter through every
//! prompt; Esc and Ctrl-C stop it (exit 130, nothing written, the cursor shown again).
//! rexpect waits for the expected text up to its timeout; nothing here sleeps.

#![cfg(target_os = "linux")]

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

use crate::common::TestContext;

const DOWN: &str = "\u{1b}[B";
const ESC: &str = "\u{1b}";
const SHOW_CURSOR: &str = "\u{1b}[?25h";

fn start(ctx: &TestContext) -> PtySession {
    start_with(ctx, &[], &[])
}

/// `memsafe init --ram 16 --cpus 8 ARGS` in the terminal, with `env`.
fn start_with(ctx: &TestContext, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_memsafe"));
    command
        .args(["init", "--ram", "16", "--cpus", "8"])
        .args(args)
        .current_dir(ctx.path("p"))
        .env("TERM", "xterm")
        .envs(env.iter().copied());
    spawn_command(command, Some(20_000)).unwrap()
}

/// `text` as rexpect shows the terminal's bytes: each byte one char.
fn raw(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

/// Sends keys; rexpect buffers them until a flush.
fn keys(session: &mut PtySession, text: &str) {
    session.send(text).unwrap();
    session.flush().unwrap();
}

fn exit_code(session: &PtySession) -> i32 {
    match session.process().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("memsafe did not exit normally: {other:?}"),
    }
}

#[test]
fn arrows_space_and_enter_answer_every_prompt() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let mut session = start(&ctx);
    session
        .exp_string("How should builds trade memory for speed?")
        .unwrap();
    keys(&mut session, DOWN); // balanced -> fast
    keys(&mut session, "\r");
    session
        .exp_string("Which editors run rust-analyzer here?")
        .unwrap();
    keys(&mut session, DOWN); // VS Code (ticked) -> Zed
    keys(&mut session, " "); // tick Zed
    keys(&mut session, "\r");
    session
        .exp_string("Which test-safe script should memsafe write?")
        .unwrap();
    keys(&mut session, DOWN); // both -> sh
    keys(&mut session, "\r");
    session.exp_string("Turn on the governor?").unwrap();
    keys(&mut session, DOWN); // off -> on
    keys(&mut session, "\r");
    session.exp_string("+++ b/.zed/settings.json").unwrap();
    session.exp_string("Write these changes?").unwrap();
    keys(&mut session, "y");
    session.exp_string("Done").unwrap();
    session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 0);

    let record = ctx.read("p/memsafe.toml");
    assert!(record.contains("preset = \"fast\""), "{record}");
    assert!(record.contains("editors = [\"vscode\", \"zed\"]"), "{record}");
    assert!(record.contains("scripts = \"sh\""), "{record}");
    assert!(record.contains("governor = true"), "{record}");
    let config = ctx.read("p/.cargo/config.toml");
    assert!(config.contains("rustc-wrapper = "), "{config}");
    assert!(
        ctx.exists("p/.zed/settings.json") && ctx.exists("p/test-safe.sh") && !ctx.exists("p/test-safe.ps1")
    );
}

#[test]
fn declining_the_confirmation_writes_nothing() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let before = ctx.snapshot_tree();
    let mut session = start(&ctx);
    for prompt in [
        "trade memory",
        "Which editors",
        "Which test-safe script",
        "Turn on the governor?",
    ] {
        session.exp_string(prompt).unwrap();
        keys(&mut session, "\r");
    }
    session.exp_string("Write these changes?").unwrap();
    keys(&mut session, "n");
    session.exp_string("Nothing was written.").unwrap();
    session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 0);
    assert_eq!(ctx.snapshot_tree(), before);
}

#[test]
fn escape_and_ctrl_c_exit_130_with_nothing_written_and_the_cursor_back() {
    for (key, at) in [
        (ESC, "trade memory"),
        (ESC, "Which editors"),
        ("\u{3}", "trade memory"),
        ("\u{3}", "Write these changes?"),
    ] {
        let ctx = TestContext::new();
        ctx.cargo_new("p");
        let before = ctx.snapshot_tree();
        let mut session = start(&ctx);
        for prompt in [
            "trade memory",
            "Which editors",
            "Which test-safe script",
            "Turn on the governor?",
            "Write these changes?",
        ] {
            session.exp_string(prompt).unwrap();
            if prompt.contains(at) || at.contains(prompt) {
                break;
            }
            keys(&mut session, "\r");
        }
        keys(&mut session, key);
        let rest = session.exp_eof().unwrap();
        assert_eq!(exit_code(&session), 130, "{key:?} at {at}");
        assert!(
            rest.contains("Cancelled; nothing was written."),
            "{key:?} at {at}: {rest:?}"
        );
        assert!(
            rest.contains(SHOW_CURSOR),
            "{key:?} at {at}: the cursor was not shown again: {rest:?}"
        );
        assert_eq!(
            ctx.snapshot_tree(),
            before,
            "{key:?} at {at}: something was written"
        );
    }
}

#[test]
fn escape_at_the_confirmation_shows_the_cancellation() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let mut session = start_with(
        &ctx,
        &[
            "--preset",
            "safe",
            "--editor",
            "none",
            "--script",
            "sh",
            "--governor",
            "off",
        ],
        &[],
    );
    session.exp_string("Write these changes?").unwrap();
    keys(&mut session, ESC);
    let rest = session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 130);
    assert!(rest.contains(&raw("✘")) && rest.contains("cancelled"), "{rest:?}");
    assert!(rest.contains("Cancelled; nothing was written."), "{rest:?}");
    assert!(!rest.contains(&raw("✔")), "a check mark for no answer: {rest:?}");
}

/// Without colours, the cursor and the ticks of the editor list still show.
#[test]
fn multi_select_shows_cursor_and_ticks_under_no_color() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let mut session = start_with(
        &ctx,
        &["--preset", "safe", "--script", "sh", "--governor", "off"],
        &[("NO_COLOR", "1")],
    );
    session
        .exp_string("Which editors run rust-analyzer here?")
        .unwrap();
    session.exp_string(&raw("❯ [x] VS Code")).unwrap();
    session.exp_string(&raw("  [ ] Zed")).unwrap();
    keys(&mut session, DOWN);
    session.exp_string(&raw("  [x] VS Code")).unwrap();
    session.exp_string(&raw("❯ [ ] Zed")).unwrap();
    keys(&mut session, " ");
    session.exp_string(&raw("❯ [x] Zed")).unwrap();
    keys(&mut session, ESC);
    session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 130);
}

/// The questions need the terminal on stdin and stderr: stdout may be a pipe.
#[test]
fn prompts_with_stdout_piped() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("\"$0\" init --ram 16 --cpus 8 --editor none --script sh --preset safe --governor off | cat")
        .arg(env!("CARGO_BIN_EXE_memsafe"))
        .current_dir(ctx.path("p"))
        .env("TERM", "xterm");
    let mut session = spawn_command(command, Some(20_000)).unwrap();
    session.exp_string("Write these changes?").unwrap();
    keys(&mut session, "y");
    session.exp_string("Done").unwrap();
    session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 0);
    assert!(ctx.exists("p/memsafe.toml"));
}

/// In a 20-row terminal: the list of files first, then as much diff as fits, with a note;
/// `--diff` shows all of it.
#[test]
fn the_confirmation_lists_the_files_and_fits_the_diff_to_the_terminal() {
    for whole in [false, true] {
        let ctx = TestContext::new();
        ctx.cargo_new("p");
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(
                "stty rows 20 cols 100; exec \"$0\" init --ram 16 --cpus 8 --editor vscode --script sh --preset safe --governor off \"$@\"",
            )
            .arg(env!("CARGO_BIN_EXE_memsafe"))
            .args(if whole { &["--diff"][..] } else { &[] })
            .current_dir(ctx.path("p"))
            .env("TERM", "xterm")
            .env("NO_COLOR", "1");
        let mut session = spawn_command(command, Some(20_000)).unwrap();
        session.exp_string("files change:").unwrap();
        session.exp_string("create .cargo/config.toml").unwrap();
        session.exp_string("build.jobs").unwrap();
        session.exp_string("create test-safe.sh").unwrap();
        session.exp_string("the test-safe script").unwrap();
        let (shown, _) = session.exp_regex("Write these changes\\?").unwrap();
        let note = "more diff lines: `memsafe init --diff` shows all of them";
        if whole {
            assert!(!shown.contains(note), "{shown}");
            assert!(shown.contains("+++ b/test-safe.sh"), "{shown}");
        } else {
            assert!(shown.contains(note), "{shown}");
            assert!(!shown.contains("+++ b/test-safe.sh"), "{shown}");
        }
        keys(&mut session, ESC);
        session.exp_eof().unwrap();
        assert_eq!(exit_code(&session), 130);
    }
}

/// A repo configured by hand the popular way: one question lists the fixes, the wrong and slow
/// ones ticked; unticking one keeps it, and the choice is recorded.
#[test]
fn the_fixes_question_ticks_the_wrong_and_slow_ones() {
    let ctx = TestContext::new();
    ctx.cargo_new("p");
    let manifest = ctx.read("p/Cargo.toml");
    ctx.write(
        "p/Cargo.toml",
        &format!("{manifest}\n[build]\njobs = 1\n\n[profile.test]\nopt-level = 1\ncodegen-units = 1\n"),
    );
    let mut session = start_with(
        &ctx,
        &[
            "--preset",
            "balanced",
            "--editor",
            "none",
            "--script",
            "none",
            "--governor",
            "off",
        ],
        &[],
    );
    session.exp_string("Fix these well-known bad recipes?").unwrap();
    session.exp_string("`[build] jobs` in Cargo.toml").unwrap();
    session.exp_string("in [profile.test]").unwrap();
    keys(&mut session, DOWN); // [build] -> [profile.test]
    keys(&mut session, " "); // untick the test profile
    keys(&mut session, "\r");
    session.exp_string("Write these changes?").unwrap();
    keys(&mut session, "y");
    session.exp_string("Done").unwrap();
    session.exp_eof().unwrap();
    assert_eq!(exit_code(&session), 0);
    let manifest = ctx.read("p/Cargo.toml");
    assert!(!manifest.contains("[build]"), "{manifest}");
    assert!(
        manifest.contains("opt-level = 1\ncodegen-units = 1"),
        "{manifest}"
    );
    assert!(
        ctx.read("p/memsafe.toml")
            .contains("fixes = [\"build-in-manifest\"]")
    );
}
