//! The Bittensor chain layer: the connection to a subtensor node ([`client`]), the runtime
//! metadata omega was written against ([`metadata`]), the calls it sends ([`calls`]), wallets
//! ([`wallet`]), the subnet's rules and neurons read from storage ([`subnet`]), setting weights
//! ([`set_weights`]) with the Python SDK's weight maths ([`weights`]), and signing offline
//! ([`offline`]). `serve-miner`, `run-validator` and the Focus marketplace call the same
//! functions as the one-shot commands.

pub mod axon;
pub mod calls;
pub mod client;
pub mod metadata;
pub mod metagraph;
pub mod offline;
pub mod set_weights;
pub mod submit;
pub mod subnet;
pub mod timelock;
pub mod transfer;
pub mod wallet;
pub mod weights;
pub mod weights_file;

pub use client::{Chain, ConnectOptions, Network, SubtensorConfig};

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("cannot reach the subtensor node at {endpoint}: {reason} (check --subtensor.chain_endpoint / --subtensor.network, or run with --offline)")]
    Unreachable { endpoint: String, reason: String },
    #[error("the node did not answer {what} within {seconds} s")]
    Timeout { what: String, seconds: f64 },
    #[error("{what}: {reason}")]
    Rpc { what: String, reason: String },
    #[error("the node answered something omega cannot read: {0}")]
    Protocol(String),
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("the node's runtime (spec {node_spec}) has no call {call}; omega was built against spec {vendored}", vendored = metadata::runtime_version(&metadata::vendored()).map(|v| v.spec_version).unwrap_or_default())]
    CallMissing { call: String, node_spec: u32 },
    #[error("the arguments of {call} differ between the node's runtime (spec {node_spec}) and the metadata omega was built against (spec {vendored_spec}); sending would be misread, so nothing was sent: update omega")]
    CallShapeChanged {
        call: String,
        vendored_spec: u32,
        node_spec: u32,
    },
    #[error("the transaction failed on chain in block {block_hash}: {reason}")]
    Dispatch { block_hash: String, reason: String },
    #[error("the node refused the transaction: {0}")]
    Invalid(String),
}

impl ChainError {
    pub(crate) fn rpc(what: &str, reason: impl std::fmt::Display) -> Self {
        ChainError::Rpc {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}
