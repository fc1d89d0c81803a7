//! The validator (`omega run-validator`): which miners to ask ([`query::sample_miners`], the
//! original's `get_random_uids`) and asking them ([`query::query_miners`]); each round judged
//! by the stages `validate`, `dedup` and `score` in process and committed as a unit through a
//! journal on disk ([`round`]); the moving averages and weights history ([`state`]); the loop
//! ([`run`]) and its metrics; the Focus marketplace's share of the weights ([`focus`]).

pub mod focus;
pub mod metrics;
pub mod query;
pub mod report;
pub mod round;
pub mod run;
pub mod state;
