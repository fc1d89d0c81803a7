//! Running the miner: the axon on `--axon.port`, the metrics on `--metrics-port`, background
//! preparation of `--topics`, until SIGTERM / SIGINT; then in-flight requests finish, the cache
//! is compacted, and the process exits 0.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use subxt_signer::sr25519::Keypair;

use super::Miner;
use crate::net::axon::{self, Axon, Gate, Handler, Limits};

/// Where and how the miner listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind (`0.0.0.0:8091`).
    pub bind: SocketAddr,
    /// The address validators reach (reported in the response headers, announced on chain).
    pub external_ip: String,
    pub metrics: Option<SocketAddr>,
    pub limits: Limits,
    /// Queries to prepare before anyone asks.
    pub topics: Vec<String>,
}

/// Serves until `stop` is set. `ready` is told the bound addresses (port 0 picks one).
pub async fn run(
    miner: Arc<Miner>,
    hotkey: Keypair,
    gate: Box<dyn Gate>,
    opts: ServeOptions,
    stop: &'static AtomicBool,
    ready: impl FnOnce(SocketAddr, Option<SocketAddr>),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.bind).await?;
    let bound = listener.local_addr()?;
    let metrics_listener = match opts.metrics {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    let metrics_addr = metrics_listener
        .as_ref()
        .map(|l| l.local_addr())
        .transpose()?;
    if let Some(l) = metrics_listener {
        tokio::spawn(crate::net::metrics::serve(miner.metrics.clone(), l, stop));
    }
    for topic in &opts.topics {
        miner.clone().refill_in_background(topic.clone());
    }
    let handler: Handler = {
        let miner = miner.clone();
        Arc::new(move |request, caller, deadline| {
            Box::pin(miner.clone().answer(request, caller, deadline))
        })
    };
    let server = Axon::new(
        hotkey,
        opts.external_ip.clone(),
        bound.port(),
        opts.limits.clone(),
        gate,
        handler,
        miner.metrics.clone(),
    );
    ready(bound, metrics_addr);
    tracing::info!(%bound, "axon listening");
    axon::serve(server, listener, stop).await?;
    miner.persist()?;
    tracing::info!("stopped; cache saved in {}", miner.state_dir().display());
    Ok(())
}
