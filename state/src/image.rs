//! Image references: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`.
//!
//! The grammar is the one Docker's `distribution/reference` package accepts,
//! narrowed to what a device should pull: the only digest algorithm is
//! sha256. References are compared in their canonical form, so `nginx` and
//! `docker.io/library/nginx:latest` are the same image.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The registry a reference without one is pulled from.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";

const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A parsed, validated image reference.
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// As written; what is shown and serialized.
    original: String,
    /// `registry[:port]`, if the reference names one.
    registry: Option<String>,
    /// The repository path within the registry, e.g. `library/nginx` or `web`.
    path: String,
    tag: Option<String>,
    /// `sha256:<64 hex>`.
    digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference '{reference}': {reason}")]
pub struct ImageRefError {
    /// The string as given.
    pub reference: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ImageRef {
    /// Parses and validates `reference`.
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        parse(reference).map_err(|reason| ImageRefError {
            reference: reference.to_owned(),
            reason,
        })
    }

    /// The registry this image is pulled from (`docker.io` when none is named).
    pub fn registry(&self) -> &str {
        self.registry.as_deref().unwrap_or(DEFAULT_REGISTRY)
    }

    /// The repository path as written, without registry, tag or digest.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The fully qualified repository: `docker.io/library/nginx` for `nginx`.
    pub fn repository(&self) -> String {
        let registry = self.registry();
        if registry == DEFAULT_REGISTRY && !self.path.contains('/') {
            format!("{registry}/library/{}", self.path)
        } else {
            format!("{registry}/{}", self.path)
        }
    }

    /// The tag, if one is written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:<hex>`), if one is written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The reference as written.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The canonical form: registry, full path, and the digest if there is
    /// one, else the tag (`latest` if none). A digest pins the content, so a
    /// tag beside it says nothing more about which image it is.
    pub fn canonical(&self) -> String {
        match &self.digest {
            Some(digest) => format!("{}@{digest}", self.repository()),
            None => format!(
                "{}:{}",
                self.repository(),
                self.tag().unwrap_or(DEFAULT_TAG)
            ),
        }
    }

    /// Whether an image known by `present` (one of its tags or repo digests,
    /// as the engine lists them) is the image this reference asks for.
    pub fn is_satisfied_by(&self, present: &ImageRef) -> bool {
        if self.repository() != present.repository() {
            return false;
        }
        match (&self.digest, &present.digest) {
            (Some(want), Some(have)) => want == have,
            // A digest is only proven by a digest.
            (Some(_), None) => false,
            (None, _) => {
                present.digest.is_none()
                    && self.tag().unwrap_or(DEFAULT_TAG) == present.tag().unwrap_or(DEFAULT_TAG)
            }
        }
    }
}

fn parse(reference: &str) -> Result<ImageRef, String> {
    if reference.is_empty() {
        return Err("empty".to_owned());
    }
    if reference.trim() != reference {
        return Err("surrounding whitespace".to_owned());
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
        None => (reference, None),
    };
    // A tag's ':' comes after the last '/'; an earlier one is a registry port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (&rest[..at], Some(check_tag(&rest[at + 1..])?))
        }
        None => (rest, None),
    };
    if name.len() > NAME_MAX {
        return Err(format!("name longer than {NAME_MAX} characters"));
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if is_registry(first) => (Some(check_registry(first)?), path),
        _ => (None, name),
    };
    check_path(path)?;
    Ok(ImageRef {
        original: reference.to_owned(),
        registry,
        path: path.to_owned(),
        tag,
        digest,
    })
}

/// Docker's rule: the first component is a registry if it has a '.' or a
/// ':' or is `localhost` (or has capitals, which a path may not).
fn is_registry(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

fn check_registry(registry: &str) -> Result<String, String> {
    let bad = || {
        Err(format!(
            "registry '{registry}' is not a host name with an optional port"
        ))
    };
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5000`.
        let Some((ip, after)) = rest.split_once(']') else {
            return bad();
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return bad();
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return bad(),
            },
        };
        (None, port)
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        // Docker reads a capitalised first component as a registry, then
        // refuses to pull from it; refusing it here names the cause.
        if host.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!("registry '{registry}' must be lowercase"));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return bad();
        }
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0 && !port.starts_with('+'))
    {
        return Err(format!(
            "registry port '{port}' is not a number from 1 to 65535"
        ));
    }
    Ok(registry.to_owned())
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("no repository path".to_owned());
    }
    for component in path.split('/') {
        check_path_component(component)?;
    }
    Ok(())
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` where a separator is `.`, `_`, `__`
/// or a run of `-`.
fn check_path_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("empty path component".to_owned());
    }
    if component.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("path component '{component}' must be lowercase"));
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bad = || {
        Err(format!(
            "path component '{component}' may hold only a-z, 0-9 and single separators \
             ('.', '_', '__' or '-') between them"
        ))
    };
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return bad();
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<String, String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = !tag.is_empty()
        && tag.len() <= TAG_MAX
        && word(tag.as_bytes()[0])
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(tag.to_owned())
    } else {
        Err(format!(
            "tag '{tag}' must be 1 to {TAG_MAX} of A-Z, a-z, 0-9, '_', '.' and '-', \
             not starting with '.' or '-'"
        ))
    }
}

fn check_digest(digest: &str) -> Result<String, String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        return Err(format!("digest '{digest}' must be sha256:<64 hex digits>"));
    };
    let ok = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(digest.to_owned())
    } else {
        Err(format!(
            "digest '{digest}' must be sha256:<64 lowercase hex digits>"
        ))
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;
    fn from_str(s: &str) -> Result<Self, ImageRefError> {
        ImageRef::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

// Equality, order and hash follow the canonical form, so two spellings of one
// image are one image (one fetch, one map key).
impl PartialEq for ImageRef {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

impl Eq for ImageRef {}

impl PartialOrd for ImageRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ImageRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.canonical().cmp(&other.canonical())
    }
}

impl Hash for ImageRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical().hash(state);
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.original)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        ImageRef::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ImageRef {
    fn schema_name() -> Cow<'static, str> {
        "ImageRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "description": "An image reference: [registry[:port]/]path[:tag][@sha256:<64 hex>]. \
                            Path components are lowercase; a reference with neither tag nor \
                            digest means the tag 'latest'.",
            "examples": ["localhost:5000/web:2", "nginx:1.27", "ghcr.io/osb/ntp@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders a parse as `registry | path | tag | digest` or the error.
    fn check(input: &str, expect: &str) {
        let got = match ImageRef::parse(input) {
            Ok(r) => format!(
                "{} | {} | {} | {}",
                r.registry(),
                r.path(),
                r.tag().unwrap_or("-"),
                r.digest().map_or("-", |d| &d[..14])
            ),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn good_references() {
        check("nginx", "docker.io | nginx | - | -");
        check("nginx:1.27", "docker.io | nginx | 1.27 | -");
        check(
            "library/nginx:latest",
            "docker.io | library/nginx | latest | -",
        );
        check("localhost:5000/web:2", "localhost:5000 | web | 2 | -");
        check("localhost/web", "localhost | web | - | -");
        check(
            "ghcr.io/osb/ntp-client:v1.2_rc-3",
            "ghcr.io | osb/ntp-client | v1.2_rc-3 | -",
        );
        check(
            "reg.example.com:443/a/b/c",
            "reg.example.com:443 | a/b/c | - | -",
        );
        check("[::1]:5000/web:1", "[::1]:5000 | web | 1 | -");
        check("my__app.x--y", "docker.io | my__app.x--y | - | -");
        check("a/my__app.x--y/z", "docker.io | a/my__app.x--y/z | - | -");
        check(
            &format!("web@sha256:{HEX}"),
            "docker.io | web | - | sha256:0123456",
        );
        check(
            &format!("web:2@sha256:{HEX}"),
            "docker.io | web | 2 | sha256:0123456",
        );
    }

    #[test]
    fn bad_references() {
        check("", "invalid image reference '': empty");
        check(
            " web",
            "invalid image reference ' web': surrounding whitespace",
        );
        check(
            "UPPER/case",
            "invalid image reference 'UPPER/case': registry 'UPPER' must be lowercase",
        );
        check(
            "Web",
            "invalid image reference 'Web': path component 'Web' must be lowercase",
        );
        check(
            "web:",
            "invalid image reference 'web:': tag '' must be 1 to 128 of A-Z, a-z, 0-9, '_', '.' \
             and '-', not starting with '.' or '-'",
        );
        check(
            "web:-x",
            "invalid image reference 'web:-x': tag '-x' must be 1 to 128 of A-Z, a-z, 0-9, '_', \
             '.' and '-', not starting with '.' or '-'",
        );
        check(
            "web@sha256:abc",
            "invalid image reference 'web@sha256:abc': digest 'sha256:abc' must be \
             sha256:<64 lowercase hex digits>",
        );
        check(
            &format!("web@md5:{HEX}"),
            &format!(
                "invalid image reference 'web@md5:{HEX}': digest 'md5:{HEX}' must be sha256:<64 hex digits>"
            ),
        );
        check(
            "a//b",
            "invalid image reference 'a//b': empty path component",
        );
        check(
            "web/",
            "invalid image reference 'web/': empty path component",
        );
        check(
            "we..b",
            "invalid image reference 'we..b': path component 'we..b' may hold only a-z, 0-9 and \
             single separators ('.', '_', '__' or '-') between them",
        );
        check(
            "-web",
            "invalid image reference '-web': path component '-web' may hold only a-z, 0-9 and \
             single separators ('.', '_', '__' or '-') between them",
        );
        check(
            "localhost:0/web",
            "invalid image reference 'localhost:0/web': registry port '0' is not a number from 1 \
             to 65535",
        );
        check(
            "bad_host.io/web",
            "invalid image reference 'bad_host.io/web': registry 'bad_host.io' is not a host name \
             with an optional port",
        );
        // As Docker reads it: the image `localhost`, tagged `5000`.
        check("localhost:5000", "docker.io | localhost | 5000 | -");
        check(
            "a@b@c",
            "invalid image reference 'a@b@c': digest 'b@c' must be sha256:<64 hex digits>",
        );
    }

    #[test]
    fn canonical_forms_compare_equal() {
        let a = ImageRef::parse("nginx").ok();
        let b = ImageRef::parse("docker.io/library/nginx:latest").ok();
        assert!(a.is_some() && a == b);
        let tagged = ImageRef::parse("nginx:1").ok();
        assert_ne!(a, tagged);
    }

    #[test]
    fn satisfied_by() {
        let r = |s: &str| ImageRef::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(r("nginx").is_satisfied_by(&r("nginx:latest")));
        assert!(r("localhost:5000/web:2").is_satisfied_by(&r("localhost:5000/web:2")));
        assert!(!r("localhost:5000/web:2").is_satisfied_by(&r("localhost:5000/web:1")));
        assert!(!r("localhost:5000/web:2").is_satisfied_by(&r("web:2")));
        let pinned = r(&format!("web:2@sha256:{HEX}"));
        assert!(pinned.is_satisfied_by(&r(&format!("web@sha256:{HEX}"))));
        assert!(!pinned.is_satisfied_by(&r("web:2")));
    }
}
