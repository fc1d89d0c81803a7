//! The description a miner sends: the original's (title, then the video's description), with
//! the subtitles shown during the clip appended while the whole stays safe from the validator's
//! extraneous-chunk stuffing check.

use crate::imagebind::bpe::ClipBpe;
use crate::imagebind::chunk::Splitter;

/// The chunks the stuffing check cuts a description into (60 tokens, a 10000-token context).
pub const EXTRANEOUS: Splitter = Splitter {
    max_tokens: 60,
    context: 10_000,
};

/// The most chunks an enriched description may have: with at most 5 chunks neither punishment
/// of the check (more than 5 chunks below 0.12, or 16 below 0.6 of the best) can be reached,
/// whatever the subtitles say.
pub const MAX_CHUNKS: usize = 5;

/// `base` with as many of `cues` (in order, repeats dropped) as fit in [`MAX_CHUNKS`] chunks.
/// A base already over the limit is sent as it is, as the original would.
pub fn enrich(bpe: &ClipBpe, base: &str, cues: &[String]) -> String {
    let mut text = base.to_string();
    let mut previous: Option<&str> = None;
    let mut first = true;
    for cue in cues {
        if previous == Some(cue.as_str()) {
            continue;
        }
        previous = Some(cue);
        let candidate = if first {
            format!("{text}\n\n{cue}")
        } else {
            format!("{text} {cue}")
        };
        if EXTRANEOUS.split(bpe, &candidate).len() > MAX_CHUNKS {
            break;
        }
        text = candidate;
        first = false;
    }
    text
}
