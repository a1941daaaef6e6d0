use std::path::Path;

use super::{Slot, SlotError, Slots};
use crate::killed::{SlowReader, big_archive, child_dir, kill_child_when};
use crate::unpack::tests::Tar;

/// Every path beneath `root` with its content (a link's target, a file's
/// bytes), sorted: what "byte-identical" compares.
fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, prefix: &str, into: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                into.push((name.clone() + "/", Vec::new()));
                walk(&entry.path(), &format!("{name}/"), into);
            } else if kind.is_symlink() {
                let target = std::fs::read_link(entry.path()).unwrap();
                into.push((name, target.into_os_string().into_encoded_bytes()));
            } else {
                into.push((name, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    let mut all = Vec::new();
    walk(root, "", &mut all);
    all.sort();
    all
}

fn hostapp(version: &str) -> Vec<u8> {
    Tar::new()
        .dir("sbin", 0o755)
        .symlink("sbin/init", "../lib/systemd/systemd")
        .file("lib/systemd/systemd", 0o755, b"systemd")
        .file("usr/bin/su", 0o4755, b"su")
        .file("etc/os-release", 0o644, version.as_bytes())
        .bytes()
}

#[test]
fn the_inactive_slot_is_written_and_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = Slots::open(tmp.path()).unwrap();
    assert_eq!(slots.read(Slot::A).unwrap(), None);
    let record = slots
        .write_inactive(Slot::B, "hostapp:1", &hostapp("1")[..])
        .unwrap();
    assert_eq!(slots.read(Slot::A).unwrap(), Some(record.clone()));
    assert_eq!(record.image, "hostapp:1");
    assert_eq!(record.entries, 5);
    let su = slots.root_path(Slot::A).join("usr/bin/su");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(su).unwrap().permissions());
    assert_eq!(mode & 0o7777, 0o4755, "a hostapp keeps setuid");

    let error = slots
        .write(Slot::A, Slot::A, "hostapp:2", &hostapp("2")[..])
        .unwrap_err();
    assert!(
        matches!(error, SlotError::Active { slot: Slot::A }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "slot a is the active slot, which is never written"
    );
    assert_eq!(slots.read(Slot::A).unwrap(), Some(record));
}

#[test]
fn an_image_without_init_leaves_the_slot_unmarked() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = Slots::open(tmp.path()).unwrap();
    slots
        .write_inactive(Slot::A, "hostapp:1", &hostapp("1")[..])
        .unwrap();
    assert!(slots.read(Slot::B).unwrap().is_some());
    let not_a_root = Tar::new().file("etc/os-release", 0o644, b"x").bytes();
    let error = slots
        .write_inactive(Slot::A, "app:1", &not_a_root[..])
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "slot b: image 'app:1' is not a root filesystem: it holds no 'sbin/init'"
    );
    assert_eq!(slots.read(Slot::B).unwrap(), None);
    assert!(!tmp.path().join("b/root.partial").exists());
    assert!(!tmp.path().join("b/root").exists());
    // A link out of the root is no init either.
    let escaping = Tar::new().symlink("sbin", "/usr/sbin").bytes();
    let error = slots
        .write_inactive(Slot::A, "app:2", &escaping[..])
        .unwrap_err();
    assert!(
        matches!(error, SlotError::NotRootFilesystem { .. }),
        "{error}"
    );
}

#[test]
fn a_broken_marker_is_an_error_naming_the_slot() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = Slots::open(tmp.path()).unwrap();
    std::fs::write(tmp.path().join("a/slot.json"), b"{}").unwrap();
    let error = slots.read(Slot::A).unwrap_err().to_string();
    assert!(error.starts_with("slot a: slot.json: "), "{error}");
}

const KILLED_WRITE: &str = "slots::tests::a_killed_write_leaves_the_slot_unbootable";

#[test]
fn a_killed_write_leaves_the_slot_unbootable() {
    if let Some(dir) = child_dir() {
        let slots = Slots::open(dir).unwrap();
        slots
            .write_inactive(Slot::A, "hostapp:3", SlowReader::new(big_archive(400)))
            .unwrap();
        panic!("the write should have been killed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let slots = Slots::open(tmp.path()).unwrap();
    // `a` is active; `b` is bootable too.
    slots
        .write(Slot::A, Slot::B, "hostapp:1", &hostapp("1")[..])
        .unwrap();
    slots
        .write_inactive(Slot::A, "hostapp:2", &hostapp("2")[..])
        .unwrap();
    let active = slots.read(Slot::A).unwrap();
    let active_files = snapshot(&tmp.path().join("a"));
    assert!(slots.read(Slot::B).unwrap().is_some());

    let partial = tmp.path().join("b/root.partial/data");
    kill_child_when(KILLED_WRITE, tmp.path(), || {
        std::fs::read_dir(&partial).is_ok_and(|d| d.count() > 2)
    });
    assert_eq!(slots.read(Slot::B).unwrap(), None, "not bootable");
    assert_eq!(slots.read(Slot::A).unwrap(), active);
    assert_eq!(snapshot(&tmp.path().join("a")), active_files);

    let record = slots
        .write_inactive(Slot::A, "hostapp:3", &big_archive(3)[..])
        .unwrap();
    assert_eq!(slots.read(Slot::B).unwrap(), Some(record));
    assert!(!tmp.path().join("b/root.partial").exists());
}
