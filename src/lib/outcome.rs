//! Per-row outcomes shared by every stage: a row is never dropped, it carries a [`Status`] and,
//! when it did not succeed, an [`ErrorClass`] and the message of whatever failed.

use std::fmt;
use std::str::FromStr;

/// What happened to a row in the stage that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The stage did its work on this row.
    Ok,
    /// The stage tried and failed; `error_class` and `error` say why.
    Failed,
    /// The stage chose not to process the row (policy, e.g. too short, live).
    Skipped,
}

/// Why a row did not succeed. The string forms are part of the table schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// YouTube asked to "Sign in to confirm you're not a bot".
    BotCheck,
    /// HTTP 429 after all retries.
    RateLimited,
    /// HTTP 403.
    Forbidden,
    /// Removed, private, 404, unplayable.
    Unavailable,
    /// A live stream or premiere: nothing to clip.
    Live,
    /// The per-video time limit ran out.
    Timeout,
    /// The media has no video stream.
    NoVideoStream,
    /// The media has no audio stream.
    NoAudioStream,
    /// The file cannot be opened or read as media.
    CorruptMedia,
    /// Shorter than the minimum clip length.
    TooShort,
    /// An id, URL or field that omega refuses (bad YouTube id, option-like URL, ...).
    InvalidInput,
    /// A search that failed as a whole.
    SearchFailed,
    /// The description is empty: nothing to embed (the original crashes).
    EmptyDescription,
    /// `--strict-reference`: the live validators' pipeline fails on this file (non-AAC or
    /// missing audio, no video stream).
    ReferenceIncompatible,
    /// The model failed on this row.
    ModelError,
    /// A re-computed embedding disagrees with the submitted one (validator spot check).
    CheckFailed,
    /// A later video of the same answer is the same video (cosine > 0.95).
    Duplicate,
    /// Novelty below the threshold: too similar to a video already in the dataset or answer.
    NotNovel,
    /// A bug or an unexpected library state met while processing this row (a panic, caught
    /// so that the other rows go on); `error` holds the panic message.
    Internal,
    /// Anything else; `error` holds the message.
    Other,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Ok, Status::Failed, Status::Skipped];
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 20] = [
        ErrorClass::BotCheck,
        ErrorClass::RateLimited,
        ErrorClass::Forbidden,
        ErrorClass::Unavailable,
        ErrorClass::Live,
        ErrorClass::Timeout,
        ErrorClass::NoVideoStream,
        ErrorClass::NoAudioStream,
        ErrorClass::CorruptMedia,
        ErrorClass::TooShort,
        ErrorClass::InvalidInput,
        ErrorClass::SearchFailed,
        ErrorClass::EmptyDescription,
        ErrorClass::ReferenceIncompatible,
        ErrorClass::ModelError,
        ErrorClass::CheckFailed,
        ErrorClass::Duplicate,
        ErrorClass::NotNovel,
        ErrorClass::Internal,
        ErrorClass::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::BotCheck => "bot_check",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Unavailable => "unavailable",
            ErrorClass::Live => "live",
            ErrorClass::Timeout => "timeout",
            ErrorClass::NoVideoStream => "no_video_stream",
            ErrorClass::NoAudioStream => "no_audio_stream",
            ErrorClass::CorruptMedia => "corrupt_media",
            ErrorClass::TooShort => "too_short",
            ErrorClass::InvalidInput => "invalid_input",
            ErrorClass::SearchFailed => "search_failed",
            ErrorClass::EmptyDescription => "empty_description",
            ErrorClass::ReferenceIncompatible => "reference_incompatible",
            ErrorClass::ModelError => "model_error",
            ErrorClass::CheckFailed => "check_failed",
            ErrorClass::Duplicate => "duplicate",
            ErrorClass::NotNovel => "not_novel",
            ErrorClass::Internal => "internal",
            ErrorClass::Other => "other",
        }
    }
}

/// A string that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    pub value: String,
    pub expected: String,
}

fn parse_named<T: Copy>(
    s: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| UnknownName {
            value: s.to_string(),
            expected: all.iter().map(|v| name(*v)).collect::<Vec<_>>().join(", "),
        })
}

impl FromStr for Status {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_named(s, &Status::ALL, Status::as_str)
    }
}

impl FromStr for ErrorClass {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_named(s, &ErrorClass::ALL, ErrorClass::as_str)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three outcome columns every output table carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: Status,
    pub error_class: Option<ErrorClass>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome {
            status: Status::Ok,
            error_class: None,
            error: None,
        }
    }
    pub fn failed(class: ErrorClass, message: impl Into<String>) -> Self {
        Outcome {
            status: Status::Failed,
            error_class: Some(class),
            error: Some(message.into()),
        }
    }
    pub fn skipped(class: ErrorClass, message: impl Into<String>) -> Self {
        Outcome {
            status: Status::Skipped,
            error_class: Some(class),
            error: Some(message.into()),
        }
    }
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in ErrorClass::ALL {
            assert_eq!(c.as_str().parse::<ErrorClass>().unwrap(), c);
        }
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
        }
        let err = "nope".parse::<Status>().unwrap_err();
        assert!(err.to_string().contains("ok, failed, skipped"), "{err}");
    }
}
