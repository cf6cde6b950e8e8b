//! The user's answers to `init`'s questions (each also a flag), the pins and the fixes: what a
//! plan is computed from besides the machine, and what memsafe.toml records under `[answers]`
//! and `[overrides]`.

use serde::{Deserialize, Serialize};

use crate::findings::Fix;

/// How to trade memory for speed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The most memory-frugal plan that still builds
    Safe,
    /// Safe for most projects, close to full speed
    Balanced,
    /// More memory for speed: for light projects or machines with room to spare
    Fast,
}

/// An editor memsafe can configure rust-analyzer for (and reserve memory for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Editor {
    /// VS Code: `.vscode/settings.json`
    Vscode,
    /// Zed: `.zed/settings.json`, under `lsp.rust-analyzer.initialization_options`
    Zed,
    /// Helix: `.helix/languages.toml`, `[language-server.rust-analyzer.config]`
    Helix,
    /// No editor settings, no memory reserved for one
    None,
}

impl Editor {
    pub fn as_str(self) -> &'static str {
        match self {
            Editor::Vscode => "vscode",
            Editor::Zed => "zed",
            Editor::Helix => "helix",
            Editor::None => "none",
        }
    }
}

/// The editors to configure; none at all is `--editor none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Editors {
    pub vscode: bool,
    pub zed: bool,
    pub helix: bool,
}

impl Editors {
    /// VS Code only: the default when nothing else is known.
    pub const VSCODE: Editors = Editors {
        vscode: true,
        zed: false,
        helix: false,
    };
    pub const NONE: Editors = Editors {
        vscode: false,
        zed: false,
        helix: false,
    };

    /// The set named by a list of editors (`none` adds nothing).
    pub fn from_list(list: &[Editor]) -> Editors {
        let mut editors = Editors::NONE;
        for editor in list {
            match editor {
                Editor::Vscode => editors.vscode = true,
                Editor::Zed => editors.zed = true,
                Editor::Helix => editors.helix = true,
                Editor::None => {}
            }
        }
        editors
    }

    pub fn list(self) -> Vec<Editor> {
        let mut out = Vec::new();
        if self.vscode {
            out.push(Editor::Vscode);
        }
        if self.zed {
            out.push(Editor::Zed);
        }
        if self.helix {
            out.push(Editor::Helix);
        }
        out
    }

    /// Whether any editor runs rust-analyzer.
    pub fn any(self) -> bool {
        self != Editors::NONE
    }

    /// `vscode, zed`, or `none`.
    pub fn words(self) -> String {
        if self.any() {
            self.list()
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            "none".into()
        }
    }
}

impl Serialize for Editors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = self.list().iter().map(|e| e.as_str()).collect();
        names.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Editors {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Editors::from_list(&Vec::<Editor>::deserialize(deserializer)?))
    }
}

/// Which test-safe scripts to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scripts {
    /// `test-safe.sh` (Linux, macOS, Git Bash)
    Sh,
    /// `test-safe.ps1` (Windows PowerShell 5.1 and PowerShell 7)
    Ps1,
    /// Both scripts
    Both,
    /// No script
    None,
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Safe => "safe",
            Preset::Balanced => "balanced",
            Preset::Fast => "fast",
        }
    }
}

impl Scripts {
    pub fn as_str(self) -> &'static str {
        match self {
            Scripts::Sh => "sh",
            Scripts::Ps1 => "ps1",
            Scripts::Both => "both",
            Scripts::None => "none",
        }
    }
    pub fn sh(self) -> bool {
        matches!(self, Scripts::Sh | Scripts::Both)
    }
    pub fn ps1(self) -> bool {
        matches!(self, Scripts::Ps1 | Scripts::Both)
    }
}

/// The user's answers: every question `init` asks, each with a flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    pub preset: Preset,
    pub editors: Editors,
    pub scripts: Scripts,
    /// Plan for the hardware recorded in memsafe.toml (the team's smallest machine), not for
    /// the machine memsafe runs on: every teammate's run then writes the same files.
    #[serde(default)]
    pub team: bool,
    /// The fixes of well-known bad recipes to make (`--fix`): by default the plainly wrong.
    #[serde(default)]
    pub fixes: Fixes,
    /// The governor (experimental, `--governor on`): memsafe as cargo's `build.rustc-wrapper`,
    /// starting each rustc when its memory fits. Per machine, so never with `team`. Absent in
    /// records written before it existed: off.
    #[serde(default)]
    pub governor: bool,
}

/// A set of [`Fix`]es, written as a list of their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixes(u8);

impl Fixes {
    pub const NONE: Fixes = Fixes(0);
    pub const ALL: Fixes = Fixes(0b1111);
    /// The plainly wrong ones: what `--yes` applies.
    pub const WRONG: Fixes = Fixes(0b011);

    fn bit(fix: Fix) -> u8 {
        match fix {
            Fix::BuildInManifest => 1,
            Fix::SplitDebuginfo => 2,
            Fix::TestProfile => 4,
            Fix::MemberJobs => 8,
        }
    }

    pub fn has(self, fix: Fix) -> bool {
        self.0 & Fixes::bit(fix) != 0
    }

    pub fn from_list(list: &[Fix]) -> Fixes {
        Fixes(list.iter().fold(0, |bits, fix| bits | Fixes::bit(*fix)))
    }

    pub fn list(self) -> Vec<Fix> {
        Fix::ALL.into_iter().filter(|fix| self.has(*fix)).collect()
    }
}

impl Default for Fixes {
    fn default() -> Self {
        Fixes::WRONG
    }
}

impl Serialize for Fixes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Fixes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Fixes::from_list(&Vec::<Fix>::deserialize(deserializer)?))
    }
}

/// Values the user pinned in memsafe.toml `[overrides]`: every plan keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_threads: Option<u32>,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            preset: Preset::Balanced,
            editors: Editors::VSCODE,
            scripts: Scripts::Both,
            team: false,
            fixes: Fixes::WRONG,
            governor: false,
        }
    }
}

/// `on` or `off`: the governor's flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl Switch {
    pub fn is_on(self) -> bool {
        self == Switch::On
    }
}
