//! The board's bootloader side under the harness, booted by the host's
//! reference power-on (`osb_hostos::bootenv`) over the same file: a good
//! update is committed, a bad one falls back once its boots run out, and a
//! hostile environment is refused naming its line and key, untouched.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use osb_hostos::bootenv::{BootDir, FILE_NAME, MAX_BYTES, PowerOn, Slot};
use osb_sdk::harness::{Harness, Running, conformance};
use serde_json::{Value, json};

/// The board with a bootloader over `boot`, a device provisioned on slot a.
fn board(boot: &Path) -> Running {
    BootDir::open(boot).unwrap().provision(Slot::A).unwrap();
    Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .config("boot_env", "/boot/boot.env")
        .grant_dir("/boot", boot)
        .start()
        .expect("the board starts under the harness")
}

fn state(board: &Running) -> Value {
    let answer = board.call("boot-state", Value::Null).unwrap();
    answer
        .get("ok")
        .cloned()
        .unwrap_or_else(|| panic!("{answer}"))
}

fn expect_state(
    board: &Running,
    booted: &str,
    next: &str,
    unconfirmed: bool,
    count: u32,
    from: Value,
) {
    assert_eq!(
        state(board),
        json!({
            "booted": booted,
            "next": next,
            "unconfirmed": unconfirmed,
            "boot_count": count,
            "boot_limit": 3,
            "rolled_back_from": from,
        })
    );
}

fn ok(board: &Running, function: &str, args: Value) {
    let answer = board.call(function, args).unwrap();
    assert_eq!(answer, json!({ "ok": null }), "{function}");
}

#[test]
fn a_good_update_boots_once_unconfirmed_then_is_committed() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    expect_state(&board, "A", "A", false, 0, Value::Null);
    ok(
        &board,
        "stage-boot",
        json!({ "slot": "B", "boot_limit": 3 }),
    );
    expect_state(&board, "A", "B", true, 0, Value::Null);

    let booted = osb_hostos::bootenv::boot(boot.path()).unwrap();
    assert_eq!(
        booted,
        PowerOn::Trying {
            slot: Slot::B,
            count: 1,
            limit: 3
        }
    );
    expect_state(&board, "B", "B", true, 1, Value::Null);
    ok(&board, "commit-boot", Value::Null);
    expect_state(&board, "B", "B", false, 0, Value::Null);
    assert_eq!(
        osb_hostos::bootenv::boot(boot.path()).unwrap(),
        PowerOn::Default(Slot::B)
    );
}

#[test]
fn a_bad_update_boots_until_its_count_runs_out_then_the_old_slot_is_back() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    ok(
        &board,
        "stage-boot",
        json!({ "slot": "B", "boot_limit": 3 }),
    );
    let boots: Vec<Slot> = (0..4)
        .map(|_| osb_hostos::bootenv::boot(boot.path()).unwrap().slot())
        .collect();
    assert_eq!(boots, [Slot::B, Slot::B, Slot::B, Slot::A]);
    expect_state(&board, "A", "A", false, 0, json!("B"));
    // Committing the old slot changes nothing; a new stage clears the
    // rollback.
    ok(&board, "commit-boot", Value::Null);
    ok(
        &board,
        "stage-boot",
        json!({ "slot": "B", "boot_limit": 3 }),
    );
    expect_state(&board, "A", "B", true, 0, Value::Null);
}

#[test]
fn a_stage_while_the_update_runs_unconfirmed_is_refused_and_changes_nothing() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    ok(
        &board,
        "stage-boot",
        json!({ "slot": "B", "boot_limit": 3 }),
    );
    osb_hostos::bootenv::boot(boot.path()).unwrap();
    let before = std::fs::read(boot.path().join(FILE_NAME)).unwrap();
    let refused = board
        .call("stage-boot", json!({ "slot": "A", "boot_limit": 3 }))
        .unwrap();
    assert_eq!(refused["error"]["code"], "InvalidInput", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the booted slot b is an unconfirmed update"),
        "{refused}"
    );
    assert_eq!(std::fs::read(boot.path().join(FILE_NAME)).unwrap(), before);
}

#[test]
fn a_hostile_environment_is_refused_naming_its_line_and_key_and_left_whole() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    let file = boot.path().join(FILE_NAME);
    for (content, expected) in [
        (
            "boot_slot=a\nfallback_slot=a\nupgrade_available=0\nbootcount=many\nbootlimit=3\n"
                .as_bytes()
                .to_vec(),
            "boot environment /boot/boot.env: line 4: bootcount: 'many' is not a number",
        ),
        (
            b"\x7fELF\x02\x01\x01\0garbage".to_vec(),
            "boot environment /boot/boot.env: line 1: '\\u{7f}ELF\\u{2}\\u{1}\\u{1}\\u{0}garbage' is not key=value",
        ),
        (
            b"bootcmd=\xff\xfe\n".to_vec(),
            "boot environment /boot/boot.env: line 1: not UTF-8 text",
        ),
        (
            vec![b'#'; 16 * MAX_BYTES],
            "boot environment /boot/boot.env: larger than 65536 bytes",
        ),
    ] {
        std::fs::write(&file, &content).unwrap();
        for (function, args) in [
            ("boot-state", Value::Null),
            ("stage-boot", json!({ "slot": "B", "boot_limit": 3 })),
            ("commit-boot", Value::Null),
        ] {
            let answer = board.call(function, args).unwrap();
            assert_eq!(
                answer["error"]["code"], "InvalidInput",
                "{function}: {answer}"
            );
            assert_eq!(answer["error"]["message"], expected, "{function}");
        }
        assert_eq!(
            std::fs::read(&file).unwrap(),
            content,
            "nothing half-written"
        );
        let entries: Vec<_> = std::fs::read_dir(boot.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "nothing staged beside it");
    }
}

#[test]
fn without_an_environment_the_board_has_no_bootloader_side() {
    let board = Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .start()
        .unwrap();
    let answer = board.call("boot-state", Value::Null).unwrap();
    assert_eq!(answer["error"]["code"], "Unsupported", "{answer}");
    let report = conformance::hardware_adapter(&board);
    assert!(report.passed(), "{report}");
    assert!(
        report
            .not_checked
            .contains(&"bootloader: none (boot-state answers unsupported)".to_owned()),
        "{report}"
    );
}

#[test]
fn the_conformance_suite_checks_the_bootloader_side() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    let report = conformance::hardware_adapter(&board);
    assert!(report.passed(), "{report}");
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "boot-state is a consistent state",
        "stage-boot refuses the booted slot",
        "stage-boot refuses a boot limit of 0",
        "stage-boot of the other slot shows in boot-state",
        "commit-boot is refused before the staged slot booted",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} not checked:\n{report}"
        );
    }

    // Booted into the staged slot, on trial: stage and commit are not
    // tried, the refusals still are.
    osb_hostos::bootenv::boot(boot.path()).unwrap();
    let report = conformance::hardware_adapter(&board);
    assert!(report.passed(), "{report}");
    assert!(
        report.not_checked.contains(
            &"bootloader: stage and commit (the running system is an unconfirmed update)"
                .to_owned()
        ),
        "{report}"
    );
}

#[test]
fn a_lying_bootloader_fails_the_check_that_names_it() {
    let boot = tempfile::tempdir().unwrap();
    let board = board(boot.path());
    // Counted boots with no update unconfirmed: no bootloader says so.
    std::fs::write(
        boot.path().join(FILE_NAME),
        "boot_slot=a\nfallback_slot=a\nupgrade_available=0\nbootcount=2\nbootlimit=3\nbooted_slot=a\nrolled_back_from=\n",
    )
    .unwrap();
    let report = conformance::hardware_adapter(&board);
    assert_eq!(
        report.failures(),
        ["boot-state is a consistent state: 2 boots counted with no update unconfirmed"],
        "{report}"
    );
}
