//! `wasi:filesystem/types` with the plugin's storage quota.
//!
//! WASI's own implementation does the work (inside the preopens, never
//! following a link out); this wrapper charges what a plugin's writes add
//! to its read-write grants against `fs_bytes` and `fs_entries` first, and
//! credits what removals and truncations give back. A write that would
//! pass the quota fails with `insufficient-space`, as a full disk would,
//! and the host says so in its log once per instance.
//!
//! The usage is measured when an instance starts (the files under its
//! read-write preopens, see `preopens::usage`) and kept up to date by the
//! wrapper; it counts file sizes (a sparse file counts whole), so it
//! errs towards refusing.

use std::fs::File;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry, ErrorCode,
    Filesize, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue, NewTimestamp, OpenFlags,
    PathFlags,
};
use wasmtime_wasi::p2::{
    DynOutputStream, FsError, FsResult, OutputStream, Pollable, ReaddirIterator, StreamError,
    StreamResult,
};

use super::StoreState;
use crate::PluginName;
use crate::limits::PluginLimits;

/// What a plugin's read-write grants hold, against its quota. One per
/// instance, shared with the streams it opens.
pub struct FsQuota {
    plugin: PluginName,
    max_bytes: u64,
    max_entries: u64,
    used: Mutex<Usage>,
}

/// Bytes of regular files, and entries (files, directories, links).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// The regular files' sizes added up (a sparse file counts whole).
    pub bytes: u64,
    /// Files, directories and links beneath the grants, not counting the
    /// granted directories themselves.
    pub entries: u64,
}

impl FsQuota {
    /// `plugin`'s quota of `fs_bytes` and `fs_entries`, starting from `used`
    /// (what its read-write preopens held when the instance started).
    pub fn new(plugin: PluginName, limits: &PluginLimits, used: Usage) -> FsQuota {
        FsQuota {
            plugin,
            max_bytes: limits.fs_bytes.into(),
            max_entries: limits.fs_entries.into(),
            used: Mutex::new(used),
        }
    }

    /// What the read-write grants hold now, as charged; zero once a panic
    /// has poisoned the count.
    pub fn used(&self) -> Usage {
        self.used.lock().map(|u| *u).unwrap_or_default()
    }

    /// Takes `bytes` and `entries` more, or refuses (and says so once).
    fn charge(&self, bytes: u64, entries: u64) -> Result<(), ErrorCode> {
        if bytes == 0 && entries == 0 {
            return Ok(());
        }
        let Ok(mut used) = self.used.lock() else {
            return Err(ErrorCode::Io);
        };
        let want = Usage {
            bytes: used.bytes.saturating_add(bytes),
            entries: used.entries.saturating_add(entries),
        };
        if want.bytes > self.max_bytes || want.entries > self.max_entries {
            tracing::warn!(
                plugin = %self.plugin,
                used_bytes = used.bytes,
                more_bytes = bytes,
                max_bytes = self.max_bytes,
                used_entries = used.entries,
                more_entries = entries,
                max_entries = self.max_entries,
                "plugin storage quota reached; write refused (fs_bytes, fs_entries)"
            );
            return Err(ErrorCode::InsufficientSpace);
        }
        *used = want;
        Ok(())
    }

    /// Gives back what a removal, truncation or failed write freed.
    fn credit(&self, bytes: u64, entries: u64) {
        if let Ok(mut used) = self.used.lock() {
            used.bytes = used.bytes.saturating_sub(bytes);
            used.entries = used.entries.saturating_sub(entries);
        }
    }
}

/// The filesystem view with the quota, as the linker hands it to the
/// `wasi:filesystem/types` functions.
pub struct QuotaFs<'a> {
    view: WasiFilesystemCtxView<'a>,
    quota: &'a Arc<FsQuota>,
}

struct QuotaFsData;

impl HasData for QuotaFsData {
    type Data<'a> = QuotaFs<'a>;
}

impl StoreState {
    fn quota_fs(&mut self) -> QuotaFs<'_> {
        QuotaFs {
            view: WasiFilesystemCtxView {
                ctx: self.wasi.filesystem(),
                table: &mut self.table,
            },
            quota: &self.fs_quota,
        }
    }
}

/// Replaces WASI's `wasi:filesystem/types` in `linker` (which already has
/// all of WASI) with the quota-keeping one.
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = types::add_to_linker::<StoreState, QuotaFsData>(linker, StoreState::quota_fs);
    linker.allow_shadowing(false);
    added
}

/// The size of the regular file behind `fd`, and the file, if `fd` is one.
fn file_of(view: &WasiFilesystemCtxView<'_>, fd: &Resource<Descriptor>) -> Option<Arc<File>> {
    match view.table.get(fd) {
        Ok(Descriptor::File(f)) => Some(f.file.clone()),
        _ => None,
    }
}

fn size_of(file: &File) -> u64 {
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

/// What removing the entry a `stat-at` describes gives back: the entry,
/// and a regular file's bytes when this was its last link.
fn freed_by(stat: &DescriptorStat) -> (u64, u64) {
    let bytes = match stat.type_ {
        DescriptorType::RegularFile if stat.link_count <= 1 => stat.size,
        _ => 0,
    };
    (bytes, 1)
}

impl QuotaFs<'_> {
    /// The entry at `path`, not following a final link; `None` if absent.
    async fn entry(&mut self, fd: &Resource<Descriptor>, path: &str) -> Option<DescriptorStat> {
        HostDescriptor::stat_at(
            &mut self.view,
            borrow(fd),
            PathFlags::empty(),
            path.to_owned(),
        )
        .await
        .ok()
    }

    /// Charges one new entry for `op`, which creates one; refunds it if
    /// `op` fails.
    async fn creating<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut WasiFilesystemCtxView<'_>) -> FsResult<T>,
    ) -> FsResult<T> {
        self.quota.charge(0, 1)?;
        let result = op(&mut self.view).await;
        if result.is_err() {
            self.quota.credit(0, 1);
        }
        result
    }
}

/// Another handle on `fd` for a call that takes one by value.
fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

impl types::Host for QuotaFs<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.view, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.view, err)
    }
}

impl HostDescriptor for QuotaFs<'_> {
    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        let Some(file) = file_of(&self.view, &fd) else {
            return HostDescriptor::write(&mut self.view, fd, buf, offset).await;
        };
        let before = size_of(&file);
        let end = offset.saturating_add(buf.len() as u64);
        let growth = end.saturating_sub(before);
        self.quota.charge(growth, 0)?;
        let result = HostDescriptor::write(&mut self.view, fd, buf, offset).await;
        // Give back what the write did not add (all of it, if it failed).
        self.quota
            .credit((growth + before).saturating_sub(size_of(&file)), 0);
        result
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        let Some(file) = file_of(&self.view, &fd) else {
            return HostDescriptor::set_size(&mut self.view, fd, size).await;
        };
        let before = size_of(&file);
        let growth = size.saturating_sub(before);
        self.quota.charge(growth, 0)?;
        let result = HostDescriptor::set_size(&mut self.view, fd, size).await;
        // Give back a shrink, or what a failed growth did not take.
        self.quota
            .credit((growth + before).saturating_sub(size_of(&file)), 0);
        result
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let file = file_of(&self.view, &fd);
        let stream = HostDescriptor::write_via_stream(&mut self.view, fd, offset)?;
        self.counted(stream, file, Some(offset))
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let file = file_of(&self.view, &fd);
        let stream = HostDescriptor::append_via_stream(&mut self.view, fd)?;
        self.counted(stream, file, None)
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let existing = if oflags.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE) {
            self.entry(&fd, &path).await
        } else {
            None
        };
        let creates = oflags.contains(OpenFlags::CREATE) && existing.is_none();
        let open = async |view: &mut WasiFilesystemCtxView<'_>| {
            HostDescriptor::open_at(view, fd, path_flags, path, oflags, flags).await
        };
        let opened = if creates {
            self.creating(open).await
        } else {
            open(&mut self.view).await
        };
        if opened.is_ok()
            && oflags.contains(OpenFlags::TRUNCATE)
            && let Some(stat) = existing
            && stat.type_ == DescriptorType::RegularFile
        {
            self.quota.credit(stat.size, 0);
        }
        opened
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.creating(async |view| HostDescriptor::create_directory_at(view, fd, path).await)
            .await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.creating(async |view| HostDescriptor::symlink_at(view, fd, src_path, dest_path).await)
            .await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.creating(async |view| {
            HostDescriptor::link_at(view, fd, old_path_flags, old_path, new_descriptor, new_path)
                .await
        })
        .await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let existing = self.entry(&fd, &path).await;
        HostDescriptor::unlink_file_at(&mut self.view, fd, path).await?;
        if let Some(stat) = existing {
            let (bytes, entries) = freed_by(&stat);
            self.quota.credit(bytes, entries);
        }
        Ok(())
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::remove_directory_at(&mut self.view, fd, path).await?;
        self.quota.credit(0, 1);
        Ok(())
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        // A rename over an entry removes that entry.
        let replaced = self.entry(&new_fd, &new_path).await;
        HostDescriptor::rename_at(&mut self.view, fd, old_path, new_fd, new_path).await?;
        if let Some(stat) = replaced {
            let (bytes, entries) = freed_by(&stat);
            self.quota.credit(bytes, entries);
        }
        Ok(())
    }

    // What follows adds nothing to a grant: WASI's own, unchanged.

    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.view, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.view, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.view, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        HostDescriptor::get_type(&mut self.view, fd).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.view, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.view, fd, len, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<ReaddirIterator>> {
        HostDescriptor::read_directory(&mut self.view, fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.view, fd).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        HostDescriptor::stat(&mut self.view, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        HostDescriptor::stat_at(&mut self.view, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.view, fd, path_flags, path, atim, mtim).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.view, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.view, fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<wasmtime_wasi::p2::DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.view, fd, offset)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.view, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.view, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.view, fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for QuotaFs<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<ReaddirIterator>,
    ) -> FsResult<Option<DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.view, stream).await
    }

    fn drop(&mut self, stream: Resource<ReaddirIterator>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.view, stream)
    }
}

impl QuotaFs<'_> {
    /// Puts `stream` back into the table wrapped in a [`CountedStream`].
    fn counted(
        &mut self,
        stream: Resource<DynOutputStream>,
        file: Option<Arc<File>>,
        position: Option<u64>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let Some(file) = file else {
            return Ok(stream);
        };
        let inner = self.view.table.delete(stream)?;
        let counted: DynOutputStream = Box::new(CountedStream {
            inner,
            file,
            position,
            charged_to: 0,
            quota: self.quota.clone(),
        });
        Ok(self.view.table.push(counted)?)
    }
}

/// A file's output stream that charges what it adds to the file against
/// the quota before passing the bytes on.
struct CountedStream {
    inner: DynOutputStream,
    file: Arc<File>,
    /// Where the next write lands; `None` for an append stream.
    position: Option<u64>,
    /// The end of the file as far as this stream has paid for it: writes
    /// still in flight are not in the file's size yet.
    charged_to: u64,
    quota: Arc<FsQuota>,
}

impl CountedStream {
    fn charge(&mut self, len: u64) -> StreamResult<()> {
        let growth = match self.position {
            None => len,
            Some(at) => {
                let end = at.saturating_add(len);
                let known = size_of(&self.file).max(self.charged_to);
                self.charged_to = known.max(end);
                end.saturating_sub(known)
            }
        };
        self.quota.charge(growth, 0).map_err(|code| {
            let errno = match code {
                ErrorCode::InsufficientSpace => rustix::io::Errno::NOSPC,
                _ => rustix::io::Errno::IO,
            };
            StreamError::LastOperationFailed(std::io::Error::from(errno).into())
        })?;
        if let Some(at) = &mut self.position {
            *at = at.saturating_add(len);
        }
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CountedStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CountedStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len() as u64)?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.charge(bytes.len() as u64)?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, nelem: usize) -> StreamResult<()> {
        self.charge(nelem as u64)?;
        self.inner.write_zeroes(nelem)
    }

    async fn write_ready(&mut self) -> StreamResult<usize> {
        self.inner.write_ready().await
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}
