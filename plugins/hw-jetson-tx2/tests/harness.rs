//! The plugin under the real host, through the SDK harness, on a fake TX2:
//! `tests/fixture/tx2` copied to a temporary directory, each of the
//! manifest's `fs` requests granted as the matching subtree of it. The
//! whole copy is compared before and after, so a write outside what a test
//! expects (beside a grant included) fails it.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use osb_sdk::harness::{Harness, Running, conformance};
use serde_json::{Value, json};

/// The guest paths the manifest asks for (equal to their host paths).
const GRANTS: [&str; 7] = [
    "/sys/firmware/devicetree/base",
    "/sys/devices/virtual/thermal",
    "/etc/nvpmodel",
    "/sys/devices/system/cpu",
    "/sys/devices/17000000.gp10b/devfreq/17000000.gp10b",
    "/sys/kernel/nvpmodel_emc_cap",
    "/sys/devices/pwm-fan",
];

const CONF: &str = "etc/nvpmodel/nvpmodel_t186.conf";
// cpuN/cpufreq are links to their cluster's policy: the configuration's
// paths through cpu0 and cpu1 land here.
const A57: &str = "sys/devices/system/cpu/cpufreq/policy0/scaling_";
const DENVER: &str = "sys/devices/system/cpu/cpufreq/policy1/scaling_";
const GPU: &str = "sys/devices/17000000.gp10b/devfreq/17000000.gp10b/";
const EMC: &str = "sys/kernel/nvpmodel_emc_cap/emc_iso_cap";
const FAN: &str = "sys/devices/pwm-fan/target_pwm";

/// A copy of the fake TX2 that the test may change.
struct Board {
    root: tempfile::TempDir,
}

impl Board {
    /// The fixture, with the thermal zones renumbered in the order `zones`
    /// gives (zone `i` of the fixture becomes `thermal_zone{zones[i]}`).
    fn new(zones: &[usize; 8]) -> Board {
        let root = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/tx2");
        copy_tree(&fixture, root.path());
        let thermal = root.path().join("sys/devices/virtual/thermal");
        for i in 0..8 {
            std::fs::rename(
                thermal.join(format!("thermal_zone{i}")),
                thermal.join(format!("moving{i}")),
            )
            .unwrap();
        }
        for (i, to) in zones.iter().enumerate() {
            std::fs::rename(
                thermal.join(format!("moving{i}")),
                thermal.join(format!("thermal_zone{to}")),
            )
            .unwrap();
        }
        Board { root }
    }

    fn tx2() -> Board {
        Board::new(&[5, 2, 7, 0, 3, 6, 1, 4])
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn write(&self, relative: &str, contents: &str) {
        std::fs::write(self.path(relative), contents).unwrap();
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    /// Every file under the root, by relative path: a file's contents, a
    /// link's target (links are not followed).
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut pending = vec![self.root.path().to_owned()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let path = entry.path();
                let kind = entry.file_type().unwrap();
                let contents = if kind.is_dir() {
                    pending.push(path);
                    continue;
                } else if kind.is_symlink() {
                    let target = std::fs::read_link(&path).unwrap();
                    format!("-> {}", target.display()).into_bytes()
                } else {
                    std::fs::read(&path).unwrap()
                };
                let relative = path.strip_prefix(self.root.path()).unwrap();
                files.insert(relative.to_string_lossy().into_owned(), contents);
            }
        }
        files
    }

    /// The plugin on this board, every grant its subtree.
    fn start(&self) -> Result<Running, String> {
        GRANTS
            .iter()
            .fold(
                Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME")),
                |harness, guest| harness.grant_dir(guest, &self.path(&guest[1..])),
            )
            .start()
    }

    fn plugin(&self) -> Running {
        self.start().expect("the plugin starts on a TX2")
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), target).unwrap();
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The files that differ between `before` and `after`, with their new
/// contents (`None`: removed).
fn changed(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> BTreeMap<String, Option<String>> {
    let mut changed = BTreeMap::new();
    for (path, contents) in after {
        if before.get(path) != Some(contents) {
            changed.insert(
                path.clone(),
                Some(String::from_utf8_lossy(contents).into_owned()),
            );
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        changed.insert(path.clone(), None);
    }
    changed
}

fn expect(files: &[(&str, &str)]) -> BTreeMap<String, Option<String>> {
    files
        .iter()
        .map(|(path, contents)| ((*path).to_owned(), Some((*contents).to_owned())))
        .collect()
}

fn set(plugin: &Running, id: &str, value: &str) -> Value {
    plugin
        .call("set-control", json!({ "id": id, "value": value }))
        .unwrap()
}

/// The error's code and message; panics on an answer that is not one.
fn error(answer: &Value) -> (String, String) {
    (
        answer["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("an error: {answer}"))
            .to_owned(),
        answer["error"]["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_contract_is_the_jetson_tx2_device_types() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let answer = plugin.call("device-contract", Value::Null).unwrap();
    let contract: Value = serde_json::from_str(answer["ok"].as_str().unwrap()).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contract/tests/fixtures/hw.device-type/jetson-tx2/contract.json");
    let fixture: Value = serde_json::from_slice(&std::fs::read(fixture).unwrap()).unwrap();
    assert_eq!(contract, fixture);

    // A release requiring the TX2 (and its architecture) holds on it.
    let release = json!({
        "slug": "app", "version": "1.0.0", "type": "sw.release",
        "requires": [{ "type": "hw.device-type", "slug": "jetson-tx2", "data": { "arch": "aarch64" } }]
    });
    let mut device = osb_contract::Contract::new("sw.device", "device");
    device
        .children
        .push(osb_contract::Contract::from_json_str(&contract.to_string()).unwrap());
    let release = osb_contract::Contract::from_json_str(&release.to_string()).unwrap();
    assert!(osb_contract::check(&device, &release).holds());
    // And one for another architecture does not.
    let amd64 = json!({
        "slug": "app", "version": "1.0.0", "type": "sw.release",
        "requires": [{ "type": "hw.device-type", "data": { "arch": "amd64" } }]
    });
    let amd64 = osb_contract::Contract::from_json_str(&amd64.to_string()).unwrap();
    assert!(!osb_contract::check(&device, &amd64).holds());
}

#[test]
fn sensors_are_thermal_zones_by_name_whatever_their_index() {
    for zones in [
        [0, 1, 2, 3, 4, 5, 6, 7],
        [5, 2, 7, 0, 3, 6, 1, 4],
        [7, 6, 5, 4, 3, 2, 1, 0],
    ] {
        let board = Board::new(&zones);
        let plugin = board.plugin();
        let sensors = plugin.call("sensors", Value::Null).unwrap();
        let names: Vec<&str> = sensors["ok"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "BCPU-therm",
                "MCPU-therm",
                "GPU-therm",
                "PLL-therm",
                "Tboard_tegra",
                "Tdiode_tegra",
                "thermal-fan-est"
            ]
        );
        assert!(
            sensors["ok"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["unit"] == "°C")
        );
        for (name, celsius) in [
            ("BCPU-therm", 36.5),
            ("GPU-therm", 34.0),
            ("Tdiode_tegra", 33.75),
            ("thermal-fan-est", 35.1),
        ] {
            let answer = plugin.call("read-sensor", json!({ "id": name })).unwrap();
            assert_eq!(answer["ok"], json!(celsius), "{name} with zones {zones:?}");
        }
        // The PMIC's zone reads a constant: no sensor.
        let answer = plugin
            .call("read-sensor", json!({ "id": "PMIC-Die" }))
            .unwrap();
        let (code, message) = error(&answer);
        assert_eq!(code, "InvalidInput");
        assert!(message.starts_with("no sensor 'PMIC-Die'"), "{message}");
    }
}

#[test]
fn a_thermal_zone_reading_garbage_is_refused_naming_it() {
    let board = Board::tx2();
    let plugin = board.plugin();
    // BCPU-therm is the fixture's zone 0, renumbered to thermal_zone5.
    let temp = "sys/devices/virtual/thermal/thermal_zone5/temp";
    assert_eq!(board.read(&temp.replace("temp", "type")), "BCPU-therm\n");
    board.write(temp, "garbage\n");
    let before = board.files();
    let answer = plugin
        .call("read-sensor", json!({ "id": "BCPU-therm" }))
        .unwrap();
    let (code, message) = error(&answer);
    assert_eq!(code, "InvalidInput");
    assert_eq!(
        message,
        "'/sys/devices/virtual/thermal/thermal_zone5/temp' holds \"garbage\\n\", not millidegrees Celsius"
    );
    // The other zones still read.
    let answer = plugin
        .call("read-sensor", json!({ "id": "GPU-therm" }))
        .unwrap();
    assert_eq!(answer["ok"], json!(34.0));
    assert_eq!(changed(&before, &board.files()), expect(&[]));
}

#[test]
fn controls_are_the_confs_modes_and_the_fan() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let controls = plugin.call("controls", Value::Null).unwrap();
    assert_eq!(controls["ok"][0]["id"], "power-mode");
    assert_eq!(
        controls["ok"][0]["values"],
        json!([
            "MAXN",
            "MAXQ",
            "MAXP_CORE_ALL",
            "MAXP_CORE_ARM",
            "MAXP_CORE_DENVER"
        ])
    );
    assert_eq!(controls["ok"][1]["id"], "fan");
    assert_eq!(controls["ok"][1]["values"], json!([]));
}

#[test]
fn power_modes_write_exactly_their_files() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let boot = board.files();
    // Loading changed nothing: no mode was chosen yet.
    assert_eq!(changed(&Board::tx2().files(), &boot), expect(&[]));

    assert_eq!(set(&plugin, "power-mode", "MAXN"), json!({ "ok": null }));
    let maxn = board.files();
    assert_eq!(
        changed(&boot, &maxn),
        expect(&[
            (&format!("{A57}min_freq"), "0"),
            (&format!("{DENVER}min_freq"), "0"),
            (&format!("{GPU}min_freq"), "0"),
        ])
    );

    assert_eq!(set(&plugin, "power-mode", "MAXQ"), json!({ "ok": null }));
    let maxq = board.files();
    assert_eq!(
        changed(&maxn, &maxq),
        expect(&[
            (&format!("{A57}max_freq"), "1200000"),
            (&format!("{GPU}max_freq"), "850000000"),
            (EMC, "1331200000"),
            ("sys/devices/system/cpu/cpu1/online", "0"),
            ("sys/devices/system/cpu/cpu2/online", "0"),
        ])
    );

    // Back to MAXN: the highest listed frequencies for -1.
    assert_eq!(set(&plugin, "power-mode", "MAXN"), json!({ "ok": null }));
    assert_eq!(
        changed(&maxq, &board.files()),
        expect(&[
            (&format!("{A57}max_freq"), "2035200"),
            (&format!("{GPU}max_freq"), "1300500000"),
            (EMC, "0"),
            ("sys/devices/system/cpu/cpu1/online", "1"),
            ("sys/devices/system/cpu/cpu2/online", "1"),
        ])
    );
}

#[test]
fn the_chosen_mode_is_reapplied_at_start() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let boot = board.files();
    assert_eq!(set(&plugin, "power-mode", "MAXQ"), json!({ "ok": null }));
    let maxq = board.files();

    // The board reboots into its defaults; the plugin starts again on the
    // same kv store and takes it back to MAXQ.
    for (path, contents) in &boot {
        if !contents.starts_with(b"-> ") {
            std::fs::write(board.path(path), contents).unwrap();
        }
    }
    let plugin = plugin.restart().expect("the plugin starts again");
    assert_eq!(changed(&maxq, &board.files()), expect(&[]));

    // And again after another choice.
    assert_eq!(
        set(&plugin, "power-mode", "MAXP_CORE_DENVER"),
        json!({ "ok": null })
    );
    let denver = board.files();
    board.write("sys/devices/system/cpu/cpu3/online", "1\n");
    let _plugin = plugin.restart().expect("the plugin starts again");
    assert_eq!(changed(&denver, &board.files()), expect(&[]));
    assert_eq!(board.read("sys/devices/system/cpu/cpu3/online"), "0");
}

/// Sets MAXQ, replaces the configuration with `conf`, and asks for MAXN:
/// the answer's error, with the board still in MAXQ.
fn refused_with_conf(conf: &str) -> (String, String) {
    let board = Board::tx2();
    let plugin = board.plugin();
    assert_eq!(set(&plugin, "power-mode", "MAXQ"), json!({ "ok": null }));
    board.write(CONF, conf);
    let before = board.files();
    let answer = set(&plugin, "power-mode", "MAXN");
    assert_eq!(changed(&before, &board.files()), expect(&[]), "{answer}");
    error(&answer)
}

fn real_conf() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixture/tx2")
            .join(CONF),
    )
    .unwrap()
}

#[test]
fn a_conf_whose_default_is_an_unknown_mode_is_refused_by_line() {
    let (code, message) = refused_with_conf(
        &real_conf().replace("< PM_CONFIG DEFAULT=3 >", "< PM_CONFIG DEFAULT=9 >"),
    );
    assert_eq!(code, "InvalidInput");
    assert_eq!(
        message,
        "nvpmodel's configuration '/etc/nvpmodel/nvpmodel_t186.conf' line 107: PM_CONFIG DEFAULT=9 names no POWER_MODEL (ids: 0, 1, 2, 3, 4)"
    );
}

#[test]
fn an_unknown_mode_is_refused_naming_the_modes() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let before = board.files();
    let (code, message) = error(&set(&plugin, "power-mode", "TURBO"));
    assert_eq!(code, "InvalidInput");
    assert_eq!(
        message,
        "no power mode 'TURBO' in '/etc/nvpmodel/nvpmodel_t186.conf' (its modes are MAXN, MAXQ, MAXP_CORE_ALL, MAXP_CORE_ARM, MAXP_CORE_DENVER)"
    );
    assert_eq!(changed(&before, &board.files()), expect(&[]));
}

#[test]
fn a_missing_param_is_refused_by_line() {
    let (code, message) = refused_with_conf(&real_conf().replace(
        "CPU_DENVER MIN_FREQ 0\nCPU_DENVER MAX_FREQ -1",
        "CPU_DENVER MIN_FREQ 0\nCPU_BIG MAX_FREQ -1",
    ));
    assert_eq!(code, "InvalidInput");
    assert_eq!(
        message,
        "nvpmodel's configuration '/etc/nvpmodel/nvpmodel_t186.conf' line 50: no PARAM CPU_BIG is defined above (in \"CPU_BIG MAX_FREQ -1\")"
    );
}

#[test]
fn a_path_outside_the_grants_is_refused_by_line() {
    let conf = real_conf().replace(
        "< PARAM TYPE=CLOCK NAME=EMC >",
        "< PARAM TYPE=FILE NAME=GPU_RAILGATE >\nENABLE /sys/devices/17000000.gp10b/railgate_enable\n\n< PARAM TYPE=CLOCK NAME=EMC >",
    )
    .replace("EMC MAX_FREQ 0\n", "EMC MAX_FREQ 0\nGPU_RAILGATE ENABLE 0\n");
    let (code, message) = refused_with_conf(&conf);
    assert_eq!(code, "PermissionDenied");
    assert!(
        message.starts_with(
            "nvpmodel's configuration '/etc/nvpmodel/nvpmodel_t186.conf' line 34: '/sys/devices/17000000.gp10b/railgate_enable' is outside the sysfs directories this plugin may write"
        ),
        "{message}"
    );

    // A path that climbs out of a grant is outside it too.
    let conf = real_conf().replace(
        "MAX_FREQ /sys/kernel/nvpmodel_emc_cap/emc_iso_cap",
        "MAX_FREQ /sys/kernel/nvpmodel_emc_cap/../../devices/17000000.gp10b/railgate_enable",
    );
    let (code, message) = refused_with_conf(&conf);
    assert_eq!(code, "PermissionDenied");
    assert!(message.contains("line 34: "), "{message}");
}

#[test]
fn the_fan_takes_a_duty_from_0_to_255() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let before = board.files();
    assert_eq!(set(&plugin, "fan", "180"), json!({ "ok": null }));
    assert_eq!(changed(&before, &board.files()), expect(&[(FAN, "180")]));

    let before = board.files();
    for value in ["256", "fast", "-1", " 90", ""] {
        let (code, message) = error(&set(&plugin, "fan", value));
        assert_eq!(code, "InvalidInput");
        assert_eq!(
            message,
            format!("the fan takes a PWM duty from 0 to 255, not {value:?}")
        );
    }
    assert_eq!(changed(&before, &board.files()), expect(&[]));
    let (code, message) = error(&set(&plugin, "turbo", "on"));
    assert_eq!(code, "InvalidInput");
    assert_eq!(
        message,
        "no control 'turbo' (the controls are power-mode and fan)"
    );
}

#[test]
fn another_board_does_not_load() {
    let board = Board::tx2();
    board.write(
        "sys/firmware/devicetree/base/compatible",
        "raspberrypi,4-model-b\0brcm,bcm2711\0",
    );
    let error = board.start().err().expect("the plugin refuses to load");
    assert!(
        error.contains(
            "not a Jetson TX2: the device tree's compatible is \"raspberrypi,4-model-b brcm,bcm2711\""
        ),
        "{error}"
    );
}

#[test]
fn the_harness_refuses_a_grant_the_manifest_does_not_ask_for() {
    let board = Board::tx2();
    let error = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .grant_dir("/sys/class/gpio", board.root.path())
        .start()
        .err()
        .expect("an unasked grant is refused");
    assert_eq!(
        error,
        "grant_dir: the manifest asks for no fs '/sys/class/gpio'"
    );
}

#[test]
fn the_adapter_passes_the_conformance_suite() {
    let board = Board::tx2();
    let plugin = board.plugin();
    let before = board.files();
    let report = conformance::hardware_adapter(&plugin);
    assert!(report.passed(), "{report}");
    // The TX2's U-Boot environment is not driven yet: no bootloader side.
    assert_eq!(
        report.not_checked,
        [
            "control 'fan': free-form, no values to try",
            "bootloader: none (boot-state answers unsupported)"
        ]
    );
    // It set every mode in turn: only files beneath the read-write grants
    // changed, the last mode's.
    let changed = changed(&before, &board.files());
    assert!(
        changed.keys().all(|path| GRANTS[3..]
            .iter()
            .any(|grant| path.starts_with(&grant[1..]))),
        "{changed:?}"
    );
    assert_eq!(
        changed["sys/devices/system/cpu/cpu3/online"].as_deref(),
        Some("0"),
        "MAXP_CORE_DENVER, the last, takes the A57 cores but cpu0 offline"
    );
}
