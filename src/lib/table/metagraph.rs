//! The `metagraph` table, written by `omega metagraph` and read by `serve-miner` and
//! `run-validator` (`--metagraph FILE`) in place of a live chain.

use crate::uid::Uid;

/// File metadata keys: the block the metagraph was read at.
pub const BLOCK_NUMBER_KEY: &str = "omega:block_number";
pub const BLOCK_HASH_KEY: &str = "omega:block_hash";
pub const NETUID_KEY: &str = "omega:netuid";

crate::table! {
    /// One row per neuron of a subnet at one block (its number and hash are in the file's
    /// metadata, `omega:block_number` and `omega:block_hash`, with `omega:netuid`). Amounts are
    /// in TAO or alpha (1 = 10^9 rao); ratios are the chain's u16 values divided by 65535.
    pub struct MetagraphRow = "metagraph", version 1 {
        /// The neuron's UID.
        uid: Uid ["-"],
        /// Its hotkey (SS58, prefix 42).
        hotkey: String ["ss58"],
        /// The coldkey that owns the hotkey (SS58).
        coldkey: String ["ss58"],
        /// Stake in the subnet's alpha token.
        alpha_stake: f64 ["alpha"],
        /// Stake in TAO (root stake counted on the subnet).
        tao_stake: f64 ["TAO"],
        /// The stake the SDK's metagraph reports as `S`: alpha stake plus TAO stake weighted by the chain's `TaoWeight`.
        total_stake: f64 ["TAO"],
        /// Whether it may set weights (a validator permit).
        validator_permit: bool ["-"],
        /// Axon IPv4/IPv6 address as text; `0.0.0.0` when it serves none.
        axon_ip: String ["-"],
        /// Axon port (0 when none).
        axon_port: i64 ["-"],
        /// 4 or 6; 0 when none.
        axon_ip_type: i64 ["-"],
        /// Axon protocol number (the SDK announces 4).
        axon_protocol: i64 ["-"],
        /// The SDK version the axon announced (`version_as_int`).
        axon_version: i64 ["-"],
        /// Block of its last weights (`LastUpdate`).
        last_update: i64 ["block"],
        /// Incentive.
        incentive: f64 ["ratio"],
        /// Dividends.
        dividends: f64 ["ratio"],
        /// Trust.
        trust: f64 ["ratio"],
        /// Emission per tempo.
        emission: f64 ["alpha"],
        /// Whether the neuron is active.
        active: bool ["-"],
    }
}

impl MetagraphRow {
    /// A neuron with an IPv4 axon at `ip:port` (port 0: not serving) and `stake`, a validator
    /// permit when `permit`; every other number zero (tests, benchmarks, hand-made metagraphs).
    pub fn neuron(uid: Uid, hotkey: &str, ip: &str, port: u16, stake: f64, permit: bool) -> Self {
        MetagraphRow {
            uid,
            hotkey: hotkey.to_string(),
            coldkey: String::new(),
            alpha_stake: stake,
            tao_stake: 0.0,
            total_stake: stake,
            validator_permit: permit,
            axon_ip: ip.to_string(),
            axon_port: i64::from(port),
            axon_ip_type: 4,
            axon_protocol: 4,
            axon_version: 0,
            last_update: 0,
            incentive: 0.0,
            dividends: 0.0,
            trust: 0.0,
            emission: 0.0,
            active: true,
        }
    }
}
