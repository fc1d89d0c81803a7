//! Frames of a recording for the vision judges: `n` JPEG stills spread over the video, each
//! from one `ffmpeg` seek (the CLI that yt-dlp already needs; `OMEGA_FFMPEG` names another).

use std::process::Stdio;
use std::time::Duration;

/// Longest side of a frame sent to the model: enough to read a screen's text, small enough
/// to keep a request to a few hundred kilobytes.
const MAX_SIDE: u32 = 768;

/// `n` frames at the middles of `n` equal parts of `[0, duration]`.
pub async fn sample_frames(media: &str, duration: f64, n: usize) -> Result<Vec<Vec<u8>>, String> {
    let ffmpeg = std::env::var("OMEGA_FFMPEG").unwrap_or_else(|_| "ffmpeg".into());
    let mut frames = Vec::with_capacity(n);
    for i in 0..n {
        let at = duration * (i as f64 + 0.5) / n as f64;
        frames.push(frame_at(&ffmpeg, media, at).await?);
    }
    Ok(frames)
}

async fn frame_at(ffmpeg: &str, media: &str, at: f64) -> Result<Vec<u8>, String> {
    let scale = format!(
        "scale='min({MAX_SIDE},iw)':'min({MAX_SIDE},ih)':force_original_aspect_ratio=decrease"
    );
    let run = tokio::process::Command::new(ffmpeg)
        .args([
            "-nostdin",
            "-loglevel",
            "error",
            "-ss",
            &format!("{at:.3}"),
            "-i",
            media,
        ])
        .args([
            "-frames:v",
            "1",
            "-vf",
            &scale,
            "-c:v",
            "mjpeg",
            "-q:v",
            "4",
            "-f",
            "image2pipe",
            "-",
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .map_err(|_| format!("{media}: ffmpeg took over 60 s for the frame at {at:.1} s"))?
        .map_err(|e| format!("cannot run {ffmpeg} ({e}): install FFmpeg or set OMEGA_FFMPEG"))?;
    if !out.status.success() || !out.stdout.starts_with(&[0xFF, 0xD8]) {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{media}: no frame at {at:.1} s: {}", err.trim()));
    }
    Ok(out.stdout)
}
