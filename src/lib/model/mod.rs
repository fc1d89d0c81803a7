//! Models through ONNX Runtime (`ort`, loaded at run time from the `onnxruntime` wheel's
//! shared library): the ImageBind encoders described by a model directory's manifest.
//! Sessions are created once per process and reused for every batch.

mod manifest;
mod sentence;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::value::TensorRef;

pub use manifest::{EncoderSpec, Manifest};
pub use sentence::{Classification, SentenceManifest, SentenceModel, TextClassifier};

use crate::imagebind::bpe::ClipBpe;

/// Embedding width of every ImageBind-huge modality.
pub const DIM: usize = 1024;
pub type Embedding = Vec<f32>;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: missing. {hint}")]
    Missing { path: PathBuf, hint: String },
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("{0}")]
    NoCuda(String),
    #[error("out of memory on the device running the model: {0}")]
    OutOfMemory(String),
    #[error(transparent)]
    Bpe(#[from] crate::imagebind::bpe::BpeError),
}

impl ModelError {
    pub(crate) fn from_ort(e: impl std::fmt::Display) -> Self {
        let message = e.to_string();
        let lower = message.to_ascii_lowercase();
        if lower.contains("out of memory")
            || lower.contains("failed to allocate")
            || lower.contains("cudaerrormemoryallocation")
        {
            ModelError::OutOfMemory(message)
        } else {
            ModelError::Runtime(message)
        }
    }
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(i32),
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("`{s}`: expected cpu, cuda or cuda:N")),
        }
    }
}

/// Finds ONNX Runtime's shared library: `$ORT_DYLIB_PATH`, else the `onnxruntime` Python
/// package's `capi/libonnxruntime.so.*`.
pub fn find_onnxruntime() -> Result<PathBuf, ModelError> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from) {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(ModelError::Missing {
                path: p,
                hint: "ORT_DYLIB_PATH names no file".into(),
            })
        };
    }
    let python = std::env::var("OMEGA_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .args(["-c", "import onnxruntime, os, glob; print(sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi', 'libonnxruntime.so*')))[-1])"])
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        _ => Err(ModelError::Missing {
            path: "libonnxruntime.so".into(),
            hint: "install ONNX Runtime (`pip install onnxruntime==1.32.0`, or onnxruntime-gpu for CUDA) or set ORT_DYLIB_PATH to its libonnxruntime.so".into(),
        }),
    }
}

/// The process-wide ONNX Runtime environment (ONNX Runtime allows one).
fn environment() -> Result<&'static ort::environment::Environment, ModelError> {
    static ENV: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let lib = find_onnxruntime().map_err(|e| e.to_string())?;
        let builder =
            ort::init_from(&lib).map_err(|e| format!("loading {}: {e}", lib.display()))?;
        builder
            .with_name("omega")
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ModelError::Runtime(e.clone()))
}

/// One ONNX encoder session with its I/O names.
pub struct Encoder {
    session: Session,
    input: String,
    output: String,
    half: bool,
}

impl Encoder {
    fn open(
        path: &Path,
        spec: &EncoderSpec,
        device: Device,
        threads: usize,
    ) -> Result<Self, ModelError> {
        let env = environment()?;
        let mut builder = Session::builder(env).map_err(ModelError::from_ort)?;
        builder = builder
            .with_intra_threads(threads.max(1))
            .map_err(ModelError::from_ort)?;
        if let Device::Cuda(id) = device {
            let available = ort::ep::CUDA::is_available().map_err(ModelError::from_ort)?;
            if !available {
                return Err(ModelError::NoCuda(
                    "--device cuda: this ONNX Runtime has no CUDA execution provider (PyPI `onnxruntime` is CPU-only): install `onnxruntime-gpu` and point ORT_DYLIB_PATH at its libonnxruntime.so, or use --device cpu".into(),
                ));
            }
            let ep = ort::ep::CUDA::default()
                .with_device_id(id)
                .build()
                .error_on_failure();
            builder = builder
                .with_execution_providers([ep])
                .map_err(ModelError::from_ort)?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| ModelError::Manifest {
                path: path.into(),
                message: e.to_string(),
            })?;
        Ok(Encoder {
            session,
            input: spec.input.clone(),
            output: spec.output.clone(),
            half: spec.dtype == "float16",
        })
    }

    /// Runs a float input of `shape` (batch first).
    pub fn run_f32(&mut self, shape: &[usize], data: &[f32]) -> Result<Vec<Embedding>, ModelError> {
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let outputs = if self.half {
            let halves: Vec<half::f16> = data.iter().map(|&v| half::f16::from_f32(v)).collect();
            let t =
                TensorRef::from_array_view((shape, &halves[..])).map_err(ModelError::from_ort)?;
            self.session.run(ort::inputs![self.input.as_str() => t])
        } else {
            let t = TensorRef::from_array_view((shape, data)).map_err(ModelError::from_ort)?;
            self.session.run(ort::inputs![self.input.as_str() => t])
        }
        .map_err(ModelError::from_ort)?;
        embeddings(&outputs, &self.output)
    }

    /// Runs token ids `[batch, 77]`.
    pub fn run_i64(&mut self, shape: &[usize], data: &[i64]) -> Result<Vec<Embedding>, ModelError> {
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        let t = TensorRef::from_array_view((shape, data)).map_err(ModelError::from_ort)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => t])
            .map_err(ModelError::from_ort)?;
        embeddings(&outputs, &self.output)
    }
}

/// The `[batch, 1024]` output `name`, one embedding per row.
fn embeddings(
    outputs: &ort::session::SessionOutputs<'_>,
    name: &str,
) -> Result<Vec<Embedding>, ModelError> {
    let (shape, values) = outputs[name]
        .try_extract_tensor::<f32>()
        .map_err(ModelError::from_ort)?;
    if shape.len() != 2 || shape[1] as usize != DIM {
        return Err(ModelError::Runtime(format!(
            "output `{name}` has shape {shape:?}, expected [batch, {DIM}]"
        )));
    }
    Ok(values.chunks(DIM).map(<[f32]>::to_vec).collect())
}

/// The three ImageBind encoders.
pub struct Encoders {
    pub vision: Encoder,
    pub audio: Encoder,
    pub text: Encoder,
}

/// The encoders and text tokenizer of one model directory.
pub struct ImageBind {
    pub manifest: Manifest,
    pub encoders: Encoders,
    pub bpe: ClipBpe,
}

impl ImageBind {
    /// Loads a model directory (`manifest.json`, three `.onnx` files, the BPE vocabulary).
    pub fn load(dir: &Path, device: Device, threads: usize) -> Result<Self, ModelError> {
        let manifest = Manifest::load(dir)?;
        let bpe = ClipBpe::load(&manifest.bpe_path(dir)?)?;
        let e = &manifest.encoders;
        let open = |spec: &EncoderSpec| {
            Encoder::open(
                &manifest.encoder_file(dir, spec, true)?,
                spec,
                device,
                threads,
            )
        };
        let encoders = Encoders {
            vision: open(&e.vision)?,
            audio: open(&e.audio)?,
            text: open(&e.text)?,
        };
        Ok(ImageBind {
            manifest,
            encoders,
            bpe,
        })
    }
}
