//! yt-dlp, driven as a child process (tokio). Arguments are always passed as a vector, never
//! through a shell, and every URL comes after `--`, so no id or URL can become an option.
//! Each run has a time limit; on expiry the whole process group (yt-dlp and the ffmpeg it
//! starts for `--download-sections`) is killed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::outcome::ErrorClass;

/// A failed yt-dlp run: its class and yt-dlp's own message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct YtDlpError {
    pub class: ErrorClass,
    pub message: String,
}

impl YtDlpError {
    fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        YtDlpError {
            class,
            message: message.into(),
        }
    }
}

/// How to run yt-dlp and the network options every run gets.
#[derive(Debug, Clone)]
pub struct YtDlp {
    /// The program and any leading arguments (e.g. `python3 -m yt_dlp`).
    program: Vec<OsString>,
    pub proxy: Option<String>,
    pub cookies: Option<PathBuf>,
    /// yt-dlp's own socket timeout.
    pub socket_timeout: Duration,
}

/// Finds `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl YtDlp {
    /// `explicit`, else `$OMEGA_YT_DLP`, else `yt-dlp` on PATH, else `python3 -m yt_dlp`.
    pub fn locate(explicit: Option<&Path>) -> Self {
        let program = match explicit
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("OMEGA_YT_DLP").map(PathBuf::from))
            .or_else(|| which("yt-dlp"))
        {
            Some(p) => vec![p.into_os_string()],
            None => ["python3", "-m", "yt_dlp"]
                .iter()
                .map(OsString::from)
                .collect(),
        };
        YtDlp {
            program,
            proxy: None,
            cookies: None,
            socket_timeout: Duration::from_secs(20),
        }
    }

    fn command(&self, args: &[OsString]) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..])
            .args([
                "--ignore-config",
                "--no-cache-dir",
                "--no-warnings",
                "--extractor-retries",
                "0",
            ])
            .arg("--socket-timeout")
            .arg(self.socket_timeout.as_secs().max(1).to_string());
        if let Some(proxy) = &self.proxy {
            cmd.arg("--proxy").arg(proxy);
        }
        if let Some(cookies) = &self.cookies {
            cmd.arg("--cookies").arg(cookies);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        cmd
    }

    /// Runs yt-dlp with `args` (which must end with `--` and the URL) and returns its stdout.
    pub async fn run(&self, args: &[OsString], timeout: Duration) -> Result<String, YtDlpError> {
        let mut cmd = self.command(args);
        tracing::debug!(?cmd, "yt-dlp");
        let child = cmd.spawn().map_err(|e| {
            YtDlpError::new(
                ErrorClass::Other,
                format!("cannot start yt-dlp ({:?}): {e}", self.program),
            )
        })?;
        let pid = child.id();
        match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Err(_) => {
                kill_group(pid);
                Err(YtDlpError::new(
                    ErrorClass::Timeout,
                    format!("no result within {} s", timeout.as_secs_f64()),
                ))
            }
            Ok(Err(e)) => Err(YtDlpError::new(
                ErrorClass::Other,
                format!("waiting for yt-dlp: {e}"),
            )),
            Ok(Ok(out)) => {
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                if out.status.success() {
                    Ok(stdout)
                } else {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    Err(YtDlpError::new(
                        classify(&stderr),
                        error_message(&stderr, out.status),
                    ))
                }
            }
        }
    }

    /// `yt-dlp --flat-playlist --dump-single-json ytsearchN:QUERY`.
    pub async fn search(
        &self,
        query: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<serde_json::Value, YtDlpError> {
        let args: Vec<OsString> = [
            "--flat-playlist",
            "--dump-single-json",
            "--",
            &format!("ytsearch{n}:{query}"),
        ]
        .map(Into::into)
        .to_vec();
        parse_json(&self.run(&args, timeout).await?)
    }

    /// `yt-dlp --dump-single-json --no-playlist URL`: metadata of one video.
    pub async fn info(
        &self,
        url: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, YtDlpError> {
        let args: Vec<OsString> = ["--dump-single-json", "--no-playlist", "--", url]
            .map(Into::into)
            .to_vec();
        parse_json(&self.run(&args, timeout).await?)
    }

    /// Downloads `[start_s, end_s]` of `url` in `format` into `dir` (as `dl.<ext>`), returning
    /// the file. yt-dlp runs ffmpeg with stream copy for the section.
    pub async fn download_section(
        &self,
        url: &str,
        format: &str,
        start_s: f64,
        end_s: f64,
        dir: &Path,
        timeout: Duration,
    ) -> Result<PathBuf, YtDlpError> {
        let mut args: Vec<OsString> = vec![
            "--no-playlist".into(),
            "--force-overwrites".into(),
            "--no-progress".into(),
            "-f".into(),
            format.into(),
            "--download-sections".into(),
            format!("*{start_s}-{end_s}").into(),
            "-o".into(),
        ];
        args.push(dir.join("dl.%(ext)s").into_os_string());
        args.extend(["--", url].map(OsString::from));
        self.run(&args, timeout).await?;
        downloaded_file(dir)
    }
}

impl YtDlp {
    /// The video's English subtitles, or YouTube's automatic captions when it has none, as a
    /// WebVTT file in `dir` (None when there are neither).
    pub async fn captions(
        &self,
        url: &str,
        dir: &Path,
        timeout: Duration,
    ) -> Result<Option<PathBuf>, YtDlpError> {
        let mut args: Vec<OsString> = [
            "--no-playlist",
            "--skip-download",
            "--write-subs",
            "--write-auto-subs",
            "--sub-langs",
            "en.*,en",
            "--sub-format",
            "vtt",
            "-o",
        ]
        .map(OsString::from)
        .to_vec();
        args.push(dir.join("subs.%(ext)s").into_os_string());
        args.extend(["--", url].map(OsString::from));
        self.run(&args, timeout).await?;
        let found = std::fs::read_dir(dir)
            .map_err(|e| YtDlpError::new(ErrorClass::Other, format!("{}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "vtt"));
        Ok(found)
    }
}

/// The finished download in `dir` (yt-dlp leaves `.part`/`.ytdl` files only when it failed).
fn downloaded_file(dir: &Path) -> Result<PathBuf, YtDlpError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| YtDlpError::new(ErrorClass::Other, format!("{}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("dl.") && !name.ends_with(".part") && !name.ends_with(".ytdl")
        })
        .collect();
    files.sort();
    match files.pop() {
        Some(f) if f.metadata().map(|m| m.len() > 0).unwrap_or(false) => Ok(f),
        Some(f) => Err(YtDlpError::new(
            ErrorClass::CorruptMedia,
            format!("{}: empty download", f.display()),
        )),
        None => Err(YtDlpError::new(
            ErrorClass::Other,
            "yt-dlp succeeded but wrote no file",
        )),
    }
}

fn parse_json(stdout: &str) -> Result<serde_json::Value, YtDlpError> {
    serde_json::from_str(stdout.trim()).map_err(|e| {
        YtDlpError::new(
            ErrorClass::Other,
            format!("yt-dlp printed no valid JSON: {e}"),
        )
    })
}

fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid {
        // SAFETY: plain syscall; the group was created with process_group(0), so its id is the pid.
        unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    }
}

/// The ERROR lines of yt-dlp's stderr (or its tail when there are none).
fn error_message(stderr: &str, status: std::process::ExitStatus) -> String {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ERROR:")).collect();
    let text = if errors.is_empty() {
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(3)..].join("\n")
    } else {
        errors.join("\n")
    };
    if text.is_empty() {
        format!("yt-dlp exited with {status}")
    } else {
        text
    }
}

/// Maps yt-dlp's error text to an error class.
pub fn classify(stderr: &str) -> ErrorClass {
    let s = stderr.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if has(&["sign in to confirm you", "not a bot"]) {
        ErrorClass::BotCheck
    } else if has(&["http error 429", "too many requests"]) {
        ErrorClass::RateLimited
    } else if has(&["http error 403", "forbidden"]) {
        ErrorClass::Forbidden
    } else if has(&[
        "live event",
        "is live",
        "premieres in",
        "this live stream",
        "is_live",
    ]) {
        ErrorClass::Live
    } else if has(&[
        "http error 404",
        "http error 410",
        "video unavailable",
        "private video",
        "has been removed",
        "is not available",
        "unavailable",
        "members-only",
        "unsupported url",
    ]) {
        ErrorClass::Unavailable
    } else if has(&["timed out", "timeout"]) {
        ErrorClass::Timeout
    } else {
        ErrorClass::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_yt_dlp_messages() {
        let cases = [
            (
                "ERROR: [youtube] abc: Sign in to confirm you're not a bot. Use --cookies",
                ErrorClass::BotCheck,
            ),
            (
                "ERROR: Unable to download webpage: HTTP Error 429: Too Many Requests",
                ErrorClass::RateLimited,
            ),
            (
                "ERROR: unable to download video data: HTTP Error 403: Forbidden",
                ErrorClass::Forbidden,
            ),
            (
                "ERROR: [youtube] x: Video unavailable. This video has been removed",
                ErrorClass::Unavailable,
            ),
            (
                "ERROR: [youtube] x: Private video. Sign in if you've been granted access",
                ErrorClass::Unavailable,
            ),
            (
                "ERROR: [generic] Unable to download webpage: HTTP Error 404: Not Found",
                ErrorClass::Unavailable,
            ),
            (
                "ERROR: [youtube] x: This live event will begin in 3 hours.",
                ErrorClass::Live,
            ),
            (
                "ERROR: Unable to download webpage: The read operation timed out",
                ErrorClass::Timeout,
            ),
            ("ERROR: something new", ErrorClass::Other),
        ];
        for (text, class) in cases {
            assert_eq!(classify(text), class, "{text}");
        }
    }
}
