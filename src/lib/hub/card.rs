//! The dataset card (`README.md`): YAML `configs` (where the data files are) and `dataset_info`
//! (features, row count, sizes) that the Hub's viewer and `datasets` read, and a short text that
//! records what made the embeddings.

use arrow_schema::DataType;

use super::Layout;
use crate::table::hub::HubRow;
use crate::table::Table;

/// What the card states about the data.
#[derive(Debug, Clone)]
pub struct CardFacts {
    pub layout: Layout,
    pub rows: u64,
    pub bytes: u64,
    pub files: usize,
    pub provenance: Provenance,
}

/// What made the embeddings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Provenance {
    pub model_id: String,
    pub model_version: String,
    pub preprocess_version: String,
}

fn feature_yaml(name: &str, data_type: &DataType) -> String {
    match data_type {
        DataType::FixedSizeList(item, n) => format!(
            "  - name: {name}\n    list: {}\n    length: {n}\n",
            dtype(item.data_type())
        ),
        other => format!("  - name: {name}\n    dtype: {}\n", dtype(other)),
    }
}

fn dtype(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 => "string",
        DataType::Int64 => "int64",
        DataType::Float64 => "float64",
        DataType::Float32 => "float32",
        other => unreachable!("the hub table has no {other} column"),
    }
}

/// The whole `README.md`.
pub fn dataset_card(facts: &CardFacts) -> String {
    let features: String = HubRow::columns()
        .iter()
        .map(|c| feature_yaml(c.name, &c.data_type))
        .collect();
    let p = &facts.provenance;
    format!(
        "---
configs:
- config_name: default
  data_files:
  - split: train
    path: {pattern}
dataset_info:
  features:
{features}  splits:
  - name: train
    num_bytes: {bytes}
    num_examples: {rows}
  download_size: {bytes}
  dataset_size: {bytes}
tags:
- video
- audio
- embeddings
- imagebind
- bittensor
---

# OMEGA multimodal video dataset

Video clips found and judged on the OMEGA Labs Bittensor subnet (SN24): each row is one
accepted clip with its ImageBind video, audio and description embeddings (1024 values each)
and the validator's relevance scores. {rows} rows in {files} Parquet files (`{pattern}`).

| | |
|---|---|
| written by | omega {omega} (`omega push-hf`, layout `{layout}`) |
| embedding model | `{model}` version `{version}` |
| preprocessing | `{pre}` |

Load it with `datasets.load_dataset(\"ORG/NAME\")` or read the Parquet files directly;
the embedding columns are fixed-length lists of 1024 float32.
",
        pattern = facts.layout.data_files(),
        bytes = facts.bytes,
        rows = facts.rows,
        files = facts.files,
        omega = env!("CARGO_PKG_VERSION"),
        layout = facts.layout.name(),
        model = p.model_id,
        version = p.model_version,
        pre = p.preprocess_version,
    )
}
