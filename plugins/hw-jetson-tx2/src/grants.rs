//! The paths this plugin may write: the read-write `fs` grants of its
//! manifest, which the plugin sees at their host paths. A path named by
//! nvpmodel's configuration must lie beneath one of them before anything
//! is written, so a configuration cannot steer the plugin at another file
//! (the host would refuse such a write anyway, but only once others in the
//! same switch were done).

use std::path::{Component, Path};

/// The manifest's read-write guest paths (a test checks they agree).
pub const WRITABLE: [&str; 4] = [
    "/sys/devices/system/cpu",
    "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b",
    "/sys/kernel/nvpmodel_emc_cap",
    "/sys/devices/pwm-fan",
];

/// Whether `path` is absolute, plain (no `.` or `..`) and beneath a
/// read-write grant.
pub fn writable(path: &str) -> bool {
    let path = Path::new(path);
    let plain = path
        .components()
        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    plain
        && path.is_absolute()
        && WRITABLE
            .iter()
            .any(|grant| path.starts_with(grant) && path != Path::new(grant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_beneath_a_read_write_grant_are_writable() {
        for (path, expected) in [
            ("/sys/devices/system/cpu/cpu1/online", true),
            (
                "/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq",
                true,
            ),
            (
                "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b/max_freq",
                true,
            ),
            ("/sys/kernel/nvpmodel_emc_cap/emc_iso_cap", true),
            ("/sys/devices/pwm-fan/target_pwm", true),
            ("/sys/devices/system/cpu", false),
            ("/sys/devices/system/cpufreq/boost", false),
            ("/sys/devices/17000000.gp10b/railgate_enable", false),
            ("/sys/devices/system/cpu/../../../etc/shadow", false),
            ("/sys/devices/system/cpu/./cpu1/online", true),
            ("sys/devices/system/cpu/cpu1/online", false),
            ("/sys/devices/gpu.0/power/control", false),
        ] {
            assert_eq!(writable(path), expected, "{path}");
        }
    }

    #[test]
    fn the_list_is_the_manifests() {
        let manifest = include_str!("../plugin.toml");
        let granted: Vec<&str> = manifest
            .lines()
            .filter(|line| line.contains("mode = \"rw\""))
            .filter_map(|line| line.split("guest = \"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(granted, WRITABLE);
    }
}
