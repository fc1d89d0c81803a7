//! Announcing a miner's axon on the chain (`SubtensorModule.serve_axon`), as the SDK does
//! (`version_as_int`, protocol 4, placeholders 0), but only when something changed and the
//! subnet's `ServingRateLimit` allows it.

use std::net::IpAddr;

use subxt::utils::AccountId32;
use subxt_signer::sr25519::Keypair;

use super::calls::{self, ServeAxon};
use super::metagraph::AxonInfo;
use super::submit::{self, Inclusion, Wait};
use super::{subnet, Chain, ChainError};

/// Where the axon listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: u8,
    /// The software version announced (`version_as_int`).
    pub version: u32,
}

/// What `serve_axon` did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Served {
    /// The chain already has these values: nothing sent.
    Unchanged,
    /// Sent and included.
    Announced { inclusion: Inclusion },
}

/// Why the chain would refuse the announcement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AxonRefusal {
    #[error("{ip} cannot be announced: the chain refuses loopback, 255.255.255.255 and IPv6 ::1")]
    BadIp { ip: IpAddr },
    #[error("port 0 cannot be announced")]
    BadPort,
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered { hotkey: String, netuid: u16 },
    #[error("rate limited: the axon was announced at block {last} and subnet {netuid} allows once every {limit} blocks; retry at block {retry_at}")]
    RateLimited {
        last: u64,
        limit: u64,
        retry_at: u64,
        netuid: u16,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Refused(#[from] AxonRefusal),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The call's arguments: the address as an integer in a u128 with its type (4 or 6).
pub fn serve_axon_args(netuid: u16, endpoint: &Endpoint) -> Result<ServeAxon, AxonRefusal> {
    let (ip, ip_type) = match endpoint.ip {
        IpAddr::V4(v4) if v4.is_loopback() || v4.is_broadcast() => {
            return Err(AxonRefusal::BadIp { ip: endpoint.ip })
        }
        IpAddr::V6(v6) if v6.is_loopback() => return Err(AxonRefusal::BadIp { ip: endpoint.ip }),
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    };
    if endpoint.port == 0 {
        return Err(AxonRefusal::BadPort);
    }
    Ok(ServeAxon {
        netuid,
        version: endpoint.version,
        ip,
        port: endpoint.port,
        ip_type,
        protocol: endpoint.protocol,
        placeholder1: 0,
        placeholder2: 0,
    })
}

/// Whether the stored axon already says what we would send.
fn unchanged(stored: &AxonInfo, args: &ServeAxon) -> bool {
    stored.ip == args.ip
        && stored.port == args.port
        && stored.ip_type == args.ip_type
        && stored.protocol == args.protocol
        && stored.version == args.version
}

/// Announces the axon unless the chain already has it; refuses what the chain would refuse.
pub async fn serve_axon(
    chain: &Chain,
    hotkey: &Keypair,
    netuid: u16,
    endpoint: &Endpoint,
    wait: Wait,
) -> Result<Served, ServeError> {
    let args = serve_axon_args(netuid, endpoint)?;
    let at = chain.at_latest().await?;
    let account = AccountId32(hotkey.public_key().0);
    if subnet::try_fetch::<_, u16>(&at, "Uids", (netuid, account))
        .await?
        .is_none()
    {
        return Err(AxonRefusal::NotRegistered {
            hotkey: account.to_string(),
            netuid,
        }
        .into());
    }
    let stored: Option<AxonInfo> = subnet::try_fetch(&at, "Axons", (netuid, account)).await?;
    if let Some(stored) = &stored {
        if unchanged(stored, &args) {
            return Ok(Served::Unchanged);
        }
        let limit: u64 = subnet::fetch(&at, "ServingRateLimit", (netuid,)).await?;
        let retry_at = stored.block.saturating_add(limit);
        if stored.block != 0 && at.number() < retry_at {
            return Err(AxonRefusal::RateLimited {
                last: stored.block,
                limit,
                retry_at,
                netuid,
            }
            .into());
        }
    }
    let inclusion =
        submit::sign_and_watch(chain, &at, &calls::serve_axon(args), hotkey, wait).await?;
    Ok(Served::Announced { inclusion })
}
