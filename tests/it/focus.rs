//! `omega focus-score` against a real LLM: llama.cpp's server (PyPI xllamacpp) with
//! SmolLM2-135M-Instruct behind its OpenAI-compatible API, both installed by scripts/setup.sh.
//! The tests check the plumbing and the bounds, never the model's judgement.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use omega::focus::prompts::Prompts;
use omega::focus::Formula;
use omega::index::{ExactIndex, VectorIndex};
use omega::llm::{number_in, JsonQuestion, LlmClient, LlmConfig, Part};
use omega::model::SentenceModel;
use omega::outcome::{ErrorClass, Status};
use omega::table::focus::{FocusScoreColumns, FocusVideoRow};
use omega::table::{read_all, TableWriter};

use crate::common::{free_port, media, omega, run_ok, scratch, support, tiny_model, venv_python};

const KEY: &str = "focus-test-key";

/// The LLM server, killed when dropped.
struct LlmServer {
    child: Child,
    port: u16,
}

impl LlmServer {
    fn start() -> Self {
        let python = venv_python("OMEGA_LLM_PYTHON", ".cache/llm/bin/python");
        let gguf = std::env::var("OMEGA_LLM_GGUF").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
            )
            .into()
        });
        assert!(
            Path::new(&gguf).is_file(),
            "{gguf} is missing: run scripts/setup.sh first"
        );
        let port = free_port();
        let mut child = Command::new(python)
            .arg(support("llm_server.py"))
            .args([&gguf, &port.to_string(), KEY])
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("ready"),
            "the LLM server did not start: {line:?}"
        );
        LlmServer { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn video(
    id: &str,
    task: &str,
    description: Option<&str>,
    media: Option<&Path>,
    seconds: Option<f64>,
) -> FocusVideoRow {
    FocusVideoRow {
        video_id: id.into(),
        task_title: task.into(),
        task_description: format!("Do this: {task}, then save the result."),
        media: media.map(|m| m.to_string_lossy().into_owned()),
        duration_seconds: seconds,
        detailed_description: description.map(str::to_string),
        boost_multiplier: None,
        owner_coldkey: None,
    }
}

fn write_videos(path: &Path, rows: Vec<FocusVideoRow>) {
    let mut w = TableWriter::<FocusVideoRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows).unwrap();
    w.finish().unwrap();
}

fn text_model_dir() -> PathBuf {
    std::env::var_os("OMEGA_TEXT_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/models/minilm"))
}

/// `focus-score` against the test server; with the local text model when `text`, else the
/// caller names the text embeddings' source.
fn focus_score_with(
    input: &Path,
    output: &Path,
    index: &Path,
    server_url: &str,
    cache: &Path,
    text: bool,
) -> Command {
    let mut cmd = omega();
    cmd.arg("focus-score")
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(output)
        .arg("--index")
        .arg(index)
        .args([
            "--llm-url",
            server_url,
            "--llm-model",
            "smollm2",
            "--llm-max-tokens",
            "600",
        ])
        .arg("--llm-cache")
        .arg(cache)
        .args(["--min-seconds", "1", "--json", "--quiet"])
        .env("OMEGA_LLM_API_KEY", KEY)
        .env_remove("OMEGA_TEXT_MODEL");
    if text {
        cmd.arg("--text-model").arg(text_model_dir());
    }
    cmd
}

fn focus_score(
    input: &Path,
    output: &Path,
    index: &Path,
    server_url: &str,
    cache: &Path,
) -> Command {
    focus_score_with(input, output, index, server_url, cache, true)
}

/// The task index under `index`, holding `items` before the run.
fn prefill_task_index(index: &Path, items: &[(&str, &Vec<f32>)]) {
    let mut task = ExactIndex::open_with_dim(&index.join("task"), items[0].1.len()).unwrap();
    let items: Vec<(String, Vec<f32>)> = items
        .iter()
        .map(|(id, v)| (id.to_string(), v.to_vec()))
        .collect();
    task.insert(&items).unwrap();
}

fn summary(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("a JSON summary on stdout")
}

const CODING: &str = "The person opens VS Code, writes a Python function that sorts a list of \
    numbers with merge sort, adds three unit tests, runs pytest in the terminal and all tests pass.";

/// The whole run: gates, judges, uniqueness against a pre-filled index (checked by brute
/// force), the combined score recomputed from the components, the decision, the rerun from
/// the cache with the server gone, and a clear failure without the API key.
#[test]
fn focus_score_judges_with_a_real_llm_and_reruns_from_its_cache() {
    let dir = scratch("focus-score");
    let (input, output, index, cache) = (
        dir.join("focus.parquet"),
        dir.join("scored.parquet"),
        dir.join("index"),
        dir.join("llm-cache"),
    );
    let bunny = media("bigbuckbunny.mp4");
    let rows = vec![
        video(
            "a",
            "Write a merge sort in Python",
            Some(CODING),
            Some(&bunny),
            None,
        ),
        // The same task and description again: once `a` is accepted, not unique.
        video(
            "b",
            "Write a merge sort in Python",
            Some(CODING),
            None,
            Some(300.0),
        ),
        video(
            "short",
            "Reply to an email",
            Some("The person types a reply."),
            None,
            Some(0.5),
        ),
        // Nothing shows the recording: no completion score, so `equal` cannot combine.
        video("blind", "Plan a trip", None, None, Some(200.0)),
        video("a", "A repeated id", Some(CODING), None, Some(100.0)),
    ];
    write_videos(&input, rows.clone());
    // The task index already holds two other tasks' overviews.
    let mut text = SentenceModel::load(&text_model_dir(), 1).unwrap();
    let stored = [
        "# Write a quicksort in Python\n\nDo this: Write a quicksort in Python, then save the result.",
        "# Edit a photo\n\nDo this: Edit a photo, then save the result.",
    ];
    let stored_vectors = text.embed(&stored.map(String::from)).unwrap();
    prefill_task_index(
        &index,
        &[("q", &stored_vectors[0]), ("p", &stored_vectors[1])],
    );

    let server = LlmServer::start();
    let mut cmd = focus_score(&input, &output, &index, &server.url(), &cache);
    cmd.arg("--model")
        .arg(tiny_model())
        .args(["--insert", "--llm-concurrency", "1"]);
    let first = run_ok(&mut cmd);
    let first_summary = summary(&first);
    let scored: Vec<FocusScoreColumns> = read_all(output.to_str().unwrap()).unwrap();
    let kept: Vec<FocusVideoRow> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(kept, rows, "every input row and column is kept, in order");
    let versions = Prompts::built_in().versions();

    // `a`: every component in [0, 1], the score is the formula of the components.
    let a = &scored[0];
    assert_eq!(a.status, Status::Ok, "{a:?}");
    let components = [
        a.task_score,
        a.task_uniqueness,
        a.completion_score,
        a.description_uniqueness,
        a.video_uniqueness,
    ];
    for c in components {
        let c = c.expect("every component of `a`");
        assert!((0.0..=1.0).contains(&c), "{a:?}");
    }
    assert_eq!(a.prompts, versions);
    assert_eq!(a.llm_model, "smollm2");
    assert_eq!(a.formula, "equal");
    assert!(a.legitimate.is_some(), "the legitimacy check ran: {a:?}");
    let combined = Formula::Equal.combine(&components, 1.0).unwrap();
    let want = if a.legitimate == Some(false) {
        0.0
    } else {
        combined
    };
    assert!((a.focus_score.unwrap() - want).abs() < 1e-12, "{a:?}");
    let ready = a.focus_score.unwrap() >= 0.1;
    assert_eq!(
        a.decision.as_deref(),
        Some(if ready { "ready" } else { "rejected" })
    );
    assert_eq!(a.rejection_reason.is_some(), !ready);

    // Task uniqueness by brute force: 1 − the highest cosine to what the index held.
    let overview =
        omega::focus::judge::task_overview(&rows[0].task_title, &rows[0].task_description);
    let v = text.embed(&[overview]).unwrap().remove(0);
    let brute = stored_vectors
        .iter()
        .map(|s| f64::from(omega::vector::cosine(&v, s)))
        .fold(f64::NEG_INFINITY, f64::max);
    let want = 1.0 - brute.clamp(0.0, 1.0);
    assert!(
        (a.task_uniqueness.unwrap() - want).abs() < 2e-3,
        "{} vs {want}",
        a.task_uniqueness.unwrap()
    );
    // The description and video indexes were empty: unique.
    assert_eq!(a.description_uniqueness, Some(1.0));
    assert_eq!(a.video_uniqueness, Some(1.0));

    // `b` repeats `a`: once `a` is accepted, `b`'s texts match it exactly.
    let b = &scored[1];
    assert_eq!(b.video_uniqueness, None, "no media, no video component");
    if ready {
        assert!(b.task_uniqueness.unwrap() < 1e-3, "{b:?}");
        assert!(b.description_uniqueness.unwrap() < 1e-3, "{b:?}");
    } else {
        assert!((b.task_uniqueness.unwrap() - want).abs() < 2e-3, "{b:?}");
    }
    // `b` lacks the video component: the equal formula cannot combine it.
    assert_eq!(
        (b.status, b.focus_score, b.decision.as_deref()),
        (Status::Failed, None, None)
    );
    assert_eq!(b.error_class, Some(ErrorClass::InvalidInput), "{b:?}");
    assert!(
        b.error
            .as_deref()
            .unwrap()
            .contains("needs components that are null"),
        "{b:?}"
    );

    // The gate: rejected without a model call.
    let short = &scored[2];
    assert_eq!(short.decision.as_deref(), Some("rejected"));
    assert!(
        short
            .rejection_reason
            .as_deref()
            .unwrap()
            .contains("under the minimum"),
        "{short:?}"
    );
    assert_eq!((short.task_score, short.completion_score), (None, None));

    let blind = &scored[3];
    assert_eq!(blind.status, Status::Failed);
    assert!(
        blind
            .error
            .as_deref()
            .unwrap()
            .contains("completion: nothing shows the recording"),
        "{blind:?}"
    );
    assert_eq!(scored[4].status, Status::Skipped, "a repeated id");

    let asked = first_summary["llm_requests"].as_u64().unwrap();
    // a: task, completion, legitimacy; b: the same texts, so the same requests, answered
    // from the cache (one video at a time); blind: task only.
    assert_eq!(asked, 4, "{first_summary}");
    let inserted = first_summary["inserted"].as_u64().unwrap();
    assert_eq!(inserted, if ready { 3 } else { 0 }, "{first_summary}");

    // The rerun with the server gone: every answer from the cache, the same table.
    drop(server);
    std::fs::remove_file(&output).unwrap();
    let mut cmd = focus_score(&input, &output, &index, "http://127.0.0.1:9/v1", &cache);
    cmd.arg("--model").arg(tiny_model());
    let again = summary(&run_ok(&mut cmd));
    assert_eq!(again["llm_requests"], 0, "{again}");
    let rescored: Vec<FocusScoreColumns> = read_all(output.to_str().unwrap()).unwrap();
    // `a` is in the index now (if accepted) and never counts itself.
    assert_eq!(rescored[0].task_uniqueness, a.task_uniqueness);
    assert_eq!(rescored[0].focus_score, a.focus_score);
    assert_eq!(rescored[0].decision, a.decision);
}

/// Without the endpoint's key every row fails with the server's 401, named, and the run
/// goes on to write every row.
#[test]
fn focus_score_without_the_api_key_fails_rows_with_401() {
    let dir = scratch("focus-401");
    let (input, output) = (dir.join("focus.parquet"), dir.join("scored.parquet"));
    write_videos(
        &input,
        vec![video(
            "x",
            "Write a merge sort in Python",
            Some(CODING),
            None,
            Some(120.0),
        )],
    );
    let server = LlmServer::start();
    let mut cmd = focus_score(
        &input,
        &output,
        &dir.join("index"),
        &server.url(),
        &dir.join("cache"),
    );
    cmd.env_remove("OMEGA_LLM_API_KEY")
        .args(["--formula", "head"]);
    run_ok(&mut cmd);
    let scored: Vec<FocusScoreColumns> = read_all(output.to_str().unwrap()).unwrap();
    assert_eq!(scored[0].status, Status::Failed);
    let error = scored[0].error.as_deref().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains("OMEGA_LLM_API_KEY"),
        "{error}"
    );
}

/// `--llm-vision` sends frames as image parts; a text-only model refuses them with HTTP 500,
/// which every component that needed them reports, while the text-only task judge answers.
#[test]
fn focus_score_vision_frames_reach_the_server_and_a_text_model_refuses_them() {
    let dir = scratch("focus-vision");
    let (input, output) = (dir.join("focus.parquet"), dir.join("scored.parquet"));
    let bunny = media("bigbuckbunny.mp4");
    write_videos(
        &input,
        vec![video("v", "Edit a video", None, Some(&bunny), None)],
    );
    let server = LlmServer::start();
    let mut cmd = focus_score(
        &input,
        &output,
        &dir.join("index"),
        &server.url(),
        &dir.join("cache"),
    );
    cmd.args([
        "--llm-vision",
        "--llm-frames",
        "2",
        "--llm-retries",
        "0",
        "--formula",
        "skip-null",
    ]);
    run_ok(&mut cmd);
    let scored: Vec<FocusScoreColumns> = read_all(output.to_str().unwrap()).unwrap();
    let v = &scored[0];
    let error = v.error.as_deref().unwrap();
    assert!(
        error.contains("description: ") && error.contains("HTTP 500"),
        "{error}"
    );
    assert!(error.contains("image input is not supported"), "{error}");
    assert!(error.contains("completion: "), "{error}");
    assert_eq!(
        (v.completion_score, v.description_used.as_deref()),
        (None, None)
    );
    let task = v.task_score.expect("the task judge needs no frames");
    assert!((0.0..=1.0).contains(&task));
    assert_eq!(
        v.status,
        Status::Ok,
        "skip-null combines what is there: {v:?}"
    );
}

/// Numbers out of the schema's bounds are clamped, never trusted: this model, told to, puts
/// 42 where a score in [0, 1] belongs.
#[test]
fn out_of_range_numbers_from_the_model_are_clamped() {
    let server = LlmServer::start();
    let mut cfg = LlmConfig::new(&server.url(), "smollm2");
    cfg.api_key = Some(KEY.into());
    cfg.max_tokens = 40;
    let client = LlmClient::new(cfg).unwrap();
    let q = JsonQuestion {
        name: "score".into(),
        schema: serde_json::json!({"type": "object", "properties": {"score": {"type": "number"}}, "required": ["score"]}),
        system: "You answer with JSON only.".into(),
        user: vec![Part::Text("Put the number 42 in the field score.".into())],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = runtime
        .block_on(client.ask(&q, |v| {
            Ok((
                v["score"].as_f64().ok_or("no score")?,
                number_in(v, "score", 0.0, 1.0)?,
            ))
        }))
        .unwrap();
    let (raw, clamped) = answer.value;
    assert!(raw > 1.0, "the model answered {raw}");
    assert_eq!(clamped, 1.0);
}

/// Text embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (the same server): a
/// task already in the index, embedded by the endpoint, is found again by omega's request.
#[test]
fn focus_score_takes_text_embeddings_from_an_openai_compatible_endpoint() {
    let dir = scratch("focus-embeddings");
    let (input, output, index) = (
        dir.join("focus.parquet"),
        dir.join("scored.parquet"),
        dir.join("index"),
    );
    let row = video(
        "e",
        "Write a merge sort in Python",
        Some(CODING),
        None,
        Some(120.0),
    );
    let overview = omega::focus::judge::task_overview(&row.task_title, &row.task_description);
    write_videos(&input, vec![row]);
    let server = LlmServer::start();
    let mut cfg = LlmConfig::new(&server.url(), "smollm2");
    cfg.api_key = Some(KEY.into());
    let client = LlmClient::new(cfg).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored = runtime
        .block_on(client.embed(&[overview, "Edit a photo".into()]))
        .unwrap();
    prefill_task_index(&index, &[("same", &stored[0]), ("other", &stored[1])]);
    let mut cmd = focus_score_with(
        &input,
        &output,
        &index,
        &server.url(),
        &dir.join("cache"),
        false,
    );
    cmd.args([
        "--formula",
        "skip-null",
        "--embeddings-url",
        &server.url(),
        "--embeddings-model",
        "smollm2",
    ]);
    run_ok(&mut cmd);
    let scored: Vec<FocusScoreColumns> = read_all(output.to_str().unwrap()).unwrap();
    let u = scored[0]
        .task_uniqueness
        .expect("a task uniqueness from the endpoint's embeddings");
    // The server's numbers move a little with how requests are batched (and the index keeps
    // f16): the same text is within 1 % of a perfect match, far closer than another text.
    let other = 1.0 - f64::from(omega::vector::cosine(&stored[0], &stored[1]));
    assert!(
        u < 0.01 && u < other / 5.0,
        "the same task is not unique: {u} (another task: {other})"
    );
}
