//! The network paths: real yt-dlp against a local HTTP server on 127.0.0.1 (generic extractor,
//! `--download-sections`, HTTP errors, a hanging server, 429 back-off), and the YouTube paths
//! through `tests/support/fake_ytdlp.py` (YouTube itself cannot be reached here).

use std::path::{Path, PathBuf};

use crate::common::*;
use omega::outcome::{ErrorClass, Status};
use omega::table::candidates::CandidateRow;
use omega::table::clips::ClipRow;
use omega::table::{read_all, TableWriter};

fn write_candidates(path: &Path, rows: Vec<CandidateRow>) {
    let mut w = TableWriter::<CandidateRow>::create(path.to_str().unwrap()).unwrap();
    w.write_rows(rows).unwrap();
    w.finish().unwrap();
}

fn url_candidate(url: &str, rank: usize) -> CandidateRow {
    let mut r = CandidateRow::new("url", omega::ingest::ids::url_id(url), rank);
    r.url = Some(url.to_string());
    r.title = url.to_string();
    r.description = url.to_string();
    r
}

/// `--timeout` of the runs whose rows must finish: yt-dlp takes 4–5 s a call on an idle
/// machine, and much longer when the tests' many yt-dlp processes share two busy cores.
const FINISH: &str = "120";
/// `--timeout` of the runs that are about the timeout itself (the hanging server): it always
/// runs out, whatever the load.
const HANG: &str = "4";

/// `omega search --source urls` over `urls` with `--timeout timeout`.
fn search_urls(work: &Path, name: &str, urls: &[String], timeout: &str) -> Vec<CandidateRow> {
    let list = work.join(format!("{name}.txt"));
    std::fs::write(&list, format!("# test list\n{}\n\n", urls.join("\n"))).unwrap();
    let out = work.join(format!("{name}.parquet"));
    run_ok(
        omega()
            .current_dir(work)
            .args(["search", "--source", "urls"])
            .arg(&list)
            .arg("-o")
            .arg(&out)
            .args(["--timeout", timeout, "--quiet"]),
    );
    read_all(out.to_str().unwrap()).unwrap()
}

fn outcomes(rows: &[CandidateRow]) -> Vec<(Status, Option<ErrorClass>)> {
    rows.iter().map(|r| (r.status, r.error_class)).collect()
}

/// Whether no partial download is left in `media`'s `.partial` folder (if there is one).
fn no_partials(media: &Path) -> bool {
    media
        .join(".partial")
        .read_dir()
        .map_or(true, |mut d| d.next().is_none())
}

fn clip(cands: &Path, work: &Path, extra: &[&str]) -> Vec<ClipRow> {
    let out = work.join("clips.parquet");
    run_ok(
        omega()
            .arg("clip")
            .arg(cands)
            .arg("-o")
            .arg(&out)
            .arg("--media-dir")
            .arg(work.join("media"))
            .args(extra)
            .arg("--quiet"),
    );
    read_all(out.to_str().unwrap()).unwrap()
}

#[test]
fn url_search_classifies_http_failures_and_refuses_option_like_input() {
    let work = scratch("net-urls");
    let server = MediaServer::start(&media_dir());
    let pwned = work.join("pwned");
    let urls = [
        server.url("media/bigbuckbunny.mp4"),
        server.url("status/403/a.mp4"),
        server.url("status/404/a.mp4"),
        server.url("status/429/a.mp4"),
        "-rf".to_string(),
        "--exec=touch x".to_string(),
        // Shell syntax in a URL is inert: no shell ever runs.
        format!(
            "{}?q=$(touch${{IFS}}{});x|y&z",
            server.url("media/bikes.mp4"),
            pwned.display()
        ),
    ];
    let rows = search_urls(&work, "urls", &urls, FINISH);
    use ErrorClass::*;
    assert_eq!(
        outcomes(&rows),
        vec![
            (Status::Ok, None),
            (Status::Failed, Some(Forbidden)),
            (Status::Failed, Some(Unavailable)),
            (Status::Failed, Some(RateLimited)),
            (Status::Failed, Some(InvalidInput)),
            (Status::Failed, Some(InvalidInput)),
            (Status::Ok, None),
        ],
        "{rows:#?}"
    );
    assert!(
        rows[1].error.as_deref().unwrap().contains("403"),
        "yt-dlp's message is kept"
    );
    assert_eq!(rows[0].title, "bigbuckbunny", "generic extractor's title");
    assert!(
        !pwned.exists() && !work.join("x").exists(),
        "nothing was executed"
    );
    // A server that never answers: the row times out, on its own run with a short limit.
    let hung = search_urls(&work, "hang", &[server.url("hang/a.mp4")], HANG);
    assert_eq!(outcomes(&hung), vec![(Status::Failed, Some(Timeout))]);
}

#[test]
fn clip_downloads_sections_and_classifies_failures() {
    let work = scratch("net-clip");
    let server = MediaServer::start(&media_dir());
    let cands = work.join("c.parquet");
    let rows = vec![
        url_candidate(&server.url("media/movie-hello.mp4"), 0),
        url_candidate(&server.url("status/403/a.mp4"), 1),
        url_candidate(&server.url("status/404/a.mp4"), 2),
        url_candidate(&server.url("status/429/a.mp4"), 3),
        url_candidate(&server.url("flaky/2/k1/bigbuckbunny.mp4"), 4),
        url_candidate(&server.url("media/its_a_game.mkv"), 5),
    ];
    write_candidates(&cands, rows);
    let clips = clip(
        &cands,
        &work,
        &[
            "--max-seconds",
            "6",
            "--timeout",
            FINISH,
            "--retries",
            "2",
            "--backoff-ms",
            "50",
        ],
    );
    let got: Vec<(Status, Option<ErrorClass>, i64)> = clips
        .iter()
        .map(|r| (r.status, r.error_class, r.attempts))
        .collect();
    use ErrorClass::*;
    assert_eq!(
        got,
        vec![
            (Status::Ok, None, 1),
            (Status::Failed, Some(Forbidden), 1),
            (Status::Failed, Some(Unavailable), 1),
            (Status::Failed, Some(RateLimited), 3),
            (Status::Ok, None, 3),
            (Status::Failed, Some(NoVideoStream), 1),
        ],
        "{clips:#?}"
    );
    let hello = &clips[0];
    let d = hello.clip_duration_s.unwrap();
    assert!(
        d <= 6.0 + 1e-6 && d > 5.0,
        "section of at most --max-seconds: {d}"
    );
    assert!(Path::new(hello.path.as_deref().unwrap()).is_file());
    assert!(
        !work
            .join("media/.partial")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "partial downloads cleaned up"
    );
    // The rerun reuses what finished and retries nothing that did.
    let again = clip(
        &cands,
        &work,
        &["--max-seconds", "6", "--timeout", FINISH, "--retries", "0"],
    );
    assert_eq!(again.len(), clips.len());
    assert!(again[0].reused && again[4].reused);

    // A server that never answers: a timeout, not retried, on its own run with a short limit.
    let hang = work.join("hang");
    std::fs::create_dir_all(&hang).unwrap();
    let hang_cands = hang.join("c.parquet");
    write_candidates(
        &hang_cands,
        vec![url_candidate(&server.url("hang/a.mp4"), 0)],
    );
    let hung = clip(&hang_cands, &hang, &["--timeout", HANG, "--retries", "2"]);
    let got: Vec<_> = hung
        .iter()
        .map(|r| (r.status, r.error_class, r.attempts))
        .collect();
    assert_eq!(got, vec![(Status::Failed, Some(Timeout), 1)], "{hung:#?}");
    assert!(
        no_partials(&hang.join("media")),
        "the killed download is cleaned up"
    );
}

/// Environment for the fake yt-dlp; returns (the program, its invocation log).
fn fake_ytdlp(work: &Path) -> (PathBuf, PathBuf) {
    let log = work.join("ytdlp.log");
    std::env::set_var("FAKE_YTDLP_LOG", &log);
    std::env::set_var("FAKE_YTDLP_SEARCH", fixture("ytsearch.json"));
    std::env::set_var("FAKE_YTDLP_MEDIA", media("bigbuckbunny.mp4"));
    (support("fake_ytdlp.py"), log)
}

fn invocations(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn youtube_search_follows_the_original() {
    let work = scratch("net-ytsearch");
    let (fake, log) = fake_ytdlp(&work);
    let out = work.join("c.parquet");
    run_ok(
        omega()
            .args(["search", "--query", "skate tricks", "--n", "8", "--yt-dlp"])
            .arg(&fake)
            .arg("-o")
            .arg(&out),
    );
    let calls = invocations(&log);
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(
        call.contains(&"--flat-playlist".into()) && call.contains(&"--dump-single-json".into())
    );
    assert_eq!(
        &call[call.len() - 2..],
        &["--".to_string(), "ytsearch12:skate tricks".to_string()],
        "1.5 × 8"
    );
    let rows: Vec<CandidateRow> = read_all(out.to_str().unwrap()).unwrap();
    assert_eq!(rows.len(), 11, "12 entries asked, one of them null");
    assert!(rows
        .iter()
        .all(|r| r.query.as_deref() == Some("skate tricks") && r.source == "youtube"));
    assert_eq!(
        rows[0].url.as_deref(),
        Some("https://www.youtube.com/watch?v=Sk8Trick001")
    );
    assert_eq!(
        rows[0].description, "Skateboarding tricks for beginners",
        "no description: title alone"
    );
    assert_eq!(
        rows[1].description,
        "Kickflip tutorial in slow motion\n\nKickflip tutorial in slow motion. Filmed in one take."
    );
    assert_eq!(
        (rows[4].duration_s, rows[4].duration_known),
        (Some(300.0), false),
        "missing duration → 300 s"
    );
    assert_eq!(
        (rows[7].status, rows[7].error_class),
        (Status::Skipped, Some(ErrorClass::Live))
    );
    assert_eq!(rows.iter().filter(|r| r.status == Status::Ok).count(), 10);
    assert_eq!(rows[1].views, 2000);
}

#[test]
fn topics_file_blank_lines_are_not_queries() {
    let work = scratch("net-topics");
    let (fake, log) = fake_ytdlp(&work);
    let topics = work.join("topics.txt");
    std::fs::write(
        &topics,
        "skateboarding\n\n   \n# not a topic\ncooking pasta\n",
    )
    .unwrap();
    let out = work.join("c.parquet");
    run_ok(
        omega()
            .args(["search", "--topics"])
            .arg(&topics)
            .args(["--pick", "all", "--n", "2", "--yt-dlp"])
            .arg(&fake)
            .arg("-o")
            .arg(&out)
            .arg("--quiet"),
    );
    let queries: Vec<String> = invocations(&log)
        .iter()
        .map(|c| c.last().unwrap().clone())
        .collect();
    assert_eq!(
        queries,
        vec!["ytsearch3:skateboarding", "ytsearch3:cooking pasta"]
    );
    let rows: Vec<CandidateRow> = read_all(out.to_str().unwrap()).unwrap();
    assert_eq!(rows.len(), 6);
    // --pick random with a seed is reproducible.
    let pick = |seed: &str| {
        std::fs::remove_file(&log).ok();
        run_ok(
            omega()
                .args(["search", "--topics"])
                .arg(&topics)
                .args(["--seed", seed, "--yt-dlp"])
                .arg(&fake)
                .args(["-o", "/dev/null", "--quiet"]),
        );
        invocations(&log)[0].last().unwrap().clone()
    };
    assert_eq!(pick("11"), pick("11"));
}

#[test]
fn youtube_clip_error_classes_and_hostile_ids() {
    let work = scratch("net-ytclip");
    let (fake, log) = fake_ytdlp(&work);
    let ids = [
        "okvideo0001",
        "botcheck000",
        "ratelimit00",
        "forbidden00",
        "removed0000",
        "liveevent00",
        "-rf",
        "--exec=touch x",
    ];
    let rows = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r = CandidateRow::new("youtube", *id, i);
            r.url = Some(format!("https://www.youtube.com/watch?v={id}"));
            r.duration_s = Some(600.0);
            r.duration_known = true;
            r
        })
        .collect();
    let cands = work.join("c.parquet");
    write_candidates(&cands, rows);
    let out = work.join("clips.parquet");
    run_ok(
        omega()
            .current_dir(&work)
            .arg("clip")
            .arg(&cands)
            .arg("-o")
            .arg(&out)
            .arg("--media-dir")
            .arg(work.join("media"))
            .args(["--retries", "1", "--backoff-ms", "10", "--yt-dlp"])
            .arg(&fake)
            .arg("--quiet"),
    );
    let clips: Vec<ClipRow> = read_all(out.to_str().unwrap()).unwrap();
    use ErrorClass::*;
    let got: Vec<Option<ErrorClass>> = clips.iter().map(|r| r.error_class).collect();
    assert_eq!(
        got,
        vec![
            None,
            Some(BotCheck),
            Some(RateLimited),
            Some(Forbidden),
            Some(Unavailable),
            Some(Live),
            Some(InvalidInput),
            Some(InvalidInput)
        ]
    );
    assert_eq!(clips[0].status, Status::Ok);
    assert_eq!(clips[2].attempts, 2, "one retry after 429");
    assert!(clips[1].error.as_deref().unwrap().contains("not a bot"));
    let calls = invocations(&log);
    assert_eq!(
        calls.len(),
        7,
        "6 valid ids, one retried; the hostile ids never reach yt-dlp"
    );
    for call in &calls {
        let sep = call.iter().position(|a| a == "--").expect("URL after --");
        assert!(call[sep + 1].starts_with("https://www.youtube.com/watch?v="));
        assert!(
            call.iter().any(|a| a == "--download-sections") && call.iter().any(|a| a == "*0-120")
        );
        assert_eq!(
            call[call.iter().position(|a| a == "-f").unwrap() + 1],
            "worst"
        );
    }
    assert!(!work.join("x").exists());
}
