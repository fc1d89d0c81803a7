//! The judges' system prompts: text files under `prompts/focus/`, built into the binary and
//! replaceable with `--prompts DIR`. Each row records which version judged it
//! (`name@` the first 12 hex digits of the file's SHA-256), and the LLM cache is keyed by the
//! whole request, so editing a prompt re-asks exactly what it changes.

use std::path::{Path, PathBuf};

/// One prompt file.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub name: &'static str,
    pub text: String,
}

impl Prompt {
    /// `name@sha256-prefix`.
    pub fn version(&self) -> String {
        let sha = crate::media::sha256_hex(self.text.as_bytes());
        format!("{}@{}", self.name, &sha[..12])
    }
}

/// The four judges' prompts.
#[derive(Debug, Clone)]
pub struct Prompts {
    pub task: Prompt,
    pub completion: Prompt,
    pub description: Prompt,
    pub legitimacy: Prompt,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {source} (--prompts DIR needs task.md, completion.md, description.md and legitimacy.md)", path.display())]
pub struct PromptError {
    path: PathBuf,
    source: std::io::Error,
}

const BUILT_IN: [(&str, &str); 4] = [
    ("task", include_str!("../../../prompts/focus/task.md")),
    (
        "completion",
        include_str!("../../../prompts/focus/completion.md"),
    ),
    (
        "description",
        include_str!("../../../prompts/focus/description.md"),
    ),
    (
        "legitimacy",
        include_str!("../../../prompts/focus/legitimacy.md"),
    ),
];

impl Prompts {
    /// The prompts built into this binary (the repository's `prompts/focus/`).
    pub fn built_in() -> Self {
        Self::from_texts(|name| {
            let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).expect("built in");
            Ok(text.to_string())
        })
        .expect("built-in prompts")
    }

    /// `task.md`, `completion.md`, `description.md` and `legitimacy.md` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, PromptError> {
        Self::from_texts(|name| {
            let path = dir.join(format!("{name}.md"));
            std::fs::read_to_string(&path).map_err(|source| PromptError { path, source })
        })
    }

    fn from_texts(
        mut read: impl FnMut(&'static str) -> Result<String, PromptError>,
    ) -> Result<Self, PromptError> {
        let mut prompt = |name: &'static str| -> Result<Prompt, PromptError> {
            Ok(Prompt {
                name,
                text: read(name)?,
            })
        };
        Ok(Prompts {
            task: prompt("task")?,
            completion: prompt("completion")?,
            description: prompt("description")?,
            legitimacy: prompt("legitimacy")?,
        })
    }

    /// Every prompt's version, comma-separated (the `prompts` column).
    pub fn versions(&self) -> String {
        [
            &self.task,
            &self.completion,
            &self.description,
            &self.legitimacy,
        ]
        .map(Prompt::version)
        .join(",")
    }
}
