//! SN24's `Videos` synapse as OMEGA's `protocol.py` defines it, serialised exactly as the
//! Python SDK's `model_dump()` (every field, nulls included) and read tolerantly (unknown and
//! absent fields are fine, as pydantic's defaults make them).

use serde::{Deserialize, Serialize};

/// The embedding width of ImageBind-huge, what validators expect.
pub const EMBEDDING_DIM: usize = 1024;
/// The most videos an answer carries (the validator asks for 8 and cuts the rest).
pub const MAX_VIDEOS: usize = 16;

/// One end of a request (`bt.TerminalInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TerminalInfo {
    pub status_code: Option<i64>,
    pub status_message: Option<String>,
    pub process_time: Option<f64>,
    pub ip: Option<String>,
    pub port: Option<i64>,
    pub version: Option<i64>,
    pub nonce: Option<i64>,
    pub uuid: Option<String>,
    pub hotkey: Option<String>,
    pub signature: Option<String>,
}

/// One video of an answer (`VideoMetadata`): every field required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMetadata {
    pub video_id: String,
    pub description: String,
    pub views: i64,
    pub start_time: i64,
    pub end_time: i64,
    pub video_emb: Vec<f32>,
    pub audio_emb: Vec<f32>,
    pub description_emb: Vec<f32>,
}

/// `Videos(bt.Synapse)`: the validator's query and the miner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Videos {
    pub name: String,
    pub timeout: f64,
    pub total_size: i64,
    pub header_size: i64,
    pub dendrite: Option<TerminalInfo>,
    pub axon: Option<TerminalInfo>,
    pub computed_body_hash: String,
    pub query: String,
    pub num_videos: i64,
    pub video_metadata: Option<Vec<VideoMetadata>>,
}

impl Default for Videos {
    fn default() -> Self {
        Videos {
            name: "Videos".into(),
            timeout: 12.0,
            total_size: 0,
            header_size: 0,
            dendrite: Some(TerminalInfo::default()),
            axon: Some(TerminalInfo::default()),
            computed_body_hash: String::new(),
            query: String::new(),
            num_videos: 0,
            video_metadata: None,
        }
    }
}

impl Videos {
    pub fn new(query: &str, num_videos: i64, timeout: f64) -> Self {
        Videos {
            query: query.to_string(),
            num_videos,
            timeout,
            ..Videos::default()
        }
    }

    /// How many videos to answer with: what was asked, within 0..=[`MAX_VIDEOS`].
    pub fn wanted(&self) -> usize {
        usize::try_from(self.num_videos)
            .unwrap_or(0)
            .min(MAX_VIDEOS)
    }
}

/// The synapse's required fields (no default in pydantic): the SDK sends a placeholder header
/// for each, `bt_header_input_obj_<field>` = base64 of the JSON of an empty value.
pub const REQUIRED_INPUTS: [(&str, &str); 2] = [("query", "IiI="), ("num_videos", "MA==")];

/// `computed_body_hash` of a synapse without `required_hash_fields` (Videos declares none):
/// sha3-256 of the empty string.
pub const EMPTY_BODY_HASH: &str =
    "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";

/// `version_as_int` of the SDK version omega speaks as (9.10.1, OMEGA's pin).
pub const SDK_VERSION: i64 = 9_010_001;
/// Dendrites from 7.2.0 on get the first-seen nonce window.
pub const V_7_2_0: i64 = 7_002_000;
