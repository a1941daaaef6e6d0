//! The hysteresis: above `max` updates are held, and stay held until the
//! board is back at or below `resume`. Pure, table-tested.

use osb_sdk::Decision;

use crate::settings::Thresholds;

/// The decision at `reading` (millidegrees Celsius) when an update was
/// `holding` before, and whether one is held after.
pub fn decide(reading: i64, holding: bool, limits: &Thresholds) -> (Decision, bool) {
    let at = format!("board at {} °C", Celsius(reading, 1));
    let max = Celsius(limits.max, 0);
    let resume = Celsius(limits.resume, 0);
    if reading > limits.max {
        (Decision::reject(format!("{at}, above {max} °C")), true)
    } else if holding && reading > limits.resume {
        let why = format!("{at}, still above {resume} °C since it went above {max} °C");
        (Decision::reject(why), true)
    } else if holding {
        let why = format!("{at}, cooled to {resume} °C or below");
        (Decision::allow().with_reason(why), false)
    } else {
        let why = format!("{at}, not above {max} °C");
        (Decision::allow().with_reason(why), false)
    }
}

/// Millidegrees shown as degrees: with `decimals` (0 or 1) places, where
/// 0 still shows a fraction the value has (`79.5`).
struct Celsius(i64, usize);

impl std::fmt::Display for Celsius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Below 2^53 in magnitude (the readings are bounded, the limits
        // checked): exact as f64.
        let degrees = self.0 as f64 / 1000.0;
        match self.1 {
            0 => write!(f, "{degrees}"),
            places => write!(f, "{degrees:.places$}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(reading: i64, holding: bool, expect: (bool, &str, bool)) {
        let limits = Thresholds {
            max: 80_000,
            resume: 75_000,
        };
        let (decision, held) = decide(reading, holding, &limits);
        let reasons = decision.reasons.join("; ");
        assert_eq!(
            (decision.allow, reasons.as_str(), held),
            expect,
            "{reading} holding {holding}"
        );
    }

    #[test]
    fn holds_above_max_until_back_at_resume() {
        check(
            83_100,
            false,
            (false, "board at 83.1 °C, above 80 °C", true),
        );
        check(83_100, true, (false, "board at 83.1 °C, above 80 °C", true));
        check(
            80_001,
            false,
            (false, "board at 80.0 °C, above 80 °C", true),
        );
        check(
            80_000,
            false,
            (true, "board at 80.0 °C, not above 80 °C", false),
        );
        let still = "board at 78.0 °C, still above 75 °C since it went above 80 °C";
        check(78_000, true, (false, still, true));
        check(
            78_000,
            false,
            (true, "board at 78.0 °C, not above 80 °C", false),
        );
        check(
            75_000,
            true,
            (true, "board at 75.0 °C, cooled to 75 °C or below", false),
        );
        check(
            74_000,
            true,
            (true, "board at 74.0 °C, cooled to 75 °C or below", false),
        );
        check(
            -5_000,
            false,
            (true, "board at -5.0 °C, not above 80 °C", false),
        );
    }

    #[test]
    fn limits_show_their_fraction() {
        assert_eq!(Celsius(79_500, 0).to_string(), "79.5");
        assert_eq!(Celsius(80_000, 0).to_string(), "80");
        assert_eq!(Celsius(83_149, 1).to_string(), "83.1");
    }
}
