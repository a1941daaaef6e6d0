//! hw-x86-tpm under the real plugin host: against a real swtpm, cross-
//! checked with tpm2-tools, and against TPMs that misbehave.

// A test may panic: helpers outside `#[test]` functions too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod disk_key;
mod proxy;
mod swtpm;

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use osb_sdk::harness::{DeviceEndpoint, Harness, Running};
use serde_json::{Value, json};
use swtpm::{Swtpm, hex};

fn harness() -> Harness {
    Harness::for_crate(env!("CARGO_MANIFEST_DIR"), env!("CARGO_PKG_NAME"))
}

/// The plugin, its `tpm0` the simulator's raw port.
fn plugin_on(tpm: &Swtpm) -> Running {
    harness()
        .device_endpoint("tpm0", DeviceEndpoint::Tcp(tpm.addr()))
        .start()
        .expect("plugin starts")
}

fn sensor(plugin: &Running, id: &str) -> Value {
    plugin.call("read-sensor", json!({"id": id})).unwrap()
}

/// A sha256 PCR as the plugin reads it: eight words, put back together.
fn pcr(plugin: &Running, index: u32) -> [u8; 32] {
    let mut digest = Vec::new();
    for w in 0..8 {
        let answer = sensor(plugin, &format!("pcr:{index}:{w}"));
        let word = answer["ok"].as_f64().unwrap_or_else(|| panic!("{answer}"));
        assert!(word.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&word));
        digest.extend_from_slice(&(word as u32).to_be_bytes());
    }
    digest.try_into().unwrap()
}

fn extend(plugin: &Running, index: u32, digest: &[u8; 32]) -> Value {
    plugin
        .call(
            "set-control",
            json!({"id": "pcr-extend", "value": format!("{index}:{}", hex(digest))}),
        )
        .unwrap()
}

#[test]
fn random_bytes_differ_call_to_call() {
    let Some(tpm) = Swtpm::start() else { return };
    let plugin = plugin_on(&tpm);
    let mut seen = Vec::new();
    for _ in 0..5 {
        let answer = sensor(&plugin, "random");
        let n = answer["ok"].as_f64().unwrap_or_else(|| panic!("{answer}"));
        // Six bytes: a whole number below 2^48.
        assert!(n.fract() == 0.0 && (0.0..2f64.powi(48)).contains(&n), "{n}");
        seen.push(n as u64);
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 5, "random values repeat: {seen:?}");
}

#[test]
fn pcr_values_agree_with_tpm2_pcrread() {
    let Some(tpm) = Swtpm::start() else { return };
    tpm.pcrextend(16, &[7; 32]);
    let plugin = plugin_on(&tpm);
    for index in [0, 7, 16, 23] {
        assert_eq!(
            hex(&pcr(&plugin, index)),
            hex(&tpm.pcrread(index)),
            "PCR {index}"
        );
    }
    assert_ne!(pcr(&plugin, 16), [0; 32]);
}

#[test]
fn an_extend_by_one_is_seen_by_the_other() {
    let Some(tpm) = Swtpm::start() else { return };
    let plugin = plugin_on(&tpm);
    let before = tpm.pcrread(16);
    assert_eq!(extend(&plugin, 16, &[1; 32]), json!({"ok": null}));
    let after_plugin = tpm.pcrread(16);
    assert_ne!(
        after_plugin, before,
        "tpm2_pcrread sees the plugin's extend"
    );
    assert_eq!(pcr(&plugin, 16), after_plugin);

    tpm.pcrextend(16, &[2; 32]);
    let after_tools = pcr(&plugin, 16);
    assert_ne!(after_tools, after_plugin, "the plugin sees tpm2_pcrextend");
    assert_eq!(after_tools, tpm.pcrread(16));
}

#[test]
fn a_restarted_simulator_resets_pcrs() {
    let Some(tpm) = Swtpm::start() else { return };
    let plugin = plugin_on(&tpm);
    extend(&plugin, 16, &[3; 32]);
    assert_ne!(pcr(&plugin, 16), [0; 32]);
    // A reboot: the same state directory, a new port (the plugin's device
    // moves with it, as a new device config would say).
    let tpm = tpm.restart();
    let plugin = plugin_on(&tpm);
    assert_eq!(pcr(&plugin, 16), [0; 32]);
    assert_eq!(tpm.pcrread(16), [0; 32]);
}

#[test]
fn extends_outside_the_bank_are_refused_before_the_tpm() {
    // A scripted device with no script: any command sent would fail the
    // test with "no more responses" rather than "not 'N:HEX'".
    let plugin = harness()
        .device("tpm0", &[])
        .start()
        .expect("plugin starts");
    let answer = plugin
        .call(
            "set-control",
            json!({"id": "pcr-extend", "value": format!("24:{}", "00".repeat(32))}),
        )
        .unwrap();
    assert_eq!(answer["error"]["code"], "InvalidInput", "{answer}");
    let answer = sensor(&plugin, "pcr:0:8");
    assert_eq!(answer["error"]["code"], "InvalidInput", "{answer}");
}

/// TPM2_GetRandom of six bytes, as the plugin marshals it.
const GET_RANDOM_6: &[u8] = &[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 6];

/// A response header and body: tag NO_SESSIONS, `size` as given.
fn response(size: u32, code: u32, body: &[u8]) -> Vec<u8> {
    let mut r = vec![0x80, 0x01];
    r.extend_from_slice(&size.to_be_bytes());
    r.extend_from_slice(&code.to_be_bytes());
    r.extend_from_slice(body);
    r
}

fn random_ok() -> Vec<u8> {
    response(18, 0, &[0, 6, 1, 2, 3, 4, 5, 6])
}

#[test]
fn a_tpm_error_code_is_named_and_the_plugin_keeps_working() {
    let memory_full = response(10, 0x902, &[]);
    let plugin = harness()
        .device(
            "tpm0",
            &[(GET_RANDOM_6, &memory_full), (GET_RANDOM_6, &random_ok())],
        )
        .start()
        .expect("plugin starts");
    let answer = sensor(&plugin, "random");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("TPM_CC_GetRandom")
            && message.contains("0x00000902")
            && message.contains("OBJECT_MEMORY"),
        "{answer}"
    );
    assert_eq!(
        sensor(&plugin, "random"),
        json!({"ok": 0x0102_0304_0506_u64 as f64})
    );
}

#[test]
fn a_response_of_the_wrong_size_is_refused_and_the_plugin_keeps_working() {
    let mut long = random_ok();
    long.push(0);
    let truncated = response(18, 0, &[])[..9].to_vec();
    // Four bytes where six were asked: the plugin asks for the two missing.
    let get_random_2 = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x7b, 0, 2];
    let four = response(16, 0, &[0, 4, 1, 2, 3, 4]);
    let two = response(14, 0, &[0, 2, 5, 6]);
    let plugin = harness()
        .device(
            "tpm0",
            &[
                (GET_RANDOM_6, &long),
                (GET_RANDOM_6, &truncated),
                (GET_RANDOM_6, &four),
                (&get_random_2, &two),
            ],
        )
        .start()
        .expect("plugin starts");
    for expect in [
        "says 18 bytes, 19 arrived",
        "9 bytes, shorter than a response header",
    ] {
        let answer = sensor(&plugin, "random");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(answer["error"]["code"], "InvalidInput", "{answer}");
        assert!(
            message.contains("TPM_CC_GetRandom") && message.contains(expect),
            "{expect}: {answer}"
        );
    }
    assert_eq!(
        sensor(&plugin, "random"),
        json!({"ok": 0x0102_0304_0506_u64 as f64})
    );
}

#[test]
fn a_tpm_that_never_answers_ends_at_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf);
            held.push(stream);
        }
    });
    let plugin = harness()
        .device_endpoint("tpm0", DeviceEndpoint::Tcp(addr))
        .config("timeout_ms", "300")
        .start()
        .expect("plugin starts");
    let started = Instant::now();
    let answer = sensor(&plugin, "random");
    let took = started.elapsed();
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(answer["error"]["code"], "Unavailable", "{answer}");
    assert!(
        message.contains("TPM_CC_GetRandom") && message.contains("did not answer within 300 ms"),
        "{answer}"
    );
    assert!(took < Duration::from_millis(900), "{took:?}");

    // A timeout above the call's deadline: the deadline holds.
    let plugin = harness()
        .device_endpoint("tpm0", DeviceEndpoint::Tcp(addr))
        .config("timeout_ms", "60000")
        .timeout(Duration::from_millis(400))
        .start()
        .expect("plugin starts");
    let started = Instant::now();
    let answer = plugin.call("read-sensor", json!({"id": "random"}));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1200), "{took:?}: {answer:?}");
    let text = format!("{answer:?}");
    assert!(
        text.contains("did not answer") || text.contains("deadline"),
        "{text}"
    );
}

#[test]
fn the_device_contract_is_a_generic_amd64_board_with_a_tpm() {
    let plugin = harness()
        .device("tpm0", &[])
        .start()
        .expect("plugin starts");
    let answer = plugin.call("device-contract", Value::Null).unwrap();
    let contract: Value = serde_json::from_str(answer["ok"].as_str().unwrap()).unwrap();
    assert_eq!(contract["type"], "hw.device-type");
    assert_eq!(contract["slug"], "generic-amd64");
    assert_eq!(contract["data"]["arch"], "amd64");
    assert_eq!(contract["data"]["tpm"]["version"], "2.0");
}
