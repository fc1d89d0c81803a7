//! The runtime metadata omega was written against, vendored so that builds and offline work
//! (dry runs, tests) never touch the network, and the check that a live node still has the same
//! call shapes.
//!
//! `metadata/finney.scale` is the file shipped by the crate `bittensor-rs` 0.1.1 (MIT, notice in
//! `metadata/LICENSE-bittensor-rs`): metadata V16 of `node-subtensor` spec 365. Instead of
//! generating Rust types for all 27 pallets (subxt's macro: tens of thousands of lines compiled
//! on every change of the library) omega builds the handful of calls it sends by name and checks
//! each one's type hash against the node's metadata before signing, which is the check the
//! generated code would make: a call whose shape changed is refused with its name and both spec
//! versions instead of being sent in a shape the node would misread.

use std::sync::{Arc, OnceLock};

use subxt::ext::codec::Decode;
use subxt::Metadata;

use super::ChainError;

/// The vendored metadata's bytes (`meta` magic + V16).
pub const VENDORED_BYTES: &[u8] = include_bytes!("metadata/finney.scale");

/// The vendored metadata, decoded once.
pub fn vendored() -> Arc<Metadata> {
    static CELL: OnceLock<Arc<Metadata>> = OnceLock::new();
    CELL.get_or_init(|| {
        // The bytes are part of the binary and checked by the test suite: failing here is a
        // build defect, not an input error.
        Arc::new(Metadata::decode_from(VENDORED_BYTES).expect("vendored finney.scale decodes"))
    })
    .clone()
}

/// `System.Version` of a metadata: the runtime's own record of its spec and transaction
/// versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    pub spec_name: String,
    pub spec_version: u32,
    pub transaction_version: u32,
}

/// Reads the `System.Version` constant.
pub fn runtime_version(metadata: &Metadata) -> Result<RuntimeVersion, ChainError> {
    // RuntimeVersion's leading fields: spec name, impl name, authoring version, spec version,
    // impl version, APIs, transaction version (later fields are ignored).
    type Version = (String, String, u32, u32, u32, Vec<([u8; 8], u32)>, u32);
    let bad = |why: String| ChainError::Metadata(format!("System.Version: {why}"));
    let constant = metadata
        .pallet_by_name("System")
        .and_then(|p| p.constant_by_name("Version"))
        .ok_or_else(|| bad("missing".into()))?;
    let (spec_name, _, _, spec_version, _, _, transaction_version) =
        Version::decode(&mut constant.value()).map_err(|e| bad(e.to_string()))?;
    Ok(RuntimeVersion {
        spec_name,
        spec_version,
        transaction_version,
    })
}

/// Whether a metadata offers `pallet.call`.
pub fn has_call(metadata: &Metadata, pallet: &str, call: &str) -> bool {
    metadata
        .pallet_by_name(pallet)
        .and_then(|p| p.call_hash(call))
        .is_some()
}

/// Refuses a call the node does not have, or whose argument types differ from the vendored
/// metadata (the shape omega encodes). `node_spec` names the node's runtime in the error.
pub fn check_call_shape(
    node: &Metadata,
    node_spec: u32,
    pallet: &str,
    call: &str,
) -> Result<(), ChainError> {
    let name = format!("{pallet}.{call}");
    let ours = vendored();
    let vendored_spec = runtime_version(&ours)?.spec_version;
    let hash_in = |m: &Metadata| m.pallet_by_name(pallet).and_then(|p| p.call_hash(call));
    let Some(expected) = hash_in(&ours) else {
        return Err(ChainError::Metadata(format!(
            "{name} is not in the vendored metadata"
        )));
    };
    match hash_in(node) {
        None => Err(ChainError::CallMissing {
            call: name,
            node_spec,
        }),
        Some(found) if found != expected => Err(ChainError::CallShapeChanged {
            call: name,
            vendored_spec,
            node_spec,
        }),
        Some(_) => Ok(()),
    }
}
