//! The Focus tables: `focus-videos` (what `omega focus-score` reads) and the columns it adds
//! (`focus-scored`).

use crate::outcome::{ErrorClass, Status};

crate::table! {
    /// Focus videos to score: screen recordings of a person working on a task (spec §6).
    /// Other columns are kept as they are.
    pub struct FocusVideoRow = "focus-videos", version 1 {
        /// The video's id (unique in the table).
        video_id: String ["-"],
        /// The task's title (`focusing_task`).
        task_title: String ["-"],
        /// What the task is about (`focusing_description`).
        task_description: String ["-"],
        /// The recording: a local path or an http(s) URL (null: none; the video component and
        /// `--llm-vision` frames are then null / not sent).
        media: Option<String> ["-"],
        /// The focused time (null: probed from the media).
        duration_seconds: Option<f64> ["s"],
        /// A description of what the recording shows: applications used, steps, outcome (null:
        /// written by the LLM from frames with `--llm-vision`, else the component is null).
        detailed_description: Option<String> ["-"],
        /// The boost multiplier of a boosted task (null: 1).
        boost_multiplier: Option<f64> ["x"],
        /// The Focus user's coldkey (SS58), paid when a miner buys the video on the
        /// marketplace (null: the video cannot be listed).
        owner_coldkey: Option<String> ["ss58"],
    }
}

crate::table! {
    /// `focus-scored`: a `focus-videos` table with the five components, the combined score and
    /// the decision (spec §6.2–6.3). Every row is kept: a video that could not be scored has
    /// `status` failed and no `decision`; a rerun asks the LLM only what it has not answered.
    pub struct FocusScoreColumns = "focus-scored", version 1 {
        /// The focused time used for the duration gates.
        focus_seconds: Option<f64> ["s"],
        /// The LLM's rating of the task itself (relevance, impact, feasibility, efficiency).
        task_score: Option<f64> ["0..1"],
        /// 1 − the task overview's highest cosine to the task index (empty index: 1).
        task_uniqueness: Option<f64> ["0..1"],
        /// The LLM's rating of how well the recording completes the task.
        completion_score: Option<f64> ["0..1"],
        /// 1 − the detailed description's highest cosine to the description index.
        description_uniqueness: Option<f64> ["0..1"],
        /// 1 − the video's highest ImageBind cosine to the video index.
        video_uniqueness: Option<f64> ["0..1"],
        /// The detailed description used (the input's, or the LLM's from frames).
        description_used: Option<String> ["-"],
        /// The legitimacy check: false when the LLM judged the recording an exploit of the
        /// task (the score is then 0); null when not run or when it failed (the video passes).
        legitimate: Option<bool> ["-"],
        /// The legitimacy check's rationale.
        legitimacy_rationale: Option<String> ["-"],
        /// The completion judge's rationale.
        completion_rationale: Option<String> ["-"],
        /// The combined score (`--formula`; × 0 when not legitimate).
        focus_score: Option<f64> ["-"],
        /// The formula used.
        formula: String ["-"],
        /// `ready` (kept) or `rejected`; null when the video could not be scored.
        decision: Option<String> ["-"],
        /// Why it was rejected.
        rejection_reason: Option<String> ["-"],
        /// The prompt files used, `name@sha256-prefix` each: which version judged this row.
        prompts: String ["-"],
        /// The LLM model asked.
        llm_model: String ["-"],
        /// ok: scored; failed: see error_class and error; skipped: not scored (duplicate id).
        status: Status ["-"],
        /// Why the row failed.
        error_class: Option<ErrorClass> ["-"],
        /// What failed, with the component's name.
        error: Option<String> ["-"],
    }
}

crate::table! {
    /// The columns `omega serve-market --list` reads from a `focus-scored` table.
    pub struct FocusListingInput = "focus-listing", version 1 {
        /// As in `focus-videos`.
        video_id: String ["-"],
        /// As in `focus-videos`.
        task_title: String ["-"],
        /// As in `focus-videos`.
        owner_coldkey: Option<String> ["ss58"],
        /// As in `focus-scored`.
        focus_seconds: Option<f64> ["s"],
        /// As in `focus-scored`.
        task_score: Option<f64> ["0..1"],
        /// As in `focus-scored`.
        task_uniqueness: Option<f64> ["0..1"],
        /// As in `focus-scored`.
        completion_score: Option<f64> ["0..1"],
        /// As in `focus-scored`.
        description_uniqueness: Option<f64> ["0..1"],
        /// As in `focus-scored`.
        video_uniqueness: Option<f64> ["0..1"],
        /// As in `focus-scored`.
        focus_score: Option<f64> ["-"],
        /// As in `focus-scored`.
        formula: String ["-"],
        /// As in `focus-scored`: only `ready` videos are listed.
        decision: Option<String> ["-"],
    }
}
