//! The LLM judges of a Focus video (spec §6.2 components 1, 2 and 4's description, §6.3 step 4's
//! legitimacy check), each a JSON schema, a prompt and a check of what comes back.

use serde_json::{json, Value};

use super::prompts::{Prompt, Prompts};
use crate::llm::{number_in, text_in, Answer, JsonQuestion, LlmClient, LlmError, Part};

/// Bounds that keep a small model's strings short (and so its answers quick).
const SHORT: usize = 160;
const STEPS: usize = 3;

fn steps_schema() -> Value {
    json!({"type": "array", "maxItems": STEPS, "items": {"type": "string", "maxLength": SHORT}})
}

fn short_text() -> Value {
    json!({"type": "string", "maxLength": SHORT})
}

fn object(properties: Value) -> Value {
    let required: Vec<&String> = properties.as_object().expect("an object").keys().collect();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn score() -> Value {
    json!({"type": "number", "minimum": 0, "maximum": 1})
}

/// `# title\n\ndescription`, the original's `task_overview`.
pub fn task_overview(title: &str, description: &str) -> String {
    format!("# {title}\n\n{description}")
}

/// A score and the judge's rationale.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub score: f64,
    pub rationale: String,
}

/// The legitimacy check's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Legitimacy {
    pub legitimate: bool,
    pub rationale: String,
}

/// What a judge is shown of one video.
pub struct Evidence<'a> {
    pub overview: &'a str,
    pub description: Option<&'a str>,
    /// JPEG frames (only with `--llm-vision`).
    pub frames: &'a [Vec<u8>],
}

impl Evidence<'_> {
    fn parts(&self, with_description: bool) -> Vec<Part> {
        let mut parts = vec![Part::Text(format!("Task:\n{}", self.overview))];
        if let (true, Some(d)) = (with_description, self.description) {
            parts.push(Part::Text(format!("Description of the recording:\n{d}")));
        }
        if !self.frames.is_empty() {
            parts.push(Part::Text(format!(
                "{} frames sampled from the recording, in order:",
                self.frames.len()
            )));
            parts.extend(self.frames.iter().map(|f| Part::Jpeg(f.clone())));
        }
        parts
    }
}

fn question(name: &str, prompt: &Prompt, schema: Value, user: Vec<Part>) -> JsonQuestion {
    JsonQuestion {
        name: name.into(),
        schema,
        system: prompt.text.clone(),
        user,
    }
}

/// The four judges over one client and one set of prompts.
pub struct Judges {
    pub llm: LlmClient,
    pub prompts: Prompts,
    /// `prompts.versions()`, hashed once (every row records it).
    versions: String,
}

impl Judges {
    pub fn new(llm: LlmClient, prompts: Prompts) -> Self {
        let versions = prompts.versions();
        Judges {
            llm,
            prompts,
            versions,
        }
    }

    /// The prompts' versions, as the `prompts` column records them.
    pub fn prompt_versions(&self) -> &str {
        &self.versions
    }

    /// Component 1: the task alone (`TaskScoreBreakdown`).
    pub async fn task(&self, e: &Evidence<'_>) -> Result<Answer<Verdict>, LlmError> {
        let schema = object(json!({
            "reasoning_steps": steps_schema(), "final_score": score(), "rationale": short_text(),
        }));
        let q = question(
            "task_score",
            &self.prompts.task,
            schema,
            vec![Part::Text(format!("Task:\n{}", e.overview))],
        );
        self.llm.ask(&q, |v| verdict(v, "final_score")).await
    }

    /// Component 2: how well the recording completes the task (`CompletionScoreBreakdown`).
    pub async fn completion(&self, e: &Evidence<'_>) -> Result<Answer<Verdict>, LlmError> {
        let schema = object(json!({
            "reasoning_steps": steps_schema(), "completion_score": score(),
            "final_score": score(), "rationale": short_text(),
        }));
        let q = question(
            "completion_score",
            &self.prompts.completion,
            schema,
            e.parts(true),
        );
        self.llm.ask(&q, |v| verdict(v, "final_score")).await
    }

    /// The detailed description of a recording from its frames (`DetailedVideoDescription`);
    /// returned as its JSON text, which is what the description index embeds.
    pub async fn description(&self, e: &Evidence<'_>) -> Result<Answer<String>, LlmError> {
        let schema = object(json!({
            "applications_used": {"type": "array", "maxItems": STEPS, "items": short_text()},
            "completion_sequence_steps": steps_schema(),
            "user_feedback": short_text(),
            "description": short_text(),
        }));
        let q = question(
            "detailed_video_description",
            &self.prompts.description,
            schema,
            e.parts(false),
        );
        self.llm
            .ask(&q, |v| {
                text_in(v, "description")?;
                Ok(v.to_string())
            })
            .await
    }

    /// The legitimacy check (`{rationale, legitimate}`).
    pub async fn legitimacy(&self, e: &Evidence<'_>) -> Result<Answer<Legitimacy>, LlmError> {
        let schema = object(json!({"rationale": short_text(), "legitimate": {"type": "boolean"}}));
        let q = question(
            "legitimacy_check",
            &self.prompts.legitimacy,
            schema,
            e.parts(true),
        );
        self.llm
            .ask(&q, |v| {
                Ok(Legitimacy {
                    legitimate: v
                        .get("legitimate")
                        .and_then(Value::as_bool)
                        .ok_or("`legitimate` is missing or not a boolean")?,
                    rationale: text_in(v, "rationale")?,
                })
            })
            .await
    }
}

/// A score clamped into [0, 1] (models ignore the schema's bounds) and the rationale.
fn verdict(v: &Value, field: &str) -> Result<Verdict, String> {
    Ok(Verdict {
        score: number_in(v, field, 0.0, 1.0)?,
        rationale: text_in(v, "rationale")?,
    })
}
