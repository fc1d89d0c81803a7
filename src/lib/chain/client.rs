//! The connection to a subtensor node: which endpoint (bittensor's network names), one
//! websocket reused for the whole run, a timeout on every request, and retries with backoff
//! while connecting.
//!
//! omega talks the node's legacy JSON-RPC methods (`state_getStorage`, `state_call`,
//! `author_submitAndWatchExtrinsic`, …), the set the Python SDK uses, so what works for a
//! `btcli` user works here; the newer `chainHead_v1` methods are not required of the node.

use std::sync::Arc;
use std::time::Duration;

use subxt::backend::LegacyBackend;
use subxt::config::substrate::SpecVersionForRange;
use subxt::config::{Config, DefaultTransactionExtensions, SubstrateConfig};
use subxt::ext::jsonrpsee::ws_client::WsClientBuilder;
use subxt::rpcs::RpcClient;
use subxt::utils::H256;
use subxt::utils::{AccountId32, MultiAddress, MultiSignature};
use subxt::{ArcMetadata, OnlineClient};

use super::metadata::{self, RuntimeVersion};
use super::ChainError;

/// subtensor's chain types: Substrate's, with Polkadot's address (`MultiAddress<AccountId32,
/// ()>`, no account index). subxt's `PolkadotConfig` has the right types but is tied to the
/// Polkadot relay chain's genesis and spec table, so omega wraps a plain `SubstrateConfig`.
#[derive(Debug, Clone, Default)]
pub struct SubtensorConfig(SubstrateConfig);

impl SubtensorConfig {
    /// A configuration that needs no node: the given genesis and runtime for every block.
    pub fn offline(
        genesis: H256,
        metadata: ArcMetadata,
        spec_version: u32,
        transaction_version: u32,
    ) -> Self {
        SubtensorConfig(
            SubstrateConfig::builder()
                .set_genesis_hash(genesis)
                .set_spec_version_for_block_ranges([SpecVersionForRange {
                    block_range: 0..u64::MAX,
                    spec_version,
                    transaction_version,
                }])
                .set_metadata_for_spec_versions([(spec_version, metadata)])
                .build(),
        )
    }
}

impl Config for SubtensorConfig {
    type AccountId = AccountId32;
    type Address = MultiAddress<AccountId32, ()>;
    type Signature = MultiSignature;
    type Hasher = <SubstrateConfig as Config>::Hasher;
    type Header = <SubstrateConfig as Config>::Header;
    type TransactionExtensions = DefaultTransactionExtensions<Self>;
    type AssetId = u32;

    fn genesis_hash(&self) -> Option<H256> {
        self.0.genesis_hash()
    }

    fn spec_and_transaction_version_for_block_number(
        &self,
        block_number: u64,
    ) -> Option<(u32, u32)> {
        self.0
            .spec_and_transaction_version_for_block_number(block_number)
    }

    fn metadata_for_spec_version(&self, spec_version: u32) -> Option<ArcMetadata> {
        self.0.metadata_for_spec_version(spec_version)
    }

    fn set_metadata_for_spec_version(&self, spec_version: u32, metadata: ArcMetadata) {
        self.0.set_metadata_for_spec_version(spec_version, metadata)
    }
}

/// Genesis hashes of the public networks (for offline signing).
pub const FINNEY_GENESIS: &str =
    "0x2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";
pub const TESTNET_GENESIS: &str =
    "0x8f9cf856bf558a14440e75569c9e58594757048d7b3a84b5d25f6bd978263105";

/// The network names bittensor users know (`--subtensor.network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Network {
    Finney,
    Test,
    Local,
}

impl Network {
    /// The SDK's endpoints (`bittensor/core/settings.py`).
    pub fn endpoint(self) -> &'static str {
        match self {
            Network::Finney => "wss://entrypoint-finney.opentensor.ai:443",
            Network::Test => "wss://test.finney.opentensor.ai:443",
            Network::Local => "ws://127.0.0.1:9944",
        }
    }
}

/// How to reach the node.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub endpoint: String,
    /// Limit for every single request (and for opening the connection).
    pub request_timeout: Duration,
    /// Connection attempts before giving up; the wait doubles from one second.
    pub attempts: u32,
}

impl ConnectOptions {
    /// `--subtensor.chain_endpoint` wins over `--subtensor.network`, as in the SDK.
    pub fn new(network: Network, endpoint: Option<&str>) -> Self {
        ConnectOptions {
            endpoint: endpoint.unwrap_or(network.endpoint()).to_string(),
            request_timeout: Duration::from_secs(30),
            attempts: 3,
        }
    }
}

/// A live connection to a node.
#[derive(Clone)]
pub struct Chain {
    endpoint: String,
    timeout: Duration,
    rpc: RpcClient,
    api: OnlineClient<SubtensorConfig>,
}

impl Chain {
    /// Opens the websocket (retrying with backoff) and reads the genesis hash.
    pub async fn connect(options: &ConnectOptions) -> Result<Chain, ChainError> {
        let mut wait = Duration::from_secs(1);
        let mut attempt = 1;
        loop {
            match Self::connect_once(options).await {
                Ok(chain) => return Ok(chain),
                Err(e) if attempt >= options.attempts.max(1) => return Err(e),
                Err(e) => {
                    tracing::warn!(endpoint = %options.endpoint, attempt, "cannot connect: {e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    async fn connect_once(options: &ConnectOptions) -> Result<Chain, ChainError> {
        let unreachable = |reason: String| ChainError::Unreachable {
            endpoint: options.endpoint.clone(),
            reason,
        };
        // omega bounds each operation by `request_timeout` itself (naming what timed out);
        // the client's own per-request limit is a backstop behind it.
        let ws = WsClientBuilder::default()
            .request_timeout(options.request_timeout * 2)
            .connection_timeout(options.request_timeout)
            .max_request_size(32 * 1024 * 1024)
            .max_response_size(64 * 1024 * 1024)
            .build(&options.endpoint)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let rpc = RpcClient::new(ws);
        let backend = LegacyBackend::<SubtensorConfig>::builder().build(rpc.clone());
        let api = timed(
            options.request_timeout,
            "reading the genesis hash",
            OnlineClient::from_backend(Arc::new(backend)),
        )
        .await?
        .map_err(|e| unreachable(e.to_string()))?;
        Ok(Chain {
            endpoint: options.endpoint.clone(),
            timeout: options.request_timeout,
            rpc,
            api,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn api(&self) -> &OnlineClient<SubtensorConfig> {
        &self.api
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// The latest finalized block (subxt's current block), with its runtime's metadata. Rules read
    /// here can lag the best block by a block or two; the chain checks them again on inclusion.
    pub async fn at_latest(&self) -> Result<AtBlock, ChainError> {
        let at = timed(
            self.timeout,
            "reading the latest block",
            self.api.at_current_block(),
        )
        .await?
        .map_err(|e| ChainError::rpc("reading the latest block", e))?;
        Ok(AtBlock {
            inner: at,
            timeout: self.timeout,
        })
    }

    /// A given block.
    pub async fn at_hash(&self, hash: H256) -> Result<AtBlock, ChainError> {
        let what = format!("reading block {hash:?}");
        let at = timed(self.timeout, &what, self.api.at_block(hash))
            .await?
            .map_err(|e| ChainError::rpc(&what, e))?;
        Ok(AtBlock {
            inner: at,
            timeout: self.timeout,
        })
    }

    /// The finalized head's number and hash.
    pub async fn finalized_head(&self) -> Result<(u64, H256), ChainError> {
        let hash: H256 = self.request("chain_getFinalizedHead", Vec::new()).await?;
        let number = self.block_number(hash).await?.ok_or_else(|| {
            ChainError::Protocol(format!("the finalized head {hash:?} has no header"))
        })?;
        Ok((number, hash))
    }

    /// The number of a block, or None when the node does not know the hash.
    pub async fn block_number(&self, hash: H256) -> Result<Option<u64>, ChainError> {
        self.header_number(vec![serde_json::json!(hash)]).await
    }

    /// The best block's number (commits are timed against it, as the SDK does).
    pub async fn best_number(&self) -> Result<u64, ChainError> {
        self.header_number(Vec::new())
            .await?
            .ok_or_else(|| ChainError::Protocol("the node has no best block header".into()))
    }

    async fn header_number(
        &self,
        params: Vec<serde_json::Value>,
    ) -> Result<Option<u64>, ChainError> {
        #[derive(serde::Deserialize)]
        struct Header {
            number: String,
        }
        let header: Option<Header> = self.request("chain_getHeader", params).await?;
        header.map(|h| parse_hex_number(&h.number)).transpose()
    }

    /// The canonical hash at a height (None beyond the head).
    pub async fn canonical_hash(&self, number: u64) -> Result<Option<H256>, ChainError> {
        self.request("chain_getBlockHash", vec![serde_json::json!(number)])
            .await
    }

    /// One JSON-RPC request with the run's timeout.
    async fn request<R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<serde_json::Value>,
    ) -> Result<R, ChainError> {
        let mut p = subxt::rpcs::client::RpcParams::new();
        for param in params {
            p.push(param).map_err(|e| ChainError::rpc(method, e))?;
        }
        timed(self.timeout, method, self.rpc.request(method, p))
            .await?
            .map_err(|e| ChainError::rpc(method, e))
    }
}

/// A view of the chain at one block.
pub struct AtBlock {
    pub inner: subxt::client::ClientAtBlock<
        SubtensorConfig,
        subxt::client::OnlineClientAtBlockImpl<SubtensorConfig>,
    >,
    /// The run's limit for one request (`--subtensor.timeout`).
    timeout: Duration,
}

impl AtBlock {
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn number(&self) -> u64 {
        self.inner.block_number()
    }

    pub fn hash(&self) -> H256 {
        self.inner.block_hash()
    }

    /// The node's runtime at this block, as its metadata records it.
    pub fn runtime(&self) -> Result<RuntimeVersion, ChainError> {
        metadata::runtime_version(self.inner.metadata_ref())
    }

    pub fn spec_version(&self) -> u32 {
        self.inner.spec_version()
    }
}

/// Bounds a future by the run's timeout.
pub async fn timed<F: std::future::Future>(
    limit: Duration,
    what: &str,
    fut: F,
) -> Result<F::Output, ChainError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ChainError::Timeout {
            what: what.to_string(),
            seconds: limit.as_secs_f64(),
        })
}

fn parse_hex_number(text: &str) -> Result<u64, ChainError> {
    let digits = text.trim_start_matches("0x");
    u64::from_str_radix(digits, 16)
        .map_err(|_| ChainError::Protocol(format!("block number {text:?} is not a hex number")))
}
