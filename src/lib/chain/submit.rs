//! Signing, submitting and watching one extrinsic until it is in a block (or finalized), with
//! a limit on the whole wait; the answer names the inclusion block and the extrinsic's index in
//! it (the Python SDK returns the chain head instead, which can be a later block).

use std::time::Duration;

use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::ext::scale_encode::EncodeAsFields;
use subxt::tx::TransactionStatus;
use subxt::utils::H256;
use subxt_signer::sr25519::Keypair;

use super::calls::Call;
use super::client::{timed, AtBlock};
use super::{metadata, Chain, ChainError, SubtensorConfig};

/// Where an extrinsic landed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Inclusion {
    pub block_hash: H256,
    pub block_number: u64,
    pub extrinsic_index: u32,
    pub extrinsic_hash: H256,
    pub finalized: bool,
}

/// How long to wait and for what.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub finalization: bool,
    pub limit: Duration,
}

/// Mortality of omega's transactions, in blocks (the SDK 9.12 default period).
pub const MORTAL_BLOCKS: u64 = 32;

/// Checks the call's shape against the node, signs with `signer`, submits and waits.
pub async fn sign_and_watch<A>(
    chain: &Chain,
    at: &AtBlock,
    call: &Call<A>,
    signer: &Keypair,
    wait: Wait,
) -> Result<Inclusion, ChainError>
where
    A: EncodeAsFields + Clone,
{
    metadata::check_call_shape(
        at.inner.metadata_ref(),
        at.spec_version(),
        call.pallet,
        call.name,
    )?;
    let params = DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
        .mortal(MORTAL_BLOCKS)
        .build();
    let what = format!("submitting {}", call.full_name());
    let progress = timed(
        chain.timeout(),
        &what,
        at.inner
            .tx()
            .sign_and_submit_then_watch(&call.payload(), signer, params),
    )
    .await?
    .map_err(|e| ChainError::Invalid(e.to_string()))?;
    timed(
        wait.limit,
        &format!("waiting for {} to be included", call.full_name()),
        follow(progress, wait.finalization),
    )
    .await?
}

async fn follow<C>(
    mut progress: subxt::tx::TransactionProgress<SubtensorConfig, C>,
    finalization: bool,
) -> Result<Inclusion, ChainError>
where
    C: subxt::client::OnlineClientAtBlockT<SubtensorConfig>,
{
    while let Some(status) = progress.next().await {
        let status = status.map_err(|e| ChainError::rpc("watching the transaction", e))?;
        let (in_block, finalized) = match status {
            TransactionStatus::InBestBlock(b) if !finalization => (b, false),
            TransactionStatus::InFinalizedBlock(b) => (b, true),
            TransactionStatus::Error { message }
            | TransactionStatus::Invalid { message }
            | TransactionStatus::Dropped { message } => return Err(ChainError::Invalid(message)),
            _ => continue,
        };
        let block_hash = in_block.block_hash();
        let events = in_block
            .wait_for_success()
            .await
            .map_err(|e| ChainError::Dispatch {
                block_hash: format!("{block_hash:?}"),
                reason: e.to_string(),
            })?;
        let at = in_block
            .at()
            .await
            .map_err(|e| ChainError::rpc("reading the inclusion block", e))?;
        return Ok(Inclusion {
            block_hash,
            block_number: at.block_number(),
            extrinsic_index: events.extrinsic_index() as u32,
            extrinsic_hash: in_block.extrinsic_hash(),
            finalized,
        });
    }
    Err(ChainError::Invalid(
        "the node closed the transaction watch before inclusion".into(),
    ))
}
