//! balena's own contracts (`tests/fixtures/`) load and mean what their
//! authors meant.

// Helpers outside #[test] fns unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use osb_contract::{Contract, Requirement, check, check_children};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(kind: &str, dir: &str) -> Contract {
    let path = fixtures().join(kind).join(dir).join("contract.json");
    let bytes = std::fs::read(&path).unwrap();
    Contract::from_json(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A device as OSB would describe it: its device type and its arch.sw.
fn device(device_type: &str, arch: &str) -> Contract {
    let mut context = Contract::new("meta.context", "device");
    context.children = vec![load("hw.device-type", device_type), load("arch.sw", arch)];
    context
}

#[test]
fn every_fixture_loads() {
    let mut seen = 0;
    for kind in std::fs::read_dir(fixtures()).unwrap() {
        let kind = kind.unwrap().path();
        if !kind.is_dir() {
            continue;
        }
        for dir in std::fs::read_dir(&kind).unwrap() {
            let path = dir.unwrap().path().join("contract.json");
            let contract = Contract::from_json(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                contract.kind,
                kind.file_name().unwrap().to_str().unwrap(),
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 10);
}

#[test]
fn unknown_fields_are_kept() {
    let rpi = load("hw.device-type", "raspberrypi4-64");
    assert!(rpi.extra.contains_key("assets"));
    assert!(rpi.extra.contains_key("partials"));
    assert_eq!(rpi.data["arch"], "aarch64");
    let debian = load("sw.os", "debian");
    assert!(debian.extra.contains_key("variants"));
    assert_eq!(debian.version.as_deref(), Some("1"));
}

#[test]
fn balenaos_holds_on_an_aarch64_jetson() {
    let os = load("sw.os", "balenaos");
    assert!(matches!(os.requires.as_slice(), [Requirement::Or(arches)] if arches.len() == 5));
    let context = device("jetson-tx2", "aarch64");
    let report = check(&context, &os);
    assert!(report.holds(), "{report}");
    assert!(
        report.to_string().contains("matched by aarch64@1"),
        "{report}"
    );
    let consistent = check_children(&context);
    assert!(consistent.holds(), "{consistent}");
}

/// armv7hf is one of balenaOS's architectures, so the OS's own requirement
/// holds; what fails is the device description: an armv7hf userland needs
/// an armv7hf device type, and a Jetson TX2 is aarch64.
#[test]
fn armv7hf_on_a_jetson_fails_naming_the_requirement() {
    let os = load("sw.os", "balenaos");
    let context = device("jetson-tx2", "armv7hf");
    assert!(check(&context, &os).holds());
    let report = check_children(&context);
    assert!(!report.holds());
    let failure = report.failures().next().unwrap();
    assert_eq!(failure.owner, "arch.sw armv7hf@1");
    assert_eq!(failure.path, "requires[0]");
    assert_eq!(
        failure.requirement,
        r#"hw.device-type with data.arch "armv7hf""#
    );
    assert_eq!(
        failure.reason,
        r#"no hw.device-type with data.arch "armv7hf" among: jetson-tx2@1 (data.arch "aarch64")"#
    );
}

#[test]
fn balenaos_fails_without_one_of_its_architectures() {
    let os = load("sw.os", "balenaos");
    let mut context = Contract::new("meta.context", "device");
    context.children = vec![load("hw.device-type", "jetson-tx2")];
    let report = check(&context, &os);
    assert!(!report.holds());
    let text = report.to_string();
    assert!(
        text.starts_with(
            "FAILED: sw.os balena-os@2 requires[0]: one of (arch.sw armv7hf, arch.sw rpi"
        ),
        "{text}"
    );
    assert!(
        text.contains("no arch.sw in the context (it has: hw.device-type)"),
        "{text}"
    );

    let mut riscv = Contract::new("arch.sw", "riscv64");
    riscv.version = Some("1".into());
    context.children.push(riscv);
    let text = check(&context, &os).to_string();
    assert!(text.contains("no arch.sw amd64 among: riscv64@1"), "{text}");
}

#[test]
fn aarch64_requires_an_aarch64_device_type() {
    let arch = load("arch.sw", "aarch64");
    for (device_type, holds) in [
        ("jetson-tx2", true),
        ("jetson-tx2-nx-devkit", true),
        ("raspberrypi4-64", true),
        ("genericx86-64-ext", false),
        ("generic-amd64", false),
    ] {
        let mut context = Contract::new("meta.context", "device");
        context.children = vec![load("hw.device-type", device_type)];
        let report = check(&context, &arch);
        assert_eq!(report.holds(), holds, "{device_type}: {report}");
        if !holds {
            assert!(
                report.to_string().contains(&format!(
                    r#"no hw.device-type with data.arch "aarch64" among: {device_type}@1 (data.arch "amd64")"#
                )),
                "{report}"
            );
        }
    }
}

#[test]
fn amd64_and_armv7hf_match_only_their_device_types() {
    let amd64 = load("arch.sw", "amd64");
    let armv7hf = load("arch.sw", "armv7hf");
    for device_type in ["genericx86-64-ext", "generic-amd64"] {
        let mut context = Contract::new("meta.context", "device");
        context.children = vec![load("hw.device-type", device_type)];
        assert!(check(&context, &amd64).holds());
        assert!(!check(&context, &armv7hf).holds());
    }
    // No armv7hf device type among the fixtures: armv7hf holds on none.
    for device_type in ["jetson-tx2", "raspberrypi4-64"] {
        let mut context = Contract::new("meta.context", "device");
        context.children = vec![load("hw.device-type", device_type)];
        assert!(!check(&context, &armv7hf).holds());
        assert!(!check(&context, &amd64).holds());
    }
}

/// Debian's base contract needs the base images' blobs; its variants (not
/// expanded yet) would add the architectures.
#[test]
fn debian_needs_its_blobs() {
    let debian = load("sw.os", "debian");
    let bare = device("raspberrypi4-64", "aarch64");
    let report = check(&bare, &debian);
    assert_eq!(report.failures().count(), 4, "{report}");
    assert!(
        report.to_string().contains("sw.blob balena-idle"),
        "{report}"
    );

    let mut full = device("raspberrypi4-64", "aarch64");
    for blob in ["balena-idle", "balena-info", "balena-xbuild", "entry"] {
        full.children.push(Contract::new("sw.blob", blob));
    }
    let report = check(&full, &debian);
    assert!(report.holds(), "{report}");
}

/// A universe in contrato's tree form: children keyed by type, then slug.
#[test]
fn children_tree_form() {
    let tree = r#"{
        "type": "meta.universe", "slug": "universe",
        "children": {
            "hw": { "device-type": { "slug": "jetson-tx2", "type": "hw.device-type", "version": "1", "data": { "arch": "aarch64" } } },
            "arch": { "sw": {
                "aarch64": { "slug": "aarch64", "type": "arch.sw", "version": "1" },
                "amd64": { "slug": "amd64", "type": "arch.sw", "version": "1" }
            } }
        }
    }"#;
    let universe = Contract::from_json_str(tree).unwrap();
    assert_eq!(universe.descendants().len(), 3);
    assert!(check(&universe, &load("sw.os", "balenaos")).holds());
    assert!(check(&universe, &load("arch.sw", "aarch64")).holds());
}
