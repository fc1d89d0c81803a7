//! Text of a media file's first text subtitle stream (mov_text, SubRip, WebVTT, ASS), the cues
//! shown within a time window: what a miner may add to a description.

use std::path::Path;

use ffmpeg_next::codec::subtitle::Rect;
use ffmpeg_next::{format, media::Type};

use super::{init, MediaError};

/// The cues of the first text subtitle stream that start in `[start_s, end_s)`, in order, as
/// plain text (ASS fields and override tags removed). No subtitle stream: no cues.
pub fn cues(path: &Path, start_s: f64, end_s: f64) -> Result<Vec<String>, MediaError> {
    init();
    let corrupt = |e: ffmpeg_next::Error| MediaError::Corrupt {
        path: path.into(),
        message: e.to_string(),
    };
    let mut ictx = format::input(path).map_err(corrupt)?;
    let Some(stream) = ictx.streams().best(Type::Subtitle) else {
        return Ok(Vec::new());
    };
    let index = stream.index();
    let time_base = f64::from(stream.time_base());
    let context = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
        .map_err(corrupt)?;
    let Ok(mut decoder) = context.decoder().subtitle() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (s, packet) in ictx.packets() {
        if s.index() != index {
            continue;
        }
        let at = packet.pts().map_or(0.0, |p| p as f64 * time_base);
        if at < start_s || at >= end_s {
            continue;
        }
        let mut subtitle = ffmpeg_next::Subtitle::new();
        if !decoder.decode(&packet, &mut subtitle).unwrap_or(false) {
            continue;
        }
        for rect in subtitle.rects() {
            let text = match rect {
                Rect::Text(t) => t.get().to_string(),
                Rect::Ass(a) => ass_text(a.get()),
                _ => continue,
            };
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if !text.is_empty() {
                out.push(text);
            }
        }
    }
    Ok(out)
}

/// The text of a decoded ASS event (`ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text`):
/// the ninth field, without `{...}` overrides, with `\N` line breaks as spaces.
fn ass_text(event: &str) -> String {
    let text = event.splitn(9, ',').nth(8).unwrap_or(event);
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '{' => in_tag = true,
            '}' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("\\N", " ").replace("\\n", " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ass_events_become_plain_text() {
        assert_eq!(
            super::ass_text("0,0,Default,,0,0,0,,{\\i1}Hello{\\i0}\\Nworld"),
            "Hello world"
        );
    }
}
