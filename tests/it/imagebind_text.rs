//! Text preprocessing against the reference fixtures (tests/fixtures/imagebind/text): cleaning,
//! token ids at context 77 (fork and upstream truncation), OMEGA's v2 chunks, unique-token
//! counts — all exact.

use omega::imagebind::bpe::{ClipBpe, Truncation, CONTEXT};
use omega::imagebind::chunk::{description_chunks, split_text, unique_token_count};
use omega::imagebind::clean::clean;
use serde_json::Value;

fn bpe() -> ClipBpe {
    let path = std::env::var("OMEGA_BPE_VOCAB").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/.cache/models/bpe_simple_vocab_16e6.txt.gz"
        )
        .to_string()
    });
    ClipBpe::load(std::path::Path::new(&path)).expect("BPE vocabulary: run scripts/setup.sh")
}

fn texts() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/imagebind/text/texts.json"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["texts"].as_array().unwrap().clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn golden_ids_from_the_models_list() {
    let bpe = bpe();
    let t = bpe.tokenize("a rocket launch at dawn", CONTEXT, Truncation::Fork);
    assert_eq!(&t[..8], &[49406, 320, 8383, 2904, 536, 7689, 49407, 0]);
    let t = bpe.tokenize("A white dog lying on the floor!", CONTEXT, Truncation::Fork);
    assert_eq!(
        &t[..11],
        &[49406, 320, 1579, 1929, 7175, 525, 518, 4125, 256, 49407, 0]
    );
}

#[test]
fn every_fixture_text_matches_the_reference() {
    let bpe = bpe();
    let mut failures = Vec::new();
    for t in texts() {
        let id = t["id"].as_str().unwrap();
        let text = t["text"].as_str().unwrap();
        let mut check = |what: &str, ok: bool, detail: String| {
            if !ok {
                failures.push(format!("{id}: {what}: {detail}"));
            }
        };
        let cleaned = clean(text);
        let want = t["cleaned_lower"].as_str().unwrap();
        check(
            "cleaned",
            cleaned == want,
            format!("{cleaned:?} != {want:?}"),
        );
        check(
            "bpe count",
            bpe.encode(text).len() as u64 == t["bpe_token_count"].as_u64().unwrap(),
            String::new(),
        );
        let fork = bpe.tokenize(text, CONTEXT, Truncation::Fork);
        check(
            "tokens77 fork",
            fork == ids(&t["tokens77_omega"]),
            format!("{fork:?}"),
        );
        let keep = bpe.tokenize(text, CONTEXT, Truncation::KeepEot);
        check(
            "tokens77 keep-eot",
            keep == ids(&t["tokens77_imagebind_unofficial"]),
            format!("{keep:?}"),
        );
        let chunks = split_text(&bpe, text);
        let want: Vec<String> = t["chunks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        check("chunks", chunks == want, format!("{chunks:?} != {want:?}"));
        let uses = !description_chunks(&bpe, text).is_empty();
        check(
            "v2 uses chunks",
            uses == t["v2_uses_chunks"].as_bool().unwrap(),
            String::new(),
        );
        for (i, (c, want)) in chunks
            .iter()
            .zip(t["chunk_tokens77_omega"].as_array().unwrap())
            .enumerate()
        {
            let got = bpe.tokenize(c, CONTEXT, Truncation::Fork);
            check(
                &format!("chunk {i} tokens"),
                got == ids(want),
                format!("{got:?}"),
            );
        }
        let u = unique_token_count(&bpe, text) as u64;
        check(
            "unique tokens",
            u == t["unique_token_count"].as_u64().unwrap(),
            format!("{u}"),
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
