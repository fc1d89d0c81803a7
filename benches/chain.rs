//! The chain layer's CPU work (`cargo bench --bench chain`, run by benches/chain.sh):
//! decoding a `get_selective_metagraph` answer into `metagraph` rows for 256 and 4096 uids, and
//! the weight processing of `omega set-weights` for 4096 uids next to the Python SDK's
//! (bittensor 9.10.1, numpy path) on the same input, checked to give the same u16 weights.
//! Prints JSON; best of R runs (OMEGA_BENCH_REPEATS, default 20).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use omega::chain::metadata;
use omega::chain::metagraph;
use omega::chain::set_weights::{process, Limits};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let repeats: usize = std::env::var("OMEGA_BENCH_REPEATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let md = metadata::vendored();
    let mut out = serde_json::Map::new();
    for n in [256u16, 4096] {
        let answer = metagraph::synthetic_answer(24, n).unwrap();
        let seconds = best_of(repeats, || {
            let graph = metagraph::decode(&md, &answer).unwrap().unwrap();
            assert_eq!(metagraph::rows(&graph).unwrap().len(), usize::from(n));
        });
        out.insert(format!("metagraph_decode_{n}_ms"), (seconds * 1e3).into());
        out.insert(format!("metagraph_answer_{n}_bytes"), answer.len().into());
    }

    let n = 4096u16;
    let mut rng = fastrand::Rng::with_seed(11);
    let uids: Vec<u16> = (0..n).collect();
    let weights: Vec<f32> = (0..n)
        .map(|_| if rng.f32() < 0.1 { 0.0 } else { rng.f32() })
        .collect();
    let limits = Limits {
        n,
        min_allowed_weights: 64,
        max_weights_limit: 655,
    };
    let ours = process(&uids, &weights, limits).unwrap();
    let omega_s = best_of(repeats, || {
        process(&uids, &weights, limits).unwrap();
    });
    let (sdk_weights, sdk_s) = sdk(&uids, &weights, limits, repeats);
    assert_eq!(ours.weights, sdk_weights, "omega and the SDK disagree");
    out.insert("weights_uids".into(), n.into());
    out.insert("weights_omega_ms".into(), (omega_s * 1e3).into());
    out.insert("weights_sdk_ms".into(), (sdk_s * 1e3).into());
    out.insert("weights_speedup".into(), (sdk_s / omega_s).into());
    println!("{}", serde_json::Value::Object(out));
}

fn best_of(repeats: usize, mut f: impl FnMut()) -> f64 {
    (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The SDK's weights and its best time, through tests/support/sdk_weights.py.
fn sdk(uids: &[u16], weights: &[f32], limits: Limits, repeats: usize) -> (Vec<u16>, f64) {
    let python = std::env::var("OMEGA_BITTENSOR_PYTHON")
        .expect("OMEGA_BITTENSOR_PYTHON (source .cache/env)");
    let request = serde_json::json!({
        "time_repeats": repeats,
        "cases": [{
            "uids": uids,
            "weights": weights.iter().map(|&w| f64::from(w)).collect::<Vec<_>>(),
            "n": limits.n,
            "min_allowed_weights": limits.min_allowed_weights,
            "max_weight_limit": f64::from(limits.max_weights_limit) / 65535.0,
            "exclude_quantile": 0,
        }],
    });
    let mut child = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/sdk_weights.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let answer: serde_json::Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    let result = &answer["results"][0];
    let weights = serde_json::from_value(result["weights"].clone()).unwrap();
    (weights, result["seconds"].as_f64().unwrap())
}
