//! `score` over tables: every answer of a `deduped` table gets its score, with each component
//! in its own column; `--state` updates the per-miner moving average.

use std::collections::HashMap;

use super::ema::MinerAnswer;
use super::relevance::{
    aggregate, description_relevance, length_scaler, query_relevance, text_similarity, ChunkVerdict,
};
use super::ScoreConfig;
use crate::embed::{cosine, embed_texts};
use crate::imagebind::bpe::Truncation;
use crate::imagebind::chunk::{unique_token_count, Splitter};
use crate::model::{ImageBind, ModelError, SentenceModel, TextClassifier};
use crate::outcome::Status;
use crate::report::Summary;
use crate::table::responses::{ScoreColumns, ScoreInput};
use crate::table::{for_each_group, ExtendingWriter, TableError, TableReader};

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

    /// Scores one answer (its rows in order).
    pub fn score_answer(&mut self, rows: &[ScoreInput]) -> Result<Vec<ScoreColumns>, ModelError> {
        let cfg = self.cfg.clone();
        let mut out: Vec<ScoreColumns> = rows.iter().map(passthrough).collect();
        let first = &rows[0];
        if let Some(decided) = first.response_score {
            return Ok(finish(
                out,
                AnswerScore {
                    score: Some(decided),
                    penalty: (decided < 0.0).then_some(decided),
                    reason: first.response_reason.clone().unwrap_or_default(),
                },
            ));
        }
        if !first.response_passed {
            return Ok(finish(
                out,
                AnswerScore {
                    score: None,
                    penalty: None,
                    reason: first
                        .response_reason
                        .clone()
                        .unwrap_or_else(|| "not validated".into()),
                },
            ));
        }
        let q = self.query_embedding(&first.query)?;
        let candidates: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].status == Status::Ok)
            .collect();
        let t_inputs: Vec<String> = candidates
            .iter()
            .flat_map(|&i| [rows[i].description.clone(), rows[i].query.clone()])
            .collect();
        let t_embs = self.text.embed(&t_inputs)?;
        // The classifier (when configured): confidently stuffed → the answer is punished;
        // stuffed with less confidence → the video is dropped.
        let mut stuffed = vec![false; rows.len()];
        if let Some(classifier) = self.stuffing.as_deref_mut() {
            let texts: Vec<String> = candidates
                .iter()
                .map(|&i| rows[i].description.clone())
                .collect();
            for (&i, verdict) in candidates.iter().zip(classifier.classify(&texts)?) {
                stuffed[i] = classifier.is_stuffed(&verdict);
                out[i].stuffing_label = Some(verdict.label.clone());
                out[i].stuffing_confidence = Some(verdict.confidence);
                if stuffed[i] && verdict.confidence > cfg.stuffing_confidence {
                    let p = cfg.stuffed_description_punishment;
                    let reason = format!(
                        "stuffed description (video `{}`, confidence {:.2})",
                        rows[i].video_id, verdict.confidence
                    );
                    return Ok(finish(
                        out,
                        AnswerScore {
                            score: Some(p),
                            penalty: Some(p),
                            reason,
                        },
                    ));
                }
            }
        }
        let candidate_rows: Vec<&ScoreInput> = candidates.iter().map(|&i| &rows[i]).collect();
        let verdicts = self.chunk_verdicts(&candidate_rows)?;
        let mut kept = Vec::new();
        for ((n, &i), verdict) in candidates.iter().enumerate().zip(verdicts) {
            let r = &rows[i];
            let c = &mut out[i];
            let u = unique_token_count(&self.imagebind.bpe, &r.description);
            c.video_desc_cos = cos(&r.video_emb, &r.description_emb);
            c.audio_desc_cos = cos(&r.audio_emb, &r.description_emb);
            c.video_query_cos = cos(&r.video_emb, &q);
            c.audio_query_cos = cos(&r.audio_emb, &q);
            c.text_similarity = Some(text_similarity(
                f64::from(cosine(&t_embs[2 * n], &t_embs[2 * n + 1])),
                &cfg,
            ));
            c.unique_token_count = Some(u as i64);
            c.length_scaler = Some(length_scaler(u, &cfg));
            c.description_relevance = Some(description_relevance(
                c.video_desc_cos.unwrap_or(0.0),
                c.audio_desc_cos.unwrap_or(0.0),
                u,
                &cfg,
            ));
            c.query_relevance = Some(query_relevance(
                c.video_query_cos.unwrap_or(0.0),
                c.audio_query_cos.unwrap_or(0.0),
                c.text_similarity.unwrap_or(0.0),
            ));
            c.chunks_total = Some(verdict.total as i64);
            c.chunks_low_quality = Some(verdict.low_quality as i64);
            c.chunks_really_bad = Some(verdict.really_bad as i64);
            if verdict.punish(&cfg) {
                return Ok(finish(out, AnswerScore { score: Some(cfg.stuffed_description_punishment), penalty: Some(cfg.stuffed_description_punishment), reason: format!("stuffed description (video `{}`: {} really bad, {} low-quality chunks)", r.video_id, verdict.really_bad, verdict.low_quality) }));
            }
            if verdict.keep(&cfg) && !stuffed[i] {
                kept.push(i);
            }
        }
        if kept.is_empty() {
            return Ok(finish(
                out,
                AnswerScore {
                    score: Some(cfg.min_score),
                    penalty: None,
                    reason: "no video left to score".into(),
                },
            ));
        }
        for &i in &kept {
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
        let score = aggregate(&desc, &query, &cfg);
        Ok(finish(
            out,
            AnswerScore {
                score: Some(score),
                penalty: None,
                reason: format!("{} of {} videos scored", kept.len(), cfg.num_videos),
            },
        ))
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
    output: &str,
    scorer: &mut Scorer,
) -> Result<(Summary, Vec<MinerAnswer>), ScoreError> {
    let mut reader = TableReader::<ScoreInput>::open(input)?;
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
                uid: rows[0].miner_uid.and_then(|u| usize::try_from(u).ok()),
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
