//! The adapter's bootloader side through the host's typed calls
//! (`PluginHost::boot_state`, `stage_boot`, `commit_boot`), the board
//! booted by the reference power-on; and an adapter built against 0.1.0,
//! which has no bootloader side: `Unsupported`, and otherwise the adapter
//! it was.

use std::path::Path;

use osb_hostos::bootenv::{BootDir, PowerOn};
use osb_plugin_host::PluginHost;
use osb_plugin_host::kinds::hardware_adapter::{BootStatus, BootloaderError, Slot};
use osb_sdk::harness::{Harness, conformance};
use osb_tests::{Fixture, name, plugin_settings};

/// A host running the board, its bootloader over `boot` (provisioned on
/// slot a).
fn host(fx: &Fixture, package: &str, boot: &Path) -> PluginHost {
    BootDir::open(boot)
        .unwrap()
        .provision(osb_hostos::bootenv::Slot::A)
        .unwrap();
    let board_dir = fx.path().join("board");
    std::fs::create_dir_all(&board_dir).unwrap();
    let grants = format!(
        "fs = [{{ host = \"{}\", guest = \"/board\", mode = \"rw\" }}, \
               {{ host = \"{}\", guest = \"/boot\", mode = \"rw\" }}]",
        board_dir.display(),
        boot.display()
    );
    let mut settings = fx.settings();
    settings.plugins.insert(
        name(package),
        plugin_settings(&grants, &[("boot_env", "/boot/boot.env")]),
    );
    let host = PluginHost::new(settings).unwrap();
    let dir = fx.signed(package, package);
    // Point the manifest's requests at this test's directories.
    osb_tests::edit_manifest(&dir, |t| {
        t.replace("/var/lib/osb-test-board-boot", boot.to_str().unwrap())
            .replace("/var/lib/osb-test-board", board_dir.to_str().unwrap())
    });
    osb_tests::sign(&dir, &fx.key);
    host.load(&dir).unwrap();
    host
}

/// A status as JSON: the bindings' types compare by their serialization.
fn json(status: BootStatus) -> serde_json::Value {
    serde_json::to_value(status).unwrap()
}

fn status(booted: Slot, next: Slot, unconfirmed: bool, count: u32) -> BootStatus {
    BootStatus {
        booted,
        next,
        unconfirmed,
        boot_count: count,
        boot_limit: 2,
        rolled_back_from: None,
    }
}

#[test]
fn an_update_is_staged_booted_on_trial_and_committed_through_the_typed_calls() {
    let fx = Fixture::new();
    let boot = fx.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let host = host(&fx, "osb-test-board", &boot);
    let board = name("osb-test-board");

    host.stage_boot(&board, Slot::B, 2).unwrap();
    assert_eq!(
        json(host.boot_state(&board).unwrap()),
        json(status(Slot::A, Slot::B, true, 0))
    );
    assert!(matches!(
        osb_hostos::bootenv::boot(&boot).unwrap(),
        PowerOn::Trying { count: 1, .. }
    ));
    assert_eq!(
        json(host.boot_state(&board).unwrap()),
        json(status(Slot::B, Slot::B, true, 1))
    );
    host.commit_boot(&board).unwrap();
    assert_eq!(
        json(host.boot_state(&board).unwrap()),
        json(status(Slot::B, Slot::B, false, 0))
    );

    // A refusal is the adapter's error, named.
    let refused = host.stage_boot(&board, Slot::B, 2).unwrap_err();
    assert!(
        matches!(refused, BootloaderError::Plugin { .. }),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "adapter 'osb-test-board' failed stage-boot: invalid-input: cannot stage slot: \
         slot b is the booted slot; an update goes into the other one"
    );
}

#[test]
fn an_update_whose_boots_run_out_is_rolled_back_and_the_state_says_so() {
    let fx = Fixture::new();
    let boot = fx.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let host = host(&fx, "osb-test-board", &boot);
    let board = name("osb-test-board");

    host.stage_boot(&board, Slot::B, 2).unwrap();
    for _ in 0..3 {
        osb_hostos::bootenv::boot(&boot).unwrap();
    }
    assert_eq!(
        json(host.boot_state(&board).unwrap()),
        json(BootStatus {
            rolled_back_from: Some(Slot::B),
            ..status(Slot::A, Slot::A, false, 0)
        })
    );
}

#[test]
fn an_adapter_built_against_0_1_0_has_no_bootloader_side_and_is_otherwise_unchanged() {
    let fx = Fixture::new();
    let boot = fx.path().join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    let package = "osb-test-board-api-0-1-0";
    let host = host(&fx, package, &boot);
    let board = name(package);
    assert_eq!(host.info(&board).unwrap().api, "0.1.0");
    let before = std::fs::read(boot.join(osb_hostos::bootenv::FILE_NAME)).unwrap();
    for error in [
        host.boot_state(&board).map(drop),
        host.stage_boot(&board, Slot::B, 2),
        host.commit_boot(&board),
    ] {
        let error = error.unwrap_err();
        assert!(error.is_unsupported(), "{error:?}");
        assert_eq!(
            error.to_string(),
            "adapter 'osb-test-board-api-0-1-0' has no bootloader side: \
             built against osb:plugin 0.1.0, which has no bootloader side"
        );
    }
    // Its environment was never touched, though config and grants name it.
    assert_eq!(
        std::fs::read(boot.join(osb_hostos::bootenv::FILE_NAME)).unwrap(),
        before
    );
    // By name, as `osb plugin call` does: the same answer as an adapter
    // without one.
    let answer = host
        .call_json(&board, "boot-state", &serde_json::Value::Null)
        .unwrap();
    assert_eq!(answer["error"]["code"], "Unsupported", "{answer}");

    // And it passes the conformance suite as it did.
    let adapter = Harness::for_package(&osb_tests::package(package))
        .start()
        .unwrap();
    let report = conformance::hardware_adapter(&adapter);
    assert!(report.passed(), "{report}");
    assert!(
        report
            .not_checked
            .contains(&"bootloader: none (boot-state answers unsupported)".to_owned()),
        "{report}"
    );
}
