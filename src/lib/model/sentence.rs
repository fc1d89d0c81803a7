//! Text models on ONNX Runtime with a Hugging Face `tokenizer.json`: the sentence-embedding
//! model of the validator's text similarity T (description vs query) and the stuffing
//! classifier. Each is a directory with a small JSON manifest. The default sentence model is
//! all-MiniLM-L6-v2 (int8, mean pooling); the live network uses Alibaba-NLP/gte-large-en-v1.5
//! (CLS pooling) and jondurbin/unstuffer-v0.2, which a user can export and point to.

use std::collections::HashMap;
use std::path::Path;

use ort::session::Session;
use ort::value::TensorRef;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{environment, ModelError};

/// `text_model.json` (sentence model) or `classifier.json` (stuffing classifier).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SentenceManifest {
    pub model_id: String,
    pub onnx: String,
    pub tokenizer: String,
    /// Sentence model: the `[batch, seq, hidden]` output; classifier: the `[batch, labels]` logits.
    pub output: String,
    /// Sentence model: `mean` (masked mean of the tokens) or `cls` (the first token).
    #[serde(default)]
    pub pooling: String,
    pub max_length: usize,
    /// Classifier: the label of each logit; the one named `clean_label` means not stuffed.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub clean_label: String,
    #[serde(default)]
    pub license: String,
}

fn manifest_error(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Manifest {
        path: path.into(),
        message: e.to_string(),
    }
}

/// A tokenizer and an ONNX session fed `input_ids`, `attention_mask`, `token_type_ids`.
struct TextOnnx {
    manifest: SentenceManifest,
    session: Session,
    tokenizer: Tokenizer,
    inputs: Vec<String>,
}

impl TextOnnx {
    fn load(
        dir: &Path,
        manifest_name: &str,
        threads: usize,
        hint: &str,
    ) -> Result<Self, ModelError> {
        let path = dir.join(manifest_name);
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Missing {
            path: path.clone(),
            hint: format!("{e}; {hint}"),
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
        Ok(TextOnnx {
            manifest,
            session,
            tokenizer,
            inputs,
        })
    }

    /// Runs `texts` in batches of similar length, each distinct text once, so that a short text
    /// (a query) is not padded to the longest description; `row(batch, b)` turns row `b` of a
    /// batch's output into that text's result. Results come back in the order of `texts`.
    fn run_grouped<T: Clone>(
        &mut self,
        texts: &[String],
        mut row: impl FnMut(&Batch, usize) -> Result<T, ModelError>,
    ) -> Result<Vec<T>, ModelError> {
        let mut distinct: Vec<&str> = Vec::new();
        let mut slot_of: HashMap<&str, usize> = HashMap::new();
        let slots: Vec<usize> = texts
            .iter()
            .map(|t| {
                *slot_of.entry(t.as_str()).or_insert_with(|| {
                    distinct.push(t);
                    distinct.len() - 1
                })
            })
            .collect();
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.sort_by_key(|&i| distinct[i].len());
        let mut results: Vec<Option<T>> = vec![None; distinct.len()];
        for group in length_groups(&order, |i| distinct[i].len()) {
            let batch = self.run(group.iter().map(|&i| distinct[i].to_string()).collect())?;
            for (b, &i) in group.iter().enumerate() {
                results[i] = Some(row(&batch, b)?);
            }
        }
        Ok(slots
            .iter()
            .map(|&i| results[i].clone().expect("every distinct text ran"))
            .collect())
    }

    /// Runs `texts` as one padded batch.
    fn run(&mut self, texts: Vec<String>) -> Result<Batch, ModelError> {
        let enc = self
            .tokenizer
            .encode_batch(texts, true)
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
        let (oshape, values) = outputs[self.manifest.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(ModelError::from_ort)?;
        Ok(Batch {
            shape: oshape.iter().map(|&d| d as usize).collect(),
            values: values.to_vec(),
            mask,
        })
    }
}

/// One model run: the output's shape and values, and the attention mask `[batch, seq]`.
struct Batch {
    shape: Vec<usize>,
    values: Vec<f32>,
    mask: Vec<i64>,
}

/// Texts per model call, at most.
const MAX_BATCH: usize = 32;

/// Splits `order` (sorted by `len`, ascending) into batches whose longest text is at most about
/// twice the shortest, so padding never more than doubles a batch's work.
fn length_groups(order: &[usize], len: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for end in 1..=order.len() {
        let full = end - start == MAX_BATCH;
        let too_long = end < order.len() && len(order[end]) > 2 * len(order[start]) + 16;
        if end == order.len() || full || too_long {
            groups.push(&order[start..end]);
            start = end;
        }
    }
    groups
}

/// Sentence embeddings (text similarity T).
pub struct SentenceModel {
    inner: TextOnnx,
}

impl SentenceModel {
    pub fn load(dir: &Path, threads: usize) -> Result<Self, ModelError> {
        let hint = "scripts/setup.sh puts all-MiniLM-L6-v2 in .cache/models/minilm (see README, \"The validator's judgement\")";
        Ok(SentenceModel {
            inner: TextOnnx::load(dir, "text_model.json", threads, hint)?,
        })
    }

    pub fn manifest(&self) -> &SentenceManifest {
        &self.inner.manifest
    }

    /// L2-normalised embeddings of `texts`.
    pub fn embed(&mut self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let cls = self.inner.manifest.pooling == "cls";
        self.inner.run_grouped(texts, |batch, b| {
            let (seq, dim) = (batch.shape[1], batch.shape[2]);
            let tokens = if cls { 1 } else { seq };
            let mask = &batch.mask[b * seq..(b + 1) * seq];
            let mut pooled = vec![0f32; dim];
            for t in (0..tokens).filter(|&t| mask[t] != 0) {
                let row = &batch.values[(b * seq + t) * dim..(b * seq + t + 1) * dim];
                pooled.iter_mut().zip(row).for_each(|(p, h)| *p += h);
            }
            // The mean's 1/count cancels in the L2 normalisation.
            let n = pooled.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            Ok(pooled.iter().map(|p| p / n).collect())
        })
    }
}

/// A text classifier's verdict on one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub label: String,
    pub confidence: f64,
}

/// The stuffing classifier (`classifier.json`): softmax over the logits, top label.
pub struct TextClassifier {
    inner: TextOnnx,
}

impl TextClassifier {
    pub fn load(dir: &Path, threads: usize) -> Result<Self, ModelError> {
        let hint = "export jondurbin/unstuffer-v0.2 (or any classifier with its labels) to ONNX and describe it in classifier.json (see README)";
        let inner = TextOnnx::load(dir, "classifier.json", threads, hint)?;
        if inner.manifest.labels.is_empty()
            || !inner.manifest.labels.contains(&inner.manifest.clean_label)
        {
            return Err(manifest_error(
                &dir.join("classifier.json"),
                "needs `labels` and a `clean_label` among them",
            ));
        }
        Ok(TextClassifier { inner })
    }

    pub fn manifest(&self) -> &SentenceManifest {
        &self.inner.manifest
    }

    /// The top label of each text and its softmax probability.
    pub fn classify(&mut self, texts: &[String]) -> Result<Vec<Classification>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let labels = self.inner.manifest.labels.clone();
        self.inner.run_grouped(texts, |batch, b| {
            if batch.shape.len() != 2 || batch.shape[1] != labels.len() {
                return Err(ModelError::Runtime(format!(
                    "classifier output has shape {:?}, expected [batch, {}]",
                    batch.shape,
                    labels.len()
                )));
            }
            let row = &batch.values[b * labels.len()..(b + 1) * labels.len()];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f64> = row.iter().map(|&l| f64::from(l - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            let (best, p) = exps
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("labels");
            Ok(Classification {
                label: labels[best].clone(),
                confidence: p / sum,
            })
        })
    }

    /// Whether a verdict says "stuffed".
    pub fn is_stuffed(&self, c: &Classification) -> bool {
        c.label != self.inner.manifest.clean_label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_groups_bound_padding_and_batch_size() {
        let lens = [1usize, 2, 10, 17, 18, 40, 100, 100, 100];
        let order: Vec<usize> = (0..lens.len()).collect();
        let groups = length_groups(&order, |i| lens[i]);
        assert_eq!(groups.concat(), order, "every text once, in order");
        for g in &groups {
            assert!(lens[*g.last().unwrap()] <= 2 * lens[g[0]] + 16, "{g:?}");
        }
        assert_eq!(groups.len(), 3, "{groups:?}");
        let many: Vec<usize> = (0..70).collect();
        let sizes: Vec<usize> = length_groups(&many, |_| 5)
            .iter()
            .map(|g| g.len())
            .collect();
        assert_eq!(sizes, vec![MAX_BATCH, MAX_BATCH, 70 - 2 * MAX_BATCH]);
    }
}
