//! Building and signing extrinsics with no node: the vendored metadata, a genesis hash and a
//! nonce are all a signature needs (an immortal era). Used by the tests that check omega's
//! bytes against independent decoders, and by air-gapped signing.

use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::ext::scale_encode::EncodeAsFields;
use subxt::utils::H256;
use subxt::OfflineClient;
use subxt_signer::sr25519::Keypair;

use super::calls::Call;
use super::{metadata, ChainError, SubtensorConfig};

/// An offline client for the vendored runtime on the chain with `genesis`.
pub fn client(genesis: H256) -> Result<OfflineClient<SubtensorConfig>, ChainError> {
    let md = metadata::vendored();
    let version = metadata::runtime_version(&md)?;
    Ok(OfflineClient::new_with_config(SubtensorConfig::offline(
        genesis,
        md,
        version.spec_version,
        version.transaction_version,
    )))
}

/// A signed, immortal extrinsic for `call` from `signer` with `nonce`.
pub fn sign<A: EncodeAsFields + Clone>(
    call: &Call<A>,
    signer: &Keypair,
    nonce: u64,
    genesis: H256,
) -> Result<Vec<u8>, ChainError> {
    let client = client(genesis)?;
    let at = client
        .at_block(0u64)
        .map_err(|e| ChainError::Metadata(e.to_string()))?;
    let params = DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
        .nonce(nonce)
        .build();
    let payload = call.payload();
    let mut signable = at
        .tx()
        .create_signable_offline(&payload, params)
        .map_err(|e| ChainError::Metadata(format!("building {}: {e}", call.full_name())))?;
    let signed = signable
        .sign(signer)
        .map_err(|e| ChainError::Metadata(format!("signing {}: {e}", call.full_name())))?;
    Ok(signed.into_encoded())
}
