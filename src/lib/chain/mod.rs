//! The Bittensor chain layer. This folder will hold the chain client (subxt, wallets, the
//! metagraph, commit-reveal, transfer checks, `serve_axon`); today it holds the part that needs
//! no chain: the Python SDK's weight maths, exact to the SDK ([`weights`]).

pub mod weights;
