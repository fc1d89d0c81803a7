//! A client for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp's
//! server, Ollama, ...), asking for JSON that follows a schema.
//!
//! What comes back is never trusted: the caller's check turns the JSON into its value (clamping
//! or refusing numbers a model put out of bounds), and an answer that fails the check is asked
//! for again like a failed request. Requests are retried on timeouts, connection errors, 429
//! and 5xx with doubling waits; 4xx errors are final. Answers that passed the check are cached
//! on disk, keyed by the SHA-256 of the whole request body (model, prompts, schema, images), so
//! a rerun costs nothing and a changed prompt is asked again.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};

use crate::outcome::ErrorClass;

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The API's base URL, as OpenAI clients take it (`https://api.openai.com/v1`,
    /// `http://127.0.0.1:8080/v1`); `/chat/completions` is appended.
    pub url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Per request.
    pub timeout: Duration,
    /// Further tries after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled each time.
    pub backoff: Duration,
    /// Answers kept here (none: no cache).
    pub cache: Option<PathBuf>,
    pub max_tokens: u32,
    pub temperature: f64,
}

impl LlmConfig {
    pub fn new(url: &str, model: &str) -> Self {
        LlmConfig {
            url: url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: None,
            timeout: Duration::from_secs(120),
            retries: 3,
            backoff: Duration::from_secs(1),
            cache: None,
            max_tokens: 512,
            temperature: 0.0,
        }
    }
}

/// A part of the user's message: text, or an image (JPEG bytes, sent inline as a data URL as
/// the OpenAI API documents for `image_url` parts).
#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    Jpeg(Vec<u8>),
}

/// One question whose answer must be a JSON object following `schema`.
#[derive(Debug, Clone)]
pub struct JsonQuestion {
    /// The schema's name (OpenAI's `json_schema.name`).
    pub name: String,
    pub schema: Value,
    pub system: String,
    pub user: Vec<Part>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{url}: {message}")]
    Http {
        url: String,
        status: Option<u16>,
        message: String,
    },
    #[error("{url}: the model's answer does not fit the {schema} schema: {message}")]
    BadAnswer {
        url: String,
        schema: String,
        message: String,
    },
    #[error("{}: {source}", path.display())]
    Cache {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LlmError {
    /// The row outcome's error class for this failure.
    pub fn class(&self) -> ErrorClass {
        match self {
            LlmError::Http {
                status: Some(429), ..
            } => ErrorClass::RateLimited,
            LlmError::Http { status: None, .. } => ErrorClass::Timeout,
            _ => ErrorClass::ModelError,
        }
    }

    fn retryable(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => matches!(status, None | Some(429) | Some(500..)),
            LlmError::BadAnswer { .. } => true,
            LlmError::Cache { .. } => false,
        }
    }
}

/// What an answer came to, and whether it came from the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub value: T,
    pub cached: bool,
}

pub struct LlmClient {
    cfg: LlmConfig,
    http: reqwest::Client,
}

impl LlmClient {
    pub fn new(cfg: LlmConfig) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .map_err(|e| LlmError::Http {
                url: cfg.url.clone(),
                status: None,
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        if let Some(dir) = &cfg.cache {
            std::fs::create_dir_all(dir).map_err(|source| LlmError::Cache {
                path: dir.clone(),
                source,
            })?;
        }
        Ok(LlmClient { cfg, http })
    }

    pub fn model(&self) -> &str {
        &self.cfg.model
    }

    fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.cfg.url)
    }

    /// The request body for `q`: the OpenAI chat-completions format with a `json_schema`
    /// response format. A text-only question sends its content as a string, one with images
    /// as an array of `text` and `image_url` parts.
    pub fn request_body(&self, q: &JsonQuestion) -> Value {
        let text_only = q.user.iter().all(|p| matches!(p, Part::Text(_)));
        let content = if text_only {
            let texts: Vec<&str> = q
                .user
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t.as_str()),
                    Part::Jpeg(_) => None,
                })
                .collect();
            Value::String(texts.join("\n\n"))
        } else {
            Value::Array(q.user.iter().map(part_json).collect())
        };
        json!({
            "model": self.cfg.model,
            "messages": [
                {"role": "system", "content": q.system},
                {"role": "user", "content": content},
            ],
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": q.name, "strict": true, "schema": q.schema},
            },
        })
    }

    /// Asks `q` until `check` accepts the answer's JSON (or the retries run out); a cached
    /// accepted answer is checked again and returned without a request.
    pub async fn ask<T>(
        &self,
        q: &JsonQuestion,
        check: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<Answer<T>, LlmError> {
        let body = serde_json::to_string(&self.request_body(q)).expect("JSON values serialise");
        let key = crate::media::sha256_hex(body.as_bytes());
        if let Some(json) = self.cached(&key)? {
            if let Ok(value) = check(&json) {
                return Ok(Answer {
                    value,
                    cached: true,
                });
            }
        }
        let url = self.endpoint();
        let (json, value) = self
            .retrying(&url, &body, |reply| {
                let json = chat_answer(&url, &reply)?;
                let value = check(&json).map_err(|message| LlmError::BadAnswer {
                    url: url.clone(),
                    schema: q.name.clone(),
                    message,
                })?;
                Ok((json, value))
            })
            .await?;
        self.store(&key, &json)?;
        Ok(Answer {
            value,
            cached: false,
        })
    }

    /// Embeddings of `texts` from the API's `/embeddings` (OpenAI format), in order.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, LlmError> {
        let url = format!("{}/embeddings", self.cfg.url);
        let body = json!({"model": self.cfg.model, "input": texts}).to_string();
        self.retrying(&url, &body, |reply| {
            let bad = |message: String| LlmError::BadAnswer {
                url: url.clone(),
                schema: "embeddings".into(),
                message,
            };
            let data = reply
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("no `data` array in the reply".into()))?;
            if data.len() != texts.len() {
                return Err(bad(format!(
                    "{} embeddings for {} texts",
                    data.len(),
                    texts.len()
                )));
            }
            let mut out = vec![Vec::new(); texts.len()];
            for (i, item) in data.iter().enumerate() {
                let at = item
                    .get("index")
                    .and_then(Value::as_u64)
                    .map_or(i, |n| n as usize);
                let vector: Option<Vec<f32>> = item
                    .get("embedding")
                    .and_then(Value::as_array)
                    .and_then(|xs| xs.iter().map(|x| x.as_f64().map(|x| x as f32)).collect());
                match (out.get_mut(at), vector) {
                    (Some(slot), Some(v)) if !v.is_empty() => *slot = v,
                    _ => return Err(bad(format!("data[{i}] is not an embedding of text {at}"))),
                }
            }
            Ok(out)
        })
        .await
    }

    /// POSTs `body` to `url` until `parse` accepts the reply, retrying what may pass later.
    async fn retrying<T>(
        &self,
        url: &str,
        body: &str,
        parse: impl Fn(Value) -> Result<T, LlmError>,
    ) -> Result<T, LlmError> {
        let mut wait = self.cfg.backoff;
        let mut attempt = 0;
        loop {
            match self.post(url, body).await.and_then(&parse) {
                Ok(v) => return Ok(v),
                Err(e) if e.retryable() && attempt < self.cfg.retries => {
                    tracing::debug!("LLM request failed ({e}); retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request: the reply's JSON.
    async fn post(&self, url: &str, body: &str) -> Result<Value, LlmError> {
        let http_error = |status: Option<u16>, message: String| LlmError::Http {
            url: url.to_string(),
            status,
            message,
        };
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = &self.cfg.api_key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| http_error(None, request_failure(&e)))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| http_error(None, request_failure(&e)))?;
        if !(200..300).contains(&status) {
            return Err(http_error(Some(status), server_message(status, &text)));
        }
        serde_json::from_str(&text)
            .map_err(|e| http_error(Some(status), format!("the reply is not JSON: {e}")))
    }

    fn cache_path(&self, key: &str) -> Option<PathBuf> {
        self.cfg
            .cache
            .as_ref()
            .map(|d| d.join(format!("{key}.json")))
    }

    fn cached(&self, key: &str) -> Result<Option<Value>, LlmError> {
        let Some(path) = self.cache_path(key) else {
            return Ok(None);
        };
        match std::fs::read(&path) {
            // A damaged cache entry is asked again, not an error.
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LlmError::Cache { path, source }),
        }
    }

    fn store(&self, key: &str, answer: &Value) -> Result<(), LlmError> {
        let Some(path) = self.cache_path(key) else {
            return Ok(());
        };
        crate::fsutil::save_json(&path, answer).map_err(|source| LlmError::Cache { path, source })
    }
}

/// The JSON object in a chat completion's first choice.
fn chat_answer(url: &str, reply: &Value) -> Result<Value, LlmError> {
    let content = reply
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| LlmError::BadAnswer {
            url: url.to_string(),
            schema: "chat completion".into(),
            message: "no choices[0].message.content in the reply".into(),
        })?;
    let cut = reply
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        == Some("length");
    serde_json::from_str(strip_fences(content)).map_err(|e| LlmError::BadAnswer {
        url: url.to_string(),
        schema: "JSON".into(),
        message: if cut {
            format!(
                "the answer was cut at the token limit (raise --llm-max-tokens): {}",
                clip(content, 200)
            )
        } else {
            format!("the answer is not JSON ({e}): {}", clip(content, 200))
        },
    })
}

fn part_json(part: &Part) -> Value {
    match part {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Jpeg(bytes) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            json!({"type": "image_url", "image_url": {"url": format!("data:image/jpeg;base64,{b64}")}})
        }
    }
}

/// The error message an OpenAI-compatible server put in its reply, or the reply itself.
fn server_message(status: u16, text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str))
        .unwrap_or(text);
    let hint = match status {
        401 | 403 => " (set OMEGA_LLM_API_KEY to the endpoint's key)",
        404 => " (--llm-url is the API's base URL, e.g. http://HOST:PORT/v1)",
        _ => "",
    };
    format!("HTTP {status}: {}{hint}", clip(message, 300))
}

fn request_failure(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the request timed out (--llm-timeout)".into()
    } else {
        format!("request failed: {e}")
    }
}

/// Some models wrap JSON in a Markdown code fence even when asked for JSON.
fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|r| r.strip_suffix("```"))
        .map_or(t, str::trim)
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A number field of an answer, clamped into `[lo, hi]`: models ignore numeric bounds.
/// Missing, non-numeric or NaN values are refused.
pub fn number_in(answer: &Value, field: &str, lo: f64, hi: f64) -> Result<f64, String> {
    let x = answer
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("`{field}` is missing or not a number"))?;
    if x.is_nan() {
        return Err(format!("`{field}` is NaN"));
    }
    Ok(x.clamp(lo, hi))
}

/// A string field of an answer (missing: an error).
pub fn text_in(answer: &Value, field: &str) -> Result<String, String> {
    answer
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("`{field}` is missing or not a string"))
}

/// The cache directory used when none is given: `$XDG_CACHE_HOME/omega/llm`, else
/// `~/.cache/omega/llm`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|d| d.join("omega").join("llm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_clamped_and_bad_ones_refused() {
        let v = json!({"a": 7.5, "b": -1, "c": "x"});
        assert_eq!(number_in(&v, "a", 0.0, 1.0), Ok(1.0));
        assert_eq!(number_in(&v, "b", 0.0, 1.0), Ok(0.0));
        assert!(number_in(&v, "c", 0.0, 1.0).is_err());
        assert!(number_in(&v, "d", 0.0, 1.0).is_err());
    }

    #[test]
    fn code_fences_are_stripped() {
        assert_eq!(strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fences(" {\"a\":1} "), "{\"a\":1}");
    }

    /// The vision request follows the OpenAI chat format: the user's content is an array of a
    /// `text` part and `image_url` parts holding `data:image/jpeg;base64,` URLs of the bytes.
    #[test]
    fn image_parts_follow_the_documented_format() {
        let client = LlmClient::new(LlmConfig::new("http://127.0.0.1:9/v1/", "m")).unwrap();
        let jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3];
        let q = JsonQuestion {
            name: "s".into(),
            schema: json!({"type": "object"}),
            system: "sys".into(),
            user: vec![Part::Text("task".into()), Part::Jpeg(jpeg.clone())],
        };
        let body = client.request_body(&q);
        assert_eq!(client.endpoint(), "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(
            body["messages"][0],
            json!({"role": "system", "content": "sys"})
        );
        let content = &body["messages"][1]["content"];
        assert_eq!(content[0], json!({"type": "text", "text": "task"}));
        assert_eq!(content[1]["type"], "image_url");
        let url = content[1]["image_url"]["url"].as_str().unwrap();
        let b64 = url.strip_prefix("data:image/jpeg;base64,").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(decoded, jpeg);
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["name"], "s");
        // Text only: the content is one string.
        let q = JsonQuestion {
            user: vec![Part::Text("a".into()), Part::Text("b".into())],
            ..q
        };
        assert_eq!(client.request_body(&q)["messages"][1]["content"], "a\n\nb");
    }
}
