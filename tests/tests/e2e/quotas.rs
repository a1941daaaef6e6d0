//! Each plugin's quotas: what it can make the host keep (key-value data,
//! files under its grants, open handles, device channels) and how much CPU
//! it may spin. Each is enforced, and a hit is reported.

use std::os::unix::net::UnixListener;

use osb_plugin_host::host_api::device::DeviceEndpoint;
use osb_plugin_host::{CallError, LimitOverrides, PluginHost};
use osb_tests::Fixture;
use osb_tests::hostile::{
    HOSTILE, PROBE, Setup, apply, edited, plugin_error, probe_answers, requesting, rw_grant,
};

/// The number in `message` right after `after` (e.g. "stored 15 keys").
fn count_after(message: &str, after: &str) -> u64 {
    let rest = &message[message.find(after).unwrap_or_else(|| panic!("{message}")) + after.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number after {after:?} in {message}"))
}

#[test]
fn key_value_data_is_held_to_its_bytes_and_keys() {
    let fx = Fixture::new();
    // 64 KiB: each entry is a 4096-byte value under a 6-byte key.
    let host = Setup::mode("kv-fill")
        .grants("kv = true")
        .limits(LimitOverrides {
            kv_bytes: Some(64 << 10),
            ..LimitOverrides::default()
        })
        .start(&fx);
    let message = plugin_error(&apply(&host).unwrap());
    assert!(message.contains("too-large"), "{message}");
    assert_eq!(count_after(&message, "stored"), (64 << 10) / (4096 + 6));

    let fx = Fixture::new();
    let host = Setup::mode("kv-fill")
        .grants("kv = true")
        .limits(LimitOverrides {
            kv_keys: Some(5),
            ..LimitOverrides::default()
        })
        .start(&fx);
    let message = plugin_error(&apply(&host).unwrap());
    assert_eq!(count_after(&message, "stored"), 5, "{message}");
    probe_answers(&host);
}

/// A host with the hostile plugin granted `grant` read-write.
fn fs_host(
    fx: &Fixture,
    grant: &std::path::Path,
    mode: &str,
    limits: LimitOverrides,
) -> PluginHost {
    let pkg = edited(fx, "pkg", requesting(grant));
    Setup::mode(mode)
        .grants(&rw_grant(grant))
        .config(&[("bytes", "4194304")])
        .limits(limits)
        .package(pkg)
        .start(fx)
}

#[test]
fn files_under_a_grant_are_held_to_their_bytes_counting_what_is_there() {
    let fx = Fixture::new();
    let grant = fx.path().join("grant");
    std::fs::create_dir_all(&grant).unwrap();
    // 256 KiB there already, of a 1 MiB quota.
    std::fs::write(grant.join("old"), vec![1u8; 256 << 10]).unwrap();
    let limits = LimitOverrides {
        fs_bytes: Some(1 << 20),
        ..LimitOverrides::default()
    };
    let host = fs_host(&fx, &grant, "fill", limits);
    // Asked to write 4 MiB in 64 KiB pieces: refused past 768 KiB (the
    // guest's libc reports a failed stream write as EIO).
    let message = plugin_error(&apply(&host).unwrap());
    assert_eq!(count_after(&message, "wrote"), 768 << 10, "{message}");
    let on_disk = std::fs::metadata(grant.join("fill")).unwrap().len();
    assert!(on_disk <= 768 << 10, "{on_disk} bytes on disk");
    probe_answers(&host);
}

#[test]
fn entries_under_a_grant_are_held_to_their_number() {
    let fx = Fixture::new();
    let grant = fx.path().join("grant");
    std::fs::create_dir_all(grant.join("sub")).unwrap();
    let limits = LimitOverrides {
        fs_entries: Some(10),
        ..LimitOverrides::default()
    };
    let host = fs_host(&fx, &grant, "files", limits);
    let message = plugin_error(&apply(&host).unwrap());
    assert!(message.contains("StorageFull"), "{message}");
    // `sub` was there: nine more.
    assert_eq!(count_after(&message, "created"), 9, "{message}");
    assert_eq!(std::fs::read_dir(&grant).unwrap().count(), 10);
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn open_handles_are_held_to_their_number_and_given_back() {
    let fx = Fixture::new();
    let grant = fx.path().join("grant");
    std::fs::create_dir_all(&grant).unwrap();
    let limits = LimitOverrides {
        handles: Some(16),
        ..LimitOverrides::default()
    };
    let host = fs_host(&fx, &grant, "open-many", limits);
    let err = apply(&host).unwrap_err();
    assert!(matches!(err, CallError::Handles { limit: 16, .. }), "{err}");
    // At most 16 files were opened; the discarded instance closed them.
    let opened = std::fs::read_dir(&grant).unwrap().count();
    assert!((1..=16).contains(&opened), "{opened}");
    let before = open_descriptors();
    // The next call gets a fresh instance, and hits the limit again.
    assert!(matches!(
        apply(&host).unwrap_err(),
        CallError::Handles { .. }
    ));
    assert!(
        open_descriptors() <= before + 2,
        "the discarded instance's files stay open"
    );
    probe_answers(&host);
}

#[test]
fn device_channels_are_held_to_their_number() {
    let fx = Fixture::new();
    let socket = fx.path().join("device.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let setup = Setup::mode("channels")
        .grants("device = [\"tpm0\"]")
        .config(&[("device", "tpm0")])
        .limits(LimitOverrides {
            channels: Some(3),
            ..LimitOverrides::default()
        });
    let mut settings = setup.settings(&fx);
    settings
        .devices
        .0
        .insert("tpm0".to_owned(), DeviceEndpoint::Socket(socket));
    let host = PluginHost::new(settings).unwrap();
    host.load(&fx.signed(HOSTILE, "plugins")).unwrap();
    host.load(&fx.signed(PROBE, "plugins")).unwrap();
    let message = plugin_error(&apply(&host).unwrap());
    assert!(
        message.contains("opened 3 channels") && message.contains("channels limit"),
        "{message}"
    );
    probe_answers(&host);
}

#[test]
fn spinning_just_under_the_deadline_on_every_call_counts_as_failing() {
    let fx = Fixture::new();
    // 600 ms of spinning per call under a 1 s deadline, with a budget of
    // 10 % of a core (1 s in 10 s).
    let host = Setup::mode("spin")
        .config(&[("ms", "600")])
        .limits(LimitOverrides {
            cpu_percent: Some(10),
            ..LimitOverrides::default()
        })
        .start(&fx);
    assert!(apply(&host).is_ok(), "the first call is within the budget");
    let mut errors = Vec::new();
    for _ in 0..12 {
        match apply(&host) {
            Ok(_) => {}
            Err(e @ CallError::Quarantined { .. }) => {
                errors.push(e);
                break;
            }
            Err(e) => errors.push(e),
        }
    }
    let first = errors.first().expect("the budget was never hit");
    assert!(
        matches!(
            first,
            CallError::CpuBudget {
                budget_ms: 1000,
                ..
            }
        ),
        "{first}"
    );
    assert!(first.to_string().contains("cpu_percent"), "{first}");
    assert!(
        matches!(errors.last(), Some(CallError::Quarantined { .. })),
        "{errors:?}"
    );
    probe_answers(&host);
}
