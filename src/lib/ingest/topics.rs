//! Queries for `omega search`: one `--query`, or topics from a file.

use std::path::Path;

/// Which topics of a topics file to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pick {
    /// One topic, chosen at random (seeded with `--seed`), as a miner or validator does.
    Random,
    /// Every topic, in file order.
    All,
}

/// Reads a topics file: one topic per line, surrounding whitespace trimmed, blank lines and
/// `#` comments ignored (the original keeps blank lines and can search for "", bug B19).
pub fn read_topics(path: &Path) -> Result<Vec<String>, std::io::Error> {
    let text = std::fs::read_to_string(path)?;
    Ok(parse_topics(&text))
}

pub fn parse_topics(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The topics to search. `seed` makes `Random` reproducible; without it the pick differs per run.
pub fn pick_topics(topics: Vec<String>, pick: Pick, seed: Option<u64>) -> Vec<String> {
    match pick {
        Pick::All => topics,
        Pick::Random if topics.is_empty() => topics,
        Pick::Random => {
            let mut rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
            let i = rng.usize(..topics.len());
            vec![topics[i].clone()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_not_topics() {
        let t = parse_topics("cats\n\n  \n# comment\n dogs playing \n");
        assert_eq!(t, vec!["cats", "dogs playing"]);
    }

    #[test]
    fn seeded_pick_is_reproducible() {
        let topics: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let a = pick_topics(topics.clone(), Pick::Random, Some(7));
        let b = pick_topics(topics.clone(), Pick::Random, Some(7));
        assert_eq!(a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(pick_topics(topics.clone(), Pick::All, None), topics);
    }
}
