//! Sampling miners and querying them: every answer becomes `responses` rows (an answer without
//! videos is one row with an empty `video_id`, which `validate` scores as an empty answer);
//! miners that did not answer (no 200, or no `video_metadata`) are the round's non-responders,
//! as in the original.

use std::time::Duration;

use crate::net::dendrite::{Dendrite, Target};
use crate::table::metagraph::MetagraphRow;
use crate::table::responses::ResponseRow;
use crate::uid::Uid;

/// Whether a neuron serves an axon (`AxonInfo.is_serving`: an address other than 0.0.0.0).
fn serving(row: &MetagraphRow) -> bool {
    row.axon_ip != "0.0.0.0" && row.axon_ip != "::" && row.axon_port > 0
}

/// The original's `get_random_uids`: up to `k` serving neurons, chosen at random, leaving out
/// the validator itself and validators (a permit with more than `vpermit_tao_limit` stake).
pub fn sample_miners<'a>(
    rows: &'a [MetagraphRow],
    me: &str,
    k: usize,
    vpermit_tao_limit: f64,
    rng: &mut fastrand::Rng,
) -> Vec<&'a MetagraphRow> {
    let mut candidates: Vec<&MetagraphRow> = rows
        .iter()
        .filter(|r| serving(r) && r.hotkey != me)
        .filter(|r| !(r.validator_permit && r.total_stake > vpermit_tao_limit))
        .collect();
    rng.shuffle(&mut candidates);
    candidates.truncate(k);
    candidates
}

/// What a round's queries gave.
#[derive(Debug, Default)]
pub struct Answers {
    /// One row per submitted video of every answer (an empty answer: one row, empty `video_id`).
    pub responses: Vec<ResponseRow>,
    /// Miners that did not answer.
    pub non_responders: Vec<Uid>,
    /// Every miner's reply status and time, for the round table.
    pub replies: Vec<(Uid, u16, f64)>,
}

/// Asks every miner `Videos(query, num_videos)` at once, each with `timeout`; answers are
/// labelled `{round}-{uid}`.
pub async fn query_miners(
    dendrite: &Dendrite,
    miners: &[&MetagraphRow],
    query: &str,
    num_videos: i64,
    timeout: Duration,
    round: &str,
) -> Answers {
    let asks = miners.iter().map(|m| {
        let target = Target {
            ip: m.axon_ip.clone(),
            port: u16::try_from(m.axon_port).unwrap_or(0),
            hotkey: m.hotkey.clone(),
        };
        async move { (m, dendrite.query(&target, query, num_videos, timeout).await) }
    });
    let mut answers = Answers::default();
    for (miner, reply) in subxt::ext::futures::future::join_all(asks).await {
        answers
            .replies
            .push((miner.uid, reply.status, reply.elapsed.as_secs_f64()));
        let videos = reply
            .synapse
            .filter(|_| reply.status == 200)
            .and_then(|s| s.video_metadata);
        let Some(videos) = videos else {
            answers.non_responders.push(miner.uid);
            continue;
        };
        let response_id = format!("{round}-{}", miner.uid);
        let row = |video_id: String| ResponseRow {
            response_id: response_id.clone(),
            miner_uid: Some(miner.uid),
            miner_hotkey: Some(miner.hotkey.clone()),
            query: query.to_string(),
            video_id,
            description: String::new(),
            views: 0,
            start_time: 0,
            end_time: 0,
            source: "youtube".into(),
            url: None,
            source_path: None,
            video_emb: None,
            audio_emb: None,
            description_emb: None,
        };
        if videos.is_empty() {
            answers.responses.push(row(String::new()));
        }
        // The validator keeps the first `num_videos` (the original's `replace_with_input`).
        for v in videos
            .into_iter()
            .take(usize::try_from(num_videos).unwrap_or(0))
        {
            answers.responses.push(ResponseRow {
                description: v.description,
                views: v.views,
                start_time: v.start_time,
                end_time: v.end_time,
                video_emb: Some(v.video_emb),
                audio_emb: Some(v.audio_emb),
                description_emb: Some(v.description_emb),
                ..row(v.video_id)
            });
        }
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neuron(uid: Uid, ip: &str, permit: bool, stake: f64) -> MetagraphRow {
        let port = if ip == "0.0.0.0" { 0 } else { 8091 };
        MetagraphRow::neuron(uid, &format!("hk{uid}"), ip, port, stake, permit)
    }

    #[test]
    fn only_serving_miners_are_sampled() {
        let rows = vec![
            neuron(0, "10.0.0.1", false, 0.0),
            neuron(1, "0.0.0.0", false, 0.0),
            neuron(2, "10.0.0.2", true, 5000.0),
            neuron(3, "10.0.0.3", true, 100.0),
            neuron(4, "10.0.0.4", false, 0.0),
        ];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut uids: Vec<Uid> = sample_miners(&rows, "hk4", 10, 4096.0, &mut rng)
            .iter()
            .map(|r| r.uid)
            .collect();
        uids.sort();
        assert_eq!(uids, [0, 3], "not 1 (no axon), 2 (a validator), 4 (itself)");
        assert_eq!(sample_miners(&rows, "hk4", 1, 4096.0, &mut rng).len(), 1);
    }
}
