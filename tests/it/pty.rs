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
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_memsafe"));
    command
        .args(["init", "--ram", "16", "--cpus", "8"])
        .current_dir(ctx.path("p"))
        .env("TERM", "xterm");
    spawn_command(command, Some(20_000)).unwrap()
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
    for prompt in ["trade memory", "Which editors", "Which test-safe script"] {
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
