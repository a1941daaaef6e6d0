//! A tar stream (an image's export) unpacked beneath a directory
//! capability, as hostile ground.
//!
//! The `tar` crate only parses: headers, GNU long names and PAX records are
//! read here, in its raw mode, with bounds, and every entry is created by
//! an `*at` call on the file descriptor of its parent directory, with one
//! component for a name. Parents are opened without following links, so
//! nothing the archive placed earlier (a symlink to `/etc`, to `../../..`)
//! can lead a later entry out of the root. Symlinks are written verbatim:
//! in a root filesystem `/etc/localtime -> /usr/share/zoneinfo/UTC` is a
//! plain link, and nobody follows it here.
//!
//! What is never created: device nodes and FIFOs (a block gets devices from
//! its grants, not from its image), overlay whiteouts (stacked as a lower
//! directory they would hide the host's files) and extended attributes
//! (`trusted.overlay.opaque` hides a whole directory; `security.capability`
//! grants privileges). The first two are counted in the [`UnpackReport`].
//!
//! The unpack is not atomic: on an error, what was created stays. Callers
//! unpack into a staging directory and rename it into place only on
//! success ([`crate::extensions`], [`crate::slots`]).

mod path;

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Uid};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::tree::open_dir;
use path::{PathFault, components, shown};

/// What an unpack keeps of an archive's metadata, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackRules {
    /// Whether setuid, setgid and sticky bits are kept.
    pub special_bits: SpecialBits,
    /// Whose files they become.
    pub ownership: Ownership,
    /// The most entries the archive may hold, extension headers (long
    /// names, PAX records) and skipped entries included.
    pub max_entries: u64,
    /// The most bytes of file data, all files together.
    pub max_bytes: u64,
    /// The longest entry name, symlink target or hard link name, in bytes.
    pub max_path_len: usize,
}

/// Whether setuid, setgid and sticky bits are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialBits {
    /// As archived: a root filesystem's `su` and `/tmp` need them.
    Keep,
    /// Stripped, and counted: an extension stacked over the host must not
    /// bring a setuid binary onto it.
    Strip,
}

/// Whose files the unpacked entries become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The archive's uid and gid, when running as root (only root may give
    /// a file away); as created otherwise.
    FromArchive,
    /// Whoever runs the unpack.
    AsCreated,
}

impl UnpackRules {
    /// A hostapp's root filesystem: special bits and ownership as archived.
    pub fn hostapp() -> UnpackRules {
        UnpackRules {
            special_bits: SpecialBits::Keep,
            ownership: Ownership::FromArchive,
            max_entries: 1_000_000,
            max_bytes: 16 << 30,
            max_path_len: 4096,
        }
    }

    /// An extension's files, stacked over the host: no special bits.
    pub fn extension() -> UnpackRules {
        UnpackRules {
            special_bits: SpecialBits::Strip,
            ownership: Ownership::FromArchive,
            max_entries: 200_000,
            max_bytes: 4 << 30,
            max_path_len: 4096,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpackReport {
    /// Entries created: files, directories, symlinks, hard links.
    pub entries: u64,
    /// Bytes of file data written.
    pub bytes: u64,
    /// Character and block devices and FIFOs left out.
    pub skipped_devices: u64,
    /// Overlay whiteouts left out (`.wh.*` names, 0/0 character devices).
    pub skipped_whiteouts: u64,
    /// Entries whose setuid, setgid or sticky bits were stripped.
    pub stripped_setuid: u64,
    /// The SHA-256 of the whole stream, in lowercase hex.
    pub sha256: String,
}

/// Why an unpack failed. Each names the entry, as the archive names it.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The stream could not be read or is not a tar archive.
    #[error("failed to read the archive {after}: {source}")]
    Read {
        /// `at its start`, or `after entry 'x'`.
        after: String,
        /// What happened.
        source: io::Error,
    },
    /// An entry's name, or a hard link's, is not a path beneath the root.
    #[error("entry '{path}': {fault}")]
    BadPath {
        /// The entry.
        path: String,
        /// What is wrong with it.
        fault: String,
    },
    /// A limit of the [`UnpackRules`] was reached.
    #[error("entry '{path}': the archive exceeds {limit} ({max})")]
    Limit {
        /// The entry that exceeded it.
        path: String,
        /// The rule: `max_entries`, `max_bytes`.
        limit: &'static str,
        /// Its value.
        max: u64,
    },
    /// One of the entry's parent directories is a symlink in the tree.
    #[error("entry '{path}': its parent '{parent}' is a symlink, which is never followed")]
    ParentIsSymlink {
        /// The entry.
        path: String,
        /// The symlink.
        parent: String,
    },
    /// One of the entry's parent directories is neither a directory nor a
    /// symlink in the tree.
    #[error("entry '{path}': its parent '{parent}' is not a directory")]
    ParentNotDirectory {
        /// The entry.
        path: String,
        /// The parent.
        parent: String,
    },
    /// A hard link whose target is not a regular file this archive
    /// unpacked before it.
    #[error("entry '{path}': hard link to '{target}', {reason}")]
    HardLink {
        /// The link.
        path: String,
        /// What it links to, as the archive says.
        target: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An entry of a kind this unpack does not create, or with values it
    /// cannot take.
    #[error("entry '{path}': {reason}")]
    Unsupported {
        /// The entry.
        path: String,
        /// What it is.
        reason: String,
    },
    /// The filesystem refused an operation.
    #[error("entry '{path}': failed to {action}: {source}")]
    Io {
        /// The entry.
        path: String,
        /// What was being done.
        action: &'static str,
        /// What happened.
        source: io::Error,
    },
}

/// Unpacks the tar stream `reader` beneath `root` by `rules`. The stream
/// is read to its end (a bounded tail after the archive's end marker), so
/// the report's SHA-256 covers all of it.
pub fn unpack(
    reader: impl Read,
    root: &Dir,
    rules: &UnpackRules,
) -> Result<UnpackReport, UnpackError> {
    let hashing = Hashing {
        // An export arrives through a pipe: fewer, larger reads.
        inner: io::BufReader::with_capacity(COPY_BUFFER, reader),
        hasher: Sha256::new(),
    };
    let mut archive = tar::Archive::new(hashing);
    let mut unpacker = Unpacker {
        into: root,
        rules,
        chown: rules.ownership == Ownership::FromArchive && rustix::process::geteuid().is_root(),
        deferred_bytes: 0,
        report: UnpackReport::default(),
        files: HashSet::new(),
        file_keys: RandomState::new(),
        dirs: BTreeMap::new(),
        cached_parent: None,
        seen: 0,
        last: None,
        buffer: vec![0; COPY_BUFFER],
    };
    let entries = archive.entries().map_err(|e| unpacker.read_error(e))?;
    let mut pending = Pending::default();
    for entry in entries.raw(true) {
        let entry = entry.map_err(|e| unpacker.read_error(e))?;
        unpacker.next(entry, &mut pending)?;
    }
    unpacker.finish_dirs()?;
    let mut report = std::mem::take(&mut unpacker.report);
    let mut hashing = archive.into_inner();
    drain_tail(&mut hashing).map_err(|source| UnpackError::Read {
        after: "after its end".to_owned(),
        source,
    })?;
    report.sha256 = hex::encode(hashing.hasher.finalize());
    Ok(report)
}

/// The read buffer and the write size of file data.
const COPY_BUFFER: usize = 128 * 1024;

/// `io::copy` through `buffer`.
fn copy_data(from: &mut impl Read, to: &mut impl Write, buffer: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(buffer.get(..n).unwrap_or_default())?;
        total += n as u64;
    }
}

/// How much may follow the archive's end marker: the rest of a record
/// (`tar` pads to 10 KiB) and then some, never an unbounded stream.
const MAX_TAIL: u64 = 1 << 20;
/// The most a GNU long name or long link header may hold beyond the
/// rules' path length (its NUL).
const LONG_NAME_SLACK: u64 = 16;
/// The most bytes the paths of read-only directories may hold together:
/// their modes wait for the end of the unpack. A root filesystem has a
/// handful (`proc`, `sys`).
const MAX_DEFERRED: usize = 16 << 20;
/// The most one PAX header may hold: names, times, and extended
/// attributes, which are read past, never applied.
const MAX_PAX: u64 = 1 << 20;

fn drain_tail(reader: &mut impl Read) -> io::Result<()> {
    let read = io::copy(&mut reader.take(MAX_TAIL + 1), &mut io::sink())?;
    if read > MAX_TAIL {
        return Err(io::Error::other(format!(
            "more than {MAX_TAIL} bytes follow the archive's end"
        )));
    }
    Ok(())
}

struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What extension headers said about the next entry.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
}

struct Unpacker<'a> {
    into: &'a Dir,
    rules: &'a UnpackRules,
    chown: bool,
    report: UnpackReport,
    /// Regular files unpacked so far, by a keyed hash of their normalised
    /// path: what a hard link may name. A hash, so a million long names
    /// cost megabytes, not gigabytes; a collision could only let a link
    /// name another regular file of this tree, which is checked anyway.
    files: HashSet<u64>,
    file_keys: RandomState,
    /// Modes that deny their owner writing or searching a directory, set
    /// once everything beneath it is in place (it would refuse its own
    /// entries otherwise, but to root). Others are set at once, so this
    /// stays small: its paths' bytes are bounded by [`MAX_DEFERRED`].
    dirs: BTreeMap<Vec<u8>, u32>,
    deferred_bytes: usize,
    /// The last parent directory opened: entries come grouped by directory.
    cached_parent: Option<(Vec<u8>, Dir)>,
    seen: u64,
    last: Option<String>,
    /// File data passes through here: `io::copy`'s 8 KiB made twice the
    /// writes `tar -x` makes (BENCHMARKS.md, section 13).
    buffer: Vec<u8>,
}

/// One entry's header, as extension headers amended it.
struct Header {
    raw_path: Vec<u8>,
    shown: String,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
}

impl Unpacker<'_> {
    fn read_error(&self, source: io::Error) -> UnpackError {
        let after = match &self.last {
            Some(path) => format!("after entry '{path}'"),
            None => "at its start".to_owned(),
        };
        UnpackError::Read { after, source }
    }

    fn next<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        pending: &mut Pending,
    ) -> Result<(), UnpackError> {
        self.seen += 1;
        let header = entry.header();
        let kind = header.entry_type();
        // Extension headers are named by their own header; they leave the
        // pending name to the entry they describe, in whichever order they
        // come.
        let is_extension = matches!(
            kind,
            tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
                | tar::EntryType::XHeader
                | tar::EntryType::XGlobalHeader
        );
        let pending_path = if is_extension {
            None
        } else {
            pending.path.take()
        };
        let raw_path = pending_path.unwrap_or_else(|| header.path_bytes().into_owned());
        let shown_path = shown(&raw_path);
        if self.seen > self.rules.max_entries {
            return Err(UnpackError::Limit {
                path: shown_path,
                limit: "max_entries",
                max: self.rules.max_entries,
            });
        }
        let max_long = self.rules.max_path_len as u64 + LONG_NAME_SLACK;
        match kind {
            tar::EntryType::GNULongName => {
                pending.path = Some(self.read_extension(&mut entry, max_long, &shown_path)?);
                return Ok(());
            }
            tar::EntryType::GNULongLink => {
                pending.link = Some(self.read_extension(&mut entry, max_long, &shown_path)?);
                return Ok(());
            }
            tar::EntryType::XHeader => {
                let data = self.read_extension(&mut entry, MAX_PAX, &shown_path)?;
                return self.pax(&data, &shown_path, pending);
            }
            tar::EntryType::XGlobalHeader => {
                // Global defaults (a comment, an mtime): nothing kept.
                self.read_extension(&mut entry, MAX_PAX, &shown_path)?;
                return Ok(());
            }
            _ => {}
        }
        let fail = |reason: String| UnpackError::Unsupported {
            path: shown_path.clone(),
            reason,
        };
        let size = header
            .entry_size()
            .map_err(|e| fail(format!("unreadable size: {e}")))?;
        if pending.size.take().is_some_and(|pax| pax != size) {
            // Two readers of the archive would disagree on where the next
            // entry begins.
            return Err(fail(
                "the PAX size differs from the header's, which is not supported".to_owned(),
            ));
        }
        let header = Header {
            raw_path,
            shown: shown_path.clone(),
            kind,
            mode: header
                .mode()
                .map_err(|e| fail(format!("unreadable mode: {e}")))?
                & 0o7777,
            uid: match pending.uid.take() {
                Some(uid) => uid,
                None => header
                    .uid()
                    .map_err(|e| fail(format!("unreadable uid: {e}")))?,
            },
            gid: match pending.gid.take() {
                Some(gid) => gid,
                None => header
                    .gid()
                    .map_err(|e| fail(format!("unreadable gid: {e}")))?,
            },
        };
        let link = match pending.link.take() {
            Some(link) => Some(link),
            None => entry.header().link_name_bytes().map(|l| l.into_owned()),
        };
        self.last = Some(shown_path);
        self.entry(&header, link, size, &mut entry)
    }

    fn read_extension<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        max: u64,
        shown_path: &str,
    ) -> Result<Vec<u8>, UnpackError> {
        if entry.size() > max {
            return Err(UnpackError::Unsupported {
                path: shown_path.to_owned(),
                reason: format!(
                    "an extension header of {} bytes, more than {max}",
                    entry.size()
                ),
            });
        }
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| self.read_error(e))?;
        // GNU long names end with a NUL.
        while data.last() == Some(&0) {
            data.pop();
        }
        Ok(data)
    }

    fn pax(&self, data: &[u8], shown_path: &str, pending: &mut Pending) -> Result<(), UnpackError> {
        let bad = |reason: String| UnpackError::Unsupported {
            path: shown_path.to_owned(),
            reason,
        };
        for record in tar::PaxExtensions::new(data) {
            let record = record.map_err(|e| bad(format!("unreadable PAX record: {e}")))?;
            let number = || -> Result<u64, UnpackError> {
                record
                    .value()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        bad(format!(
                            "PAX record '{}' is not a number",
                            shown(record.key_bytes())
                        ))
                    })
            };
            match record.key_bytes() {
                b"path" => pending.path = Some(record.value_bytes().to_vec()),
                b"linkpath" => pending.link = Some(record.value_bytes().to_vec()),
                b"size" => pending.size = Some(number()?),
                b"uid" => pending.uid = Some(number()?),
                b"gid" => pending.gid = Some(number()?),
                // Times, names of users and groups, and extended
                // attributes (`SCHILY.xattr.*`): never applied.
                _ => {}
            }
        }
        Ok(())
    }

    fn entry<R: Read>(
        &mut self,
        header: &Header,
        link: Option<Vec<u8>>,
        size: u64,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let bad_path = |fault: PathFault| UnpackError::BadPath {
            path: header.shown.clone(),
            fault: fault.to_string(),
        };
        let Some(parts) =
            components(&header.raw_path, self.rules.max_path_len).map_err(bad_path)?
        else {
            if header.kind.is_dir() {
                // `./`: the root is the caller's, and so are its mode and owner.
                return Ok(());
            }
            return Err(bad_path(PathFault::Empty));
        };
        if parts.iter().any(|p| p.starts_with(b".wh.")) || is_whiteout_device(header, data) {
            tracing::warn!(entry = %header.shown, "overlay whiteout in the image, left out");
            self.report.skipped_whiteouts += 1;
            return Ok(());
        }
        use tar::EntryType as T;
        match header.kind {
            T::Char | T::Block | T::Fifo => {
                tracing::warn!(entry = %header.shown, "device node or FIFO in the image, left out");
                self.report.skipped_devices += 1;
                Ok(())
            }
            T::Regular | T::Continuous => self.file(header, &parts, size, data),
            T::Directory => self.dir(header, &parts),
            T::Symlink => self.symlink(header, &parts, link),
            T::Link => self.hard_link(header, &parts, link),
            other => Err(UnpackError::Unsupported {
                path: header.shown.clone(),
                reason: format!("entry type {:?} is not unpacked", other.as_byte() as char),
            }),
        }
    }

    fn file<R: Read>(
        &mut self,
        header: &Header,
        parts: &[&[u8]],
        size: u64,
        data: &mut tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        if self.report.bytes.saturating_add(size) > self.rules.max_bytes {
            return Err(UnpackError::Limit {
                path: header.shown.clone(),
                limit: "max_bytes",
                max: self.rules.max_bytes,
            });
        }
        let (parent, name) = self.place(header, parts, false)?;
        let io = |action| move |e: io::Error| io_error(header, action, e);
        let fd = rustix::fs::openat(
            &parent,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_error(header, "create the file", e.into()))?;
        let mut file = std::fs::File::from(fd);
        let written =
            copy_data(data, &mut file, &mut self.buffer).map_err(|e| self.read_error(e))?;
        if written != size {
            return Err(self.read_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ends within entry '{}'", header.shown),
            )));
        }
        self.report.bytes += written;
        // Ownership first: chown clears the setuid and setgid bits.
        if let Some((uid, gid)) = self.owner(header)? {
            rustix::fs::fchown(&file, Some(uid), Some(gid))
                .map_err(|e| io("set the owner")(e.into()))?;
        }
        let mode = self.mode(header);
        rustix::fs::fchmod(&file, Mode::from_raw_mode(mode))
            .map_err(|e| io("set the mode")(e.into()))?;
        self.files.insert(self.key(parts));
        self.report.entries += 1;
        Ok(())
    }

    fn key(&self, parts: &[&[u8]]) -> u64 {
        self.file_keys.hash_one(parts)
    }

    fn dir(&mut self, header: &Header, parts: &[&[u8]]) -> Result<(), UnpackError> {
        let (parent, name) = self.place(header, parts, true)?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {} // a directory: `place` kept it.
            Err(e) => return Err(io_error(header, "create the directory", e.into())),
        }
        if let Some((uid, gid)) = self.owner(header)? {
            rustix::fs::chownat(
                &parent,
                name,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| io_error(header, "set the owner", e.into()))?;
        }
        let mode = self.mode(header);
        if mode & 0o300 == 0o300 {
            // The last entry for a path wins over a mode still waiting.
            if !self.dirs.is_empty() {
                self.dirs.remove(&parts.join(&b'/'));
            }
            let dir =
                open_dir(&parent, name).map_err(|e| io_error(header, "open the directory", e))?;
            rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))
                .map_err(|e| io_error(header, "set the mode", e.into()))?;
        } else {
            let path = parts.join(&b'/');
            self.deferred_bytes += path.len();
            if self.deferred_bytes > MAX_DEFERRED {
                return Err(UnpackError::Limit {
                    path: header.shown.clone(),
                    limit: "the paths of read-only directories",
                    max: MAX_DEFERRED as u64,
                });
            }
            self.dirs.insert(path, mode);
        }
        self.report.entries += 1;
        Ok(())
    }

    fn symlink(
        &mut self,
        header: &Header,
        parts: &[&[u8]],
        target: Option<Vec<u8>>,
    ) -> Result<(), UnpackError> {
        let target = self.link_name(header, target)?;
        let (parent, name) = self.place(header, parts, false)?;
        // Verbatim, absolute or climbing: a link is never followed here.
        rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, name)
            .map_err(|e| io_error(header, "create the symlink", e.into()))?;
        if let Some((uid, gid)) = self.owner(header)? {
            rustix::fs::chownat(
                &parent,
                name,
                Some(uid),
                Some(gid),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| io_error(header, "set the owner", e.into()))?;
        }
        self.report.entries += 1;
        Ok(())
    }

    fn hard_link(
        &mut self,
        header: &Header,
        parts: &[&[u8]],
        target: Option<Vec<u8>>,
    ) -> Result<(), UnpackError> {
        let raw = self.link_name(header, target)?;
        let refuse = |reason| UnpackError::HardLink {
            path: header.shown.clone(),
            target: shown(&raw),
            reason,
        };
        // A link to `/etc/passwd` is one to the tree's own `etc/passwd`.
        let target = match components(&raw, self.rules.max_path_len) {
            Ok(Some(target)) => target,
            Ok(None) => return Err(refuse("which is the root")),
            Err(PathFault::DotDot) => return Err(refuse("which climbs out of the tree")),
            Err(_) => return Err(refuse("which is not a path")),
        };
        if target == parts {
            return Err(refuse("which is the link itself"));
        }
        if !self.files.contains(&self.key(&target)) {
            return Err(refuse(
                "which is not a regular file unpacked before it in this archive",
            ));
        }
        let (source_parent, source_name) = self.walk(header, &target)?;
        let stat = rustix::fs::statat(&source_parent, source_name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| io_error(header, "read the link's target", e.into()))?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refuse("which is no longer a regular file"));
        }
        let (parent, name) = self.place(header, parts, false)?;
        // Without AT_SYMLINK_FOLLOW: the name is linked, never resolved.
        rustix::fs::linkat(&source_parent, source_name, &parent, name, AtFlags::empty())
            .map_err(|e| io_error(header, "create the hard link", e.into()))?;
        self.files.insert(self.key(parts));
        self.report.entries += 1;
        Ok(())
    }

    fn link_name(&self, header: &Header, link: Option<Vec<u8>>) -> Result<Vec<u8>, UnpackError> {
        let bad = |fault: PathFault| UnpackError::BadPath {
            path: header.shown.clone(),
            fault: format!("its link name: {fault}"),
        };
        let link = link.unwrap_or_default();
        if link.is_empty() {
            return Err(bad(PathFault::Empty));
        }
        if link.contains(&0) {
            return Err(bad(PathFault::Nul));
        }
        if link.len() > self.rules.max_path_len {
            return Err(bad(PathFault::TooLong {
                len: link.len(),
                max: self.rules.max_path_len,
            }));
        }
        Ok(link)
    }

    /// The entry's parent directory, opened, and its name there, with what
    /// was at that name removed (a file, a symlink, an empty directory), or
    /// kept when it is a directory and `dir` is set: tar's rule that a
    /// later entry replaces an earlier one, never written through.
    fn place<'p>(
        &mut self,
        header: &Header,
        parts: &[&'p [u8]],
        dir: bool,
    ) -> Result<(Dir, &'p OsStr), UnpackError> {
        let (parent, name) = self.walk(header, parts)?;
        match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_error(header, "look at the existing entry", e.into())),
            Ok(stat) => {
                let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
                if is_dir && dir {
                    return Ok((parent, name));
                }
                let flags = if is_dir {
                    AtFlags::REMOVEDIR
                } else {
                    AtFlags::empty()
                };
                rustix::fs::unlinkat(&parent, name, flags)
                    .map_err(|e| io_error(header, "replace the existing entry", e.into()))?;
                self.files.remove(&self.key(parts));
                if !self.dirs.is_empty() {
                    self.dirs.remove(&parts.join(&b'/'));
                }
                // A directory on the cached path may be the one just removed.
                self.cached_parent = None;
            }
        }
        Ok((parent, name))
    }

    /// Opens the parents of `parts` from the root without following a
    /// link, creating missing ones (0755, as tar does).
    fn walk<'p>(
        &mut self,
        header: &Header,
        parts: &[&'p [u8]],
    ) -> Result<(Dir, &'p OsStr), UnpackError> {
        let (name, parents) = parts
            .split_last()
            .ok_or_else(|| io_error(header, "open the root", io::ErrorKind::NotFound.into()))?;
        let name = OsStr::from_bytes(name);
        let key = parents.join(&b'/');
        if let Some((cached, dir)) = &self.cached_parent
            && *cached == key
        {
            let dir = dir
                .try_clone()
                .map_err(|e| io_error(header, "open its parent", e))?;
            return Ok((dir, name));
        }
        let mut dir = self
            .into
            .try_clone()
            .map_err(|e| io_error(header, "open the root", e))?;
        for (i, part) in parents.iter().enumerate() {
            let part = OsStr::from_bytes(part);
            let parent = || shown(&parents[..=i].join(&b'/'));
            match rustix::fs::statat(&dir, part, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                    FileType::Directory => {}
                    FileType::Symlink => {
                        return Err(UnpackError::ParentIsSymlink {
                            path: header.shown.clone(),
                            parent: parent(),
                        });
                    }
                    _ => {
                        return Err(UnpackError::ParentNotDirectory {
                            path: header.shown.clone(),
                            parent: parent(),
                        });
                    }
                },
                Err(rustix::io::Errno::NOENT) => {
                    rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_error(header, "create a parent directory", e.into()))?;
                }
                Err(e) => return Err(io_error(header, "open a parent directory", e.into())),
            }
            dir =
                open_dir(&dir, part).map_err(|e| io_error(header, "open a parent directory", e))?;
        }
        let cached = dir
            .try_clone()
            .map_err(|e| io_error(header, "open its parent", e))?;
        self.cached_parent = Some((key, cached));
        Ok((dir, name))
    }

    fn owner(&self, header: &Header) -> Result<Option<(Uid, Gid)>, UnpackError> {
        if !self.chown {
            return Ok(None);
        }
        // u32::MAX is chown's "leave as is".
        let id = |value: u64, what: &str| {
            u32::try_from(value)
                .ok()
                .filter(|v| *v != u32::MAX)
                .ok_or_else(|| UnpackError::Unsupported {
                    path: header.shown.clone(),
                    reason: format!("{what} {value} is out of range"),
                })
        };
        Ok(Some((
            Uid::from_raw_unchecked(id(header.uid, "uid")?),
            Gid::from_raw_unchecked(id(header.gid, "gid")?),
        )))
    }

    fn mode(&mut self, header: &Header) -> u32 {
        let special = header.mode & 0o7000;
        if special != 0 && self.rules.special_bits == SpecialBits::Strip {
            tracing::info!(entry = %header.shown, mode = format!("{:o}", header.mode), "setuid, setgid or sticky bit stripped");
            self.report.stripped_setuid += 1;
            return header.mode & 0o777;
        }
        header.mode
    }

    /// Sets the directories' modes, deepest first, each opened afresh
    /// without following links (one replaced since is left alone).
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.cached_parent = None;
        let dirs = std::mem::take(&mut self.dirs);
        for (path, mode) in dirs.into_iter().rev() {
            let Ok(Some(parts)) = components(&path, usize::MAX) else {
                continue;
            };
            let mut dir = self
                .into
                .try_clone()
                .map_err(|e| dir_error(&path, "open the root", e))?;
            for part in &parts {
                dir = open_dir(&dir, OsStr::from_bytes(part))
                    .map_err(|e| dir_error(&path, "reopen the directory", e))?;
            }
            rustix::fs::fchmod(&dir, Mode::from_raw_mode(mode))
                .map_err(|e| dir_error(&path, "set the mode", e.into()))?;
        }
        Ok(())
    }
}

fn is_whiteout_device<R: Read>(header: &Header, entry: &tar::Entry<'_, R>) -> bool {
    header.kind == tar::EntryType::Char
        && entry.header().device_major().ok().flatten() == Some(0)
        && entry.header().device_minor().ok().flatten() == Some(0)
}

fn io_error(header: &Header, action: &'static str, source: io::Error) -> UnpackError {
    UnpackError::Io {
        path: header.shown.clone(),
        action,
        source,
    }
}

fn dir_error(path: &[u8], action: &'static str, source: io::Error) -> UnpackError {
    UnpackError::Io {
        path: shown(path),
        action,
        source,
    }
}

#[cfg(test)]
pub(crate) mod tests;
