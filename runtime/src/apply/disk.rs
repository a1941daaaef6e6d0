//! Free disk against image size, checked before a pull.
//!
//! The engine cannot say how big an image is before pulling it, so the size
//! comes from the registry's manifest (the sum of its compressed layers,
//! read by the engine client, `engine/registry.rs`). Unpacked, layers take
//! more room than that; twice the compressed size is the estimate used, plus
//! a reserve the device keeps free for everything else.

use std::path::Path;

use osb_state::ImageRef;

/// Unpacked size estimate per compressed byte.
pub const UNPACK_FACTOR: u64 = 2;

/// Not enough disk for a pull.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not enough disk to pull {image}: it needs about {} MiB ({UNPACK_FACTOR}x its {} MiB of compressed layers) plus the {} MiB reserve, and {where_} has {} MiB free",
    mib(UNPACK_FACTOR * compressed), mib(*compressed), mib(*reserve), mib(*free)
)]
pub struct NoSpace {
    /// The image.
    pub image: String,
    /// Its compressed size.
    pub compressed: u64,
    /// The reserve kept free.
    pub reserve: u64,
    /// Free bytes.
    pub free: u64,
    /// The directory measured.
    pub where_: String,
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// Whether `free` bytes hold an image of `compressed` bytes and the reserve.
pub fn check(
    image: &ImageRef,
    compressed: u64,
    free: u64,
    reserve: u64,
    where_: &str,
) -> Result<(), NoSpace> {
    let needed = compressed
        .saturating_mul(UNPACK_FACTOR)
        .saturating_add(reserve);
    if free >= needed {
        return Ok(());
    }
    Err(NoSpace {
        image: image.to_string(),
        compressed,
        reserve,
        free,
        where_: where_.to_owned(),
    })
}

/// Bytes available to unprivileged writers on the file system of `path`.
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_twice_the_compressed_size_plus_the_reserve() {
        let image = ImageRef::parse("localhost:5000/web:1").unwrap_or_else(|e| panic!("{e}"));
        const M: u64 = 1 << 20;
        let table = [
            // (compressed, free, reserve, ok)
            (10 * M, 30 * M, 10 * M, true),
            (10 * M, 30 * M - 1, 10 * M, false),
            (0, 0, 0, true),
            (u64::MAX, u64::MAX, 1, true),
            (u64::MAX / 2 + 1, u64::MAX - 1, 0, false),
        ];
        for (compressed, free, reserve, ok) in table {
            let got = check(&image, compressed, free, reserve, "/var/lib/docker");
            assert_eq!(got.is_ok(), ok, "{compressed} {free} {reserve}");
        }
        let message = check(&image, 10 * M, 12 * M, 8 * M, "/var/lib/docker")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            message,
            "not enough disk to pull localhost:5000/web:1: it needs about 20 MiB (2x its 10 MiB of compressed layers) plus the 8 MiB reserve, and /var/lib/docker has 12 MiB free"
        );
    }

    #[test]
    fn free_bytes_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let free = free_bytes(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(free > 0);
        assert!(free_bytes(Path::new("/no/such/dir")).is_err());
    }
}
