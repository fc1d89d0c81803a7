//! Prometheus metrics of a server: requests by status, a latency histogram, answers and
//! videos per answer, cache hits; served as text on `--metrics-port` (`GET /metrics`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

/// Latency buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
pub struct Metrics {
    by_status: Mutex<BTreeMap<u16, u64>>,
    latency: Mutex<Histogram>,
    answers: AtomicU64,
    videos: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn request(&self, status: u16, elapsed: Duration) {
        *self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(status)
            .or_default() += 1;
        let seconds = elapsed.as_secs_f64();
        let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        for (slot, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *slot += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    pub fn answered(&self, videos: usize) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        self.videos.fetch_add(videos as u64, Ordering::Relaxed);
    }

    pub fn cache(&self, hit: bool) {
        let counter = if hit {
            &self.cache_hits
        } else {
            &self.cache_misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP omega_requests_total Requests by HTTP status.\n# TYPE omega_requests_total counter\n");
        for (status, n) in self
            .by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            out.push_str(&format!(
                "omega_requests_total{{status=\"{status}\"}} {n}\n"
            ));
        }
        let h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP omega_request_seconds Time from request to response.\n# TYPE omega_request_seconds histogram\n");
        for (bound, n) in BUCKETS.iter().zip(h.counts) {
            out.push_str(&format!(
                "omega_request_seconds_bucket{{le=\"{bound}\"}} {n}\n"
            ));
        }
        out.push_str(&format!(
            "omega_request_seconds_bucket{{le=\"+Inf\"}} {}\n",
            h.count
        ));
        out.push_str(&format!(
            "omega_request_seconds_sum {}\nomega_request_seconds_count {}\n",
            h.sum, h.count
        ));
        for (name, help, value) in [
            ("omega_answers_total", "Answers sent.", &self.answers),
            (
                "omega_answer_videos_total",
                "Videos sent in answers (divide by answers for videos per answer).",
                &self.videos,
            ),
            (
                "omega_cache_hits_total",
                "Videos answered from the prepared cache.",
                &self.cache_hits,
            ),
            (
                "omega_cache_misses_total",
                "Videos prepared while the validator waited.",
                &self.cache_misses,
            ),
        ] {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// Anything that renders itself in the Prometheus text format (the miner's and the
/// validator's metrics).
pub trait Exposition: Send + Sync + 'static {
    fn render(&self) -> String;
}

impl Exposition for Metrics {
    fn render(&self) -> String {
        Metrics::render(self)
    }
}

/// Serves `GET /metrics` until `stop` is set.
pub async fn serve(
    metrics: std::sync::Arc<dyn Exposition>,
    listener: tokio::net::TcpListener,
    stop: &'static AtomicBool,
) {
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let metrics = metrics.clone();
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let body = if req.uri().path() == "/metrics" { metrics.render() } else { String::new() };
                    let status = if body.is_empty() { 404 } else { 200 };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
                    std::future::ready(Ok::<_, Infallible>(response))
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
            _ = ticker.tick() => if stop.load(Ordering::SeqCst) { return },
        }
    }
}
