//! Progress bars: shown on a terminal, hidden in pipes, cron jobs and with `--quiet`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps labelled `what`, drawn on stderr only when it is a terminal.
pub fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    styled(
        Some(len),
        what,
        quiet,
        "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})",
    )
}

/// Rows done of `total` rows, or a plain count of rows done when the total is not known up
/// front (an Arrow IPC stream on a pipe): a bar whose length grew with its position would
/// always look full.
pub fn rows(total: Option<u64>, what: &str, quiet: bool) -> ProgressBar {
    match total {
        Some(n) => bar(n, what, quiet),
        None => styled(
            None,
            what,
            quiet,
            "{prefix} {spinner} {pos} rows {msg} ({elapsed}, {per_sec})",
        ),
    }
}

fn styled(len: Option<u64>, what: &str, quiet: bool, template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    if quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_a_total_only_when_it_is_known() {
        let known = rows(Some(40), "embed", true);
        known.inc(10);
        assert_eq!((known.position(), known.length()), (10, Some(40)));
        let unknown = rows(None, "embed", true);
        unknown.inc(10);
        assert_eq!((unknown.position(), unknown.length()), (10, None));
    }
}
