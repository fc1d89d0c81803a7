//! `omega run-validator`'s loop: sync the metagraph when stale, pick a topic, sample and query
//! miners, judge the answers in process ([`super::round`]), commit the round, set weights every
//! epoch. Nothing in it stops for a slow or absent chain or miner: every call is bounded, a
//! failed chain call is counted, reported and retried at the next opportunity.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chain::set_weights::{self, Limits, Report, Sender};
use crate::chain::submit::Wait;
use crate::chain::wallet::WalletLocation;
use crate::chain::weights_file::RawWeights;
use crate::chain::{Chain, ConnectOptions};
use crate::hub::remote::Target;
use crate::hub::spool::Spool;
use crate::hub::{push, HubError, PushOptions};
use crate::index::VectorIndex;
use crate::net::dendrite::Dendrite;
use crate::signals::kill_point;
use crate::table::metagraph::MetagraphRow;
use crate::table::responses::ResponseRow;
use crate::table::weights::WeightRow;
use crate::table::TableWriter;
use crate::uid::Uid;

use super::metrics::ValidatorMetrics;
use super::query::{query_miners, sample_miners};
use super::round::{
    self, Judges, PhaseSeconds, Plan, Queried, Reply, RoundDir, RoundError, Sampled,
};
use super::state::{raw_weights, ValidatorState};

#[derive(Debug, thiserror::Error)]
pub enum ValidatorError {
    #[error(transparent)]
    Round(#[from] RoundError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no topics to ask about: {0}")]
    NoTopics(String),
    #[error("starting the network runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct ValidatorConfig {
    pub netuid: u16,
    /// State, index, spool, round journal (`work/`) and `rounds/`.
    pub data_dir: PathBuf,
    pub sample_size: usize,
    pub vpermit_tao_limit: f64,
    /// The miners' time to answer (the original hard-codes 120 s).
    pub timeout: Duration,
    pub num_videos: i64,
    /// Blocks between metagraph syncs and between weights.
    pub epoch_length: u64,
    /// Stop after this many rounds.
    pub rounds: Option<u64>,
    pub seed: Option<u64>,
    /// Compute and record weights, send nothing.
    pub dry_run_weights: bool,
    /// With no chain: the subnet's weight limits (n is the metagraph's size).
    pub offline_limits: (u16, u16),
    pub version_key: Option<u64>,
    pub wait: Wait,
    /// The Focus marketplace and its share of the weights (none: YouTube answers decide all).
    pub focus: Option<super::focus::FocusConfig>,
}

impl ValidatorConfig {
    pub fn work_dir(&self) -> PathBuf {
        self.data_dir.join("work")
    }
    pub fn rounds_dir(&self) -> PathBuf {
        self.data_dir.join("rounds")
    }
    pub fn state_path(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }
}

/// Where topics come from: a file, or a URL (the original's published sheet), re-read hourly.
#[derive(Debug, Clone)]
pub enum Topics {
    File(PathBuf),
    Url(String),
}

const TOPICS_RELOAD: Duration = Duration::from_secs(3600);

impl Topics {
    /// One topic per line, blank lines and `#` comments ignored (the original keeps blank
    /// lines, B19).
    pub fn load(&self, rt: &tokio::runtime::Runtime) -> Result<Vec<String>, String> {
        let text = match self {
            Topics::File(path) => {
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Topics::Url(url) => rt.block_on(async {
                let fetch = async {
                    reqwest::get(url.as_str())
                        .await?
                        .error_for_status()?
                        .text()
                        .await
                };
                match tokio::time::timeout(Duration::from_secs(30), fetch).await {
                    Ok(r) => r.map_err(|e| format!("{url}: {e}")),
                    Err(_) => Err(format!("{url}: no answer in 30 s")),
                }
            })?,
        };
        let topics = crate::ingest::topics::parse_topics(&text);
        if topics.is_empty() {
            return Err(format!("{self:?} holds no topic"));
        }
        Ok(topics)
    }
}

/// Where the neurons come from.
pub enum Neurons {
    /// An `omega metagraph` table: no chain at all.
    File(Vec<MetagraphRow>),
    /// The chain: re-read every epoch; the connection is made again after any error.
    Chain {
        options: ConnectOptions,
        chain: Option<Chain>,
        rows: Vec<MetagraphRow>,
        synced_at: Option<u64>,
    },
}

/// The accepted rows' way to the Hub: spooled every round, committed at `flush_at` rows
/// and on shutdown.
pub struct Publisher {
    pub spool: Spool,
    pub target: Box<dyn Target>,
    pub opts: PushOptions,
}

impl Publisher {
    /// Spools a round's accepted rows (a file spooled before adds nothing). Commit failures are
    /// reported and left for the next round: the rows stay spooled.
    fn publish(&self, scored: &str) -> Result<usize, HubError> {
        let spool_only = PushOptions {
            flush_at: Some(usize::MAX),
            ..self.opts.clone()
        };
        let keep_going = AtomicBool::new(false);
        let inputs = [scored.to_string()];
        push(
            &self.spool,
            self.target.as_ref(),
            &inputs,
            &spool_only,
            &keep_going,
        )?;
        kill_point("round-spooled");
        Ok(self.commit_due(false))
    }

    /// Commits what the spool holds when due (or everything with `all`); returns the rows left.
    fn commit_due(&self, all: bool) -> usize {
        let flag = AtomicBool::new(all);
        match push(&self.spool, self.target.as_ref(), &[], &self.opts, &flag) {
            Ok(report) => report.rows_pending,
            Err(e) => {
                tracing::warn!("committing the spool to {}: {e}; the rows stay spooled and are committed later", self.target.id());
                0
            }
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunReport {
    pub rounds: u64,
    pub resumed_round: Option<u64>,
    pub answers: usize,
    pub accepted: usize,
    pub weights_set: usize,
    pub weights_failed: usize,
    pub stopped_by_signal: bool,
    pub rows_pending: usize,
    /// Seconds spent in each phase, summed over the run's rounds.
    pub phase_seconds: PhaseSeconds,
}

pub struct Validator {
    pub cfg: ValidatorConfig,
    pub judges: Judges,
    pub dendrite: Dendrite,
    pub wallet: WalletLocation,
    /// The validator's hotkey (SS58): never sampled.
    pub me: String,
    pub topics: Topics,
    pub neurons: Neurons,
    pub index: Box<dyn VectorIndex>,
    pub publisher: Publisher,
    pub metrics: Arc<ValidatorMetrics>,
    state: ValidatorState,
    topic_list: Vec<String>,
    topics_loaded: Instant,
    rt: tokio::runtime::Runtime,
}

impl Validator {
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        cfg: ValidatorConfig,
        judges: Judges,
        dendrite: Dendrite,
        wallet: WalletLocation,
        me: String,
        topics: Topics,
        neurons: Neurons,
        index: Box<dyn VectorIndex>,
        publisher: Publisher,
    ) -> Result<Validator, ValidatorError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(ValidatorError::Runtime)?;
        let state_path = cfg.state_path();
        let state = ValidatorState::load(&state_path).map_err(|source| ValidatorError::Io {
            path: state_path,
            source,
        })?;
        let topic_list = topics.load(&rt).map_err(ValidatorError::NoTopics)?;
        Ok(Validator {
            cfg,
            judges,
            dendrite,
            wallet,
            me,
            topics,
            neurons,
            index,
            publisher,
            metrics: Arc::new(ValidatorMetrics::default()),
            state,
            topic_list,
            topics_loaded: Instant::now(),
            rt,
        })
    }

    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// Runs rounds until `--rounds` are done or `stop` is set; the spool is committed at the end.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<RunReport, ValidatorError> {
        let mut report = RunReport::default();
        if let Some(unfinished) = RoundDir::unfinished(&self.cfg.work_dir())? {
            tracing::info!(
                round = unfinished.round,
                "resuming the round a previous run left"
            );
            report.resumed_round = Some(unfinished.round);
            self.sync_neurons();
            self.finish_round(&unfinished, PhaseSeconds::default(), stop, &mut report)?;
        }
        while !stop.load(Ordering::SeqCst) && self.cfg.rounds.is_none_or(|n| report.rounds < n) {
            self.step(stop, &mut report)?;
        }
        report.stopped_by_signal = stop.load(Ordering::SeqCst);
        report.rows_pending = self.publisher.commit_due(true);
        Ok(report)
    }

    /// One round: plan, query, judge, commit, weights.
    fn step(&mut self, stop: &AtomicBool, report: &mut RunReport) -> Result<(), ValidatorError> {
        let rows = self.sync_neurons();
        if rows.is_empty() {
            tracing::warn!("no metagraph yet (the chain is not answering); retrying in 12 s");
            sleep_unless_stopped(Duration::from_secs(12), stop);
            return Ok(());
        }
        self.reload_topics();
        let round = RoundDir::new(&self.cfg.work_dir(), self.state.round + 1);
        let plan = self.plan(round.round, &rows);
        round.write_json("plan.json", &plan)?;
        let mut times = PhaseSeconds::default();
        let started = Instant::now();
        if !self.query(&round, &plan, &rows, stop)? {
            round.remove()?;
            return Ok(());
        }
        times.query = started.elapsed().as_secs_f64();
        self.read_focus(&round, &plan, &rows);
        kill_point("round-queried");
        self.finish_round(&round, times, stop, report)
    }

    /// Judges, commits and sets weights for a queried round. A stop between phases leaves the
    /// journal for the next start.
    fn finish_round(
        &mut self,
        round: &RoundDir,
        mut times: PhaseSeconds,
        stop: &AtomicBool,
        report: &mut RunReport,
    ) -> Result<(), ValidatorError> {
        if !round.has("query.json") {
            // Killed while asking: the answers are gone with the process; nothing was judged.
            round.remove()?;
            return Ok(());
        }
        let started = Instant::now();
        // A failed phase ends the run; the journal stays for the next start.
        round::judge(round, &mut self.judges, self.index.as_ref(), &mut times)?;
        if stop.load(Ordering::SeqCst) {
            tracing::info!(
                round = round.round,
                "stopping: the judged round is committed at the next start"
            );
            return Ok(());
        }
        let commit_started = Instant::now();
        let publisher = &self.publisher;
        let mut pending = 0;
        let mut publish = |scored: &str| -> Result<(), RoundError> {
            pending = publisher.publish(scored)?;
            Ok(())
        };
        let cfg = self.judges.validate.cfg.clone();
        let committed = round::commit(
            round,
            &mut self.state,
            self.index.as_mut(),
            &cfg,
            round::Sinks {
                rounds: &self.cfg.rounds_dir(),
                state_path: &self.cfg.state_path(),
                publish: &mut publish,
            },
        )?;
        times.commit = commit_started.elapsed().as_secs_f64();
        for m in &committed.miners {
            self.metrics.answer(m.outcome());
        }
        self.metrics.check_failures(committed.check_failures);
        self.metrics.sizes(self.index.len(), pending);
        report.rounds += 1;
        report.answers += committed.answers;
        report.accepted += committed.accepted;
        tracing::info!(
            round = round.round,
            answers = committed.answers,
            accepted = committed.accepted,
            indexed = committed.indexed,
            resumed_after_apply = !committed.applied,
            "round committed"
        );
        let weights_started = Instant::now();
        self.weights(round.round, report);
        times.weights = weights_started.elapsed().as_secs_f64();
        self.metrics
            .round(times, times.query + started.elapsed().as_secs_f64());
        report.phase_seconds.add(&times);
        Ok(())
    }

    fn plan(&self, round: u64, rows: &[MetagraphRow]) -> Plan {
        let mut rng = match self.cfg.seed {
            Some(seed) => {
                fastrand::Rng::with_seed(seed ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            }
            None => fastrand::Rng::new(),
        };
        let topic = self.topic_list[rng.usize(..self.topic_list.len())].clone();
        let sampled = sample_miners(
            rows,
            &self.me,
            self.cfg.sample_size,
            self.cfg.vpermit_tao_limit,
            &mut rng,
        )
        .into_iter()
        .map(|r| Sampled {
            uid: r.uid,
            hotkey: r.hotkey.clone(),
        })
        .collect();
        Plan {
            round,
            topic,
            sampled,
            started_unix: crate::hub::ids::unix_now() as f64,
        }
    }

    /// Asks the sampled miners; false when a stop came first (the round is dropped).
    fn query(
        &self,
        round: &RoundDir,
        plan: &Plan,
        rows: &[MetagraphRow],
        stop: &AtomicBool,
    ) -> Result<bool, ValidatorError> {
        let miners: Vec<&MetagraphRow> = plan
            .sampled
            .iter()
            .filter_map(|s| rows.iter().find(|r| r.uid == s.uid))
            .collect();
        let id = format!("r{}", round.round);
        let answers = self.rt.block_on(async {
            let ask = query_miners(
                &self.dendrite,
                &miners,
                &plan.topic,
                self.cfg.num_videos,
                self.cfg.timeout,
                &id,
            );
            tokio::select! {
                answers = ask => Some(answers),
                _ = wait_for(stop) => None,
            }
        });
        let Some(answers) = answers else {
            return Ok(false);
        };
        let path = round.path("responses.parquet");
        let mut writer = TableWriter::<ResponseRow>::create(&path.to_string_lossy())
            .map_err(RoundError::from)?;
        writer
            .write_rows(answers.responses)
            .map_err(RoundError::from)?;
        writer.finish().map_err(RoundError::from)?;
        let queried = Queried {
            replies: answers
                .replies
                .into_iter()
                .map(|(uid, status, seconds)| Reply {
                    uid,
                    status,
                    seconds,
                })
                .collect(),
        };
        round.write_json("query.json", &queried)?;
        Ok(true)
    }

    fn reload_topics(&mut self) {
        if self.topics_loaded.elapsed() < TOPICS_RELOAD {
            return;
        }
        match self.topics.load(&self.rt) {
            Ok(t) => self.topic_list = t,
            Err(e) => tracing::warn!("reloading topics: {e}; keeping the previous list"),
        }
        self.topics_loaded = Instant::now();
    }

    /// The metagraph, re-read from the chain when an epoch has passed; the moving averages
    /// follow it (changed hotkeys reset, growth). A failing chain keeps the last one.
    fn sync_neurons(&mut self) -> Vec<MetagraphRow> {
        let netuid = self.cfg.netuid;
        let epoch = self.cfg.epoch_length;
        let metrics = self.metrics.clone();
        let rows = match &mut self.neurons {
            Neurons::File(rows) => rows.clone(),
            Neurons::Chain {
                options,
                chain,
                rows,
                synced_at,
            } => {
                let fresh = self.rt.block_on(async {
                    let c = connected(chain, options).await?;
                    let block = c.at_latest().await?.number();
                    if !rows.is_empty() && synced_at.is_some_and(|s| block < s + epoch) {
                        return Ok(None);
                    }
                    let snap = crate::chain::metagraph::snapshot(c, netuid, None).await?;
                    Ok::<_, crate::chain::ChainError>(Some((block, snap.rows)))
                });
                match fresh {
                    Ok(Some((block, new))) => {
                        *rows = new;
                        *synced_at = Some(block);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        metrics.chain_error();
                        *chain = None;
                        tracing::warn!("reading the metagraph: {e}; keeping the last one");
                    }
                }
                rows.clone()
            }
        };
        let mut hotkeys = vec![
            String::new();
            rows.iter()
                .map(|r| usize::from(r.uid) + 1)
                .max()
                .unwrap_or(0)
        ];
        for r in &rows {
            hotkeys[usize::from(r.uid)] = r.hotkey.clone();
        }
        self.state.sync(&hotkeys);
        rows
    }

    /// Sets weights when due: every round without a chain (computed and recorded only), every
    /// `epoch_length` blocks with one. A failure is counted, reported and retried next round.
    fn weights(&mut self, round: u64, report: &mut RunReport) {
        let n = self.state.youtube.scores.len().max(self.neuron_count());
        let raw = raw_weights(&self.state.youtube.scores, self.focus_share(), n);
        let raw = RawWeights {
            uids: (0..n).map(|i| i as Uid).collect(),
            weights: raw.into_iter().map(|w| w.max(0.0)).collect(),
        };
        let outcome = match &mut self.neurons {
            Neurons::File(_) => {
                let (min_allowed_weights, max_weights_limit) = self.cfg.offline_limits;
                let limits = Limits {
                    n: n.min(usize::from(u16::MAX)) as u16,
                    min_allowed_weights,
                    max_weights_limit,
                };
                let r = set_weights::offline(
                    self.cfg.netuid,
                    &raw,
                    limits,
                    self.cfg.version_key.unwrap_or(0),
                );
                Some(r.map_err(|e| e.to_string()))
            }
            Neurons::Chain { options, chain, .. } => {
                let (netuid, epoch, last) = (
                    self.cfg.netuid,
                    self.cfg.epoch_length,
                    self.state.weights.last_block,
                );
                let sender = if self.cfg.dry_run_weights {
                    Sender::DryRunWallet(&self.wallet)
                } else {
                    Sender::Wallet(&self.wallet)
                };
                let (version_key, wait) = (self.cfg.version_key, self.cfg.wait);
                self.rt.block_on(async {
                    let run = async {
                        let c = connected(chain, options).await.map_err(|e| e.to_string())?;
                        let block = c.at_latest().await.map_err(|e| e.to_string())?.number();
                        if last.is_some_and(|l| block < l + epoch) {
                            return Ok(None);
                        }
                        set_weights::online(c, netuid, &raw, sender, version_key, wait)
                            .await
                            .map(Some)
                            .map_err(|e| e.to_string())
                    };
                    let r = run.await;
                    if r.is_err() {
                        *chain = None;
                    }
                    r.transpose()
                })
            }
        };
        let Some(outcome) = outcome else { return };
        self.record_weights(round, outcome, report);
    }

    /// The Focus scores and their share of the weights (spec §4.4–4.5), when a marketplace is
    /// configured.
    fn focus_share(&self) -> Option<(&[f64], f64)> {
        let focus = self.cfg.focus.as_ref()?;
        Some((&self.state.focus.scores, focus.share))
    }

    /// Reads the Focus marketplace for this round into the journal (`focus.json`); applied with
    /// the round. A marketplace that does not answer skips the round's Focus update, as the
    /// original does.
    fn read_focus(&self, round: &RoundDir, plan: &Plan, rows: &[MetagraphRow]) {
        let Some(cfg) = &self.cfg.focus else { return };
        let sampled: Vec<(Uid, String)> = plan
            .sampled
            .iter()
            .map(|s| (s.uid, s.hotkey.clone()))
            .collect();
        let everyone: Vec<(Uid, String)> = rows.iter().map(|r| (r.uid, r.hotkey.clone())).collect();
        match self
            .rt
            .block_on(super::focus::fetch(cfg, &sampled, &everyone))
        {
            Ok(rewards) => {
                if let Err(e) = round.write_json("focus.json", &rewards) {
                    tracing::warn!("recording the Focus purchases: {e}");
                }
            }
            Err(e) => tracing::warn!("the Focus marketplace: {e}; no Focus update this round"),
        }
    }

    fn neuron_count(&self) -> usize {
        match &self.neurons {
            Neurons::File(rows) | Neurons::Chain { rows, .. } => rows.len(),
        }
    }

    fn record_weights(
        &mut self,
        round: u64,
        outcome: Result<Report, String>,
        report: &mut RunReport,
    ) {
        let log = &mut self.state.weights;
        log.last_round = Some(round);
        match &outcome {
            Ok(r) => {
                let sent = !r.dry_run;
                let result = if sent { "set" } else { "computed" };
                self.metrics.weights(result);
                if sent {
                    log.last_block = r.inclusion.as_ref().map(|i| i.block_number).or(r.block);
                    report.weights_set += 1;
                } else if r.block.is_some() {
                    log.last_block = r.block;
                }
                if let Some(refusal) = &r.refusal {
                    tracing::warn!("the chain would refuse these weights: {refusal}");
                }
                log.failures = 0;
                log.last_error = None;
            }
            Err(e) => {
                self.metrics.weights("failed");
                self.metrics.chain_error();
                report.weights_failed += 1;
                log.failures += 1;
                log.last_error = Some(e.clone());
                tracing::warn!(
                    "setting weights after round {round}: {e}; retrying after the next round"
                );
            }
        }
        if let Err(e) = self.state.save(&self.cfg.state_path()) {
            tracing::warn!("writing the state: {e}");
        }
        if let Err(e) = write_weights(&self.cfg.rounds_dir(), round, &outcome) {
            tracing::warn!("writing the weights of round {round}: {e}");
        }
    }
}

/// The round table of weights: the u16 values sent (or that would be), with the outcome in
/// the file's metadata.
fn write_weights(
    dir: &Path,
    round: u64,
    outcome: &Result<Report, String>,
) -> Result<(), crate::table::TableError> {
    let path = dir.join(format!("weights-{round:08}.parquet"));
    let (rows, meta): (Vec<WeightRow>, Vec<(&str, String)>) = match outcome {
        Ok(r) => (
            r.uids
                .iter()
                .zip(&r.weights)
                .map(|(&uid, &w)| WeightRow {
                    uid,
                    weight: f64::from(w),
                })
                .collect(),
            vec![
                ("omega:round", round.to_string()),
                ("omega:weights_call", r.call_name.clone()),
                ("omega:weights_sent", (!r.dry_run).to_string()),
                (
                    "omega:block_number",
                    r.block.map(|b| b.to_string()).unwrap_or_default(),
                ),
                ("omega:refusal", r.refusal.clone().unwrap_or_default()),
            ],
        ),
        Err(e) => (
            Vec::new(),
            vec![
                ("omega:round", round.to_string()),
                ("omega:error", e.clone()),
            ],
        ),
    };
    let mut writer =
        TableWriter::<WeightRow>::create_with_metadata(&path.to_string_lossy(), &meta)?;
    writer.write_rows(rows)?;
    writer.finish()?;
    Ok(())
}

async fn connected<'a>(
    chain: &'a mut Option<Chain>,
    options: &ConnectOptions,
) -> Result<&'a Chain, crate::chain::ChainError> {
    if chain.is_none() {
        *chain = Some(Chain::connect(options).await?);
    }
    Ok(chain.as_ref().expect("connected above"))
}

async fn wait_for(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let started = Instant::now();
    while started.elapsed() < total && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
}
