//! Which part of a long video to send: the original miner always clips 0–120 s; omega clips
//! candidate windows across the video and keeps the one whose video embedding is nearest the
//! query.

/// A clip's length (the validator keeps 5–120 s) and the step between candidate windows.
pub const WINDOW_S: f64 = 120.0;
pub const STRIDE_S: f64 = 60.0;
/// Windows tried per video (each costs a clip and a video embedding).
pub const MAX_WINDOWS: usize = 6;

/// The starts of the candidate windows of a video of `duration` seconds (unknown or short: the
/// one window from 0 s): full windows every [`STRIDE_S`], at most [`MAX_WINDOWS`].
pub fn window_starts(duration: Option<f64>) -> Vec<f64> {
    let Some(duration) = duration.filter(|d| d.is_finite() && *d > WINDOW_S) else {
        return vec![0.0];
    };
    (0..MAX_WINDOWS)
        .map(|k| k as f64 * STRIDE_S)
        .take_while(|start| start + WINDOW_S <= duration)
        .collect()
}

/// The index of the window embedding nearest `query` (cosine; the earliest of equals).
pub fn nearest(query: &[f32], windows: &[&[f32]]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, w) in windows.iter().enumerate() {
        let score = crate::vector::cosine(query, w);
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_a_long_video_in_steps() {
        assert_eq!(window_starts(None), vec![0.0]);
        assert_eq!(window_starts(Some(90.0)), vec![0.0]);
        assert_eq!(window_starts(Some(300.0)), vec![0.0, 60.0, 120.0, 180.0]);
        assert_eq!(window_starts(Some(3600.0)).len(), MAX_WINDOWS);
    }

    #[test]
    fn the_nearest_window_wins() {
        let q = [1.0, 0.0];
        assert_eq!(
            nearest(&q, &[&[0.0, 1.0], &[0.9, 0.1], &[0.5, 0.5]]),
            Some(1)
        );
        assert_eq!(nearest(&q, &[]), None);
    }
}
