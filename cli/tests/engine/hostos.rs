//! Image exports (`Engine::export_image`) unpacked by `osb-hostos`: what a
//! hostile image can carry through the engine, and a hostapp image that
//! is no root filesystem.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use osb_hostos::extensions::{ExtensionKind, ExtensionMeta, ExtensionStore, ImageDigest};
use osb_hostos::slots::{Slot, SlotError, Slots};

use super::eventually;

/// An image imported from a tar (`docker import`), removed when dropped.
struct Imported(String);

impl Imported {
    fn new(scope: &osb_test_docker::Scope, name: &str, archive: Vec<u8>) -> Imported {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        std::fs::write(&path, archive).unwrap();
        let reference = format!("osb-test/{name}:{}", scope.instance());
        osb_test_docker::run(&["import", path.to_str().unwrap(), &reference]);
        Imported(reference)
    }

    /// As [`Imported::new`], with `docker import --change` instructions.
    fn with_changes(
        scope: &osb_test_docker::Scope,
        name: &str,
        archive: Vec<u8>,
        changes: &[&str],
    ) -> Imported {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.tar");
        std::fs::write(&path, archive).unwrap();
        let reference = format!("osb-test/{name}:{}", scope.instance());
        let mut args = vec!["import"];
        for change in changes {
            args.extend(["--change", change]);
        }
        args.extend([path.to_str().unwrap(), &reference]);
        osb_test_docker::run(&args);
        Imported(reference)
    }

    fn digest(&self) -> ImageDigest {
        let id = osb_test_docker::run(&["image", "inspect", "--format", "{{.Id}}", &self.0]);
        ImageDigest::parse(&id).unwrap()
    }
}

impl Drop for Imported {
    fn drop(&mut self) {
        // Not a panic: this may run while a failed test unwinds.
        let _ = osb_test_docker::try_run(&["rmi", "--force", &self.0]);
    }
}

fn entry(
    tar: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    path: &str,
    link: &str,
    mode: u32,
    data: &[u8],
) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_path(path).unwrap();
    if !link.is_empty() {
        header.set_link_name(link).unwrap();
    }
    header.set_mode(mode);
    header.set_size(data.len() as u64);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    if kind == tar::EntryType::Char {
        header.set_device_major(4).unwrap();
        header.set_device_minor(64).unwrap();
    }
    header.set_cksum();
    tar.append(&header, data).unwrap();
}

/// Exports `image` and hands a blocking reader of it to `use_it`, on a
/// blocking thread, as the runtime does; the export's container removed
/// after.
fn with_export<T: Send + 'static>(
    instance: &str,
    image: &str,
    use_it: impl FnOnce(&mut osb_engine::ExportReader) -> T + Send + 'static,
) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = osb_engine::Engine::connect(instance).await.unwrap();
        let export = engine.export_image(image).await.unwrap();
        tokio::task::spawn_blocking(move || {
            let mut reader = export.into_reader();
            let result = use_it(&mut reader);
            reader.finish().unwrap();
            result
        })
        .await
        .unwrap()
    })
}

#[test]
fn a_hostile_image_export_is_unpacked_as_an_extension() {
    let Some(docker) = osb_test_docker::engine() else {
        return;
    };
    let scope = docker.scope("hostos-hostile-export");
    let mut tar = tar::Builder::new(Vec::new());
    use tar::EntryType as T;
    entry(&mut tar, T::Directory, "etc", "", 0o755, b"");
    entry(
        &mut tar,
        T::Regular,
        "etc/passwd",
        "",
        0o644,
        b"image's own\n",
    );
    entry(
        &mut tar,
        T::Symlink,
        "etc/absolute",
        "/etc/passwd",
        0o777,
        b"",
    );
    entry(&mut tar, T::Symlink, "up", "../../../../..", 0o777, b"");
    entry(&mut tar, T::Link, "etc/passwd-", "etc/passwd", 0o644, b"");
    entry(&mut tar, T::Regular, "usr/bin/su", "", 0o4755, b"su");
    entry(&mut tar, T::Char, "dev/tty0", "", 0o600, b"");
    entry(&mut tar, T::Regular, "etc/.wh.hosts", "", 0o644, b"");
    let image = Imported::new(&scope, "hostile", tar.into_inner().unwrap());

    let store_dir = tempfile::tempdir().unwrap();
    let sentinel = store_dir.path().join("sentinel");
    std::fs::write(&sentinel, b"untouched").unwrap();
    let store = ExtensionStore::open(store_dir.path().join("extensions")).unwrap();
    let digest = image.digest();
    let meta = ExtensionMeta {
        image: image.0.clone(),
        app: "host".to_owned(),
        block: "hostile".to_owned(),
        kind: ExtensionKind::Plain,
        kernel_version: None,
        kernel_abi: None,
    };
    let record = {
        let digest = digest.clone();
        let store = ExtensionStore::open(store.path()).unwrap();
        with_export(scope.instance(), &image.0, move |reader| {
            store.install(&digest, meta, reader)
        })
        .unwrap()
    };
    assert_eq!(store.get(&digest).unwrap(), Some(record.clone()));
    let root = store.root_path(&digest);
    let link = |p: &str| std::fs::read_link(root.join(p)).unwrap();
    assert_eq!(link("etc/absolute").to_str(), Some("/etc/passwd"));
    assert_eq!(link("up").to_str(), Some("../../../../.."));
    let own = std::fs::metadata(root.join("etc/passwd")).unwrap();
    let linked = std::fs::metadata(root.join("etc/passwd-")).unwrap();
    assert_eq!(own.ino(), linked.ino());
    assert_eq!(
        std::fs::read(root.join("etc/passwd")).unwrap(),
        b"image's own\n"
    );
    let su = std::fs::metadata(root.join("usr/bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o755);
    assert!(record.unpack.stripped_setuid >= 1, "{record:?}");
    // The engine carries the device node (and makes a few of its own in
    // the container's /dev); none is created.
    assert!(record.unpack.skipped_devices >= 1, "{record:?}");
    assert!(std::fs::symlink_metadata(root.join("dev/tty0")).is_err());
    // The engine takes `.wh.` names as whiteouts when it imports: whatever
    // reaches the export, no whiteout is created.
    assert!(std::fs::symlink_metadata(root.join("etc/.wh.hosts")).is_err());
    assert_eq!(std::fs::read(&sentinel).unwrap(), b"untouched");
    assert!(
        eventually(Duration::from_secs(10), || scope.containers().is_empty()),
        "the export's container is removed"
    );
}

#[test]
fn a_hostapp_image_without_init_is_refused() {
    let Some(docker) = osb_test_docker::engine() else {
        return;
    };
    let scope = docker.scope("hostos-hostapp-without-init");
    let mut tar = tar::Builder::new(Vec::new());
    entry(
        &mut tar,
        tar::EntryType::Regular,
        "etc/os-release",
        "",
        0o644,
        b"ID=app\n",
    );
    let image = Imported::new(&scope, "not-a-root", tar.into_inner().unwrap());

    let slots_dir = tempfile::tempdir().unwrap();
    let slots = Slots::open(slots_dir.path()).unwrap();
    let error = {
        let slots = Slots::open(slots.path()).unwrap();
        let reference = image.0.clone();
        with_export(scope.instance(), &image.0, move |reader| {
            slots.write_inactive(Slot::A, &reference, reader)
        })
        .unwrap_err()
    };
    assert!(
        matches!(error, SlotError::NotRootFilesystem { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "slot b: image '{}' is not a root filesystem: it holds no 'sbin/init'",
            image.0
        )
    );
    assert_eq!(slots.read(Slot::B).unwrap(), None);

    // An export dropped unread still has its container removed.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let engine = osb_engine::Engine::connect(scope.instance()).await.unwrap();
        let export = engine.export_image(&image.0).await.unwrap();
        assert_eq!(scope.containers().len(), 1);
        drop(export);
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    assert!(
        eventually(Duration::from_secs(10), || scope.containers().is_empty()),
        "the dropped export's container is removed"
    );
}

/// `osb apply` of an `os` release whose block's image says it is an
/// overlay (balena's class label): unpacked into the extension store, no
/// container made, the reboot it asks for reported; a second apply does
/// nothing; a hostile entry in it stays inside the store.
#[test]
fn osb_apply_installs_an_overlay_from_its_images_label() {
    let Some(osb) = super::Osb::new("hostos-apply-overlay") else {
        return;
    };
    let mut tar = tar::Builder::new(Vec::new());
    use tar::EntryType as T;
    entry(&mut tar, T::Directory, "lib", "", 0o755, b"");
    entry(&mut tar, T::Directory, "lib/modules", "", 0o755, b"");
    entry(
        &mut tar,
        T::Regular,
        "lib/modules/board.ko",
        "",
        0o644,
        b"module",
    );
    entry(&mut tar, T::Symlink, "lib/escape", "/etc", 0o777, b"");
    let image = Imported::with_changes(
        &osb.scope,
        "overlay-modules",
        tar.into_inner().unwrap(),
        &[
            "LABEL io.balena.image.class=overlay",
            "LABEL io.balena.image.requires-reboot=1",
            "LABEL io.osb.image.kernel-version=5.10.104-tegra",
        ],
    );
    let target = serde_json::json!({
        "version": 1,
        "apps": {"os": {"class": "os", "release": {"version": "2.0.0", "blocks": {
            "modules": {"image": image.0, "overlay": {"override_priority": 4}}
        }}}}
    });
    let report = osb.apply(&target);
    assert_eq!(
        report["reboot_due"],
        serde_json::json!([format!("os/modules ({})", image.0)]),
        "{report}"
    );
    let store = ExtensionStore::open(osb.state().join("extensions")).unwrap();
    let record = store.get(&image.digest()).unwrap().expect("installed");
    assert_eq!(record.meta.kind, ExtensionKind::Override { priority: 4 });
    assert_eq!(
        record.meta.kernel_version.as_deref(),
        Some("5.10.104-tegra")
    );
    assert_eq!(
        (record.meta.app.as_str(), record.meta.block.as_str()),
        ("os", "modules")
    );
    let root = store.root_path(&image.digest());
    assert_eq!(
        std::fs::read(root.join("lib/modules/board.ko")).unwrap(),
        b"module"
    );
    // The link is kept as written, for the booted system to read; it was
    // never followed.
    assert_eq!(
        std::fs::read_link(root.join("lib/escape")).unwrap(),
        std::path::Path::new("/etc")
    );
    assert!(
        osb_test_docker::containers(osb.scope.instance()).is_empty(),
        "an overlay never runs"
    );

    let again = osb.apply(&target);
    assert_eq!(again["steps"], serde_json::json!([]), "{again}");

    // Built for a kernel this machine does not run: the next boot leaves
    // it out, and says why.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_osb"))
        .args(["boot", "plan", "--json", "--host", "/", "--state-dir"])
        .arg(osb.state())
        .env_remove("OSB_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["lower"],
        serde_json::json!([{"dir": "/", "source": "host"}]),
        "{plan}"
    );
    assert_eq!(plan["left_out"][0]["reason"], "kernel", "{plan}");
    assert_eq!(plan["left_out"][0]["wants"], "5.10.104-tegra", "{plan}");
    assert_eq!(plan["left_out"][0]["image"], image.0.as_str(), "{plan}");
}
