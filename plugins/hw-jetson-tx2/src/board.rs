//! Which board this is, from the device tree's `compatible`: NUL-separated
//! strings, most specific first (the carrier, the module, the SoC).

use thiserror::Error;

/// The device tree's `compatible`, at its host path (granted read-only).
pub const COMPATIBLE: &str = "/sys/firmware/devicetree/base/compatible";

/// Strings that only a TX2 lists: its module, or its SoC (every TX2
/// carrier lists the SoC, not always the module).
const TX2: [&str; 2] = ["nvidia,p3310-1000", "nvidia,tegra186"];

/// Why this is not known to be a TX2.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BoardError {
    #[error("cannot read the device tree's '{COMPATIBLE}' (is it granted?): {0}")]
    Unreadable(String),
    #[error(
        "not a Jetson TX2: the device tree's compatible is {0:?}, with neither nvidia,p3310-1000 nor nvidia,tegra186"
    )]
    NotTx2(String),
}

/// Reads the device tree and says whether it is a TX2's.
pub fn identify() -> Result<(), BoardError> {
    let compatible =
        std::fs::read(COMPATIBLE).map_err(|e| BoardError::Unreadable(e.to_string()))?;
    check(&compatible)
}

/// Whether `compatible` (the file's bytes) names a TX2.
pub fn check(compatible: &[u8]) -> Result<(), BoardError> {
    let strings = compatible
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(String::from_utf8_lossy);
    let mut listed = Vec::new();
    for string in strings {
        if TX2.contains(&string.as_ref()) {
            return Ok(());
        }
        listed.push(string.into_owned());
    }
    Err(BoardError::NotTx2(listed.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tx2_is_known_by_its_module_or_its_soc() {
        for compatible in [
            &b"nvidia,p2771-0000\0nvidia,tegra186\0"[..],
            b"nvidia,p2771-0000\0nvidia,p3310-1000\0",
            b"nvidia,tegra186",
        ] {
            assert_eq!(check(compatible), Ok(()), "{compatible:?}");
        }
    }

    #[test]
    fn another_board_is_named() {
        for (compatible, listed) in [
            (
                &b"raspberrypi,4-model-b\0brcm,bcm2711\0"[..],
                "raspberrypi,4-model-b brcm,bcm2711",
            ),
            (
                b"nvidia,p2972-0000\0nvidia,tegra194\0",
                "nvidia,p2972-0000 nvidia,tegra194",
            ),
            (b"nvidia,tegra1860\0", "nvidia,tegra1860"),
            (b"", ""),
        ] {
            assert_eq!(check(compatible), Err(BoardError::NotTx2(listed.into())));
        }
    }
}
