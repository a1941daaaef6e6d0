//! `osb boot plan` and `osb boot mount`: the extension store's overlays
//! stacked over a host directory with overlayfs for real, checked file by
//! file. Mounting needs root; elsewhere the test says so and passes.

// Test helpers outside #[test] functions: a failure is the test's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use osb_hostos::extensions::{ExtensionKind, ExtensionMeta, ExtensionStore, ImageDigest};

fn osb(args: &[&str], state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_osb"))
        .arg("boot")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("OSB_CONFIG")
        .output()
        .unwrap()
}

/// A tar of `files` (path, contents), with their directories.
fn archive(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut dirs = PathBuf::new();
        for part in Path::new(path).parent().unwrap().components() {
            dirs.push(part);
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_path(&dirs).unwrap();
            header.set_mode(0o755);
            header.set_size(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_cksum();
            tar.append(&header, &b""[..]).unwrap();
        }
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        tar.append(&header, data.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap()
}

fn install(
    store: &ExtensionStore,
    n: u8,
    kind: ExtensionKind,
    kernel: Option<&str>,
    files: &[(&str, &str)],
) {
    let digest = ImageDigest::parse(&format!("sha256:{}", format!("{n:02x}").repeat(32))).unwrap();
    let meta = ExtensionMeta {
        image: format!("os/ext{n}:1"),
        app: "os".to_owned(),
        block: format!("ext{n}"),
        kind,
        kernel_version: kernel.map(str::to_owned),
        kernel_abi: None,
    };
    store.install(&digest, meta, &archive(files)[..]).unwrap();
}

/// Unmounts when dropped, so a failed assertion leaves no mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn read(path: PathBuf) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

#[test]
fn the_boot_stack_is_mounted_as_planned() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let host = dir.path().join("host");
    for (path, data) in [
        ("sbin/init", "init"),
        ("etc/os-release", "host"),
        ("lib/firmware/fw.bin", "host firmware"),
    ] {
        let path = host.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let kernel = kernel.trim();
    let store = ExtensionStore::open(state.join("extensions")).unwrap();
    install(
        &store,
        1,
        ExtensionKind::Override { priority: 5 },
        None,
        &[("lib/firmware/fw.bin", "fixed")],
    );
    install(
        &store,
        2,
        ExtensionKind::Override { priority: 1 },
        None,
        &[("lib/firmware/fw.bin", "older fix"), ("etc/two", "two")],
    );
    install(
        &store,
        3,
        ExtensionKind::Plain,
        Some(kernel),
        &[
            ("lib/modules/extra.ko", "module"),
            ("etc/os-release", "not the host's"),
        ],
    );
    install(
        &store,
        4,
        ExtensionKind::Plain,
        Some("0.0.0-another"),
        &[("lib/other.ko", "other")],
    );
    let host_arg = host.to_str().unwrap();

    let out = osb(&["plan", "--json", "--host", host_arg], &state);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<&str> = plan["lower"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let source = l["source"].as_str().unwrap();
            &source[..source.len().min(9)]
        })
        .collect();
    assert_eq!(
        sources,
        ["sha256:01", "sha256:02", "host", "sha256:03"],
        "{plan}"
    );
    assert_eq!(plan["left_out"][0]["reason"], "kernel", "{plan}");
    assert_eq!(plan["left_out"][0]["image"], "os/ext4:1", "{plan}");

    let at = dir.path().join("root");
    std::fs::create_dir(&at).unwrap();
    let out = osb(
        &["mount", "--host", host_arg, "--at", at.to_str().unwrap()],
        &state,
    );
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Operation not permitted") || stderr.contains("No such device"),
            "{stderr}"
        );
        eprintln!("notice: this machine does not let the test mount overlayfs; skipped: {stderr}");
        return;
    }
    {
        let _mounted = Mounted(at.clone());
        // The highest override shadows the lower one and the host.
        assert_eq!(
            read(at.join("lib/firmware/fw.bin")).as_deref(),
            Some("fixed")
        );
        assert_eq!(read(at.join("etc/two")).as_deref(), Some("two"));
        // A plain extension adds files; the host's own win over it.
        assert_eq!(
            read(at.join("lib/modules/extra.ko")).as_deref(),
            Some("module")
        );
        assert_eq!(read(at.join("etc/os-release")).as_deref(), Some("host"));
        // Built for another kernel: not there.
        assert!(!at.join("lib/other.ko").exists());
        // Read-only: the boot's root is not written through the stack.
        assert!(std::fs::write(at.join("etc/new"), "x").is_err());
    }

    let out = osb(
        &[
            "mount",
            "--no-extensions",
            "--host",
            host_arg,
            "--at",
            at.to_str().unwrap(),
        ],
        &state,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _mounted = Mounted(at.clone());
    assert_eq!(
        read(at.join("lib/firmware/fw.bin")).as_deref(),
        Some("host firmware")
    );
    assert!(!at.join("lib/modules/extra.ko").exists());
    assert!(std::fs::write(at.join("etc/new"), "x").is_err());
    assert!(!host.join("etc/new").exists());
}
