//! Fuzzing the table readers: random bytes, truncated files and mutated real files (Parquet
//! and Arrow IPC, written by omega's own writers) go through every stage's table reader, the
//! raw reader and `omega show`'s rendering. None may panic, and every failure must be an
//! error naming the file.
//!
//! The normal test run tries a few hundred cases from a fixed seed (a few seconds). To fuzz
//! longer, set the number of cases per property and, for fresh inputs, a seed:
//!
//! ```text
//! OMEGA_FUZZ_CASES=100000 OMEGA_FUZZ_SEED=$RANDOM cargo test --release --features ann --test it fuzz_readers
//! ```
//!
//! A failure prints the (shrunk) input that broke a reader; keep it as a case in
//! `corrupt_files_fail_cleanly_in_omega_show` or in a unit test once it is fixed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::common::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use omega::outcome::{ErrorClass, Status};
use omega::table::candidates::CandidateRow;
use omega::table::{
    open_raw, read_all, render, Cell, Column, ExtendingWriter, Table, TableError, EMBEDDING_DIM,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// One declared table type: its columns and a reader that drains it.
struct Reader {
    table: &'static str,
    columns: fn() -> Vec<Column>,
    read: fn(&str) -> Result<usize, TableError>,
}

fn read_rows<T: Table>(path: &str) -> Result<usize, TableError> {
    read_all::<T>(path).map(|rows| rows.len())
}

macro_rules! readers {
    ($($t:ty),* $(,)?) => {
        &[$(Reader {
            table: <$t as Table>::NAME,
            columns: <$t as Table>::columns,
            read: read_rows::<$t>,
        }),*]
    };
}

/// Every table type a stage reads or writes.
const READERS: &[Reader] = readers![
    omega::table::candidates::CandidateRow,
    omega::table::clips::ClipRow,
    omega::table::embeddings::EmbedColumns,
    omega::table::embeddings::TextEmbeddingRow,
    omega::table::embeddings::EmbedInput,
    omega::table::responses::ResponseRow,
    omega::table::responses::EmbeddedClipView,
    omega::table::validated::ValidatedColumns,
    omega::table::deduped::DedupInput,
    omega::table::deduped::DedupColumns,
    omega::table::deduped::IndexInput,
    omega::table::scored::ScoreInput,
    omega::table::scored::ScoreColumns,
    omega::table::dataset_deduped::DatasetDedupColumns,
    omega::table::hub::HubRow,
    omega::table::hub::HubInput,
];

const ROWS_PER_BATCH: usize = 3;
const BATCHES: usize = 2;

/// The columns of every table at once (a column is nullable only where every table that
/// declares it allows nulls), so that one file is a valid input of every reader.
fn all_columns() -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    for column in READERS.iter().flat_map(|r| (r.columns)()) {
        match fields.iter_mut().find(|f| f.name() == column.name) {
            Some(f) => {
                assert_eq!(f.data_type(), &column.data_type, "`{}`", column.name);
                let nullable = f.is_nullable() && column.nullable;
                *f = f.clone().with_nullable(nullable);
            }
            None => fields.push(Field::new(column.name, column.data_type, column.nullable)),
        }
    }
    fields
}

/// Sample values of one column for rows `first..first + n`: valid for every reader, with
/// nulls in every third row where the column allows them.
fn sample_column(field: &Field, first: usize, n: usize) -> ArrayRef {
    let rows = first..first + n;
    let null = |i: usize| field.is_nullable() && i % 3 == 2;
    let statuses = [Status::Ok, Status::Failed, Status::Skipped];
    match (field.data_type(), field.name().as_str()) {
        (DataType::Utf8, "status") => {
            let v: Vec<Option<Status>> = rows.map(|i| Some(statuses[i % 3])).collect();
            <Option<Status>>::to_array(v)
        }
        (DataType::Utf8, "error_class") => {
            let v = rows.map(|i| (!null(i)).then_some(ErrorClass::CorruptMedia));
            <Option<ErrorClass>>::to_array(v.collect())
        }
        (DataType::Utf8, name) => {
            let v = rows.map(|i| (!null(i)).then(|| format!("{name} {i} ünï\ncode")));
            <Option<String>>::to_array(v.collect())
        }
        (DataType::Int64, _) => {
            <Option<i64>>::to_array(rows.map(|i| (!null(i)).then_some(i as i64)).collect())
        }
        (DataType::Float64, _) => {
            <Option<f64>>::to_array(rows.map(|i| (!null(i)).then_some(i as f64 / 4.0)).collect())
        }
        (DataType::Boolean, _) => {
            <Option<bool>>::to_array(rows.map(|i| (!null(i)).then_some(i % 2 == 0)).collect())
        }
        (DataType::FixedSizeList(..), _) => {
            let v = rows.map(|i| (!null(i)).then(|| embedding(i)));
            <Option<Vec<f32>>>::to_array(v.collect())
        }
        (other, name) => panic!("no sample values for `{name}` ({other})"),
    }
}

fn embedding(row: usize) -> Vec<f32> {
    (0..EMBEDDING_DIM)
        .map(|j| ((row * 31 + j) % 17) as f32 / 17.0)
        .collect()
}

/// A `candidates` table extended with the columns of every other table, written by omega's
/// own Parquet writer: the valid file every mutation starts from.
fn write_parquet_fixture(path: &Path) {
    let schema = Arc::new(Schema::new(all_columns()));
    let mut w = ExtendingWriter::<CandidateRow>::create(path.to_str().unwrap(), &schema).unwrap();
    for b in 0..BATCHES {
        let first = b * ROWS_PER_BATCH;
        let columns = schema
            .fields()
            .iter()
            .map(|f| sample_column(f, first, ROWS_PER_BATCH))
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        // The writer replaces the input's `candidates` columns by these rows: the same values.
        let arrays: Vec<&dyn Array> = CandidateRow::columns()
            .iter()
            .map(|c| batch.column_by_name(c.name).unwrap().as_ref())
            .collect();
        let rows = CandidateRow::from_arrays(&arrays).unwrap();
        w.write(&batch, &rows).unwrap();
    }
    w.finish().unwrap();
}

/// The same table as an Arrow IPC stream, as stages write it to a pipe (one message per batch).
fn ipc_bytes(parquet: &Path) -> Vec<u8> {
    let raw = open_raw(parquet.to_str().unwrap()).unwrap();
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &raw.schema).unwrap();
    for batch in raw.batches {
        let batch = batch.unwrap();
        for start in (0..batch.num_rows()).step_by(ROWS_PER_BATCH) {
            w.write(&batch.slice(start, ROWS_PER_BATCH.min(batch.num_rows() - start)))
                .unwrap();
        }
    }
    w.finish().unwrap();
    drop(w);
    out
}

struct Fixtures {
    parquet: Vec<u8>,
    ipc: Vec<u8>,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = scratch("fuzz-readers-fixtures");
        let path = dir.join("all.parquet");
        write_parquet_fixture(&path);
        Fixtures {
            parquet: std::fs::read(&path).unwrap(),
            ipc: ipc_bytes(&path),
        }
    })
}

/// Reads `path` every way omega does; `Ok` when all readers either read it or refused it with
/// an error naming the file.
fn read_every_way(path: &Path) -> Result<(), TestCaseError> {
    let p = path.to_str().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let names_file = |what: &str, e: TableError| -> Result<(), TestCaseError> {
        let text = e.to_string();
        prop_assert!(
            text.contains(name),
            "{what}: error without the file: {text}"
        );
        Ok(())
    };
    for r in READERS {
        if let Err(e) = (r.read)(p) {
            names_file(r.table, e)?;
        }
    }
    if let Err(e) = drain_raw(p) {
        names_file("open_raw", e)?;
    }
    if let Err(e) = show(p) {
        names_file("show", e)?;
    }
    Ok(())
}

fn drain_raw(path: &str) -> Result<usize, TableError> {
    let mut rows = 0;
    for batch in open_raw(path)?.batches {
        rows += batch?.num_rows();
    }
    Ok(rows)
}

/// What `omega show` does: read the batches and render them.
fn show(path: &str) -> Result<String, TableError> {
    let raw = open_raw(path)?;
    let batches = raw.batches.collect::<Result<Vec<_>, _>>()?;
    render(&raw.path, &raw.schema, &batches, &[], 40)
}

/// Cases per property: `OMEGA_FUZZ_CASES`, or the default of the normal test run.
fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("OMEGA_FUZZ_CASES")
        .ok()
        .map(|v| v.parse().expect("OMEGA_FUZZ_CASES is a number"))
        .unwrap_or(default_cases);
    let seed: u64 = std::env::var("OMEGA_FUZZ_SEED")
        .ok()
        .map(|v| v.parse().expect("OMEGA_FUZZ_SEED is a number"))
        .unwrap_or(24);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    )
}

/// Reads the bytes each case makes, written to `dir/name`, every way omega does. Cases are
/// kept as what made them (mutations, a cut), so a failure prints a short shrunk recipe.
fn fuzz<S: Strategy>(
    dir: &Path,
    name: &str,
    default_cases: u32,
    cases: S,
    bytes: impl Fn(&S::Value) -> Vec<u8>,
) {
    let path = dir.join(name);
    let result = runner(default_cases).run(&cases, |case| {
        std::fs::write(&path, bytes(&case)).unwrap();
        read_every_way(&path)
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// Byte strings that get past the format sniffing: bare, after the Parquet magic, after an
/// IPC continuation marker, or framed by the Parquet magic on both ends.
fn random_bytes() -> impl Strategy<Value = Vec<u8>> {
    let body = prop::collection::vec(any::<u8>(), 0..600);
    (0..4usize, body).prop_map(|(frame, body)| {
        let (head, tail): (&[u8], &[u8]) = match frame {
            0 => (b"", b""),
            1 => (b"PAR1", b""),
            2 => (b"\xff\xff\xff\xff", b""),
            _ => (b"PAR1", b"PAR1"),
        };
        [head, &body, tail].concat()
    })
}

/// Where a mutation lands: anywhere, or near the end (the Parquet footer holds the schema,
/// the offsets and the lengths, so it is where corruption is most interesting).
#[derive(Debug, Clone)]
enum At {
    Anywhere(Index),
    NearEnd(usize),
}

impl At {
    fn offset(&self, len: usize) -> usize {
        match self {
            At::Anywhere(i) => i.index(len.max(1)),
            At::NearEnd(back) => len.saturating_sub(*back),
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(At, u8),
    Overwrite(At, u8),
    /// A 32-bit little-endian value (lengths and offsets are 32 or 64 bits).
    Word(At, u32),
    Insert(At, Vec<u8>),
    Delete(At, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = prop_oneof![
        any::<Index>().prop_map(At::Anywhere),
        (1..600usize).prop_map(At::NearEnd),
    ];
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        any::<u32>(),
    ];
    prop_oneof![
        (at.clone(), 0..8u8).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        (at.clone(), any::<u8>()).prop_map(|(a, v)| Mutation::Overwrite(a, v)),
        (at.clone(), word).prop_map(|(a, w)| Mutation::Word(a, w)),
        (at.clone(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, v)| Mutation::Insert(a, v)),
        (at, 1..64usize).prop_map(|(a, n)| Mutation::Delete(a, n)),
    ]
}

fn apply(file: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = file.to_vec();
    for m in mutations {
        let len = bytes.len();
        match m {
            Mutation::FlipBit(at, bit) if len > 0 => bytes[at.offset(len)] ^= 1 << bit,
            Mutation::Overwrite(at, v) if len > 0 => bytes[at.offset(len)] = *v,
            Mutation::Word(at, w) => {
                let start = at.offset(len).min(len.saturating_sub(4));
                let end = (start + 4).min(len);
                bytes[start..end].copy_from_slice(&w.to_le_bytes()[..end - start]);
            }
            Mutation::Insert(at, v) => {
                let start = at.offset(len + 1);
                bytes.splice(start..start, v.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let start = at.offset(len).min(len);
                bytes.drain(start..(start + n).min(len));
            }
            _ => {}
        }
    }
    bytes
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..6)
}

#[test]
fn the_fixtures_read_in_every_reader() {
    let dir = scratch("fuzz-readers-valid");
    let f = fixtures();
    for (name, bytes) in [("all.parquet", &f.parquet), ("all.arrows", &f.ipc)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let p = path.to_str().unwrap();
        for r in READERS {
            let rows = (r.read)(p).unwrap_or_else(|e| panic!("{}: {e}", r.table));
            assert_eq!(rows, ROWS_PER_BATCH * BATCHES, "{name}: {}", r.table);
        }
        assert_eq!(drain_raw(p).unwrap(), ROWS_PER_BATCH * BATCHES);
        let text = show(p).unwrap();
        assert!(
            text.contains("video_emb") && text.contains("[1024 × Float32]"),
            "{text}"
        );
    }
}

#[test]
fn random_bytes_are_refused_with_the_file_named() {
    let dir = scratch("fuzz-readers-random");
    fuzz(&dir, "random input.bin", 100, random_bytes(), Vec::clone);
}

#[test]
fn truncated_files_are_refused_with_the_file_named() {
    let dir = scratch("fuzz-readers-truncated");
    let f = fixtures();
    for (name, file) in [("cut.parquet", &f.parquet), ("cut.arrows", &f.ipc)] {
        fuzz(&dir, name, 40, any::<Index>(), |at| {
            file[..at.index(file.len())].to_vec()
        });
    }
}

#[test]
fn mutated_parquet_is_read_or_refused_with_the_file_named() {
    let dir = scratch("fuzz-readers-mutated-parquet");
    let file = &fixtures().parquet;
    fuzz(&dir, "mutated.parquet", 120, mutations(), |ms| {
        apply(file, ms)
    });
}

#[test]
fn mutated_arrow_ipc_is_read_or_refused_with_the_file_named() {
    let dir = scratch("fuzz-readers-mutated-ipc");
    let file = &fixtures().ipc;
    fuzz(&dir, "mutated.arrows", 120, mutations(), |ms| {
        apply(file, ms)
    });
}

/// `omega show` on corrupt input: a clean error (exit 1, not a panic's 101) naming the file.
#[test]
fn corrupt_files_fail_cleanly_in_omega_show() {
    let dir = scratch("fuzz-readers-show");
    let f = fixtures();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.parquet", Vec::new()),
        ("half.parquet", f.parquet[..f.parquet.len() / 2].to_vec()),
        (
            "junk.parquet",
            [&b"PAR1"[..], &[7u8; 100], b"PAR1"].concat(),
        ),
        (
            "huge footer.parquet",
            apply(&f.parquet, &[Mutation::Word(At::NearEnd(8), 0xffff_fff0)]),
        ),
        ("half.arrows", f.ipc[..f.ipc.len() / 2].to_vec()),
        (
            "junk.arrows",
            vec![0xff, 0xff, 0xff, 0xff, 0x10, 0, 0, 0, 1, 2, 3],
        ),
    ];
    for (name, bytes) in &cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = omega().arg("show").arg(&path).output().unwrap();
        assert_show_failed(&out, name);
    }
    let mut child = omega()
        .args(["show", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let half = f.ipc[..f.ipc.len() / 2].to_vec();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &half));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    assert_show_failed(&out, "<stdin>");
}

fn assert_show_failed(out: &std::process::Output, name: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
    assert!(stderr.contains(name), "{name}: {stderr}");
    assert!(!stderr.contains("panicked at"), "{name}: {stderr}");
}

/// The IPC fixture with its first record batch's buffer table corrupted: the 8 bytes before
/// the first 12288 (the size of a batch's embedding values, 3 rows × 1024 × 4 bytes) set to
/// `i32::MAX`, so a buffer reaches far past the message body and `arrow-ipc` panics slicing it.
fn ipc_with_a_buffer_out_of_range() -> Vec<u8> {
    let mut bytes = fixtures().ipc.clone();
    let length = (ROWS_PER_BATCH * EMBEDDING_DIM * 4) as i64;
    let at = bytes
        .windows(8)
        .position(|w| w == length.to_le_bytes())
        .expect("the metadata of an embedding buffer");
    bytes[at - 8..at].copy_from_slice(&i64::from(i32::MAX).to_le_bytes());
    bytes
}

/// Found by the fuzzer: a decoder panic becomes an error naming the file, in every reader
/// and in `omega show` (exit 1, and no panic message on stderr).
#[test]
fn a_decoder_panic_is_an_error_naming_the_file() {
    let dir = scratch("fuzz-readers-panic");
    let path = dir.join("bad offset.arrows");
    std::fs::write(&path, ipc_with_a_buffer_out_of_range()).unwrap();
    let p = path.to_str().unwrap();
    let errors = READERS
        .iter()
        .map(|r| (r.table, (r.read)(p).map(|_| ())))
        .chain([("open_raw", drain_raw(p).map(|_| ()))])
        .chain([("show", show(p).map(|_| ()))]);
    for (what, result) in errors {
        let err = result.expect_err(what).to_string();
        assert!(
            err.contains("bad offset.arrows: ") && err.contains("(the decoder panicked: "),
            "{what}: {err}"
        );
    }
    let out = omega().arg("show").arg(&path).output().unwrap();
    assert_show_failed(&out, "bad offset.arrows");
}

/// An unknown column is refused with the file, the column and the columns there are.
#[test]
fn show_names_an_unknown_column_and_the_known_ones() {
    let dir = scratch("fuzz-readers-columns");
    let path: PathBuf = dir.join("all.parquet");
    std::fs::write(&path, &fixtures().parquet).unwrap();
    let out = omega()
        .arg("show")
        .arg(&path)
        .args(["-c", "video_id,nope"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("all.parquet: no column `nope` (columns: ")
            && stderr.contains("video_id, "),
        "{stderr}"
    );
    let raw = open_raw(path.to_str().unwrap()).unwrap();
    let err = render(&raw.path, &raw.schema, &[], &["nope".into()], 40).unwrap_err();
    assert!(
        matches!(&err, TableError::UnknownColumn { column, available, .. }
            if column == "nope" && available.iter().any(|c| c == "video_emb")),
        "{err}"
    );
}
