//! Where shards go: a dataset repository on the Hugging Face Hub (through the `hf-hub` crate),
//! or a local folder with the same layout (`--to DIR`).

use std::path::PathBuf;
use std::time::Duration;

use super::HubError;

/// A file of a commit: its path in the repository and the local file with its bytes.
pub struct CommitFile {
    pub path_in_repo: String,
    pub local: PathBuf,
}

pub trait Target {
    /// `hub:ORG/NAME` or `dir:/abs/path`: what the spool records.
    fn id(&self) -> String;
    fn has_file(&self, path_in_repo: &str) -> Result<bool, HubError>;
    /// Adds `files` in one commit; returns the commit id.
    fn commit(&self, files: &[CommitFile], message: &str) -> Result<String, HubError>;
}

/// A local copy of a dataset repository: each file is copied in atomically.
pub struct LocalDir {
    pub dir: PathBuf,
}

impl Target for LocalDir {
    fn id(&self) -> String {
        format!("dir:{}", self.dir.display())
    }

    fn has_file(&self, path_in_repo: &str) -> Result<bool, HubError> {
        Ok(self.dir.join(path_in_repo).is_file())
    }

    fn commit(&self, files: &[CommitFile], _message: &str) -> Result<String, HubError> {
        for f in files {
            let dest = self.dir.join(&f.path_in_repo);
            crate::fsutil::link_or_copy_atomic(&f.local, &dest)
                .map_err(|source| HubError::Io { path: dest, source })?;
        }
        Ok("local".into())
    }
}

/// How often and how patiently a commit is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter; the server's Retry-After wins when longer.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        let jittered = cap.mul_f64(0.5 + fastrand::f64() / 2.0);
        retry_after.map_or(jittered, |r| r.max(jittered))
    }
}

/// A dataset repository on the Hub (or a mirror at `endpoint`).
pub struct HubRepo {
    repo_id: String,
    repo: hf_hub::HFRepository<hf_hub::RepoTypeDataset>,
    runtime: tokio::runtime::Runtime,
    retry: RetryPolicy,
    revision: String,
}

/// What to do about a failed Hub call.
enum Failure {
    /// 429, 5xx, a dropped connection: wait and retry.
    Transient(Option<Duration>),
    /// 409/412: the branch moved; re-read the parent and retry.
    Conflict,
    Fatal,
}

fn classify(e: &hf_hub::HFError) -> Failure {
    use hf_hub::HFError as E;
    match e {
        E::RateLimited { retry_after, .. } => Failure::Transient(*retry_after),
        E::Conflict { .. } => Failure::Conflict,
        E::Http { context } => match context.status.as_u16() {
            409 | 412 => Failure::Conflict,
            408 | 429 => Failure::Transient(None),
            s if s >= 500 => Failure::Transient(None),
            _ => Failure::Fatal,
        },
        E::Request { .. } => Failure::Transient(None),
        _ => Failure::Fatal,
    }
}

impl HubRepo {
    /// `repo_id` is `ORG/NAME`; the token comes from `token`, else `HF_TOKEN` or the token file;
    /// the endpoint from `endpoint`, else `HF_ENDPOINT`, else huggingface.co.
    pub fn new(
        repo_id: &str,
        endpoint: Option<&str>,
        token: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<HubRepo, HubError> {
        let (owner, name) = repo_id
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| HubError::BadRepoId(repo_id.to_string()))?;
        let mut builder = hf_hub::HFClient::builder()
            .cache_enabled(false)
            .user_agent(format!("omega/{}", env!("CARGO_PKG_VERSION")));
        if let Some(e) = endpoint {
            builder = builder.endpoint(e.trim_end_matches('/'));
        }
        if let Some(t) = token {
            builder = builder.token(t);
        }
        let client = builder
            .build()
            .map_err(hub_err("creating the Hub client"))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| HubError::Io {
                path: PathBuf::from("<tokio runtime>"),
                source,
            })?;
        Ok(HubRepo {
            repo_id: repo_id.to_string(),
            repo: client.dataset(owner, name),
            runtime,
            retry,
            revision: "main".into(),
        })
    }

    /// Runs `call` until it succeeds, retrying transient failures and conflicts.
    fn with_retries<T, F, Fut>(&self, what: &str, mut call: F) -> Result<T, HubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, hf_hub::HFError>>,
    {
        let mut attempt = 0;
        loop {
            match self.runtime.block_on(call()) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let failure = classify(&e);
                    attempt += 1;
                    if matches!(failure, Failure::Fatal) || attempt >= self.retry.attempts {
                        return Err(hub_err(what)(e));
                    }
                    let retry_after = match failure {
                        Failure::Transient(r) => r,
                        _ => None,
                    };
                    let wait = self.retry.delay(attempt - 1, retry_after);
                    tracing::warn!("{what}: {e}; retry {attempt} in {wait:.1?}");
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

fn hub_err(what: &str) -> impl Fn(hf_hub::HFError) -> HubError + '_ {
    move |e| {
        let hint = match e {
            hf_hub::HFError::AuthRequired { .. } | hf_hub::HFError::Forbidden { .. } => {
                "; set HF_TOKEN (or HF_TOKEN_PATH, or `huggingface-cli login`) to a token that \
                 can write to the repository"
            }
            hf_hub::HFError::RepoNotFound { .. } => {
                "; create the dataset repository first (huggingface.co/new-dataset)"
            }
            _ => "",
        };
        HubError::Hub {
            what: what.to_string(),
            message: format!("{e}{hint}"),
        }
    }
}

impl Target for HubRepo {
    fn id(&self) -> String {
        format!("hub:{}", self.repo_id)
    }

    fn has_file(&self, path_in_repo: &str) -> Result<bool, HubError> {
        self.with_retries(&format!("checking {path_in_repo}"), || {
            self.repo
                .file_exists()
                .filename(path_in_repo)
                .revision(&self.revision)
                .send()
        })
    }

    fn commit(&self, files: &[CommitFile], message: &str) -> Result<String, HubError> {
        let ops: Vec<hf_hub::repository::CommitOperation> = files
            .iter()
            .map(|f| hf_hub::repository::CommitOperation::Add {
                path_in_repo: f.path_in_repo.clone(),
                source: hf_hub::repository::AddSource::File(f.local.clone()),
            })
            .collect();
        // Each attempt re-reads the branch head and commits on top of it: a conflict (another
        // writer moved the branch) is then retried against the new head.
        let info = self.with_retries("committing", || async {
            let head = self
                .repo
                .info()
                .revision(self.revision.clone())
                .send()
                .await?
                .sha;
            self.repo
                .create_commit()
                .operations(ops.clone())
                .commit_message(message)
                .revision(self.revision.clone())
                .maybe_parent_commit(head)
                .send()
                .await
        })?;
        Ok(info.commit_oid.unwrap_or_else(|| "unknown".into()))
    }
}
