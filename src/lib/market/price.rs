//! The price of a Focus video (spec §6.4, "Price, ERA"): $80 per focused hour × score at a
//! fixed $300 per TAO, capped at the day's budget.

use crate::chain::transfer::RAO_PER_TAO;

/// MAX_FOCUS_POINTS_PER_HOUR.
pub const POINTS_PER_HOUR: f64 = 80.0;
/// FIXED_TAO_USD_ESTIMATE.
pub const TAO_USD: f64 = 300.0;

/// `round(min(points / points_available_today, 1) × max_focus_tao, 5)` in rao, with
/// `points = hours × 80 × score` and `points_available_today = int(max_focus_tao × 300)`.
/// Rounding as Python's `round` (half to even).
pub fn price_rao(score: f64, duration_seconds: f64, max_focus_tao: f64) -> i64 {
    let points = duration_seconds / 3600.0 * POINTS_PER_HOUR * score;
    let available = (max_focus_tao * TAO_USD).trunc();
    if available <= 0.0 || available.is_nan() || !points.is_finite() || points <= 0.0 {
        return 0;
    }
    let tao = ((points / available).min(1.0) * max_focus_tao * 1e5).round_ties_even() / 1e5;
    (tao * RAO_PER_TAO as f64).round() as i64
}

/// The day's budget, `max_focus_tao`, in rao.
pub fn tao_to_rao(tao: f64) -> i64 {
    (tao * RAO_PER_TAO as f64).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_price_is_80_dollars_per_hour_times_score_at_300_per_tao() {
        // 30 min at score 0.6 with a 10 TAO budget: points 24, available 3000,
        // 24 / 3000 × 10 = 0.08 TAO.
        assert_eq!(price_rao(0.6, 1800.0, 10.0), 80_000_000);
        // Rounded to 5 decimals: 7 min at 0.37, budget 2: points 3.4533…, available 600,
        // × 2 = 0.0115111… → 0.01151 TAO.
        assert_eq!(price_rao(0.37, 420.0, 2.0), 11_510_000);
        // Capped at the budget.
        assert_eq!(price_rao(1.0, 3600.0 * 100.0, 2.0), 2_000_000_000);
        assert_eq!(price_rao(0.0, 600.0, 2.0), 0);
        assert_eq!(price_rao(0.5, 600.0, 0.0), 0);
    }
}
