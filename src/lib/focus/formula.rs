//! How the five Focus components become one score: every variant the original used, in the
//! order it used them (spec §6.2 "Combination", §6.3 step 6), exactly as given there.

/// The five components, in the spec's order:
/// `[task, task uniqueness, completion, description uniqueness, video uniqueness]`.
pub type Components = [Option<f64>; 5];

/// The coefficients of the weighted variants (`ef8ddc1`), in the order of [`Components`].
pub const COEFFICIENTS: [f64; 5] = [0.23, 0.16, 0.29, 0.14, 0.18];
/// FOCUS_VIDEO_MIN_SCORE and FOCUS_VIDEO_MAX_SCORE of the clamped variants (`aad3d35`).
pub const CLAMP: (f64, f64) = (0.05, 1.0);
/// A combined score below this is rejected.
pub const REJECT_BELOW: f64 = 0.1;

/// A combination rule (`omega focus-score --formula`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Formula {
    /// `(Π s_i)^(1/5)`: the README's equal-weight geometric mean (`0e78e31`…`9db14ae`).
    Equal,
    /// `(Π s_i^c_i)^(1/5)` (`5fd0724`).
    Weighted,
    /// As `weighted`, each `s_i` clamped to [0.05, 1] first (`aad3d35`).
    Clamped,
    /// `(Π clamp(s_i)^c_i)^(1/Σ c_i)` over the components that are not null (`55abf7c`).
    SkipNull,
    /// `skip-null` × the task's boost multiplier (`7f0571a`).
    Boosted,
    /// `completion × boost multiplier`: the network's latest code, where the other components
    /// are computed but not used.
    Head,
}

impl Formula {
    pub fn name(self) -> &'static str {
        match self {
            Formula::Equal => "equal",
            Formula::Weighted => "weighted",
            Formula::Clamped => "clamped",
            Formula::SkipNull => "skip-null",
            Formula::Boosted => "boosted",
            Formula::Head => "head",
        }
    }

    /// Which components the formula reads (the others need not be computed).
    pub fn uses(self) -> [bool; 5] {
        match self {
            Formula::Head => [false, false, true, false, false],
            _ => [true; 5],
        }
    }

    /// The combined score; `None` when a component this formula cannot do without is null.
    pub fn combine(self, s: &Components, boost: f64) -> Option<f64> {
        let clamp = |x: f64| x.clamp(CLAMP.0, CLAMP.1);
        let all = || -> Option<[f64; 5]> {
            let mut out = [0.0; 5];
            for (o, x) in out.iter_mut().zip(s) {
                *o = (*x)?;
            }
            Some(out)
        };
        match self {
            Formula::Equal => Some(all()?.iter().product::<f64>().powf(1.0 / 5.0)),
            Formula::Weighted => Some(weighted_product(&all()?).powf(1.0 / 5.0)),
            Formula::Clamped => Some(weighted_product(&all()?.map(clamp)).powf(1.0 / 5.0)),
            Formula::SkipNull => skip_null(s),
            Formula::Boosted => Some(skip_null(s)? * boost),
            Formula::Head => Some(s[2]? * boost),
        }
    }
}

fn weighted_product(s: &[f64; 5]) -> f64 {
    s.iter().zip(COEFFICIENTS).map(|(x, c)| x.powf(c)).product()
}

fn skip_null(s: &Components) -> Option<f64> {
    let used: Vec<(f64, f64)> = s
        .iter()
        .zip(COEFFICIENTS)
        .filter_map(|(x, c)| Some(((*x)?.clamp(CLAMP.0, CLAMP.1), c)))
        .collect();
    if used.is_empty() {
        return None;
    }
    let weight: f64 = used.iter().map(|(_, c)| c).sum();
    Some(
        used.iter()
            .map(|(x, c)| x.powf(*c))
            .product::<f64>()
            .powf(1.0 / weight),
    )
}

/// Why a combined score is rejected, or `None` when it is kept.
pub fn rejection(score: f64, rationale: Option<&str>) -> Option<String> {
    if score >= REJECT_BELOW {
        return None;
    }
    let mut reason = format!(
        "score {:.2}% is below the minimum of {:.0}%",
        score * 100.0,
        REJECT_BELOW * 100.0
    );
    if let Some(r) = rationale.filter(|r| !r.is_empty()) {
        reason.push_str(": ");
        reason.push_str(r);
    }
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a score");
        assert!((a - b).abs() < 1e-8, "{a} != {b}");
    }

    const S: Components = [Some(0.8), Some(0.5), Some(0.9), Some(0.02), Some(1.0)];

    // Worked by hand: ln of the components: ln .8 = -0.22314355, ln .5 = -0.69314718,
    // ln .9 = -0.10536052, ln .02 = -3.91202301, ln 1 = 0.
    #[test]
    fn equal_is_the_plain_geometric_mean() {
        // Σ ln = -4.93367426; / 5 = -0.98673485; exp = 0.37276...
        close(
            Formula::Equal.combine(&S, 2.0),
            (-4.93367426f64 / 5.0).exp(),
        );
        close(
            Formula::Equal.combine(&S, 1.0),
            (0.8f64 * 0.5 * 0.9 * 0.02).powf(0.2),
        );
    }

    #[test]
    fn weighted_raises_each_to_its_coefficient_then_takes_the_fifth_root() {
        // Σ c ln s = .23(-.22314355) + .16(-.69314718) + .29(-.10536052) + .14(-3.91202301) + 0
        //          = -.05132302 - .11090355 - .03055455 - .54768322 = -.74046434; / 5.
        close(
            Formula::Weighted.combine(&S, 1.0),
            (-0.740464342f64 / 5.0).exp(),
        );
    }

    #[test]
    fn clamped_lifts_tiny_components_to_0_05() {
        // 0.02 → 0.05: .14 ln .05 = .14(-2.99573227) = -.41940252;
        // Σ = -.05132302 - .11090355 - .03055455 - .41940252 = -.61218364.
        let got = Formula::Clamped.combine(&S, 1.0);
        close(got, (-0.612183642f64 / 5.0).exp());
    }

    #[test]
    fn skip_null_divides_by_the_coefficients_used() {
        let s = [Some(0.8), None, Some(0.9), Some(0.02), None];
        // Used: .23, .29, .14 (Σ .66); Σ c ln clamp(s) = -.05132302 - .03055455 - .41940252.
        let want = (-(0.051323017 + 0.030554551 + 0.419402518) / 0.66f64).exp();
        close(Formula::SkipNull.combine(&s, 1.0), want);
        close(Formula::Boosted.combine(&s, 1.5), want * 1.5);
        assert_eq!(Formula::SkipNull.combine(&[None; 5], 1.0), None);
        // All present: the same as clamped with the root Σ c = 1 instead of 5.
        close(
            Formula::SkipNull.combine(&S, 1.0),
            (-0.612183642f64 / 1.0).exp(),
        );
    }

    #[test]
    fn head_is_completion_times_the_boost() {
        close(Formula::Head.combine(&S, 1.5), 0.9 * 1.5);
        let no_completion = [Some(1.0), Some(1.0), None, Some(1.0), Some(1.0)];
        assert_eq!(Formula::Head.combine(&no_completion, 1.0), None);
    }

    #[test]
    fn formulas_without_skipping_need_every_component() {
        let s = [Some(0.8), None, Some(0.9), Some(0.5), Some(1.0)];
        for f in [Formula::Equal, Formula::Weighted, Formula::Clamped] {
            assert_eq!(f.combine(&s, 1.0), None, "{f:?}");
        }
    }

    #[test]
    fn scores_below_a_tenth_are_rejected_with_the_rationale() {
        assert_eq!(rejection(0.1, Some("x")), None);
        let r = rejection(0.0999, Some("idle screen")).unwrap();
        assert!(r.contains("9.99%") && r.ends_with("idle screen"), "{r}");
    }
}
