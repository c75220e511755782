//! The sampling knobs' one default and one validity rule each (DESIGN §8 defaults), shared by
//! every place that reads them — a preset's sections, the search strategies, the engine's
//! sampler and `ttc serve`'s requests — so a value valid in one is valid in all.

/// Sampling temperature when none is given (search-and-learn's and the paper's 0.8).
pub const DEFAULT_TEMPERATURE: f32 = 0.8;
/// Nucleus mass when none is given: the whole distribution.
pub const DEFAULT_TOP_P: f32 = 1.0;

/// A temperature is a finite number ≥ 0 (0: greedy).
pub fn check_temperature(t: f32) -> Result<(), String> {
    if t >= 0.0 && t.is_finite() {
        Ok(())
    } else {
        Err(format!(
            "temperature: {t} must be a finite number >= 0 (0 is greedy)"
        ))
    }
}

/// A top-p is in (0, 1].
pub fn check_top_p(p: f32) -> Result<(), String> {
    if p > 0.0 && p <= 1.0 {
        Ok(())
    } else {
        Err(format!("top_p: {p} must be in (0, 1]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_take_what_the_samplers_take() {
        for t in [0.0, DEFAULT_TEMPERATURE, 1.0, 2.5] {
            assert!(check_temperature(t).is_ok(), "{t}");
        }
        for t in [-0.1, f32::NAN, f32::INFINITY] {
            assert!(check_temperature(t).is_err(), "{t}");
        }
        for p in [0.1, DEFAULT_TOP_P] {
            assert!(check_top_p(p).is_ok(), "{p}");
        }
        for p in [0.0, -1.0, 1.01, f32::NAN] {
            assert!(check_top_p(p).is_err(), "{p}");
        }
    }
}
