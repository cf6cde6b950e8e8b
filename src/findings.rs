//! What memsafe finds in a repo configured by hand: the data, shared by the plan (which lists
//! and fixes them) and [`crate::current`] (which finds them). Pure.

use serde::Serialize;
use serde_json::Value;

/// How bad a finding is, and so whether its fix is on by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Plainly wrong: fixed by default, `--yes` included.
    Wrong,
    /// Costs time for nothing: fixed by default at the prompt, not with `--yes` alone.
    Slow,
    /// A matter of taste: reported, left as it is.
    Taste,
    /// A rust-analyzer key that no longer exists.
    Stale,
    /// Beats memsafe's value.
    Overrides,
}

/// A fix memsafe can make, by name (`--fix NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Fix {
    /// `[build] jobs` in Cargo.toml, which cargo ignores: taken out
    BuildInManifest,
    /// `split-debuginfo = "off"` or `"unpacked"` on Windows MSVC, which does not support them: taken out
    SplitDebuginfo,
    /// `opt-level > 0` or `codegen-units = 1` in `[profile.test]`: taken out
    TestProfile,
    /// `build.jobs` in a workspace member's `.cargo/config.toml`: taken out, so the root's applies
    MemberJobs,
}

impl Fix {
    pub const ALL: [Fix; 4] = [
        Fix::BuildInManifest,
        Fix::SplitDebuginfo,
        Fix::TestProfile,
        Fix::MemberJobs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Fix::BuildInManifest => "build-in-manifest",
            Fix::SplitDebuginfo => "split-debuginfo",
            Fix::TestProfile => "test-profile",
            Fix::MemberJobs => "member-jobs",
        }
    }

    /// The Cargo.toml keys the fix takes out.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Fix::BuildInManifest => &["build.jobs"],
            Fix::SplitDebuginfo => &["profile.dev.split-debuginfo", "profile.test.split-debuginfo"],
            Fix::TestProfile => &["profile.test.opt-level", "profile.test.codegen-units"],
            // In members' config files, not Cargo.toml: see `Plan::members_out`.
            Fix::MemberJobs => &[],
        }
    }
}

/// A well-known bad recipe (or a value that beats memsafe's), with what it costs and the fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub status: Status,
    /// Where: `Cargo.toml line 7`, `the environment (CARGO_BUILD_JOBS)`.
    pub place: String,
    pub what: String,
    /// What it costs, with the source of the figure.
    pub cost: String,
    /// The fix memsafe can make; `None`: memsafe only says so.
    pub fix: Option<Fix>,
    /// The file the fix edits, when it is not Cargo.toml (a member's config).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Already taken out by an earlier run's fix (the value is the recorded original).
    #[serde(skip)]
    pub taken_out: bool,
}

/// The debug level as a number that orders them: 0 none ... 4 full.
pub(crate) fn debug_rank(value: &Value) -> Option<u8> {
    match value {
        Value::Bool(false) => Some(0),
        Value::Bool(true) => Some(4),
        Value::Number(n) => match n.as_i64()? {
            0 => Some(0),
            1 => Some(3),
            2 => Some(4),
            _ => None,
        },
        Value::String(level) => match level.as_str() {
            "none" => Some(0),
            "line-directives-only" => Some(1),
            "line-tables-only" => Some(2),
            "limited" => Some(3),
            "full" => Some(4),
            _ => None,
        },
        _ => None,
    }
}
