//! Preprocessing and embedding speed (`cargo bench --bench embed`, run by benches/embed.sh).
//! Prints JSON: per file, the best of 3 single-video latencies of video and audio
//! preprocessing; the wall time of preprocessing every file on all cores; and embeddings per
//! second through the stand-in model (or the model in $OMEGA_BENCH_MODEL). Extra files:
//! $OMEGA_BENCH_EXTRA (colon-separated paths).

use std::path::{Path, PathBuf};
use std::time::Instant;

use omega::embed::{embed_items, EmbedOptions, MediaItem};
use omega::imagebind::{audio, video};
use omega::model::{Device, ImageBind};
use rayon::prelude::*;

fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let media =
        PathBuf::from(std::env::var("OMEGA_MEDIA_DIR").unwrap_or_else(|_| ".cache/media".into()));
    let files: Vec<PathBuf> = [
        "bigbuckbunny.mp4",
        "bikes.mp4",
        "VID_20191220_170832.mp4",
        "movie-hello.mp4",
        "oa4_launch.webm",
        "cockatoo.mp4",
        "realshort.mp4",
        "cityCC0.mpg",
        "bbb_vp9_opus.webm",
    ]
    .iter()
    .map(|f| media.join(f))
    .chain(
        std::env::var("OMEGA_BENCH_EXTRA")
            .unwrap_or_default()
            .split(':')
            .filter(|s| !s.is_empty())
            .map(PathBuf::from),
    )
    .collect();
    let threads = rayon::current_num_threads();
    let mut per_file = serde_json::Map::new();
    for f in &files {
        let v = best_of(3, || video::load_video(f, threads).unwrap());
        let a = audio::load_audio(f)
            .is_ok()
            .then(|| best_of(3, || audio::load_audio(f).unwrap()));
        // What `embed` does per video: both at once (rayon::join), as one latency.
        let both = best_of(3, || {
            rayon::join(
                || video::load_video(f, threads).is_ok(),
                || audio::load_audio(f).is_ok(),
            )
        });
        per_file.insert(
            name(f),
            serde_json::json!({"video_s": v, "audio_s": a, "video_and_audio_s": both}),
        );
    }
    let parallel = best_of(3, || {
        files
            .par_iter()
            .map(|f| {
                (
                    video::load_video(f, 1).is_ok(),
                    audio::load_audio(f).is_ok(),
                )
            })
            .collect::<Vec<_>>()
    });
    let model_dir =
        std::env::var("OMEGA_BENCH_MODEL").unwrap_or_else(|_| "models/imagebind-tiny".into());
    let mut model =
        ImageBind::load(Path::new(&model_dir), Device::Cpu, threads).expect("model loads");
    let items: Vec<MediaItem> = files
        .iter()
        .map(|f| MediaItem {
            id: name(f),
            path: f.clone(),
            description: format!("{} — a test video", name(f)),
        })
        .collect();
    let opts = EmbedOptions {
        batch: 8,
        ..Default::default()
    };
    let embed = best_of(3, || embed_items(&mut model, &items, &opts));
    let out = serde_json::json!({
        "threads": threads,
        "files": files.len(),
        "per_file": per_file,
        "parallel_preprocess_s": parallel,
        "model": model.manifest.model_id,
        "embed_all_s": embed,
        "videos_per_second": files.len() as f64 / embed,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}
