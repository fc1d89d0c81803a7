//! `search --source dir` and `clip` on the real media set: every file's outcome, corrupt
//! files, odd paths, reruns that reuse clips, and a real shell pipe between the stages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;
use omega::outcome::{ErrorClass, Status};
use omega::table::candidates::CandidateRow;
use omega::table::clips::ClipRow;
use omega::table::{read_all, TableWriter};

/// A folder holding the whole media set plus the broken files, under odd names.
fn media_folder(name: &str) -> PathBuf {
    let dir = scratch(name).join("in folder with spaces — ünïcødé");
    std::fs::create_dir_all(dir.join("sub dir")).unwrap();
    for m in MEDIA {
        std::fs::copy(media(m), dir.join(m)).unwrap();
    }
    std::fs::copy(
        media("bikes.mp4"),
        dir.join("sub dir").join("vélo à deux.mp4"),
    )
    .unwrap();
    let bbb = std::fs::read(media("bigbuckbunny.mp4")).unwrap();
    std::fs::write(dir.join("truncated.mp4"), &bbb[..100_000]).unwrap();
    std::fs::write(dir.join("notes.mp4"), "this is a text file, not a video\n").unwrap();
    std::fs::write(dir.join("readme.txt"), "not media by extension\n").unwrap();
    dir
}

fn by_title<T>(rows: Vec<T>, title: impl Fn(&T) -> String) -> BTreeMap<String, T> {
    rows.into_iter().map(|r| (title(&r), r)).collect()
}

fn search_and_clip(dir: &Path, work: &Path, extra: &[&str]) -> (Vec<CandidateRow>, Vec<ClipRow>) {
    let cands = search(dir, work);
    let clips = clip(&cands, work, extra);
    (
        read_all(cands.to_str().unwrap()).unwrap(),
        read_all(clips.to_str().unwrap()).unwrap(),
    )
}

/// `omega search --source dir` of `dir` into `work/candidates.parquet`.
fn search(dir: &Path, work: &Path) -> PathBuf {
    let cands = work.join("candidates.parquet");
    run_ok(
        omega()
            .args(["search", "--source", "dir"])
            .arg(dir)
            .arg("-o")
            .arg(&cands)
            .arg("--quiet"),
    );
    cands
}

/// `omega clip` of `cands` into `work/clips.parquet`, clips in `work/media`.
fn clip(cands: &Path, work: &Path, extra: &[&str]) -> PathBuf {
    let clips = work.join("clips.parquet");
    run_ok(
        omega()
            .arg("clip")
            .arg(cands)
            .arg("-o")
            .arg(&clips)
            .arg("--media-dir")
            .arg(work.join("media"))
            .args(extra)
            .arg("--quiet"),
    );
    clips
}

#[test]
fn every_media_file_gets_the_documented_outcome() {
    let work = scratch("clip-all");
    let dir = media_folder("clip-all-src");
    let (cands, clips) = search_and_clip(&dir, &work, &[]);
    assert_eq!(
        cands.len(),
        MEDIA.len() + 3,
        "10 media + copy in sub dir + 2 broken; readme.txt ignored"
    );
    assert_eq!(clips.len(), cands.len(), "no row dropped");
    for (c, k) in cands.iter().zip(&clips) {
        assert_eq!(c.video_id, k.video_id, "clips keep input order");
    }
    let cands = by_title(cands, |r| r.title.clone());
    let clips = by_title(clips, |r| r.title.clone());

    // Probe facts of the search stage.
    let bbb = &cands["bigbuckbunny"];
    assert_eq!(bbb.video_id.len(), 16);
    assert_eq!(
        bbb.content_hash.as_deref(),
        Some("f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd")
    );
    assert_eq!(
        (bbb.width, bbb.height, bbb.fps),
        (Some(1280), Some(720), Some(25.0))
    );
    assert_eq!(
        (bbb.video_codec.as_deref(), bbb.audio_codec.as_deref()),
        (Some("h264"), Some("aac"))
    );
    assert_eq!(cands["bikes"].has_audio, Some(false));
    assert_eq!(cands["its_a_game"].video_codec, None);
    assert_eq!(cands["oa4_launch"].video_codec.as_deref(), Some("vp8"));
    assert_eq!(cands["cityCC0"].video_codec.as_deref(), Some("mpeg2video"));
    assert_eq!(
        cands["vélo à deux"].content_hash, cands["bikes"].content_hash,
        "same bytes, same id"
    );
    assert_eq!(
        clips["vélo à deux"].path, clips["bikes"].path,
        "a duplicate is clipped once and reused"
    );
    assert!(clips["vélo à deux"].reused || clips["bikes"].reused);
    for broken in ["truncated", "notes"] {
        assert_eq!(cands[broken].status, Status::Failed, "{broken}");
        assert_eq!(
            cands[broken].error_class,
            Some(ErrorClass::CorruptMedia),
            "{broken}"
        );
        assert!(cands[broken]
            .error
            .as_deref()
            .unwrap()
            .contains(&format!("{broken}.mp4")));
        // Passed through clip unchanged.
        assert_eq!(
            (clips[broken].status, clips[broken].error_class),
            (Status::Failed, Some(ErrorClass::CorruptMedia))
        );
    }

    // Clip outcomes: the documented decisions.
    for ok in [
        "bigbuckbunny",
        "bikes",
        "movie-hello",
        "oa4_launch",
        "cockatoo",
        "cityCC0",
        "bbb_vp9_opus",
        "vélo à deux",
    ] {
        let k = &clips[ok];
        assert_eq!(k.status, Status::Ok, "{ok}: {:?}", k.error);
        let path = Path::new(k.path.as_deref().unwrap());
        assert!(path.is_file(), "{ok}");
        let d = k.clip_duration_s.unwrap();
        let src = k.source_duration_s.unwrap();
        assert!(
            (d - src.floor()).abs() < 0.1,
            "{ok}: the whole seconds of the source: clip {d} vs source {src}"
        );
        assert!(
            k.clip_start_s.unwrap() < 0.05,
            "{ok}: starts at the first keyframe: {:?}",
            k.clip_start_s
        );
        assert_eq!(k.start_time, Some(0));
        assert_eq!(
            k.end_time,
            Some(src.floor() as i64),
            "{ok}: the whole second it ends on"
        );
        assert_eq!(k.bytes, Some(std::fs::metadata(path).unwrap().len() as i64));
        let probed = omega::media::probe(path).unwrap();
        assert_eq!(
            probed.video.unwrap().codec,
            cands[ok].video_codec.clone().unwrap(),
            "{ok}: stream copy keeps the codec"
        );
        assert_eq!(
            probed.audio.map(|a| a.codec),
            cands[ok].audio_codec.clone(),
            "{ok}"
        );
    }
    assert!(
        clips["oa4_launch"]
            .path
            .as_deref()
            .unwrap()
            .ends_with(".mkv"),
        "VP8/Vorbis go to Matroska"
    );
    assert!(clips["bigbuckbunny"]
        .path
        .as_deref()
        .unwrap()
        .ends_with(".mp4"));
    assert_eq!(clips["bikes"].has_audio, Some(false));
    assert_eq!(
        clips["cockatoo"].audio_codec.as_deref(),
        Some("mp3"),
        "4:4:4 H.264 with silent MP3 copied as is"
    );
    for short in ["realshort", "VID_20191220_170832"] {
        assert_eq!(
            (clips[short].status, clips[short].error_class),
            (Status::Skipped, Some(ErrorClass::TooShort)),
            "{short}"
        );
        assert_eq!(
            clips[short].path, None,
            "too short to fetch: nothing written"
        );
    }
    let audio_only = &clips["its_a_game"];
    assert_eq!(
        (audio_only.status, audio_only.error_class),
        (Status::Failed, Some(ErrorClass::NoVideoStream))
    );
}

#[test]
fn short_files_clip_with_min_seconds_zero_and_max_seconds_cuts() {
    let work = scratch("clip-limits");
    let dir = scratch("clip-limits-src");
    for m in [
        "realshort.mp4",
        "VID_20191220_170832.mp4",
        "cockatoo.mp4",
        "cityCC0.mpg",
    ] {
        std::fs::copy(media(m), dir.join(m)).unwrap();
    }
    let (_, clips) = search_and_clip(&dir, &work, &["--min-seconds", "0", "--max-seconds", "3"]);
    let clips = by_title(clips, |r| r.title.clone());
    for name in ["realshort", "VID_20191220_170832"] {
        let k = &clips[name];
        assert_eq!(k.status, Status::Ok, "{name}");
        assert!(k.clip_duration_s.unwrap() < 2.0);
    }
    for name in ["cockatoo", "cityCC0"] {
        let k = &clips[name];
        assert_eq!(k.status, Status::Ok, "{name}: {:?}", k.error);
        let d = k.clip_duration_s.unwrap();
        assert!(
            d <= 3.0 + 1e-6 && d > 2.5,
            "{name}: at most --max-seconds: {d}"
        );
        let probed = omega::media::probe(Path::new(k.path.as_deref().unwrap())).unwrap();
        assert!(
            (probed.duration_s.unwrap() - d).abs() < 0.1,
            "{name}: the table tells the file's duration"
        );
    }
}

#[test]
fn a_cut_from_mid_video_starts_on_a_keyframe_and_says_so() {
    let work = scratch("clip-start");
    let dir = scratch("clip-start-src");
    std::fs::copy(media("movie-hello.mp4"), dir.join("movie-hello.mp4")).unwrap();
    let (_, clips) = search_and_clip(
        &dir,
        &work,
        &["--start", "3.3", "--max-seconds", "4", "--min-seconds", "1"],
    );
    let k = &clips[0];
    assert_eq!(k.status, Status::Ok, "{:?}", k.error);
    let start = k.clip_start_s.unwrap();
    assert!(start <= 3.3 + 1e-9, "snaps back to a keyframe: {start}");
    let d = k.clip_duration_s.unwrap();
    assert!(d <= 4.0 + 1e-6, "{d}");
    assert!((k.clip_end_s.unwrap() - start - d).abs() < 1e-9);
    assert_eq!(k.start_time, Some(start.floor() as i64));
    // The clip file really starts at that keyframe of the source: its first frame decodes
    // (stream copy from a keyframe) and its length is what the table says.
    let probed = omega::media::probe(Path::new(k.path.as_deref().unwrap())).unwrap();
    assert!((probed.duration_s.unwrap() - d).abs() < 0.1);
    assert!(
        k.path.as_deref().unwrap().contains("_3300_4000."),
        "deterministic name: {:?}",
        k.path
    );
}

#[test]
fn rerun_reuses_finished_clips_and_gives_the_same_table() {
    let work = scratch("clip-rerun");
    let dir = scratch("clip-rerun-src");
    for m in ["bigbuckbunny.mp4", "oa4_launch.webm", "bikes.mp4"] {
        std::fs::copy(media(m), dir.join(m)).unwrap();
    }
    let (_, first) = search_and_clip(&dir, &work, &[]);
    assert!(first.iter().all(|r| !r.reused && r.status == Status::Ok));
    let mtimes: Vec<_> = first
        .iter()
        .map(|r| {
            std::fs::metadata(r.path.as_deref().unwrap())
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    // A half-written clip from a killed run (temporary name) must not count as finished.
    std::fs::write(work.join("media").join(".junk.mp4.999.tmp"), b"partial").unwrap();
    let (_, second) = search_and_clip(&dir, &work, &[]);
    assert!(second.iter().all(|r| r.reused), "every clip reused");
    for (a, b) in first.iter().zip(&second) {
        let mut b = b.clone();
        b.reused = false;
        assert_eq!(a, &b, "same table apart from `reused`");
    }
    for (r, t) in second.iter().zip(mtimes) {
        assert_eq!(
            std::fs::metadata(r.path.as_deref().unwrap())
                .unwrap()
                .modified()
                .unwrap(),
            t,
            "not rewritten"
        );
    }
    // A clip whose file was damaged since is made again.
    let victim = first[0].path.clone().unwrap();
    std::fs::write(&victim, b"damaged").unwrap();
    let (_, third) = search_and_clip(&dir, &work, &[]);
    assert!(!third[0].reused && third[0].status == Status::Ok);
    assert_eq!(
        third[0].content_hash, first[0].content_hash,
        "deterministic cut"
    );
}

#[test]
fn stages_compose_in_a_shell_pipe() {
    let work = scratch("clip-pipe");
    let dir = scratch("clip-pipe-src");
    std::fs::copy(media("bigbuckbunny.mp4"), dir.join("bigbuckbunny.mp4")).unwrap();
    std::fs::copy(media("bikes.mp4"), dir.join("bikes.mp4")).unwrap();
    let bin = env!("CARGO_BIN_EXE_omega");
    let script = format!(
        "set -o pipefail; '{bin}' search --source dir '{}' --quiet | '{bin}' clip - -o '{}' --media-dir '{}' --json",
        dir.display(),
        work.join("clips.parquet").display(),
        work.join("media").display()
    );
    let out = run_ok(std::process::Command::new("bash").args(["-c", &script]));
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json prints JSON on stdout");
    assert_eq!(summary["stage"], "clip");
    assert_eq!(summary["rows"], 2);
    assert_eq!(summary["status"]["ok"], 2);
    assert!(summary["bytes"].as_u64().unwrap() > 1_000_000);
    let clips: Vec<ClipRow> = read_all(work.join("clips.parquet").to_str().unwrap()).unwrap();
    assert_eq!(clips.len(), 2);
}

/// A quiet `ffmpeg` or `ffprobe` command (the real CLI).
fn ff(program: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    cmd.args(["-v", "error"]);
    cmd
}

/// Runs `cmd`, asserts success and returns its stdout.
fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The MD5 of the first video frame a player shows of `path` (from `from_s` on), as FFmpeg
/// decodes it: edit lists applied, preroll decoded but not shown.
fn first_frame_md5(path: &Path, from_s: f64) -> String {
    let text = stdout_of(
        ff("ffmpeg")
            .args(["-ss", &from_s.to_string(), "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-frames:v", "1", "-f", "framemd5", "-"]),
    );
    let line = text.lines().rfind(|l| !l.starts_with('#')).unwrap();
    line.rsplit(',').next().unwrap().trim().to_string()
}

/// `(pts in seconds, flags, MD5 of the data)` of every video packet of `path`, in file order.
fn video_packets(path: &Path) -> Vec<(f64, String, String)> {
    let csv = stdout_of(
        ff("ffprobe")
            .args(["-select_streams", "v:0", "-show_data_hash", "MD5"])
            .args([
                "-show_entries",
                "packet=pts_time,flags,data_hash",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
    );
    csv.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (
                fields[0].parse().unwrap(),
                fields[1].into(),
                fields[2].into(),
            )
        })
        .collect()
}

/// First shown timestamp of each stream kind (`video`, `audio`) when `path` is decoded.
fn first_shown(path: &Path) -> BTreeMap<String, f64> {
    let csv = stdout_of(
        ff("ffprobe")
            .args([
                "-show_entries",
                "frame=media_type,pts_time",
                "-of",
                "csv=p=0",
            ])
            .arg(path),
    );
    let mut first = BTreeMap::new();
    for line in csv.lines() {
        let (kind, pts) = line.split_once(',').unwrap();
        first
            .entry(kind.to_string())
            .or_insert_with(|| pts.parse::<f64>().unwrap());
    }
    first
}

/// A section of cockatoo.mp4 (keyframes at 0, 3.8 and 7.25 s) cut from 3.3 s the way yt-dlp's
/// `--download-sections` cuts: 3.3 s of hidden preroll before its edit list starts.
fn section_with_preroll(dir: &Path) -> PathBuf {
    let section = dir.join("section.mp4");
    stdout_of(
        ff("ffmpeg")
            .args(["-ss", "3.3", "-i"])
            .arg(media("cockatoo.mp4"))
            .args(["-c", "copy"])
            .arg(&section),
    );
    let first_packet = stdout_of(
        ff("ffprobe")
            .args([
                "-select_streams",
                "v:0",
                "-show_entries",
                "packet=pts_time,flags",
            ])
            .args(["-read_intervals", "%+#1", "-of", "csv=p=0"])
            .arg(&section),
    );
    let (pts, flags) = first_packet.trim().split_once(',').unwrap();
    assert!(
        pts.parse::<f64>().unwrap() < -3.0 && flags.contains('D'),
        "the section starts with discarded preroll: {first_packet}"
    );
    section
}

#[test]
fn a_section_cut_off_keyframe_is_clipped_from_its_shown_start_without_preroll() {
    let dir = scratch("clip-preroll-src");
    let section = section_with_preroll(&dir);
    let work = scratch("clip-preroll");
    let (_, clips) = search_and_clip(&dir, &work, &[]);
    let k = &clips[0];
    assert_eq!(k.status, Status::Ok, "{:?}", k.error);
    assert_eq!(k.clip_start_s, Some(0.0), "the section's shown start");
    assert_eq!(k.start_time, Some(0));
    assert_eq!(k.end_time, Some(10), "whole seconds of the 10.7 s section");
    let clip = PathBuf::from(k.path.as_deref().unwrap());

    // The clip shows what the section shows, not the keyframe 3.3 s before it.
    let shown = first_frame_md5(&section, 0.0);
    assert_ne!(
        shown,
        first_frame_md5(&media("cockatoo.mp4"), 0.0),
        "the preroll keyframe looks different, so the check below means something"
    );
    assert_eq!(first_frame_md5(&clip, 0.0), shown);
    let first = first_shown(&clip);
    let (video, audio) = (first["video"], first["audio"]);
    assert!((0.0..0.05).contains(&video), "video shown from 0: {video}");
    assert!(
        (audio - video).abs() < 0.05,
        "audio starts with the video: {audio} vs {video}"
    );
    let probed = omega::media::probe(&clip).unwrap();
    assert!(
        (probed.duration_s.unwrap() - 10.0).abs() < 0.1,
        "no preroll in the shown duration: {:?}",
        probed.duration_s
    );
}

#[test]
fn a_matroska_cut_of_a_section_starts_on_its_first_shown_keyframe() {
    // Matroska has no edit list to hide preroll behind: the cut starts at the first keyframe
    // after the section's start (cockatoo's 3.8 s keyframe, 0.5 s into the section).
    let dir = scratch("cut-preroll-mkv");
    let section = section_with_preroll(&dir);
    let out = dir.join("clip.mkv");
    let report = omega::media::cut(&section, &out, "matroska", 0.0, 5.0).unwrap();
    assert!(
        (report.start_s - 0.5).abs() < 0.01,
        "starts at the first keyframe shown: {report:?}"
    );
    // Its first packet is the section's keyframe at that time, byte for byte.
    let clip = video_packets(&out);
    assert_eq!(
        (clip[0].0, clip[0].1.as_str()),
        (0.0, "K_"),
        "{:?}",
        clip[0]
    );
    let in_section: Vec<_> = video_packets(&section)
        .into_iter()
        .filter(|p| p.2 == clip[0].2)
        .collect();
    assert_eq!(in_section.len(), 1);
    assert_eq!(
        (in_section[0].0, in_section[0].1.as_str()),
        (report.start_s, "K_"),
        "a shown keyframe, where the report says"
    );
}

#[test]
fn a_truncated_mp4_with_its_index_in_front_is_corrupt_media_with_where_its_data_ends() {
    let dir = scratch("clip-truncated-src");
    let file = dir.join("hello.mp4");
    stdout_of(
        ff("ffmpeg")
            .arg("-i")
            .arg(media("movie-hello.mp4"))
            .args(["-c", "copy", "-movflags", "+faststart"])
            .arg(&file),
    );
    let whole = std::fs::read(&file).unwrap();
    let find = |tag: &[u8]| whole.windows(4).position(|w| w == tag).unwrap();
    assert!(find(b"moov") < find(b"mdat"), "index at the front");
    let truncated = &whole[..whole.len() * 4 / 10];

    // Truncated before `search`: the candidate is failed, with where the data ends.
    let work = scratch("clip-truncated");
    std::fs::write(&file, truncated).unwrap();
    let cands: Vec<CandidateRow> = read_all(search(&dir, &work).to_str().unwrap()).unwrap();
    let c = &cands[0];
    assert_eq!(
        (c.status, c.error_class),
        (Status::Failed, Some(ErrorClass::CorruptMedia))
    );
    let message = c.error.as_deref().unwrap();
    assert!(message.contains("truncated"), "{message}");
    let data_end: f64 = message
        .split("ends at ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("says where the data ends: {message}"));
    assert!(
        data_end > 1.0 && data_end < 6.0,
        "40 % of the 8.3 s file's bytes: {message}"
    );
    assert!(
        message.contains("8.3"),
        "and the declared length: {message}"
    );

    // Truncated after `search` (an `ok` candidate): `clip` fails it the same way.
    let work = scratch("clip-truncated-late");
    std::fs::write(&file, &whole).unwrap();
    let cands = search(&dir, &work);
    std::fs::write(&file, truncated).unwrap();
    let clips: Vec<ClipRow> = read_all(clip(&cands, &work, &[]).to_str().unwrap()).unwrap();
    let k = &clips[0];
    assert_eq!(
        (k.status, k.error_class),
        (Status::Failed, Some(ErrorClass::CorruptMedia)),
        "{:?}",
        k.error
    );
    assert!(k.error.as_deref().unwrap().contains("truncated"));
}

#[test]
fn a_section_downloaded_from_a_non_keyframe_start_is_recorded_from_that_start() {
    // What a validator gets when it re-fetches [start_time, end_time]: yt-dlp's
    // `--download-sections` copies from the keyframe before 3.3 s, hidden behind an edit list.
    let work = scratch("clip-section-url");
    let server = MediaServer::start(&media_dir());
    let url = server.url("media/cockatoo.mp4");
    let mut row = CandidateRow::new("url", omega::ingest::ids::url_id(&url), 0);
    row.url = Some(url.clone());
    row.title = url.clone();
    row.description = url;
    let cands = work.join("c.parquet");
    let mut w = TableWriter::<CandidateRow>::create(cands.to_str().unwrap()).unwrap();
    w.write_rows(vec![row]).unwrap();
    w.finish().unwrap();
    let clips = clip(&cands, &work, &["--start", "3.3", "--timeout", "60"]);
    let clips: Vec<ClipRow> = read_all(clips.to_str().unwrap()).unwrap();
    let k = &clips[0];
    assert_eq!(k.status, Status::Ok, "{:?}", k.error);
    assert_eq!(k.clip_start_s, Some(3.3), "the section's shown start");
    assert_eq!((k.start_time, k.end_time), (Some(3), Some(13)));
    let clip = PathBuf::from(k.path.as_deref().unwrap());
    assert_eq!(
        first_frame_md5(&clip, 0.0),
        first_frame_md5(&media("cockatoo.mp4"), 3.3),
        "the clip shows the source from 3.3 s"
    );
    let first = first_shown(&clip);
    assert!(first["video"] >= 0.0 && (first["audio"] - first["video"]).abs() < 0.05);
}
