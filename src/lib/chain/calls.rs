//! The calls omega sends, by name with typed arguments, encoded against the vendored or the
//! node's metadata; and a readable decoding of call bytes for `--dry-run`.

use std::sync::Arc;

use subxt::dynamic::Value;
use subxt::ext::scale_encode::{self, EncodeAsType};
use subxt::ext::scale_value;
use subxt::tx::DynamicPayload;
use subxt::utils::{AccountId32, MultiAddress};
use subxt::Metadata;

use super::ChainError;

pub const SUBTENSOR: &str = "SubtensorModule";
pub const BALANCES: &str = "Balances";

/// One call: pallet, name and arguments.
#[derive(Debug, Clone)]
pub struct Call<A> {
    pub pallet: &'static str,
    pub name: &'static str,
    pub args: A,
}

impl<A: scale_encode::EncodeAsFields + Clone> Call<A> {
    /// The payload subxt signs (no hash check here: [`super::metadata::check_call_shape`]
    /// compares the call with the node's before anything is signed).
    pub fn payload(&self) -> DynamicPayload<A> {
        subxt::tx::dynamic(self.pallet, self.name, self.args.clone())
    }

    /// `pallet.name`, for messages.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.pallet, self.name)
    }

    /// The call's bytes (pallet index, call index, arguments) under a metadata.
    pub fn encode(&self, metadata: &Arc<Metadata>) -> Result<Vec<u8>, ChainError> {
        let pallet = metadata
            .pallet_by_name(self.pallet)
            .ok_or_else(|| ChainError::Metadata(format!("no pallet {}", self.pallet)))?;
        let variant = pallet
            .call_variant_by_name(self.name)
            .ok_or_else(|| ChainError::Metadata(format!("no call {}", self.full_name())))?;
        let mut out = vec![pallet.call_index(), variant.index];
        let mut fields = variant
            .fields
            .iter()
            .map(|f| scale_encode::Field::new(f.ty.id, f.name.as_deref()));
        self.args
            .encode_as_fields_to(&mut fields, metadata.types(), &mut out)
            .map_err(|e| ChainError::Metadata(format!("encoding {}: {e}", self.full_name())))?;
        Ok(out)
    }
}

/// `SubtensorModule.set_weights` (call 0).
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct SetWeights {
    pub netuid: u16,
    pub dests: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

/// `SubtensorModule.set_mechanism_weights` (call 119): the form SDK 9.12+ sends.
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct SetMechanismWeights {
    pub netuid: u16,
    pub mecid: u8,
    pub dests: Vec<u16>,
    pub weights: Vec<u16>,
    pub version_key: u64,
}

/// `SubtensorModule.commit_timelocked_weights` (call 113): SDK 9.10's commit-reveal call.
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct CommitTimelockedWeights {
    pub netuid: u16,
    /// The timelock ciphertext (chain layout, at most 5000 bytes).
    pub commit: Vec<u8>,
    pub reveal_round: u64,
    pub commit_reveal_version: u16,
}

/// `SubtensorModule.commit_timelocked_mechanism_weights` (call 118): what SDK 9.12+ send.
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct CommitTimelockedMechanismWeights {
    pub netuid: u16,
    pub mecid: u8,
    pub commit: Vec<u8>,
    pub reveal_round: u64,
    pub commit_reveal_version: u16,
}

/// `SubtensorModule.serve_axon` (call 4).
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct ServeAxon {
    pub netuid: u16,
    pub version: u32,
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
    pub protocol: u8,
    pub placeholder1: u8,
    pub placeholder2: u8,
}

/// `Balances.transfer_keep_alive` (call 3): refuses to reap the sender.
#[derive(Debug, Clone, EncodeAsType)]
#[encode_as_type(crate_path = "::subxt::ext::scale_encode")]
pub struct TransferKeepAlive {
    pub dest: MultiAddress<AccountId32, ()>,
    /// In rao (1 TAO = 10^9 rao); encoded compact.
    pub value: u64,
}

pub fn set_weights(args: SetWeights) -> Call<SetWeights> {
    Call {
        pallet: SUBTENSOR,
        name: "set_weights",
        args,
    }
}

pub fn set_mechanism_weights(args: SetMechanismWeights) -> Call<SetMechanismWeights> {
    Call {
        pallet: SUBTENSOR,
        name: "set_mechanism_weights",
        args,
    }
}

pub fn commit_timelocked_weights(args: CommitTimelockedWeights) -> Call<CommitTimelockedWeights> {
    Call {
        pallet: SUBTENSOR,
        name: "commit_timelocked_weights",
        args,
    }
}

pub fn commit_timelocked_mechanism_weights(
    args: CommitTimelockedMechanismWeights,
) -> Call<CommitTimelockedMechanismWeights> {
    Call {
        pallet: SUBTENSOR,
        name: "commit_timelocked_mechanism_weights",
        args,
    }
}

pub fn serve_axon(args: ServeAxon) -> Call<ServeAxon> {
    Call {
        pallet: SUBTENSOR,
        name: "serve_axon",
        args,
    }
}

pub fn transfer_keep_alive(dest: AccountId32, rao: u64) -> Call<TransferKeepAlive> {
    Call {
        pallet: BALANCES,
        name: "transfer_keep_alive",
        args: TransferKeepAlive {
            dest: MultiAddress::Id(dest),
            value: rao,
        },
    }
}

/// Call bytes decoded against a metadata's call type, for people:
/// `SubtensorModule(set_weights { netuid: 24, … })`.
pub fn describe(metadata: &Metadata, call: &[u8]) -> Result<String, ChainError> {
    let ty = metadata.outer_enums().call_enum_ty();
    let mut cursor = call;
    let value: Value<u32> = scale_value::scale::decode_as_type(&mut cursor, ty, metadata.types())
        .map_err(|e| ChainError::Metadata(format!("decoding the call: {e}")))?;
    if !cursor.is_empty() {
        return Err(ChainError::Metadata(format!(
            "{} bytes left after the call",
            cursor.len()
        )));
    }
    Ok(value.remove_context().to_string())
}
