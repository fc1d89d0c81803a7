//! `score` over tables: every answer of a `deduped` table gets its score, with each component
//! in its own column; `--state` updates the per-miner moving average.

use std::collections::HashMap;
use std::ops::ControlFlow;

use super::ema::MinerAnswer;
use super::relevance::{
    aggregate, description_relevance, length_scaler, query_relevance, text_similarity, ChunkVerdict,
};
use super::ScoreConfig;
use crate::embed::embed_texts;
use crate::imagebind::bpe::Truncation;
use crate::imagebind::chunk::{unique_token_count, Splitter};
use crate::model::{ImageBind, ModelError, SentenceModel, TextClassifier};
use crate::outcome::Status;
use crate::report::Summary;
use crate::table::scored::{ScoreColumns, ScoreInput};
use crate::table::{for_each_group, ExtendingWriter, TableError, TableReader};
use crate::vector::cosine;

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// The models scoring needs: ImageBind (query and chunk text embeddings, CLIP tokenizer) and
/// the sentence model for T.
pub struct Scorer<'a> {
    pub imagebind: &'a mut ImageBind,
    pub text: &'a mut SentenceModel,
    pub cfg: ScoreConfig,
    pub truncation: Truncation,
    /// The stuffing classifier; without one that check is skipped.
    pub stuffing: Option<&'a mut TextClassifier>,
    query_cache: HashMap<String, Option<Vec<f32>>>,
}

fn cos(a: &Option<Vec<f32>>, b: &Option<Vec<f32>>) -> Option<f64> {
    Some(f64::from(cosine(a.as_deref()?, b.as_deref()?)))
}

/// The score of an answer and why.
struct AnswerScore {
    score: Option<f64>,
    penalty: Option<f64>,
    reason: String,
}

impl AnswerScore {
    /// A score that is a penalty (−5 for stuffing).
    fn penalty(p: f64, reason: String) -> Self {
        AnswerScore {
            score: Some(p),
            penalty: Some(p),
            reason,
        }
    }

    /// A score earned by the answer's videos (or the floor).
    fn earned(score: f64, reason: String) -> Self {
        AnswerScore {
            score: Some(score),
            penalty: None,
            reason,
        }
    }
}

/// A scoring step either goes on with its result or decides the whole answer.
type Step<T> = Result<ControlFlow<AnswerScore, T>, ModelError>;

/// The verdict validation already gave: its score (0.005, −5), or no score at all when the
/// answer did not pass; `None` when the answer goes on to scoring.
fn decided_by_validation(first: &ScoreInput) -> Option<AnswerScore> {
    let reason = first.response_reason.clone();
    if let Some(decided) = first.response_score {
        return Some(AnswerScore {
            score: Some(decided),
            penalty: (decided < 0.0).then_some(decided),
            reason: reason.unwrap_or_default(),
        });
    }
    (!first.response_passed).then(|| AnswerScore {
        score: None,
        penalty: None,
        reason: reason.unwrap_or_else(|| "not validated".into()),
    })
}

/// The text similarities and chunk verdict of one video, with the query embedding.
struct VideoInputs<'q> {
    query: &'q Option<Vec<f32>>,
    text_cosine: f64,
    unique_tokens: usize,
    chunks: &'q ChunkVerdict,
}

/// Fills every relevance column of one video (spec §4.3).
fn fill_relevance(c: &mut ScoreColumns, r: &ScoreInput, v: &VideoInputs, cfg: &ScoreConfig) {
    let u = v.unique_tokens;
    c.video_desc_cos = cos(&r.video_emb, &r.description_emb);
    c.audio_desc_cos = cos(&r.audio_emb, &r.description_emb);
    c.video_query_cos = cos(&r.video_emb, v.query);
    c.audio_query_cos = cos(&r.audio_emb, v.query);
    c.text_similarity = Some(text_similarity(v.text_cosine, cfg));
    c.unique_token_count = Some(u as i64);
    c.length_scaler = Some(length_scaler(u, cfg));
    c.description_relevance = Some(description_relevance(
        c.video_desc_cos.unwrap_or(0.0),
        c.audio_desc_cos.unwrap_or(0.0),
        u,
        cfg,
    ));
    c.query_relevance = Some(query_relevance(
        c.video_query_cos.unwrap_or(0.0),
        c.audio_query_cos.unwrap_or(0.0),
        c.text_similarity.unwrap_or(0.0),
    ));
    c.chunks_total = Some(v.chunks.total as i64);
    c.chunks_low_quality = Some(v.chunks.low_quality as i64);
    c.chunks_really_bad = Some(v.chunks.really_bad as i64);
}

/// The answer's score from its kept videos (marked scored), floored at the minimum.
fn score_kept(kept: &[usize], out: &mut [ScoreColumns], cfg: &ScoreConfig) -> AnswerScore {
    if kept.is_empty() {
        return AnswerScore::earned(cfg.min_score, "no video left to score".into());
    }
    for &i in kept {
        out[i].scored = true;
        out[i].status = Status::Ok;
    }
    let desc: Vec<f64> = kept
        .iter()
        .filter_map(|&i| out[i].description_relevance)
        .collect();
    let query: Vec<f64> = kept
        .iter()
        .filter_map(|&i| out[i].query_relevance)
        .collect();
    let reason = format!("{} of {} videos scored", kept.len(), cfg.num_videos);
    AnswerScore::earned(aggregate(&desc, &query, cfg), reason)
}

impl<'a> Scorer<'a> {
    pub fn new(
        imagebind: &'a mut ImageBind,
        text: &'a mut SentenceModel,
        cfg: ScoreConfig,
    ) -> Self {
        Scorer {
            imagebind,
            text,
            cfg,
            truncation: Truncation::Fork,
            stuffing: None,
            query_cache: HashMap::new(),
        }
    }

    fn query_embedding(&mut self, query: &str) -> Result<Option<Vec<f32>>, ModelError> {
        if let Some(q) = self.query_cache.get(query) {
            return Ok(q.clone());
        }
        let q = embed_texts(self.imagebind, &[query.to_string()], self.truncation)?.remove(0);
        self.query_cache.insert(query.to_string(), q.clone());
        Ok(q)
    }

    /// Per-chunk `(cos(v, t) + cos(a, t)) / 2` of each description's 60-token chunks, with the
    /// chunks of all the answer's videos embedded in one model call.
    fn chunk_verdicts(&mut self, rows: &[&ScoreInput]) -> Result<Vec<ChunkVerdict>, ModelError> {
        let splitter = Splitter {
            max_tokens: self.cfg.extraneous_chunk_tokens,
            context: 10_000,
        };
        // A single chunk needs no embedding: it counts as (0, 0, 0) (ChunkVerdict::new).
        let chunks: Vec<Vec<String>> = rows
            .iter()
            .map(|r| splitter.split(&self.imagebind.bpe, &r.description))
            .map(|c| if c.len() > 1 { c } else { Vec::new() })
            .collect();
        let mut embs = embed_texts(self.imagebind, &chunks.concat(), self.truncation)?.into_iter();
        Ok(rows
            .iter()
            .zip(&chunks)
            .map(|(row, texts)| {
                let scores: Vec<f64> = embs
                    .by_ref()
                    .take(texts.len())
                    .map(|t| {
                        (cos(&row.video_emb, &t).unwrap_or(0.0)
                            + cos(&row.audio_emb, &t).unwrap_or(0.0))
                            / 2.0
                    })
                    .collect();
                ChunkVerdict::new(&scores, &self.cfg)
            })
            .collect())
    }

    /// Scores one answer (its rows in order): validation's verdict if it gave one, else the
    /// stuffing classifier, then every video's relevance and chunk check, then the aggregate.
    pub fn score_answer(&mut self, rows: &[ScoreInput]) -> Result<Vec<ScoreColumns>, ModelError> {
        let mut out: Vec<ScoreColumns> = rows.iter().map(passthrough).collect();
        if let Some(decided) = decided_by_validation(&rows[0]) {
            return Ok(finish(out, decided));
        }
        let scorable: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].status == Status::Ok)
            .collect();
        let stuffed = match self.classify_stuffing(rows, &scorable, &mut out)? {
            ControlFlow::Continue(stuffed) => stuffed,
            ControlFlow::Break(decided) => return Ok(finish(out, decided)),
        };
        let kept = match self.judge_videos(rows, &scorable, &stuffed, &mut out)? {
            ControlFlow::Continue(kept) => kept,
            ControlFlow::Break(decided) => return Ok(finish(out, decided)),
        };
        let score = score_kept(&kept, &mut out, &self.cfg);
        Ok(finish(out, score))
    }

    /// The stuffing classifier (when configured) on each scorable description: confidently
    /// stuffed → the answer is punished; stuffed with less confidence → that video is dropped
    /// (its flag is set).
    fn classify_stuffing(
        &mut self,
        rows: &[ScoreInput],
        scorable: &[usize],
        out: &mut [ScoreColumns],
    ) -> Step<Vec<bool>> {
        let mut stuffed = vec![false; rows.len()];
        let Some(classifier) = self.stuffing.as_deref_mut() else {
            return Ok(ControlFlow::Continue(stuffed));
        };
        let texts: Vec<String> = scorable
            .iter()
            .map(|&i| rows[i].description.clone())
            .collect();
        for (&i, verdict) in scorable.iter().zip(classifier.classify(&texts)?) {
            stuffed[i] = classifier.is_stuffed(&verdict);
            out[i].stuffing_label = Some(verdict.label.clone());
            out[i].stuffing_confidence = Some(verdict.confidence);
            if stuffed[i] && verdict.confidence > self.cfg.stuffing_confidence {
                let reason = format!(
                    "stuffed description (video `{}`, confidence {:.2})",
                    rows[i].video_id, verdict.confidence
                );
                let p = self.cfg.stuffed_description_punishment;
                return Ok(ControlFlow::Break(AnswerScore::penalty(p, reason)));
            }
        }
        Ok(ControlFlow::Continue(stuffed))
    }

    /// Every scorable video's relevance numbers and extraneous-chunk verdict; returns the
    /// videos that count in the score, or the punishment when a description is stuffed.
    fn judge_videos(
        &mut self,
        rows: &[ScoreInput],
        scorable: &[usize],
        stuffed: &[bool],
        out: &mut [ScoreColumns],
    ) -> Step<Vec<usize>> {
        let query = self.query_embedding(&rows[0].query)?;
        let pairs: Vec<String> = scorable
            .iter()
            .flat_map(|&i| [rows[i].description.clone(), rows[i].query.clone()])
            .collect();
        let text_embs = self.text.embed(&pairs)?;
        let scorable_rows: Vec<&ScoreInput> = scorable.iter().map(|&i| &rows[i]).collect();
        let verdicts = self.chunk_verdicts(&scorable_rows)?;
        let mut kept = Vec::new();
        for ((n, &i), chunks) in scorable.iter().enumerate().zip(&verdicts) {
            let inputs = VideoInputs {
                query: &query,
                text_cosine: f64::from(cosine(&text_embs[2 * n], &text_embs[2 * n + 1])),
                unique_tokens: unique_token_count(&self.imagebind.bpe, &rows[i].description),
                chunks,
            };
            fill_relevance(&mut out[i], &rows[i], &inputs, &self.cfg);
            if chunks.punish(&self.cfg) {
                let reason = format!(
                    "stuffed description (video `{}`: {} really bad, {} low-quality chunks)",
                    rows[i].video_id, chunks.really_bad, chunks.low_quality
                );
                let p = self.cfg.stuffed_description_punishment;
                return Ok(ControlFlow::Break(AnswerScore::penalty(p, reason)));
            }
            if chunks.keep(&self.cfg) && !stuffed[i] {
                kept.push(i);
            }
        }
        Ok(ControlFlow::Continue(kept))
    }
}

fn passthrough(r: &ScoreInput) -> ScoreColumns {
    ScoreColumns {
        video_desc_cos: None,
        audio_desc_cos: None,
        video_query_cos: None,
        audio_query_cos: None,
        text_similarity: None,
        stuffing_label: None,
        stuffing_confidence: None,
        unique_token_count: None,
        length_scaler: None,
        description_relevance: None,
        query_relevance: None,
        chunks_total: None,
        chunks_low_quality: None,
        chunks_really_bad: None,
        scored: false,
        answer_score: None,
        answer_penalty: None,
        answer_reason: None,
        status: if r.status == Status::Ok {
            Status::Skipped
        } else {
            r.status
        },
        error_class: r.error_class,
        error: r.error.clone(),
    }
}

fn finish(mut out: Vec<ScoreColumns>, a: AnswerScore) -> Vec<ScoreColumns> {
    for c in &mut out {
        c.answer_score = a.score;
        c.answer_penalty = a.penalty;
        c.answer_reason = Some(a.reason.clone());
    }
    out
}

/// Scores every answer of `input` into `output`; returns the summary and each answer's
/// miner and score for the moving average.
pub fn score_table(
    input: &str,
    shard: Option<crate::shard::Shard>,
    output: &str,
    scorer: &mut Scorer,
) -> Result<(Summary, Vec<MinerAnswer>), ScoreError> {
    let mut reader = TableReader::<ScoreInput>::open_shard(input, shard, crate::shard::BY_ANSWER)?;
    let mut writer = ExtendingWriter::<ScoreColumns>::create(output, reader.schema())?;
    let mut summary = Summary::new("score");
    let mut answers = Vec::new();
    for_each_group(
        &mut reader,
        |r| &r.response_id,
        |rows, raw| -> Result<(), ScoreError> {
            let added = scorer.score_answer(&rows)?;
            added
                .iter()
                .for_each(|c| summary.add(c.status, c.error_class, None));
            answers.push(MinerAnswer {
                uid: rows[0].miner_uid,
                hotkey: rows[0].miner_hotkey.clone(),
                score: added[0].answer_score,
            });
            writer.write(&raw, &added)?;
            Ok(())
        },
    )?;
    writer.finish()?;
    summary.set("answers", answers.len());
    Ok((summary, answers))
}
