//! Embedding media and text with ImageBind: the `embed` stage and the functions the miner
//! (one answer of 8 clips), the validator (one re-downloaded clip) and the scorer (query
//! texts) call. Preprocessing runs on all cores (rayon) while the model runs the previous
//! batch; each encoder runs once per batch; rows keep their input order.

pub mod npy;
mod stage;

pub use stage::{embed_table, embed_text_table, EmbedTextError};

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::imagebind::audio::{self, AudioError};
use crate::imagebind::bpe::{ClipBpe, Truncation, CONTEXT};
use crate::imagebind::chunk::{description_chunks, unique_token_count};
use crate::imagebind::video;
use crate::media::MediaError;
use crate::model::{Embedding, Encoders, ImageBind, ModelError, DIM};
use crate::outcome::{ErrorClass, Outcome};

/// Version of omega's preprocessing; it changes whenever model inputs would change.
pub const PREPROCESS_VERSION: &str =
    "imagebind-ref-1 (decord 0.6 / pytorchvideo 23bf970 / torchaudio 2.5.1 semantics)";

/// How to embed.
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Videos per model call.
    pub batch: usize,
    /// Fail rows exactly where OMEGA's live validator pipeline fails (non-AAC or no audio).
    pub strict_reference: bool,
    pub truncation: Truncation,
    /// Decoder threads per video (frame threading).
    pub decode_threads: usize,
    /// Write each row's model inputs as `.npy` files here.
    pub dump_inputs: Option<PathBuf>,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            batch: 8,
            strict_reference: false,
            truncation: Truncation::Fork,
            decode_threads: 1,
            dump_inputs: None,
        }
    }
}

/// One media file with its description.
#[derive(Debug, Clone)]
pub struct MediaItem {
    pub id: String,
    pub path: PathBuf,
    pub description: String,
}

type Failure = (ErrorClass, String);

/// A row's model inputs, made on a worker thread.
pub struct Prepared {
    video: Result<Vec<f32>, Failure>,
    audio: Result<(Vec<f32>, String), Failure>,
    /// Token ids of each description chunk.
    chunks: Vec<Vec<i64>>,
    unique_tokens: usize,
}

impl Prepared {
    /// A row none of whose inputs could be made: both media inputs carry `failure`.
    fn failed(failure: Failure) -> Self {
        Prepared {
            video: Err(failure.clone()),
            audio: Err(failure),
            chunks: Vec::new(),
            unique_tokens: 0,
        }
    }
}

/// How a row's model inputs are made: [`prepare`] (tests pass one that misbehaves).
type PrepareFn = fn(&MediaItem, &ClipBpe, &EmbedOptions) -> Prepared;

/// Runs `prepare` on one item with a panic turned into a failed row (`internal`, with the
/// panic message): an FFmpeg oddity or a bug of ours met in one video of thousands must not
/// end the whole run and lose the other rows.
fn prepare_isolated(
    prepare: PrepareFn,
    item: &MediaItem,
    bpe: &ClipBpe,
    opts: &EmbedOptions,
) -> Prepared {
    // Unwind safety: `prepare` shares only the BPE cache, which tolerates a poisoned lock.
    crate::isolate::catch(|| prepare(item, bpe, opts)).unwrap_or_else(|message| {
        let path = item.path.display();
        let message = format!("{path}: while preparing the model inputs: {message}");
        Prepared::failed((ErrorClass::Internal, message))
    })
}

/// What embedding one row gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub video: Option<Embedding>,
    pub audio: Option<Embedding>,
    pub description: Option<Embedding>,
    pub text_chunks: usize,
    pub unique_token_count: usize,
    pub audio_codec: Option<String>,
    pub outcome: Outcome,
}

fn media_failure(e: MediaError) -> Failure {
    (e.class(), e.to_string())
}

/// Decodes and preprocesses one item (CPU work; call from worker threads).
pub fn prepare(item: &MediaItem, bpe: &ClipBpe, opts: &EmbedOptions) -> Prepared {
    // Video and audio decode independently: on their own cores when some are free.
    let (video, audio) = rayon::join(
        || {
            video::load_video(&item.path, opts.decode_threads)
                .map(|v| v.tensor)
                .map_err(media_failure)
        },
        || audio::load_audio(&item.path),
    );
    let audio = match audio {
        Ok(a) if opts.strict_reference && a.codec != "aac" => Err((
            ErrorClass::ReferenceIncompatible,
            format!("{}: audio codec {}: OMEGA copies the audio track to .aac with `ffmpeg -acodec copy`, which fails for non-AAC audio", item.path.display(), a.codec),
        )),
        Ok(a) => Ok((a.tensor, a.codec)),
        Err(AudioError::NoAudioStream(p)) if opts.strict_reference => {
            Err((ErrorClass::ReferenceIncompatible, format!("{p}: no audio stream: OMEGA's audio copy to .aac fails")))
        }
        Err(AudioError::NoAudioStream(p)) => Err((ErrorClass::NoAudioStream, format!("{p}: no audio stream"))),
        Err(AudioError::Media(e)) => Err(media_failure(e)),
    };
    let chunks = description_chunks(bpe, &item.description)
        .iter()
        .map(|c| {
            bpe.tokenize(c, CONTEXT, opts.truncation)
                .into_iter()
                .map(i64::from)
                .collect()
        })
        .collect();
    let prepared = Prepared {
        video,
        audio,
        chunks,
        unique_tokens: unique_token_count(bpe, &item.description),
    };
    if let Some(dir) = &opts.dump_inputs {
        if let Err(e) = dump(dir, &item.id, &prepared) {
            tracing::warn!("--dump-inputs {}: {e}", dir.display());
        }
    }
    prepared
}

fn dump(dir: &Path, id: &str, p: &Prepared) -> std::io::Result<()> {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = &p.video {
        npy::write_npy(
            &dir.join(format!("{safe}.vision.npy")),
            &[
                video::VIEWS,
                3,
                video::FRAMES_PER_CLIP,
                video::SIZE,
                video::SIZE,
            ],
            v,
        )?;
    }
    if let Ok((a, _)) = &p.audio {
        npy::write_npy(
            &dir.join(format!("{safe}.audio.npy")),
            &[audio::CLIPS, 1, audio::MEL_BINS, audio::TARGET_FRAMES],
            a,
        )?;
    }
    let flat: Vec<i64> = p.chunks.iter().flatten().copied().collect();
    npy::write_npy(
        &dir.join(format!("{safe}.text.npy")),
        &[p.chunks.len(), CONTEXT],
        &flat,
    )
}

/// One model call on a batch of inputs.
type BatchRun<'a, T> = dyn FnMut(&[T]) -> Result<Vec<Embedding>, ModelError> + 'a;

/// Runs `run` over `items`, halving the batch after an out-of-memory error (a GPU that is
/// short of memory slows down instead of killing the run).
fn in_batches<T>(items: &[T], run: &mut BatchRun<T>) -> Result<Vec<Embedding>, ModelError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    match run(items) {
        Err(ModelError::OutOfMemory(msg)) if items.len() > 1 => {
            tracing::warn!(
                "out of memory with a batch of {}: retrying in halves ({msg})",
                items.len()
            );
            let (a, b) = items.split_at(items.len() / 2);
            let mut out = in_batches(a, run)?;
            out.extend(in_batches(b, run)?);
            Ok(out)
        }
        other => other,
    }
}

fn mean(rows: &[Embedding]) -> Embedding {
    let mut m = vec![0f32; DIM];
    for r in rows {
        m.iter_mut().zip(r).for_each(|(a, b)| *a += b);
    }
    m.iter_mut().for_each(|a| *a /= rows.len() as f32);
    m
}

/// Embeds prepared rows: one vision, one audio and one text call for the whole batch.
pub fn embed_prepared(model: &mut Encoders, batch: &[Prepared]) -> Vec<Embedded> {
    let videos: Vec<&[f32]> = batch
        .iter()
        .filter_map(|p| p.video.as_deref().ok())
        .collect();
    let audios: Vec<&[f32]> = batch
        .iter()
        .filter_map(|p| p.audio.as_ref().ok().map(|a| &a.0[..]))
        .collect();
    let texts: Vec<&[i64]> = batch
        .iter()
        .flat_map(|p| p.chunks.iter().map(Vec::as_slice))
        .collect();
    let video_shape = [
        video::VIEWS,
        3,
        video::FRAMES_PER_CLIP,
        video::SIZE,
        video::SIZE,
    ];
    let audio_shape = [audio::CLIPS, 1, audio::MEL_BINS, audio::TARGET_FRAMES];
    let stack_f32 = |rows: &[&[f32]]| rows.concat();
    let v = in_batches(&videos, &mut |rows| {
        let shape: Vec<usize> = std::iter::once(rows.len()).chain(video_shape).collect();
        model.vision.run_f32(&shape, &stack_f32(rows))
    });
    let a = in_batches(&audios, &mut |rows| {
        let shape: Vec<usize> = std::iter::once(rows.len()).chain(audio_shape).collect();
        model.audio.run_f32(&shape, &stack_f32(rows))
    });
    let t = in_batches(&texts, &mut |rows| {
        model.text.run_i64(&[rows.len(), CONTEXT], &rows.concat())
    });
    assemble(batch, v, a, t)
}

/// Hands each row its embeddings and decides its outcome.
fn assemble(
    batch: &[Prepared],
    v: Result<Vec<Embedding>, ModelError>,
    a: Result<Vec<Embedding>, ModelError>,
    t: Result<Vec<Embedding>, ModelError>,
) -> Vec<Embedded> {
    let model_failure = [&v, &a, &t]
        .iter()
        .find_map(|r| r.as_ref().err().map(|e| e.to_string()));
    let (mut v, mut a, mut t) = (
        v.unwrap_or_default().into_iter(),
        a.unwrap_or_default().into_iter(),
        t.unwrap_or_default().into_iter(),
    );
    batch
        .iter()
        .map(|p| {
            let video = p.video.is_ok().then(|| v.next()).flatten();
            let audio = p.audio.is_ok().then(|| a.next()).flatten();
            let chunk_embs: Vec<Embedding> = p.chunks.iter().filter_map(|_| t.next()).collect();
            let description = (!chunk_embs.is_empty() && chunk_embs.len() == p.chunks.len())
                .then(|| mean(&chunk_embs));
            let failure = match (&p.video, &p.audio, &model_failure) {
                (_, _, Some(msg)) => Some((ErrorClass::ModelError, msg.clone())),
                (Err(f), _, _) | (_, Err(f), _) => Some(f.clone()),
                _ if p.chunks.is_empty() => Some((
                    ErrorClass::EmptyDescription,
                    "the description is empty".into(),
                )),
                _ => None,
            };
            Embedded {
                video,
                audio,
                description,
                text_chunks: p.chunks.len(),
                unique_token_count: p.unique_tokens,
                audio_codec: p.audio.as_ref().ok().map(|a| a.1.clone()),
                outcome: failure.map_or_else(Outcome::ok, |(c, m)| Outcome::failed(c, m)),
            }
        })
        .collect()
}

/// Embeds a few items at once, preprocessing them in parallel: one miner answer (8 clips),
/// or the validator's one re-downloaded clip.
pub fn embed_items(
    model: &mut ImageBind,
    items: &[MediaItem],
    opts: &EmbedOptions,
) -> Vec<Embedded> {
    embed_items_with(prepare, model, items, opts)
}

fn embed_items_with(
    prepare: PrepareFn,
    model: &mut ImageBind,
    items: &[MediaItem],
    opts: &EmbedOptions,
) -> Vec<Embedded> {
    let bpe = &model.bpe;
    let prepared: Vec<Prepared> = items
        .par_iter()
        .map(|item| prepare_isolated(prepare, item, bpe, opts))
        .collect();
    prepared
        .chunks(opts.batch.max(1))
        .flat_map(|chunk| embed_prepared(&mut model.encoders, chunk))
        .collect()
}

/// Embeds texts as descriptions are embedded (OMEGA v2 chunks, mean): query and topic
/// embeddings for scoring. `Err` for an empty text.
pub fn embed_texts(
    model: &mut ImageBind,
    texts: &[String],
    truncation: Truncation,
) -> Result<Vec<Option<Embedding>>, ModelError> {
    let chunks: Vec<Vec<Vec<i64>>> = texts
        .iter()
        .map(|t| {
            description_chunks(&model.bpe, t)
                .iter()
                .map(|c| {
                    model
                        .bpe
                        .tokenize(c, CONTEXT, truncation)
                        .into_iter()
                        .map(i64::from)
                        .collect()
                })
                .collect()
        })
        .collect();
    let flat: Vec<&[i64]> = chunks.iter().flatten().map(Vec::as_slice).collect();
    let text = &mut model.encoders.text;
    let embs = in_batches(&flat, &mut |rows| {
        text.run_i64(&[rows.len(), CONTEXT], &rows.concat())
    })?;
    let mut it = embs.into_iter();
    Ok(chunks
        .iter()
        .map(|c| (!c.is_empty()).then(|| mean(&it.by_ref().take(c.len()).collect::<Vec<_>>())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Device;
    use crate::outcome::Status;

    /// The stand-in ImageBind of the repository (models/imagebind-tiny).
    pub(super) fn tiny_model() -> ImageBind {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/imagebind-tiny");
        ImageBind::load(&dir, Device::Cpu, 1).expect("models/imagebind-tiny loads")
    }

    /// A short real video with audio, from the test media set (scripts/setup.sh).
    pub(super) fn short_video() -> PathBuf {
        std::env::var_os("OMEGA_MEDIA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/media"))
            .join("realshort.mp4")
    }

    pub(super) const PANIC_MESSAGE: &str = "the audio channel count changed mid-stream";

    /// [`prepare`], but panicking on items whose id starts with `panic`, as a decoder oddity
    /// or a bug met in one video would.
    pub(super) fn prepare_or_panic(
        item: &MediaItem,
        bpe: &ClipBpe,
        opts: &EmbedOptions,
    ) -> Prepared {
        if item.id.starts_with("panic") {
            panic!("{PANIC_MESSAGE}");
        }
        prepare(item, bpe, opts)
    }

    /// The outcome a row prepared with [`prepare_or_panic`] must have.
    pub(super) fn assert_internal_failure(outcome: &Outcome) {
        assert_eq!(
            (outcome.status, outcome.error_class),
            (Status::Failed, Some(ErrorClass::Internal))
        );
        let error = outcome.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(PANIC_MESSAGE) && error.contains("realshort.mp4"),
            "{error}"
        );
    }

    #[test]
    fn a_panic_preparing_one_item_fails_that_item_only() {
        let items: Vec<MediaItem> = ["ok-1", "panic", "ok-2"]
            .into_iter()
            .map(|id| MediaItem {
                id: id.into(),
                path: short_video(),
                description: "a short video".into(),
            })
            .collect();
        let opts = EmbedOptions {
            batch: 2,
            ..EmbedOptions::default()
        };
        let out = embed_items_with(prepare_or_panic, &mut tiny_model(), &items, &opts);
        assert_eq!(out.len(), items.len());
        for ok in [&out[0], &out[2]] {
            assert!(ok.outcome.is_ok(), "{:?}", ok.outcome);
            assert!(ok.video.is_some() && ok.audio.is_some() && ok.description.is_some());
        }
        assert_internal_failure(&out[1].outcome);
        assert_eq!((&out[1].video, &out[1].audio), (&None, &None));
    }

    /// A device that runs out of memory above 2 rows: the batch is halved until it fits, and
    /// every row still gets its own result, in order.
    #[test]
    fn out_of_memory_halves_the_batch() {
        let items: Vec<f32> = (0..7).map(|i| i as f32).collect();
        let mut calls = Vec::new();
        let out = in_batches(&items, &mut |rows: &[f32]| {
            calls.push(rows.len());
            if rows.len() > 2 {
                return Err(ModelError::OutOfMemory(
                    "CUDA failure 2: out of memory".into(),
                ));
            }
            Ok(rows.iter().map(|&r| vec![r; DIM]).collect())
        })
        .unwrap();
        assert_eq!(out.iter().map(|e| e[0]).collect::<Vec<_>>(), items);
        assert_eq!(calls, vec![7, 3, 1, 2, 4, 2, 2]);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let items = [1f32, 2.0];
        let err = in_batches(&items, &mut |_rows: &[f32]| {
            Err(ModelError::Runtime("bad model".into()))
        })
        .unwrap_err();
        assert!(matches!(err, ModelError::Runtime(_)));
    }

    #[test]
    fn ort_messages_are_classified() {
        assert!(matches!(
            ModelError::from_ort("Failed to allocate memory for requested buffer"),
            ModelError::OutOfMemory(_)
        ));
        assert!(matches!(
            ModelError::from_ort("Invalid rank for input"),
            ModelError::Runtime(_)
        ));
    }
}
