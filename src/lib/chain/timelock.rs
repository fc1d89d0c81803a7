//! Timelocked weight commits, as the chain reveals them (`../shared/spec/bittensor.md` 1.4):
//! the SCALE payload `{hotkey, uids, values, version_key}` encrypted to a drand *quicknet* round
//! (Boneh–Franklin identity-based encryption on BLS12-381, identity = sha256 of the round's
//! big-endian bytes, AES-GCM body), and the round at which the chain will be able to reveal it.
//!
//! The registry crate `timelock` 0.3.0 computes the same ciphertext as the git revision the chain
//! and bittensor-drand use, but serialises two 32-byte header fields without the u64 length
//! prefix the chain's decoder expects; omega writes (and reads) the chain's layout itself. The
//! tests check that the real bittensor-drand 1.3.0 decrypts omega's commits with a published
//! quicknet signature.

use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use sha2::{Digest, Sha256};
use subxt::ext::codec::{Decode, Encode};
use timelock::block_ciphers::AESGCMBlockCipherProvider;
use timelock::engines::{drand::TinyBLS381, EngineBLS};
use timelock::ibe::fullident::{Ciphertext as IbeHeader, Identity};
use timelock::tlock::{tld, tle, TLECiphertext};

/// drand quicknet's public key (G2, compressed).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// Unix time of quicknet's round 1 and its period.
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
pub const QUICKNET_PERIOD: u64 = 3;
/// Blocks after the predicted reveal block that the round's pulse must be on chain by
/// (the SDK's `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCK_OFFSET: u64 = 3;
/// Seconds per block the SDK assumes.
pub const BLOCK_SECONDS: f64 = 12.0;
/// The longest tempo a subnet may have (`MAX_TEMPO`); also the chain's forced-epoch bound.
pub const MAX_TEMPO: u64 = 50_400;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TimelockError {
    #[error("timelock encryption failed: {0}")]
    Encrypt(String),
    #[error("not a timelock ciphertext: {0}")]
    Format(String),
    #[error("the signature does not open this ciphertext: {0}")]
    Decrypt(String),
    #[error("tempo 0: the subnet runs no epochs, so a commit would never be revealed")]
    NoEpochs,
    #[error("no reveal block within {0} blocks")]
    NoRevealBlock(u64),
}

/// What the chain decrypts and checks on reveal (`WeightsTlockPayload`).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[codec(crate = subxt::ext::codec)]
pub struct Payload {
    /// The committer's public key; the chain discards a reveal naming another account.
    pub hotkey: Vec<u8>,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub version_key: u64,
}

/// Encrypts `payload` to quicknet round `round`: the bytes `commit_timelocked_*` carries.
pub fn encrypt(payload: &Payload, round: u64) -> Result<Vec<u8>, TimelockError> {
    let fail = |e: String| TimelockError::Encrypt(e);
    let key_bytes =
        crate::hex::decode(QUICKNET_PUBLIC_KEY).ok_or_else(|| fail("public key hex".into()))?;
    let public = <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(&key_bytes[..])
        .map_err(|e| fail(format!("{e:?}")))?;
    let identity = Identity::new(b"", &Sha256::digest(round.to_be_bytes()));
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let ciphertext = tle::<TinyBLS381, AESGCMBlockCipherProvider, rand_core::OsRng>(
        public,
        secret,
        &payload.encode(),
        identity,
        rand_core::OsRng,
    )
    .map_err(|e| fail(format!("{e:?}")))?;
    chain_layout(&ciphertext).map_err(fail)
}

/// Decrypts a commit with the round's BLS signature (48 bytes, compressed G1).
pub fn decrypt(commit: &[u8], signature: &[u8]) -> Result<Payload, TimelockError> {
    let ciphertext = from_chain_layout(commit)?;
    let signature = <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature)
        .map_err(|e| TimelockError::Format(format!("signature: {e:?}")))?;
    let plain = tld::<TinyBLS381, AESGCMBlockCipherProvider>(ciphertext, signature)
        .map_err(|e| TimelockError::Decrypt(format!("{e:?}")))?;
    Payload::decode(&mut &plain[..]).map_err(|e| TimelockError::Format(format!("payload: {e}")))
}

/// The chain's layout: U (G2, compressed), then v, w, body and cipher suite each as a u64
/// little-endian length and the bytes (ark-serialize of the `Vec<u8>` fields the chain has).
fn chain_layout(c: &TLECiphertext<TinyBLS381>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    c.header
        .u
        .serialize_compressed(&mut out)
        .map_err(|e| format!("{e:?}"))?;
    for field in [&c.header.v[..], &c.header.w[..], &c.body, &c.cipher_suite] {
        out.extend_from_slice(&(field.len() as u64).to_le_bytes());
        out.extend_from_slice(field);
    }
    Ok(out)
}

fn from_chain_layout(bytes: &[u8]) -> Result<TLECiphertext<TinyBLS381>, TimelockError> {
    let bad = |what: &str| TimelockError::Format(what.to_string());
    let mut rest = bytes;
    let u = <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(&mut rest)
        .map_err(|e| TimelockError::Format(format!("header point: {e:?}")))?;
    let mut field = |name: &str| -> Result<Vec<u8>, TimelockError> {
        let len_bytes: [u8; 8] = rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(name))?;
        let len = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| bad(name))?;
        let value = rest
            .get(8..8usize.saturating_add(len))
            .ok_or_else(|| bad(name))?
            .to_vec();
        rest = &rest[8 + len..];
        Ok(value)
    };
    let v: [u8; 32] = field("v")?
        .try_into()
        .map_err(|_| bad("v is not 32 bytes"))?;
    let w: [u8; 32] = field("w")?
        .try_into()
        .map_err(|_| bad("w is not 32 bytes"))?;
    let body = field("body")?;
    let cipher_suite = field("cipher suite")?;
    if !rest.is_empty() {
        return Err(bad("bytes after the ciphertext"));
    }
    Ok(TLECiphertext {
        header: IbeHeader { u, v, w },
        body,
        cipher_suite,
    })
}

/// The quicknet round whose pulse is due `blocks_ahead` blocks from `now` (Unix seconds), as
/// the SDK computes it (at least 1).
pub fn round_after(now: f64, blocks_ahead: u64) -> u64 {
    let target = now + blocks_ahead as f64 * BLOCK_SECONDS;
    let round = ((target - QUICKNET_GENESIS as f64) / QUICKNET_PERIOD as f64).floor();
    if round < 1.0 {
        1
    } else {
        round as u64
    }
}

/// The first block at which a commit made at `block` is revealed, on runtimes before spec 423
/// (an epoch fires where `(block + netuid + 1) % (tempo + 1) == 0`; bittensor-drand 1.x).
pub fn reveal_block_modulo(
    block: u64,
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
) -> Result<u64, TimelockError> {
    if tempo == 0 {
        return Err(TimelockError::NoEpochs);
    }
    let (shift, span) = (u64::from(netuid) + 1, u64::from(tempo) + 1);
    let reveal_epoch = (block + shift) / span + reveal_period_epochs;
    Ok((reveal_epoch * span).saturating_sub(shift))
}

/// A subnet's epoch bookkeeping at one block (spec 423 on: epochs are stateful).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochState {
    pub block: u64,
    pub tempo: u16,
    pub last_epoch_block: u64,
    /// A block an owner triggered an epoch for (0: none).
    pub pending_epoch_at: u64,
    pub epoch_index: u64,
    pub blocks_since_last_step: u64,
}

impl EpochState {
    /// Whether the epoch runs in `run_coinbase` at `block`.
    fn fires_at(&self, block: u64) -> bool {
        if self.tempo == 0 {
            return false;
        }
        (self.pending_epoch_at > 0 && block >= self.pending_epoch_at)
            || self.blocks_since_last_step > MAX_TEMPO
            || block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo)
    }

    /// The epoch index the reveal step sees at `block` (it runs before `run_coinbase`).
    fn epoch_seen_at(&self, block: u64) -> u64 {
        self.epoch_index + u64::from(self.fires_at(block))
    }

    /// The state after `run_coinbase` at `block`.
    fn after(mut self, block: u64) -> Self {
        self.blocks_since_last_step += 1;
        self.block = block;
        if self.fires_at(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.epoch_index += 1;
            self.blocks_since_last_step = 0;
        }
        self
    }
}

impl EpochState {
    /// The state at a later block (the chain's steps simulated), e.g. from the finalized
    /// block the state was read at to the best block a commit is made against.
    pub fn advanced_to(self, block: u64) -> Self {
        (self.block + 1..=block).fold(self, |state, b| state.after(b))
    }
}

/// The first block at which a commit included in the block after `head` is revealed, by
/// simulating the chain's epoch steps (spec 423 on).
pub fn reveal_block_stateful(
    head: EpochState,
    reveal_period_epochs: u64,
) -> Result<u64, TimelockError> {
    if head.tempo == 0 {
        return Err(TimelockError::NoEpochs);
    }
    let included = head.block + 1;
    let target = head.epoch_seen_at(included) + reveal_period_epochs;
    let budget = (reveal_period_epochs + 2) * (MAX_TEMPO + 1);
    let mut state = head;
    for block in included..=included + budget {
        if state.epoch_seen_at(block) == target {
            return Ok(block);
        }
        state = state.after(block);
    }
    Err(TimelockError::NoRevealBlock(budget))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(block: u64, tempo: u16, last: u64) -> EpochState {
        EpochState {
            block,
            tempo,
            last_epoch_block: last,
            pending_epoch_at: 0,
            epoch_index: 7,
            blocks_since_last_step: block - last,
        }
    }

    #[test]
    fn stateful_epochs_fire_every_tempo_blocks_from_the_last_one() {
        // Epochs at 1000, 1360, 1720, …: a commit in 1101 (epoch 7) reveals at the start of
        // epoch 8, the block whose coinbase fires it (1360).
        assert_eq!(reveal_block_stateful(state(1100, 360, 1000), 1), Ok(1360));
        assert_eq!(reveal_block_stateful(state(1100, 360, 1000), 2), Ok(1720));
        // Included exactly at an epoch block: the reveal step there already sees the new epoch.
        assert_eq!(reveal_block_stateful(state(1359, 360, 1000), 1), Ok(1720));
        // An owner-triggered epoch comes first.
        let pending = EpochState {
            pending_epoch_at: 1200,
            ..state(1100, 360, 1000)
        };
        assert_eq!(reveal_block_stateful(pending, 1), Ok(1200));
        assert_eq!(
            reveal_block_stateful(state(1100, 0, 1000), 1),
            Err(TimelockError::NoEpochs)
        );
    }

    #[test]
    fn modulo_epochs_match_bittensor_drand_1() {
        // netuid 24, tempo 360: epochs fire where (block + 25) % 361 == 0: 336, 697, 1058, …
        assert_eq!(reveal_block_modulo(400, 24, 360, 1), Ok(697));
        assert_eq!(reveal_block_modulo(400, 24, 360, 2), Ok(1058));
        assert_eq!(reveal_block_modulo(335, 24, 360, 1), Ok(336));
        assert_eq!(reveal_block_modulo(336, 24, 360, 1), Ok(697));
        assert_eq!(
            reveal_block_modulo(400, 24, 0, 1),
            Err(TimelockError::NoEpochs)
        );
    }

    #[test]
    fn rounds_count_from_quicknet_genesis() {
        let genesis = QUICKNET_GENESIS as f64;
        assert_eq!(round_after(genesis - 100.0, 0), 1);
        assert_eq!(round_after(genesis + 30.0, 0), 10);
        assert_eq!(round_after(genesis + 30.0, 1), 14);
    }

    #[test]
    fn a_commit_round_trips_and_its_layout_is_the_chains() {
        let payload = Payload {
            hotkey: vec![7; 32],
            uids: vec![0, 3],
            values: vec![65535, 12],
            version_key: 2000,
        };
        let commit = encrypt(&payload, 657_413).unwrap();
        // u (96) + four u64-prefixed fields: v, w (32 each), body (payload + 16-byte tag, with
        // its own length and nonce inside), cipher suite ("AES_GCM_").
        assert_eq!(commit.len(), payload.encode().len() + 244);
        assert!(commit.ends_with(b"AES_GCM_"));
        let signature = crate::hex::decode("b713718a38ae728dfd477991af2822e08d2f305e47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b").unwrap();
        assert_eq!(decrypt(&commit, &signature), Ok(payload.clone()));
        let other = encrypt(&payload, 657_414).unwrap();
        assert!(matches!(
            decrypt(&other, &signature),
            Err(TimelockError::Decrypt(_))
        ));
        assert!(matches!(
            decrypt(&commit[..200], &signature),
            Err(TimelockError::Format(_))
        ));
    }
}
