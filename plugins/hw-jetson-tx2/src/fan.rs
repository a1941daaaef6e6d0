//! The fan: a PWM duty from 0 (off) to 255 (full), written to the pwm-fan
//! driver's target; the driver ramps to it.

use thiserror::Error;

/// The fan's target duty (granted read-write).
pub const TARGET: &str = "/sys/devices/pwm-fan/target_pwm";

/// Why the fan was not set.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FanError {
    #[error("the fan takes a PWM duty from 0 to 255, not {0:?}")]
    NotADuty(String),
    #[error("failed to write {duty} to '{TARGET}': {error}")]
    Write { duty: u8, error: String },
}

/// The duty `value` asks for: decimal digits only (no sign, no space), at
/// most 255.
pub fn parse(value: &str) -> Result<u8, FanError> {
    let digits = !value.is_empty() && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| FanError::NotADuty(value.chars().take(32).collect()))
}

/// Sets the fan to `value`.
pub fn set(value: &str) -> Result<u8, FanError> {
    let duty = parse(value)?;
    std::fs::write(TARGET, duty.to_string()).map_err(|e| FanError::Write {
        duty,
        error: e.to_string(),
    })?;
    Ok(duty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duty_is_a_whole_number_up_to_255() {
        for (value, expected) in [
            ("0", Some(0)),
            ("180", Some(180)),
            ("255", Some(255)),
            ("007", Some(7)),
            ("256", None),
            ("1000", None),
            ("-1", None),
            ("+5", None),
            (" 5", None),
            ("5\n", None),
            ("fast", None),
            ("", None),
            ("12.5", None),
        ] {
            assert_eq!(parse(value).ok(), expected, "{value:?}");
        }
        assert_eq!(
            parse("fast").unwrap_err().to_string(),
            "the fan takes a PWM duty from 0 to 255, not \"fast\""
        );
    }
}
