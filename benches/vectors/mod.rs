//! The index benchmarks' vectors: N clustered 1024-d vectors (a mixture of Gaussians, not
//! uniform noise), 1000 near-duplicate queries (an indexed vector + noise, cosine ≈ 0.95) and
//! 1000 fresh queries from the same mixture. Seeded: every benchmark sees the same set.

/// The number of vectors (`OMEGA_BENCH_N`, default 100 000) when run as a benchmark
/// (`cargo bench` passes `--bench`; `cargo test --benches` does not, and then nothing runs).
pub fn bench_size() -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return None;
    }
    let n = std::env::var("OMEGA_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok());
    Some(n.unwrap_or(100_000))
}

pub struct Set {
    pub items: Vec<(String, Vec<f32>)>,
    pub near: Vec<Vec<f32>>,
    pub fresh: Vec<Vec<f32>>,
}

pub fn clustered(n: usize) -> Set {
    let mut rng = fastrand::Rng::with_seed(42);
    let gauss = |rng: &mut fastrand::Rng| -> f32 {
        // Box–Muller.
        let (u, v) = (rng.f32().max(1e-9), rng.f32());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let centres: Vec<Vec<f32>> = (0..n / 100)
        .map(|_| (0..1024).map(|_| gauss(&mut rng)).collect())
        .collect();
    let sample = |rng: &mut fastrand::Rng, spread: f32| -> Vec<f32> {
        let c = &centres[rng.usize(..centres.len())];
        c.iter().map(|x| x + spread * gauss(rng)).collect()
    };
    let items: Vec<(String, Vec<f32>)> = (0..n)
        .map(|i| (format!("v{i}"), sample(&mut rng, 0.8)))
        .collect();
    let near: Vec<Vec<f32>> = (0..1000)
        .map(|i| {
            items[(i * 7919) % n]
                .1
                .iter()
                .map(|x| x + 0.42 * gauss(&mut rng))
                .collect()
        })
        .collect();
    let fresh: Vec<Vec<f32>> = (0..1000).map(|_| sample(&mut rng, 0.8)).collect();
    Set { items, near, fresh }
}
