//! Bittensor's axon/dendrite wire protocol (`../shared/spec/bittensor.md` section 5): the
//! `Videos` synapse ([`synapse`]), request authentication in both schemes ([`auth`]), the
//! axon server with the SDK's checks ([`axon`]), the dendrite client ([`dendrite`]) and the
//! server metrics ([`metrics`]).

pub mod auth;
pub mod axon;
pub mod dendrite;
pub mod metrics;
pub mod synapse;
