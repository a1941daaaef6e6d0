use std::path::Path;

use super::{ExtensionError, ExtensionKind, ExtensionMeta, ExtensionStore, ImageDigest};
use crate::killed::{SlowReader, big_archive, child_dir, kill_child_when};
use crate::unpack::tests::Tar;

fn digest(byte: char) -> ImageDigest {
    ImageDigest::parse(&format!("sha256:{}", byte.to_string().repeat(64))).unwrap()
}

fn meta() -> ExtensionMeta {
    ExtensionMeta {
        image: "registry.example/ext:1".to_owned(),
        app: "host".to_owned(),
        block: "modules".to_owned(),
        kind: ExtensionKind::Override { priority: 10 },
        kernel_version: Some("6.1.0-osb".to_owned()),
        kernel_abi: None,
    }
}

fn names(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn digests_are_sha256_hex() {
    assert!(ImageDigest::parse(&format!("sha256:{}", "a".repeat(64))).is_ok());
    for bad in [
        "",
        "sha256:",
        &format!("sha256:{}", "A".repeat(64)),
        &format!("sha512:{}", "a".repeat(64)),
        &format!("sha256:{}", "a".repeat(63)),
        &format!("sha256:../{}", "a".repeat(61)),
    ] {
        assert!(ImageDigest::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn an_extension_is_installed_listed_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ExtensionStore::open(tmp.path().join("extensions")).unwrap();
    let archive = Tar::new()
        .file("usr/bin/su", 0o4755, b"su")
        .symlink("etc/escape", "../../../../..")
        .bytes();
    let d = digest('a');
    let record = store.install(&d, meta(), &archive[..]).unwrap();
    assert_eq!(record.unpack.stripped_setuid, 1);
    assert_eq!(store.get(&d).unwrap(), Some(record.clone()));
    assert_eq!(store.get(&digest('b')).unwrap(), None);
    assert_eq!(
        std::fs::read(store.root_path(&d).join("usr/bin/su")).unwrap(),
        b"su"
    );
    assert!(matches!(
        store.install(&d, meta(), &archive[..]),
        Err(ExtensionError::Installed { .. })
    ));

    // A broken record is listed with why, beside the good ones.
    let broken = digest('c');
    let broken_dir = store.path().join("sha256-".to_owned() + &"c".repeat(64));
    std::fs::create_dir(&broken_dir).unwrap();
    std::fs::write(broken_dir.join("extension.json"), b"{not json").unwrap();
    std::fs::create_dir(store.path().join("not-a-digest")).unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].digest, d);
    assert_eq!(listed[0].record.as_ref().unwrap(), &record);
    assert_eq!(listed[1].digest, broken);
    let error = listed[1].record.as_ref().unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("extension {broken}: extension.json: ")),
        "{error}"
    );

    store.remove(&d).unwrap();
    store.remove(&d).unwrap();
    assert_eq!(store.get(&d).unwrap(), None);
    assert_eq!(
        names(store.path()),
        ["not-a-digest".to_owned(), broken.dir_name()]
    );
}

#[test]
fn a_refused_image_leaves_nothing_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("extensions");
    let store = ExtensionStore::open(&path).unwrap();
    let archive = Tar::new()
        .file("ok", 0o644, b"x")
        .symlink("x", "/etc")
        .file("x/passwd", 0o644, b"owned")
        .bytes();
    let error = store
        .install(&digest('a'), meta(), &archive[..])
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "extension {}: failed to unpack image 'registry.example/ext:1': entry 'x/passwd': its parent 'x' is a symlink, which is never followed",
            digest('a')
        )
    );
    assert_eq!(store.get(&digest('a')).unwrap(), None);
    assert!(names(&path).is_empty(), "{:?}", names(&path));
    drop(store);
    ExtensionStore::open(&path).unwrap();
    assert!(names(&path).is_empty());
}

const KILLED_INSTALL: &str = "extensions::tests::a_killed_install_is_never_visible";

#[test]
fn a_killed_install_is_never_visible() {
    if let Some(dir) = child_dir() {
        let store = ExtensionStore::open(dir).unwrap();
        store
            .install(&digest('a'), meta(), SlowReader::new(big_archive(400)))
            .unwrap();
        panic!("the install should have been killed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("extensions");
    let partial_root = path.join(format!(".partial-{}/root/data", digest('a').dir_name()));
    kill_child_when(KILLED_INSTALL, &path, || {
        std::fs::read_dir(&partial_root).is_ok_and(|d| d.count() > 2)
    });
    assert!(!path.join(digest('a').dir_name()).exists());

    let store = ExtensionStore::open(&path).unwrap();
    assert!(names(&path).is_empty(), "{:?}", names(&path));
    assert_eq!(store.get(&digest('a')).unwrap(), None);
    assert!(store.list().unwrap().is_empty());
    let record = store
        .install(&digest('a'), meta(), &big_archive(3)[..])
        .unwrap();
    assert_eq!(record.unpack.entries, 4);
}
