//! The plugin under the real host, through the SDK harness: the state
//! directory is a temporary preopen, and a power cut between write and
//! rename never leaves a torn file.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use osb_sdk::harness::Harness;
use serde_json::{Value, json};

fn clock() -> osb_sdk::harness::Running {
    Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
        .start()
        .expect("plugin starts under the harness")
}

#[test]
fn observe_then_sample_gives_the_saved_lower_bound() {
    let plugin = clock();
    let saved = plugin
        .call(
            "observe",
            json!({ "seconds": 1_750_000_000, "nanoseconds": 5 }),
        )
        .unwrap();
    assert_eq!(saved, json!({ "ok": null }));
    let dir = plugin.fs_dir("/data").expect("manifest asks for /data");
    assert_eq!(
        std::fs::read_to_string(dir.join("fake-hwclock")).unwrap(),
        "1750000000\n"
    );

    let sample = plugin.call("sample", Value::Null).unwrap();
    assert_eq!(
        sample["ok"]["interval"]["earliest"]["seconds"],
        1_750_000_000
    );
    assert_eq!(sample["ok"]["interval"]["latest"], Value::Null);
}

#[test]
fn a_leftover_temporary_file_does_not_change_the_answer() {
    let plugin = clock();
    plugin
        .call(
            "observe",
            json!({ "seconds": 1_750_000_000, "nanoseconds": 0 }),
        )
        .unwrap();
    // A power cut after writing the temporary file, before the rename.
    let dir = plugin.fs_dir("/data").unwrap();
    std::fs::write(dir.join("fake-hwclock.tmp"), "17").unwrap();
    let sample = plugin.call("sample", Value::Null).unwrap();
    assert_eq!(
        sample["ok"]["interval"]["earliest"]["seconds"],
        1_750_000_000
    );
    // The next save replaces it cleanly.
    plugin
        .call(
            "observe",
            json!({ "seconds": 1_750_000_100, "nanoseconds": 0 }),
        )
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("fake-hwclock")).unwrap(),
        "1750000100\n"
    );
}
