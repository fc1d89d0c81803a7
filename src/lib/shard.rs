//! Running a stage in parts: `--shard I/N` takes the rows whose key falls in part I of N and
//! writes them to their own file in an output folder, with a completion marker written last.
//!
//! * The partition is a pure function of the key (the first 8 bytes of its SHA-256, modulo
//!   N), so it is the same on every machine, in every process and whatever the input order;
//!   the union of the N parts is the whole input, each row in exactly one part.
//! * The key is what a stage must keep together: `video_id` for `clip` and `embed`, the answer
//!   (`response_id`, or `query` for a curator's embeddings) for `validate`, `dedup` and
//!   `score`, the query, URL or file for `search`.
//! * Part I of N of a stage writing to `DIR` is `DIR/part-IIIII-of-NNNNN.parquet` (atomic, as
//!   every table), then its marker `DIR/part-IIIII-of-NNNNN.stats.json` (atomic, last): the
//!   marker says the part is complete, and holds its stats (rows by status and error class,
//!   bytes, seconds; video2dataset's `_stats.json`). A rerun skips every part with a marker,
//!   so rerunning a killed job finishes only what is missing.
//! * A folder of parts is a table: every stage reads one as the union of its parts, and
//!   refuses it while a part has no marker (see [`crate::table::open_raw`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use arrow_array::cast::AsArray;
use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_schema::DataType;
use sha2::{Digest, Sha256};

use crate::report::Summary;

/// Part `index` of `count` (0-based: Slurm array and Kubernetes indexed Job numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// The most parts a stage is split into (the five digits of the part names).
pub const MAX_SHARDS: u32 = 99_999;

impl FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("`{text}`: expected I/N, the part I (from 0) of N, e.g. 3/8");
        let (i, n) = text.trim().split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("`{text}`: N must be from 1 to {MAX_SHARDS}"));
        }
        if index >= count {
            return Err(format!(
                "`{text}`: parts are numbered from 0 to N-1 = {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The part of `count` that `key` belongs to.
    pub fn part_of(key: &str, count: u32) -> u32 {
        (key_hash(key) % u64::from(count)) as u32
    }

    /// Whether `key` belongs to this part.
    pub fn contains(&self, key: &str) -> bool {
        Self::part_of(key, self.count) == self.index
    }

    /// `part-IIIII-of-NNNNN`: the part's file names without their extension.
    pub fn stem(&self) -> String {
        format!("part-{:05}-of-{:05}", self.index, self.count)
    }

    /// The part's table, `part-IIIII-of-NNNNN.parquet`.
    pub fn file_name(&self) -> String {
        format!("{}.parquet", self.stem())
    }

    /// Parses a part file name (`part-00003-of-00008.parquet`) into its shard.
    pub fn from_file_name(name: &str) -> Option<Shard> {
        let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (i, n) = rest.split_once("-of-")?;
        let shard = Shard {
            index: i.parse().ok()?,
            count: n.parse().ok()?,
        };
        (shard.index < shard.count && shard.file_name() == name).then_some(shard)
    }

    /// The rows of `batch` whose key (the text column at `column`) is in this part; a null key
    /// counts as the empty text.
    pub fn filter(&self, batch: &RecordBatch, column: usize) -> Result<RecordBatch, String> {
        let keys = batch.column(column);
        let keep: BooleanArray = match keys.data_type() {
            DataType::Utf8 => self.mask(keys.as_string::<i32>().iter()),
            DataType::LargeUtf8 => self.mask(keys.as_string::<i64>().iter()),
            DataType::Utf8View => self.mask(keys.as_string_view().iter()),
            other => return Err(format!("the key column has type {other}, expected text")),
        };
        arrow_select::filter::filter_record_batch(batch, &keep).map_err(|e| e.to_string())
    }

    fn mask<'a>(&self, keys: impl Iterator<Item = Option<&'a str>>) -> BooleanArray {
        keys.map(|k| Some(self.contains(k.unwrap_or("")))).collect()
    }
}

/// A stable 64-bit hash of a key: the first 8 bytes of its SHA-256, the same everywhere.
pub fn key_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The key of `clip` and `embed`: each video on its own.
pub const BY_VIDEO: &[&str] = &["video_id"];
/// The key of `validate`, `dedup` and `score`: an answer's rows stay together (a curator's
/// embeddings table, which has no `response_id`, makes one answer per query).
pub const BY_ANSWER: &[&str] = &["response_id", "query"];

/// The key column a stage partitions by: the first of `names` that the table has.
pub fn key_column(schema: &arrow_schema::Schema, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| schema.index_of(n).ok())
}

/// Where part I of N of a stage writing to a folder goes, and whether it is done.
#[derive(Debug, Clone)]
pub struct PartOutput {
    pub dir: PathBuf,
    pub shard: Shard,
}

/// What a completed part's marker says.
#[derive(Debug, serde::Serialize)]
pub struct Marker<'a> {
    /// The part, `I/N`.
    pub shard: String,
    pub index: u32,
    pub count: u32,
    /// The part's table, a file name in the same folder.
    pub output: String,
    /// Size of that file.
    pub output_bytes: u64,
    /// The stage's summary: rows by status and error class, bytes, seconds, and its own counts.
    #[serde(flatten)]
    pub summary: &'a Summary,
    /// When the part was completed (Unix seconds).
    pub finished_at: u64,
    pub omega_version: &'static str,
}

impl PartOutput {
    pub fn new(dir: impl Into<PathBuf>, shard: Shard) -> Self {
        PartOutput {
            dir: dir.into(),
            shard,
        }
    }

    /// The part's table.
    pub fn table(&self) -> PathBuf {
        self.dir.join(self.shard.file_name())
    }

    /// The part's completion marker.
    pub fn marker(&self) -> PathBuf {
        marker_of(&self.table())
    }

    /// Whether the part was completed by an earlier run.
    pub fn is_done(&self) -> bool {
        self.marker().is_file()
    }

    /// Writes the marker (atomically, after the table is in place): the part is complete.
    pub fn complete(&self, summary: &Summary) -> std::io::Result<()> {
        let table = self.table();
        let marker = Marker {
            shard: self.shard.to_string(),
            index: self.shard.index,
            count: self.shard.count,
            output: self.shard.file_name(),
            output_bytes: std::fs::metadata(&table)?.len(),
            summary,
            finished_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            omega_version: env!("CARGO_PKG_VERSION"),
        };
        crate::fsutil::save_json(&self.marker(), &marker)
    }
}

/// The marker next to a part's table (`part-…-of-….stats.json`).
pub fn marker_of(table: &Path) -> PathBuf {
    table.with_extension("stats.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn parses_and_refuses_shard_specs() {
        assert_eq!("3/8".parse(), Ok(Shard { index: 3, count: 8 }));
        assert_eq!(" 0 / 1 ".parse(), Ok(Shard { index: 0, count: 1 }));
        for bad in ["8/8", "1/0", "3", "-1/4", "a/b", "1/100000", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn every_key_is_in_exactly_one_part_and_parts_are_balanced() {
        let count = 7;
        let mut sizes = vec![0usize; count as usize];
        for k in 0..7000 {
            let key = format!("video-{k}");
            let owners: Vec<u32> = (0..count)
                .filter(|&i| Shard { index: i, count }.contains(&key))
                .collect();
            assert_eq!(owners.len(), 1, "{key} in {owners:?}");
            sizes[owners[0] as usize] += 1;
        }
        assert!(sizes.iter().all(|&s| (850..1150).contains(&s)), "{sizes:?}");
    }

    #[test]
    fn the_partition_is_a_fixed_function_of_the_key() {
        // Parts must agree across machines, processes and omega versions: the first 8 bytes of
        // the well-known digests SHA-256("") = e3b0c44298fc1c14… and SHA-256("abc") =
        // ba7816bf8f01cfea…, modulo N.
        assert_eq!(
            Shard::part_of("", 1000),
            (0xe3b0_c442_98fc_1c14u64 % 1000) as u32
        );
        assert_eq!(
            Shard::part_of("abc", 997),
            (0xba78_16bf_8f01_cfeau64 % 997) as u32
        );
    }

    #[test]
    fn part_names_round_trip() {
        let s = Shard { index: 3, count: 8 };
        assert_eq!(s.stem(), "part-00003-of-00008");
        assert_eq!(
            Shard::from_file_name("part-00003-of-00008.parquet"),
            Some(s)
        );
        for bad in [
            "part-00008-of-00008.parquet",
            "part-3-of-8.parquet",
            "part-00003-of-00008.stats.json",
            ".part-00003-of-00008.parquet.1.tmp",
        ] {
            assert_eq!(Shard::from_file_name(bad), None, "{bad}");
        }
        let out = PartOutput::new("/x", s);
        assert_eq!(out.marker(), Path::new("/x/part-00003-of-00008.stats.json"));
    }

    #[test]
    fn filters_text_keys_of_every_string_type() {
        use arrow_array::{LargeStringArray, StringArray, StringViewArray};
        let keys: Vec<Option<&str>> = vec![Some("a"), None, Some("b"), Some("c"), Some("d")];
        let columns: Vec<arrow_array::ArrayRef> = vec![
            Arc::new(StringArray::from(keys.clone())),
            Arc::new(LargeStringArray::from(keys.clone())),
            Arc::new(StringViewArray::from(keys.clone())),
        ];
        for column in columns {
            let batch = RecordBatch::try_from_iter([("k", column)]).unwrap();
            let total: usize = (0..3)
                .map(|i| {
                    Shard { index: i, count: 3 }
                        .filter(&batch, 0)
                        .unwrap()
                        .num_rows()
                })
                .sum();
            assert_eq!(total, 5);
        }
        let ints = RecordBatch::try_from_iter([(
            "k",
            Arc::new(arrow_array::Int64Array::from(vec![1])) as arrow_array::ArrayRef,
        )])
        .unwrap();
        assert!(Shard { index: 0, count: 2 }.filter(&ints, 0).is_err());
    }
}
