//! omega's weight processing against the real Python SDK (bittensor 9.10.1, numpy path):
//! 1000 seeded random cases through `process_weights_for_netuid` and
//! `convert_weights_and_uids_for_emit` in one Python process (tests/support/sdk_weights.py),
//! compared case by case with `omega::chain::weights`: the same processed uids, bit-identical
//! processed weights, the same emitted uids and u16 weights, and the same failures. Also: the
//! SDK's rounding of exact ties, its `version_as_int`, and that NaN and negative weights (which
//! the SDK silently zeroes) are the one place omega differs, by refusing them.

use std::io::Write;
use std::process::{Command, Stdio};

use omega::chain::weights::{
    convert_weights_and_uids_for_emit, process_weights, version_as_int, WeightsError,
};
use omega::uid::Uid;
use serde_json::{json, Value};

use crate::common::{bittensor_python, support};

/// One call of `process_weights_for_netuid` as the SDK sees it.
#[derive(Debug, Clone)]
struct Case {
    uids: Vec<Uid>,
    weights: Vec<f32>,
    n: usize,
    min_allowed_weights: u64,
    max_weight_limit: f64,
    exclude_quantile: u16,
}

impl Case {
    /// omega's processing of this case.
    fn process(&self) -> Result<(Vec<Uid>, Vec<f64>), WeightsError> {
        process_weights(
            &self.uids,
            &self.weights,
            self.n,
            self.min_allowed_weights,
            self.max_weight_limit,
            self.exclude_quantile,
        )
    }

    fn to_json(&self) -> Value {
        // f32 -> f64 is exact and JSON keeps f64 exactly; NaN becomes null (the helper's NaN).
        let weights: Vec<f64> = self.weights.iter().map(|&w| f64::from(w)).collect();
        json!({
            "uids": self.uids, "weights": weights, "n": self.n,
            "min_allowed_weights": self.min_allowed_weights,
            "max_weight_limit": self.max_weight_limit,
            "exclude_quantile": self.exclude_quantile,
        })
    }

    fn positive(&self) -> u64 {
        self.weights.iter().filter(|&&w| w > 0.0).count() as u64
    }
}

/// Runs every case through the SDK in one process; returns the helper's whole answer.
fn sdk(cases: &[Case]) -> Value {
    sdk_raw(json!({ "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>() }))
}

fn sdk_raw(input: Value) -> Value {
    let mut child = Command::new(bittensor_python())
        .arg(support("sdk_weights.py"))
        .env_remove("USE_TORCH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the bittensor SDK's python starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.to_string().as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "sdk_weights.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sdk_weights.py answers JSON")
}

fn uids_of(v: &Value) -> Vec<Uid> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Compares omega with the SDK's answer for one case; returns a description of any difference.
fn compare(case: &Case, sdk: &Value) -> Result<(), String> {
    let ours = case.process();
    let (uids, weights) = match (ours, sdk.get("error")) {
        (Err(_), Some(_)) => return Ok(()),
        (Ok(processed), None) => processed,
        (ours, _) => return Err(format!("omega {ours:?} vs SDK {sdk}")),
    };
    let sdk_uids = uids_of(&sdk["processed_uids"]);
    if uids != sdk_uids {
        return Err(format!(
            "processed uids differ: omega {} uids, SDK {}",
            uids.len(),
            sdk_uids.len()
        ));
    }
    let sdk_weights: Vec<f64> = serde_json::from_value(sdk["processed_weights"].clone()).unwrap();
    let bits = |w: &[f64]| w.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    if bits(&weights) != bits(&sdk_weights) {
        return Err(format!(
            "processed weights differ: omega {weights:?}, SDK {sdk_weights:?}"
        ));
    }
    match (
        convert_weights_and_uids_for_emit(&uids, &weights),
        sdk.get("emit_error"),
    ) {
        (Err(_), Some(_)) => Ok(()),
        (Ok((emit_uids, emit_weights)), None) => {
            let sdk_emit: Vec<u16> = serde_json::from_value(sdk["weights"].clone()).unwrap();
            if emit_uids == uids_of(&sdk["uids"]) && emit_weights == sdk_emit {
                Ok(())
            } else {
                Err(format!(
                    "emitted differ: omega {emit_uids:?} {emit_weights:?}, SDK {sdk}"
                ))
            }
        }
        (ours, _) => Err(format!("emit: omega {ours:?} vs SDK {sdk}")),
    }
}

/// Weights drawn in one of several shapes that exercise the SDK's branches and roundings.
fn random_weights(rng: &mut fastrand::Rng, len: usize) -> Vec<f32> {
    let zero_share = [0.0, 0.0, 0.3, 0.9, 0.99, 1.0][rng.usize(..6)];
    let scale = [1.0f32, 1e-3, 1e3, 1e-20, 1e20][rng.usize(..5)];
    let shape = rng.usize(..5);
    let draw = |rng: &mut fastrand::Rng| match shape {
        0 => rng.f32() * scale,
        // Ties: a few distinct values, as integer scores give.
        1 => rng.u32(0..4) as f32 * scale,
        // Moving averages of scores: a wide spread of magnitudes.
        2 => rng.f32().powi(8) * scale,
        3 => 1.0 / 3.0 * scale,
        _ => rng.f32() * 1e-3 * scale,
    };
    let mut weights: Vec<f32> = (0..len)
        .map(|_| {
            let w = draw(rng);
            if rng.f64() < zero_share {
                0.0
            } else {
                w
            }
        })
        .collect();
    if len > 0 && rng.usize(..6) == 0 {
        // One dominant weight.
        weights[rng.usize(..len)] = scale * 1e4;
    }
    weights
}

fn random_case(rng: &mut fastrand::Rng) -> Case {
    let n = match rng.usize(..10) {
        0 => 1,
        1 => 4096,
        2 => 256,
        3 => rng.usize(2..9),
        _ => rng.usize(2..300),
    };
    // Usually one weight per neuron, uids 0..n; sometimes a shuffled subset, or (rarely)
    // more weights than neurons, where the SDK's fill branch indexes by position.
    let mut uids: Vec<Uid> = (0..n as Uid).collect();
    match rng.usize(..8) {
        0 => {
            rng.shuffle(&mut uids);
            uids.truncate(rng.usize(1..=n));
        }
        1 => uids.extend((0..rng.usize(1..4)).map(|_| rng.u16(..))),
        _ => {}
    }
    let weights = random_weights(rng, uids.len());
    let positive = weights.iter().filter(|&&w| w > 0.0).count() as u64;
    let min_allowed_weights = match rng.usize(..6) {
        0 => 0,
        1 => 1,
        2 => positive + rng.u64(1..4), // fewer positive weights than the minimum
        3 => n as u64 + rng.u64(0..3), // more than the subnet has
        _ => rng.u64(0..=positive.max(1)),
    };
    let max_weight_limit = match rng.usize(..5) {
        0 => 1.0,
        1 => f64::from(rng.u16(..)) / 65535.0,
        2 => rng.f64() * 0.2,
        3 => 1.0 / n as f64 + rng.f64() * 0.05,
        _ => 0.1,
    };
    let exclude_quantile = match rng.usize(..4) {
        0 | 1 => 0,
        2 => 65535,
        _ => rng.u16(..),
    };
    Case {
        uids,
        weights,
        n,
        min_allowed_weights,
        max_weight_limit,
        exclude_quantile,
    }
}

#[test]
fn weights_match_the_python_sdk_on_1000_random_cases() {
    let mut rng = fastrand::Rng::with_seed(0x5e24);
    let cases: Vec<Case> = (0..1000).map(|_| random_case(&mut rng)).collect();
    let answer = sdk(&cases);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    let failures: Vec<String> = cases
        .iter()
        .zip(results)
        .enumerate()
        .filter_map(|(i, (case, sdk))| compare(case, sdk).err().map(|e| format!("case {i}: {e}")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 1000 cases differ from the SDK; first: {}",
        failures.len(),
        failures[..failures.len().min(3)].join("\n")
    );
    // The generator reaches every branch of the SDK, often.
    let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    let uniform = count(&|c| c.positive() == 0 || (c.n as u64) < c.min_allowed_weights);
    let fill = count(&|c| {
        c.positive() > 0
            && c.n as u64 >= c.min_allowed_weights
            && c.positive() < c.min_allowed_weights
    });
    let quantile = count(&|c| c.positive() > c.min_allowed_weights && c.exclude_quantile > 0);
    let big = count(&|c| c.n == 4096);
    let one = count(&|c| c.n == 1);
    let all_zero = count(&|c| c.positive() == 0);
    for (what, seen) in [
        ("uniform", uniform),
        ("fill", fill),
        ("quantile", quantile),
        ("n = 4096", big),
        ("n = 1", one),
        ("all zero", all_zero),
    ] {
        assert!(seen >= 30, "only {seen} {what} cases");
    }
}

#[test]
fn weights_sdk_zeroes_nan_and_negative_weights_where_omega_refuses_them() {
    // The SDK keeps `weights > 0`, so NaN and negative weights silently count as zero. omega
    // refuses them; this pins down that this is the only difference.
    let mut rng = fastrand::Rng::with_seed(24);
    let mut bad_cases = Vec::new();
    for i in 0..40 {
        let mut case = random_case(&mut rng);
        let at = rng.usize(..case.weights.len());
        case.weights[at] = if i % 2 == 0 {
            f32::NAN
        } else {
            -rng.f32() - 0.01
        };
        let refused = case.process();
        let first_bad = case
            .weights
            .iter()
            .position(|w| w.is_nan() || *w < 0.0)
            .unwrap();
        match refused {
            Err(WeightsError::NotFinite { index, .. })
            | Err(WeightsError::Negative { index, .. }) => {
                assert_eq!(index, first_bad)
            }
            other => panic!("omega accepted {case:?}: {other:?}"),
        }
        bad_cases.push(case);
    }
    let answer = sdk(&bad_cases);
    for (case, sdk) in bad_cases.iter().zip(answer["results"].as_array().unwrap()) {
        let zeroed = Case {
            weights: case
                .weights
                .iter()
                .map(|&w| if w > 0.0 { w } else { 0.0 })
                .collect(),
            ..case.clone()
        };
        compare(&zeroed, sdk).unwrap_or_else(|e| panic!("{case:?}: {e}"));
    }
}

#[test]
fn weights_version_as_int_matches_the_sdk() {
    let answer = sdk(&[]);
    let version = answer["version"].as_str().unwrap();
    assert_eq!(version, "9.10.1");
    assert_eq!(
        version_as_int(version).unwrap(),
        answer["version_as_int"].as_u64().unwrap()
    );
}

#[test]
fn weights_emit_rounds_ties_to_even_like_the_sdk() {
    // Exact halves after scaling ((k + 0.5) / 65535 * 65535 == k + 0.5 for these k), which
    // random processed weights almost never produce: Python's round goes to the even side.
    let weights: Vec<f64> = std::iter::once(1.0)
        .chain((0..2000).map(|k| (f64::from(k) + 0.5) / 65535.0))
        .collect();
    let uids: Vec<Uid> = (0..weights.len() as Uid).collect();
    let input = json!({ "cases": [{ "emit_only": true, "uids": uids, "weights": weights }] });
    let answer = sdk_raw(input);
    let sdk = &answer["results"][0];
    let (ours_uids, ours) = convert_weights_and_uids_for_emit(&uids, &weights).unwrap();
    assert_eq!(ours_uids, uids_of(&sdk["uids"]));
    let sdk_weights: Vec<u16> = serde_json::from_value(sdk["weights"].clone()).unwrap();
    assert_eq!(ours, sdk_weights);
    // The cases do contain ties that ties-away-from-zero would round up.
    let ties = weights
        .iter()
        .filter(|w| (*w * 65535.0).fract() == 0.5)
        .count();
    assert!(ties > 1000, "{ties} exact ties");
}
