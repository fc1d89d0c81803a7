//! A sentence-embedding model for the validator's text similarity T (description vs query):
//! an ONNX encoder with a Hugging Face `tokenizer.json` and a pooling rule, described by
//! `text_model.json`. The default is all-MiniLM-L6-v2 (int8, mean pooling); the live network
//! uses Alibaba-NLP/gte-large-en-v1.5 (CLS pooling), which a user can export and point to.

use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{environment, ModelError};

/// `text_model.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SentenceManifest {
    pub model_id: String,
    pub onnx: String,
    pub tokenizer: String,
    /// The `[batch, seq, hidden]` output.
    pub output: String,
    /// `mean` (masked mean of the tokens) or `cls` (the first token).
    pub pooling: String,
    pub max_length: usize,
    #[serde(default)]
    pub license: String,
}

pub struct SentenceModel {
    pub manifest: SentenceManifest,
    session: Session,
    tokenizer: Tokenizer,
    inputs: Vec<String>,
}

fn manifest_error(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Manifest {
        path: path.into(),
        message: e.to_string(),
    }
}

impl SentenceModel {
    pub fn load(dir: &Path, threads: usize) -> Result<Self, ModelError> {
        let path = dir.join("text_model.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Missing {
            path: path.clone(),
            hint: format!("{e}; scripts/setup.sh puts all-MiniLM-L6-v2 in .cache/models/minilm (see README, \"Scoring\")"),
        })?;
        let manifest: SentenceManifest =
            serde_json::from_str(&text).map_err(|e| manifest_error(&path, e))?;
        let tok_path = dir.join(&manifest.tokenizer);
        let mut tokenizer =
            Tokenizer::from_file(&tok_path).map_err(|e| manifest_error(&tok_path, e))?;
        // The masks come from each batch's own padding, whatever the file's fixed padding says.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: manifest.max_length,
                ..Default::default()
            }))
            .map_err(|e| manifest_error(&tok_path, e))?;
        let onnx = dir.join(&manifest.onnx);
        let session = Session::builder(environment()?)
            .map_err(ModelError::from_ort)?
            .with_intra_threads(threads.max(1))
            .map_err(ModelError::from_ort)?
            .commit_from_file(&onnx)
            .map_err(|e| manifest_error(&onnx, e))?;
        let inputs = session
            .inputs()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        Ok(SentenceModel {
            manifest,
            session,
            tokenizer,
            inputs,
        })
    }

    /// L2-normalised embeddings of `texts`.
    pub fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Runtime(e.to_string()))?;
        let (batch, seq) = (enc.len(), enc[0].get_ids().len());
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<i64> {
            enc.iter()
                .flat_map(|e| f(e).iter().map(|&v| i64::from(v)))
                .collect()
        };
        let (ids, mask, types) = (
            flat(&|e| e.get_ids()),
            flat(&|e| e.get_attention_mask()),
            flat(&|e| e.get_type_ids()),
        );
        let shape = vec![batch as i64, seq as i64];
        let mut inputs = Vec::new();
        for name in &self.inputs {
            let data = match name.as_str() {
                "input_ids" => &ids,
                "attention_mask" => &mask,
                "token_type_ids" => &types,
                other => {
                    return Err(ModelError::Runtime(format!(
                        "text model input `{other}` is not one omega can feed"
                    )))
                }
            };
            let t = TensorRef::from_array_view((shape.clone(), &data[..]))
                .map_err(ModelError::from_ort)?;
            inputs.push((
                std::borrow::Cow::from(name.as_str()),
                ort::session::SessionInputValue::from(t),
            ));
        }
        let outputs = self.session.run(inputs).map_err(ModelError::from_ort)?;
        let (oshape, hidden) = outputs[self.manifest.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ModelError::from_ort)?;
        let dim = *oshape.last().expect("[batch, seq, hidden]") as usize;
        let cls = self.manifest.pooling == "cls";
        Ok((0..batch)
            .map(|b| {
                let mut pooled = vec![0f32; dim];
                let tokens = if cls { 1 } else { seq };
                for t in 0..tokens {
                    if mask[b * seq + t] == 0 {
                        continue;
                    }
                    let row = &hidden[(b * seq + t) * dim..(b * seq + t + 1) * dim];
                    pooled.iter_mut().zip(row).for_each(|(p, h)| *p += h);
                }
                // The mean's 1/count cancels in the L2 normalisation.
                let n = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                pooled.iter().map(|p| p / n).collect()
            })
            .collect())
    }
}
