//! contrato's matching rules, one by one.

// Helpers outside #[test] fns unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use osb_contract::{Contract, check};

fn contract(json: &str) -> Contract {
    Contract::from_json_str(json).unwrap()
}

fn context() -> Contract {
    contract(
        r#"{
        "type": "meta.context", "slug": "device",
        "provides": [{ "type": "hw.peripheral", "slug": "gpu", "version": "10.2", "data": { "vendor": "nvidia" } }],
        "children": [
            { "type": "hw.device-type", "slug": "raspberrypi4-64", "version": "1", "aliases": ["rpi4"],
              "data": { "arch": "aarch64", "connectivity": { "wifi": true, "bluetooth": true },
                        "media": { "altBoot": ["usb_mass_storage", "network"] }, "ram": 4 },
              "children": [ { "type": "sw.os", "slug": "debian", "version": "bookworm" } ] },
            { "type": "sw.os", "slug": "balena-os", "version": "2.115.3" },
            { "type": "sw.l4t", "slug": "l4t", "version": "32.7.6" },
            { "type": "sw.kernel", "slug": "linux", "version": "v6" }
        ]
    }"#,
    )
}

fn holds(requires: &str) -> bool {
    let require = contract(&format!(
        r#"{{"type": "sw.block", "slug": "b", "requires": {requires}}}"#
    ));
    check(&context(), &require).holds()
}

#[test]
fn slugs_and_aliases() {
    assert!(holds(
        r#"[{"type": "hw.device-type", "slug": "raspberrypi4-64"}]"#
    ));
    assert!(holds(r#"[{"type": "hw.device-type", "slug": "rpi4"}]"#));
    assert!(!holds(r#"[{"type": "hw.device-type", "slug": "rpi3"}]"#));
    assert!(!holds(
        r#"[{"type": "arch.sw", "slug": "raspberrypi4-64"}]"#
    ));
}

#[test]
fn children_are_searched_recursively_but_not_the_context_itself() {
    assert!(holds(
        r#"[{"type": "sw.os", "slug": "debian", "version": "bookworm"}]"#
    ));
    assert!(!holds(r#"[{"type": "meta.context"}]"#));
}

#[test]
fn versions() {
    assert!(holds(
        r#"[{"type": "sw.os", "slug": "balena-os", "version": ">=2.100 <3"}]"#
    ));
    assert!(holds(
        r#"[{"type": "sw.os", "slug": "balena-os", "version": "^2.115.0"}]"#
    ));
    assert!(!holds(
        r#"[{"type": "sw.os", "slug": "balena-os", "version": "~2.114"}]"#
    ));
    assert!(holds(r#"[{"type": "sw.l4t", "version": "32.7.6"}]"#));
    assert!(holds(r#"[{"type": "sw.l4t", "version": ">=32.7 <32.8"}]"#));
    assert!(!holds(
        r#"[{"type": "sw.os", "slug": "debian", "version": "bullseye"}]"#
    ));
    // `v6` coerces to 6.0.0.
    assert!(holds(r#"[{"type": "sw.kernel", "version": ">=6"}]"#));
    // A provided entry's version counts too: `10.2` coerces to 10.2.0.
    assert!(holds(
        r#"[{"type": "hw.peripheral", "slug": "gpu", "version": "10.x"}]"#
    ));
    // No version at all never satisfies a version requirement.
    let unversioned =
        contract(r#"{"type": "c", "slug": "c", "children": [{"type": "sw.os", "slug": "x"}]}"#);
    let require =
        contract(r#"{"type": "b", "slug": "b", "requires": [{"type": "sw.os", "version": "*"}]}"#);
    assert!(!check(&unversioned, &require).holds());
}

#[test]
fn data_is_a_recursive_subset() {
    assert!(holds(
        r#"[{"type": "hw.device-type", "data": {"arch": "aarch64"}}]"#
    ));
    assert!(holds(
        r#"[{"type": "hw.device-type", "data": {"connectivity": {"wifi": true}}}]"#
    ));
    assert!(!holds(
        r#"[{"type": "hw.device-type", "data": {"connectivity": {"wifi": false}}}]"#
    ));
    assert!(!holds(
        r#"[{"type": "hw.device-type", "data": {"connectivity": {"lte": true}}}]"#
    ));
    assert!(holds(
        r#"[{"type": "hw.device-type", "data": {"media": {"altBoot": ["network"]}}}]"#
    ));
    assert!(!holds(
        r#"[{"type": "hw.device-type", "data": {"media": {"altBoot": ["sdcard"]}}}]"#
    ));
    assert!(holds(
        r#"[{"type": "hw.device-type", "data": {"ram": 4.0}}]"#
    ));
    assert!(!holds(
        r#"[{"type": "hw.device-type", "data": {"ram": "4"}}]"#
    ));
    assert!(holds(
        r#"[{"type": "hw.peripheral", "data": {"vendor": "nvidia"}}]"#
    ));
}

#[test]
fn groups() {
    assert!(holds(
        r#"[{"or": [{"type": "arch.sw"}, {"type": "sw.os", "slug": "debian"}]}]"#
    ));
    assert!(!holds(
        r#"[{"or": [{"type": "arch.sw"}, {"type": "sw.os", "slug": "fedora"}]}]"#
    ));
    assert!(holds(r#"[{"or": []}]"#));
    assert!(holds(r#"[{"not": [{"type": "sw.os", "slug": "fedora"}]}]"#));
    assert!(!holds(
        r#"[{"not": [{"type": "sw.os", "slug": "fedora"}, {"type": "sw.os", "slug": "debian"}]}]"#
    ));
    assert!(holds(
        r#"[{"or": [{"not": [{"type": "arch.sw"}]}, {"type": "x"}]}]"#
    ));
}

#[test]
fn requirements_of_the_required_contracts_children_count() {
    let require = contract(
        r#"{"type": "sw.app", "slug": "app", "requires": [{"type": "sw.os"}],
            "children": [{"type": "sw.block", "slug": "gpu-block", "requires": [{"type": "hw.peripheral", "slug": "tpu"}]}]}"#,
    );
    let report = check(&context(), &require);
    assert!(!report.holds());
    let failure = report.failures().next().unwrap();
    assert_eq!(failure.owner, "sw.block gpu-block");
    assert_eq!(failure.path, "descendant 0: requires[0]");
    assert_eq!(
        failure.reason,
        "no hw.peripheral tpu among: gpu@10.2 (provided by device)"
    );
}

#[test]
fn reports_say_why() {
    let require = contract(
        r#"{"type": "sw.block", "slug": "b", "requires": [
            {"type": "hw.device-type", "data": {"arch": "amd64"}},
            {"not": [{"type": "sw.os", "slug": "debian"}]},
            {"type": "sw.os", "slug": "balena-os"}
        ]}"#,
    );
    let report = check(&context(), &require);
    assert_eq!(
        report.to_string(),
        [
            r#"FAILED: sw.block b requires[0]: hw.device-type with data.arch "amd64": no hw.device-type with data.arch "amd64" among: raspberrypi4-64@1 (data.arch "aarch64")"#,
            "FAILED: sw.block b requires[1]: none of (sw.os debian): excluded sw.os debian is present: matched by debian@bookworm",
            "held: sw.block b requires[2]: sw.os balena-os: matched by balena-os@2.115.3",
        ]
        .join("\n")
    );
}
