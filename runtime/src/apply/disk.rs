//! Free disk against image size, checked before a pull.
//!
//! The engine cannot say how big an image is before pulling it, so the size
//! comes from the registry's manifest (the sum of its compressed layers).
//! Unpacked, layers take more room than that; twice the compressed size is
//! the estimate used, plus a reserve the device keeps free for everything
//! else. When the manifest cannot be read (a registry that wants a login, a
//! network that is down) the pull goes ahead: the engine will fail it
//! cleanly if the disk fills, and refusing would strand a device whose
//! registry is merely slow.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::block::ImageRef;

/// How long the manifest request may take.
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(10);
const MANIFEST_BYTES_MAX: u64 = 4 << 20;
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

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    manifests: Vec<Entry>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    config: Option<Descriptor>,
}

#[derive(Deserialize)]
struct Entry {
    digest: String,
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct Descriptor {
    size: u64,
}

/// The compressed size of `image` for this machine's platform, from its
/// registry; `None` if the registry does not say.
pub fn image_size(image: &ImageRef) -> Option<u64> {
    let registry = match image.registry() {
        "docker.io" => "registry-1.docker.io",
        other => other,
    };
    let host = registry.rsplit_once(':').map_or(registry, |(h, _)| h);
    // The engine itself talks plain HTTP to loopback registries.
    let scheme = if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        "http"
    } else {
        "https"
    };
    let base = format!("{scheme}://{registry}/v2/{}/manifests/", image.path());
    let reference = image.digest().or(image.tag()).unwrap_or("latest");
    let manifest = fetch(&format!("{base}{reference}"))?;
    if manifest.manifests.is_empty() {
        return Some(size_of(&manifest));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let entry = manifest.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
    })?;
    fetch(&format!("{base}{}", entry.digest)).map(|m| size_of(&m))
}

fn size_of(manifest: &Manifest) -> u64 {
    let layers: u64 = manifest.layers.iter().map(|l| l.size).sum();
    layers + manifest.config.as_ref().map_or(0, |c| c.size)
}

fn fetch(url: &str) -> Option<Manifest> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(MANIFEST_TIMEOUT))
        .build()
        .into();
    let accept = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
    let response = agent.get(url).header("Accept", accept).call();
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%url, error = %e, "image size unknown");
            return None;
        }
    };
    let body = response
        .body_mut()
        .with_config()
        .limit(MANIFEST_BYTES_MAX)
        .read_to_string()
        .ok()?;
    serde_json::from_str(&body).ok()
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
