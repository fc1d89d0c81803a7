//! Validation of everything that reaches yt-dlp or FFmpeg from a table or a file: YouTube ids
//! and URLs. Even though omega never runs a shell and always passes `--` before a URL, input
//! that looks like an option or carries control characters is refused outright.

use crate::media::sha256_hex;

/// True for a YouTube video id: exactly 11 characters of `[A-Za-z0-9_-]`.
pub fn is_youtube_id(id: &str) -> bool {
    id.len() == 11
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The watch URL of a validated YouTube id.
pub fn youtube_url(id: &str) -> Result<String, String> {
    if is_youtube_id(id) {
        Ok(format!("https://www.youtube.com/watch?v={id}"))
    } else {
        Err(format!(
            "`{}` is not a YouTube video id (11 characters of A-Z a-z 0-9 _ -)",
            escape(id)
        ))
    }
}

/// Checks that `url` is an absolute http(s) URL with no whitespace or control characters.
pub fn check_url(url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("`{}` is not an http(s) URL", escape(url)));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '`')
    {
        return Err(format!(
            "`{}`: URLs may not contain whitespace, control characters or backticks",
            escape(url)
        ));
    }
    Ok(())
}

/// A file-name-safe id for a non-YouTube URL: `u` + 16 hex digits of its sha256.
pub fn url_id(url: &str) -> String {
    format!("u{}", &sha256_hex(url.as_bytes())[..16])
}

/// `s` with control characters escaped, for error messages.
fn escape(s: &str) -> String {
    s.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn youtube_ids() {
        assert!(is_youtube_id("dQw4w9WgXcQ"));
        assert!(
            is_youtube_id("-abc_DEF123"),
            "real ids may start with a dash; they only ever go into a URL"
        );
        for bad in [
            "-rf",
            "--exec=touch x",
            "dQw4w9WgXc",
            "dQw4w9WgXcQQ",
            "dQw4w9WgX;Q",
            "dQw4w9WgX Q",
            "ü234567890a",
        ] {
            assert!(!is_youtube_id(bad), "{bad}");
            assert!(youtube_url(bad).is_err());
        }
    }

    #[test]
    fn urls() {
        assert!(check_url("http://127.0.0.1:8000/a b.mp4").is_err());
        assert!(check_url("--exec=touch x").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
        assert!(
            check_url("https://example.org/v?a=1&b=$(x)").is_ok(),
            "shell characters are inert: no shell runs"
        );
        assert!(check_url("https://example.org/`x`").is_err());
        assert_eq!(url_id("http://a/b").len(), 17);
    }
}
