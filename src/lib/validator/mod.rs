//! The validator's side of the network (issue 13 builds `omega run-validator` on it): which
//! miners to ask ([`query::sample_miners`], the original's `get_random_uids`) and asking them
//! ([`query::query_miners`]), with the answers as `responses` rows that `validate`, `dedup` and
//! `score` already judge.

pub mod query;
