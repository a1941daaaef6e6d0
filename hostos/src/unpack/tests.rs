//! Hand-built hostile archives. Every test unpacks into `a/b/c/root` of a
//! temporary directory whose `a/etc/passwd` is a sentinel: where `../../..`
//! from the root climbs to, and where an absolute link is pointed at.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use tar::EntryType;

use super::{Ownership, SpecialBits, UnpackError, UnpackReport, UnpackRules, unpack};

const SENTINEL: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n";

/// An archive, entry by entry, with raw names: `tar::Header::set_path`
/// refuses the names these tests need.
pub(crate) struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    pub(crate) fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    pub(crate) fn raw(
        mut self,
        kind: EntryType,
        path: &[u8],
        link: &[u8],
        mode: u32,
        data: &[u8],
    ) -> Tar {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        header.set_uid(1234);
        header.set_gid(4321);
        header.set_mtime(0);
        let old = header.as_old_mut();
        old.name = [0; 100];
        old.name[..path.len()].copy_from_slice(path);
        old.linkname[..link.len()].copy_from_slice(link);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    pub(crate) fn file(self, path: &str, mode: u32, data: &[u8]) -> Tar {
        self.raw(EntryType::Regular, path.as_bytes(), b"", mode, data)
    }

    pub(crate) fn dir(self, path: &str, mode: u32) -> Tar {
        self.raw(EntryType::Directory, path.as_bytes(), b"", mode, b"")
    }

    pub(crate) fn symlink(self, path: &str, target: &str) -> Tar {
        self.raw(
            EntryType::Symlink,
            path.as_bytes(),
            target.as_bytes(),
            0o777,
            b"",
        )
    }

    fn hard_link(self, path: &str, target: &str) -> Tar {
        self.raw(
            EntryType::Link,
            path.as_bytes(),
            target.as_bytes(),
            0o644,
            b"",
        )
    }

    fn device(mut self, kind: EntryType, path: &str, major: u32, minor: u32) -> Tar {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_path(path).unwrap();
        header.set_mode(0o600);
        header.set_size(0);
        header.set_device_major(major).unwrap();
        header.set_device_minor(minor).unwrap();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        self.0.append(&header, &b""[..]).unwrap();
        self
    }

    /// A PAX header for the next entry.
    fn pax(self, records: &[(&str, &[u8])]) -> Tar {
        let mut data = Vec::new();
        for (key, value) in records {
            let body = [b" ", key.as_bytes(), b"=", value, b"\n"].concat();
            let mut len = body.len() + 1;
            while (len.to_string().len() + body.len()) != len {
                len = len.to_string().len() + body.len();
            }
            data.extend_from_slice(len.to_string().as_bytes());
            data.extend_from_slice(&body);
        }
        self.raw(EntryType::XHeader, b"././@PaxHeader", b"", 0o644, &data)
    }

    pub(crate) fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A temporary tree with the root to unpack into and a sentinel outside.
pub(crate) struct Fixture {
    pub(crate) tmp: tempfile::TempDir,
    before: Vec<(PathBuf, Vec<u8>)>,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("a/etc")).unwrap();
        std::fs::create_dir_all(tmp.path().join("a/b/c/root")).unwrap();
        std::fs::write(tmp.path().join("a/etc/passwd"), SENTINEL).unwrap();
        let mut fixture = Fixture {
            tmp,
            before: Vec::new(),
        };
        fixture.before = fixture.outside();
        fixture
    }

    pub(crate) fn root_path(&self) -> PathBuf {
        self.tmp.path().join("a/b/c/root")
    }

    /// `a` with `a/etc/passwd`: where an absolute link is pointed at.
    fn outside_dir(&self) -> String {
        self.tmp.path().join("a").display().to_string()
    }

    pub(crate) fn root(&self) -> Dir {
        Dir::open_ambient_dir(self.root_path(), ambient_authority()).unwrap()
    }

    fn unpack(&self, archive: &[u8], rules: &UnpackRules) -> Result<UnpackReport, UnpackError> {
        let report = unpack(archive, &self.root(), rules);
        self.assert_outside_unchanged();
        report
    }

    /// Every path and file content of the temporary tree but the root.
    fn outside(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, skip: &Path, into: &mut Vec<(PathBuf, Vec<u8>)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                if path == skip {
                    continue;
                }
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    into.push((path.clone(), Vec::new()));
                    walk(&path, skip, into);
                } else {
                    into.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
                }
            }
        }
        let mut all = Vec::new();
        walk(self.tmp.path(), &self.root_path(), &mut all);
        all
    }

    pub(crate) fn assert_outside_unchanged(&self) {
        assert_eq!(
            self.outside(),
            self.before,
            "something changed outside the root"
        );
        let sentinel = self.tmp.path().join("a/etc/passwd");
        assert_eq!(std::fs::read(sentinel).unwrap(), SENTINEL);
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.root_path().join(inside)
    }

    fn link(&self, inside: &str) -> String {
        std::fs::read_link(self.path(inside))
            .unwrap()
            .display()
            .to_string()
    }

    /// Names in the root, recursively, `/`-joined and sorted.
    fn listing(&self) -> Vec<String> {
        fn walk(dir: &Path, prefix: &str, into: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let entry = entry.unwrap();
                let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
                into.push(name.clone());
                if entry.file_type().unwrap().is_dir() {
                    walk(&entry.path(), &format!("{name}/"), into);
                }
            }
        }
        let mut all = Vec::new();
        walk(&self.root_path(), "", &mut all);
        all.sort();
        all
    }
}

fn rules() -> UnpackRules {
    UnpackRules::extension()
}

#[test]
fn a_tree_is_unpacked_with_links_verbatim() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .dir("./", 0o755)
        .dir("./etc/", 0o755)
        .file("./etc/passwd", 0o644, b"tree's own\n")
        .file("/usr/bin/tool", 0o755, b"#!/bin/sh\n")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .symlink("up", "../../..")
        .hard_link("etc/passwd-", "/etc/passwd")
        .dir("ro", 0o555)
        .file("ro/inside", 0o444, b"x")
        .bytes();
    let report = fixture.unpack(&archive, &rules()).unwrap();
    assert_eq!(
        report,
        UnpackReport {
            entries: 8,
            bytes: 22,
            sha256: hex::encode(Sha256::digest(&archive)),
            ..UnpackReport::default()
        }
    );
    assert_eq!(
        fixture.listing(),
        [
            "etc",
            "etc/localtime",
            "etc/passwd",
            "etc/passwd-",
            "ro",
            "ro/inside",
            "up",
            "usr",
            "usr/bin",
            "usr/bin/tool"
        ]
    );
    assert_eq!(fixture.link("etc/localtime"), "/usr/share/zoneinfo/UTC");
    assert_eq!(fixture.link("up"), "../../..");
    let own = std::fs::metadata(fixture.path("etc/passwd")).unwrap();
    let linked = std::fs::metadata(fixture.path("etc/passwd-")).unwrap();
    assert_eq!(own.ino(), linked.ino(), "linked to the tree's own file");
    assert_eq!(
        std::fs::read(fixture.path("etc/passwd")).unwrap(),
        b"tree's own\n"
    );
    let mode = |p: &str| {
        std::fs::symlink_metadata(fixture.path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("usr/bin/tool"), 0o755);
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(mode("ro/inside"), 0o444);
    assert_eq!(mode("usr"), 0o755, "a missing parent is created 0755");
}

#[test]
fn nothing_is_written_through_an_absolute_symlink() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .symlink("x", &fixture.outside_dir())
        .file("x/etc/passwd", 0o644, b"owned\n")
        .bytes();
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert!(
        matches!(&error, UnpackError::ParentIsSymlink { path, parent } if path == "x/etc/passwd" && parent == "x"),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "entry 'x/etc/passwd': its parent 'x' is a symlink, which is never followed"
    );
}

#[test]
fn nothing_is_written_through_a_climbing_symlink() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .symlink("x", "../../..")
        .dir("x/etc", 0o755)
        .file("x/etc/passwd", 0o644, b"owned\n")
        .bytes();
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert!(
        matches!(&error, UnpackError::ParentIsSymlink { path, parent } if path == "x/etc" && parent == "x"),
        "{error}"
    );
    // Deeper: the link below a real directory.
    let fixture = Fixture::new();
    let archive = Tar::new()
        .dir("d", 0o755)
        .symlink("d/x", "../../../..")
        .file("d/x/etc/passwd", 0o644, b"owned\n")
        .bytes();
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert!(
        matches!(&error, UnpackError::ParentIsSymlink { parent, .. } if parent == "d/x"),
        "{error}"
    );
}

#[test]
fn a_later_entry_replaces_a_symlink_rather_than_writing_through_it() {
    let fixture = Fixture::new();
    let outside_file = format!("{}/etc/passwd", fixture.outside_dir());
    let archive = Tar::new()
        .symlink("passwd", &outside_file)
        .file("passwd", 0o644, b"replaced\n")
        .symlink("dir", &fixture.outside_dir())
        .dir("dir", 0o700)
        .hard_link("again", "passwd")
        .bytes();
    fixture.unpack(&archive, &rules()).unwrap();
    let meta = std::fs::symlink_metadata(fixture.path("passwd")).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        std::fs::read(fixture.path("passwd")).unwrap(),
        b"replaced\n"
    );
    assert!(
        std::fs::symlink_metadata(fixture.path("dir"))
            .unwrap()
            .is_dir()
    );
}

#[test]
fn hard_links_reach_only_files_unpacked_before_them() {
    let cases: [(Tar, &str, &str); 5] = [
        (
            Tar::new().hard_link("p", "/etc/passwd"),
            "/etc/passwd",
            "which is not a regular file unpacked before it in this archive",
        ),
        (
            Tar::new()
                .file("f", 0o644, b"x")
                .hard_link("p", "../outside"),
            "../outside",
            "which climbs out of the tree",
        ),
        (
            Tar::new().symlink("s", "/etc/passwd").hard_link("p", "s"),
            "s",
            "which is not a regular file unpacked before it in this archive",
        ),
        (
            Tar::new().dir("d", 0o755).hard_link("p", "d"),
            "d",
            "which is not a regular file unpacked before it in this archive",
        ),
        (
            Tar::new()
                .file("f", 0o644, b"x")
                .symlink("f", "/etc/passwd")
                .hard_link("p", "f"),
            "f",
            "which is not a regular file unpacked before it in this archive",
        ),
    ];
    for (archive, target, why) in cases {
        let fixture = Fixture::new();
        let error = fixture.unpack(&archive.bytes(), &rules()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("entry 'p': hard link to '{target}', {why}")
        );
        assert!(!fixture.path("p").exists());
    }
}

#[test]
fn names_out_of_the_tree_fail_the_unpack() {
    for (name, fault) in [
        (&b"../x"[..], "the path holds a '..' component"),
        (b"a/../../x", "the path holds a '..' component"),
        (b"/../x", "the path holds a '..' component"),
    ] {
        let fixture = Fixture::new();
        let archive = Tar::new()
            .file("before", 0o644, b"x")
            .raw(EntryType::Regular, name, b"", 0o644, b"owned\n")
            .bytes();
        let error = fixture.unpack(&archive, &rules()).unwrap_err();
        let shown = String::from_utf8_lossy(name);
        assert_eq!(error.to_string(), format!("entry '{shown}': {fault}"));
    }
    // A NUL inside a name, through PAX (a header's own field ends at one).
    let fixture = Fixture::new();
    let archive = Tar::new()
        .pax(&[("path", b"a\0b")])
        .file("placeholder", 0o644, b"x")
        .bytes();
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry 'a\\0b': the path holds a NUL byte"
    );
    // An empty name.
    let fixture = Fixture::new();
    let archive = Tar::new()
        .raw(EntryType::Regular, b"", b"", 0o644, b"x")
        .bytes();
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert_eq!(error.to_string(), "entry '': the path is empty");
}

#[test]
fn devices_and_fifos_are_counted_never_created() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .device(EntryType::Char, "dev/null", 1, 3)
        .device(EntryType::Block, "dev/sda", 8, 0)
        .device(EntryType::Fifo, "run/fifo", 0, 0)
        .file("kept", 0o644, b"x")
        .bytes();
    let report = fixture.unpack(&archive, &rules()).unwrap();
    assert_eq!((report.skipped_devices, report.entries), (3, 1));
    assert_eq!(fixture.listing(), ["kept"]);
}

#[test]
fn whiteouts_are_counted_never_created() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .dir("etc", 0o755)
        .file("etc/.wh.hosts", 0o644, b"")
        .file("etc/.wh..wh..opq", 0o644, b"")
        .device(EntryType::Char, "etc/shadow", 0, 0)
        .dir(".wh.var", 0o755)
        .file(".wh.var/inside", 0o644, b"x")
        .bytes();
    let report = fixture.unpack(&archive, &rules()).unwrap();
    assert_eq!((report.skipped_whiteouts, report.skipped_devices), (5, 0));
    assert_eq!(fixture.listing(), ["etc"]);
}

#[test]
fn setuid_bits_are_kept_for_a_hostapp_and_stripped_for_an_extension() {
    let archive = Tar::new()
        .file("bin/su", 0o4755, b"su")
        .file("bin/wall", 0o2755, b"wall")
        .dir("tmp", 0o1777)
        .file("bin/plain", 0o755, b"plain")
        .bytes();
    let mode = |fixture: &Fixture, p: &str| {
        std::fs::symlink_metadata(fixture.path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    let hostapp = Fixture::new();
    let report = hostapp.unpack(&archive, &UnpackRules::hostapp()).unwrap();
    assert_eq!(report.stripped_setuid, 0);
    assert_eq!(mode(&hostapp, "bin/su"), 0o4755);
    assert_eq!(mode(&hostapp, "bin/wall"), 0o2755);
    assert_eq!(mode(&hostapp, "tmp"), 0o1777);

    let extension = Fixture::new();
    let report = extension
        .unpack(&archive, &UnpackRules::extension())
        .unwrap();
    assert_eq!(report.stripped_setuid, 3);
    assert_eq!(mode(&extension, "bin/su"), 0o755);
    assert_eq!(mode(&extension, "bin/wall"), 0o755);
    assert_eq!(mode(&extension, "tmp"), 0o777);
    assert_eq!(mode(&extension, "bin/plain"), 0o755);
}

#[test]
fn owners_are_the_archive_s_only_when_asked_and_root() {
    let archive = Tar::new().file("f", 0o644, b"x").symlink("l", "f").bytes();
    let owner = |fixture: &Fixture, p: &str| {
        let meta = std::fs::symlink_metadata(fixture.path(p)).unwrap();
        (meta.uid(), meta.gid())
    };
    let me = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let from_archive = Fixture::new();
    from_archive
        .unpack(&archive, &UnpackRules::hostapp())
        .unwrap();
    let expected = if rustix::process::geteuid().is_root() {
        (1234, 4321)
    } else {
        me
    };
    assert_eq!(owner(&from_archive, "f"), expected);
    assert_eq!(owner(&from_archive, "l"), expected);

    let as_created = Fixture::new();
    let rules = UnpackRules {
        ownership: Ownership::AsCreated,
        special_bits: SpecialBits::Keep,
        ..UnpackRules::hostapp()
    };
    as_created.unpack(&archive, &rules).unwrap();
    assert_eq!(owner(&as_created, "f"), me);
}

#[test]
fn extended_attributes_are_never_applied() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .pax(&[
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
            ("SCHILY.xattr.user.osb", b"y"),
        ])
        .dir("opaque", 0o755)
        .pax(&[("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")])
        .file("opaque/ping", 0o755, b"ping")
        .bytes();
    let report = fixture.unpack(&archive, &rules()).unwrap();
    assert_eq!(report.entries, 2);
    for path in ["opaque", "opaque/ping"] {
        let mut names = [0u8; 256];
        let len = rustix::fs::llistxattr(fixture.path(path), &mut names).unwrap();
        assert_eq!(len, 0, "{path} has extended attributes");
    }
}

#[test]
fn limits_fail_the_unpack_naming_the_limit_and_the_entry() {
    let fixture = Fixture::new();
    let rules = UnpackRules {
        max_entries: 2,
        ..rules()
    };
    let archive = Tar::new()
        .file("a", 0o644, b"x")
        .file("b", 0o644, b"x")
        .file("c", 0o644, b"x")
        .bytes();
    let error = fixture.unpack(&archive, &rules).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry 'c': the archive exceeds max_entries (2)"
    );

    let fixture = Fixture::new();
    let rules = UnpackRules {
        max_bytes: 10,
        ..UnpackRules::extension()
    };
    let archive = Tar::new()
        .file("a", 0o644, b"12345")
        .file("b", 0o644, b"123456")
        .bytes();
    let error = fixture.unpack(&archive, &rules).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry 'b': the archive exceeds max_bytes (10)"
    );

    let fixture = Fixture::new();
    let rules = UnpackRules {
        max_path_len: 100,
        ..UnpackRules::extension()
    };
    let long = "d/".repeat(60) + "f";
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(1);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    // A GNU long name: the header's own field holds 100 bytes.
    builder.append_data(&mut header, &long, &b"x"[..]).unwrap();
    let error = fixture
        .unpack(&builder.into_inner().unwrap(), &rules)
        .unwrap_err();
    assert!(
        matches!(&error, UnpackError::Unsupported { reason, .. } if reason.contains("extension header of 122 bytes")),
        "{error}"
    );
    let archive = Tar::new().symlink("l", &"x".repeat(21)).bytes();
    let rules = UnpackRules {
        max_path_len: 20,
        ..UnpackRules::extension()
    };
    let error = fixture.unpack(&archive, &rules).unwrap_err();
    assert_eq!(
        error.to_string(),
        "entry 'l': its link name: the path is 21 bytes long, more than max_path_len (20)"
    );
}

#[test]
fn long_names_are_read() {
    let fixture = Fixture::new();
    let long = format!("{}/file", "directory".repeat(15));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    builder
        .append_data(&mut header, &long, &b"data"[..])
        .unwrap();
    fixture
        .unpack(&builder.into_inner().unwrap(), &rules())
        .unwrap();
    assert_eq!(std::fs::read(fixture.path(&long)).unwrap(), b"data");
}

#[test]
fn a_long_name_and_a_long_link_name_both_reach_their_entry() {
    let name = format!("{}/link", "n".repeat(120));
    let target = format!("/{}", "t".repeat(120));
    let long = |kind, value: &str| {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        (kind, data)
    };
    let name_first = [
        long(EntryType::GNULongName, &name),
        long(EntryType::GNULongLink, &target),
    ];
    let link_first = [name_first[1].clone(), name_first[0].clone()];
    for headers in [name_first, link_first] {
        let fixture = Fixture::new();
        let mut tar = Tar::new();
        for (kind, data) in headers {
            tar = tar.raw(kind, b"././@LongLink", b"", 0o644, &data);
        }
        let archive = tar
            .raw(EntryType::Symlink, b"short", b"short", 0o777, b"")
            .bytes();
        fixture.unpack(&archive, &rules()).unwrap();
        assert_eq!(fixture.link(&name), target);
    }
}

#[test]
fn read_only_directories_get_their_modes_once_filled() {
    let fixture = Fixture::new();
    let archive = Tar::new()
        .dir("ro", 0o555)
        .dir("ro/sub", 0o500)
        .file("ro/sub/f", 0o400, b"x")
        .dir("ro/none", 0o000)
        .dir("ro/later", 0o755)
        .file("ro/later/f", 0o644, b"x")
        .dir("ro/later", 0o555)
        .dir("ro/flip", 0o555)
        .dir("ro/flip", 0o750)
        .bytes();
    fixture.unpack(&archive, &rules()).unwrap();
    let mode = |p: &str| {
        std::fs::symlink_metadata(fixture.path(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("ro"), 0o555);
    assert_eq!(mode("ro/sub"), 0o500);
    assert_eq!(mode("ro/sub/f"), 0o400);
    assert_eq!(mode("ro/none"), 0o000);
    assert_eq!(mode("ro/later"), 0o555);
    assert_eq!(mode("ro/flip"), 0o750);
    for dir in ["ro/none", "ro/later", "ro/sub", "ro"] {
        std::fs::set_permissions(fixture.path(dir), PermissionsExt::from_mode(0o755)).unwrap();
    }
}

#[test]
fn a_truncated_stream_fails() {
    let fixture = Fixture::new();
    let mut archive = Tar::new().file("big", 0o644, &[7; 4096]).bytes();
    archive.truncate(512 + 1000);
    let error = fixture.unpack(&archive, &rules()).unwrap_err();
    assert!(matches!(error, UnpackError::Read { .. }), "{error}");
}
