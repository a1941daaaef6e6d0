//! Reading an image's manifest from its registry, the way the engine will
//! pull it: anonymously, through the bearer-token flow registries use
//! (Docker Hub, GHCR, distribution's `token` auth), or with Basic auth,
//! using the device's credentials for that registry when it has some.
//!
//! Everything a registry sends is hostile: bodies are bounded, every
//! request has a timeout, and the token server a registry names (its
//! `realm`) must be HTTPS, or plain HTTP on loopback as the engine allows
//! for registries, before any credential is sent to it.
//!
//! Hand-written over ureq (already the plugin host's HTTP client) rather
//! than an OCI client crate: the maintained one (`oci-client`) brings
//! reqwest, tower, chrono, regex and oci-spec's builders, about forty
//! crates and a third HTTP stack, for two GETs. The challenge syntax, the
//! part that is easy to get wrong, is parsed by `http-auth`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use osb_state::ImageRef;

/// How long one request to a registry or its token server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest manifest read; real ones are a few KiB.
const MANIFEST_BYTES_MAX: u64 = 4 << 20;
/// The largest token answer read.
const TOKEN_BYTES_MAX: u64 = 64 << 10;

/// A login at one registry, from the device config.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCredentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The device's registry logins, keyed by the registry as image references
/// name it: `docker.io`, `ghcr.io`, `registry.example.com:5000`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Registries(BTreeMap<String, RegistryCredentials>);

impl Registries {
    /// Checks the keys: a host, with a port or not, nothing else.
    pub fn validate(&self) -> Result<(), String> {
        for host in self.0.keys() {
            let ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !ok {
                return Err(format!(
                    "registries.\"{host}\": a registry host as image references name it \
                     (\"docker.io\", \"ghcr.io\", \"registry.example.com:5000\"), no scheme or path"
                ));
            }
            if self.0[host].username.is_empty() {
                return Err(format!("registries.\"{host}\".username is empty"));
            }
        }
        Ok(())
    }

    /// The login for `image`'s registry, if the device has one.
    pub fn for_image(&self, image: &ImageRef) -> Option<&RegistryCredentials> {
        self.0.get(image.registry())
    }

    /// A set with one login more.
    #[cfg(test)]
    pub fn with(mut self, registry: &str, credentials: RegistryCredentials) -> Registries {
        self.0.insert(registry.to_owned(), credentials);
        self
    }
}

/// Why a manifest could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No answer.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// An answer other than the manifest.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// What was asked.
        url: String,
        /// The status.
        status: u16,
    },
    /// The registry wants a login the device config does not have.
    #[error(
        "{registry} wants a login and the device config has none for it (registries.\"{registry}\")"
    )]
    NoCredentials {
        /// The registry.
        registry: String,
    },
    /// The registry (or its token server) refused the device's login.
    #[error("{registry} refused the login in the device config (registries.\"{registry}\")")]
    Refused {
        /// The registry.
        registry: String,
    },
    /// A challenge this client does not answer.
    #[error("{url}: cannot answer the authentication challenge: {reason}")]
    Challenge {
        /// What was asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The token server named by the registry failed.
    #[error("token server {realm}: {reason}")]
    Token {
        /// The token server.
        realm: String,
        /// What went wrong.
        reason: String,
    },
    /// Not a manifest this client understands.
    #[error("{url}: not an image manifest: {reason}")]
    BadManifest {
        /// What was asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// A manifest list without this machine's platform.
    #[error("{image} has no manifest for linux/{arch}")]
    NoPlatform {
        /// The image.
        image: String,
        /// This machine's architecture, as registries spell it.
        arch: String,
    },
}

/// The compressed size of `image` for this machine's platform (its layers
/// and config), read from its registry with `login` if given.
pub fn image_size(
    image: &ImageRef,
    login: Option<&RegistryCredentials>,
) -> Result<u64, RegistryError> {
    let registry = image.registry();
    let host = match registry {
        "docker.io" => "registry-1.docker.io",
        other => other,
    };
    let base = format!(
        "{}://{host}/v2/{}/manifests/",
        scheme_for(host),
        image.path()
    );
    let mut session = Session::new(registry, image.path(), login);
    let reference = image.digest().or(image.tag()).unwrap_or("latest");
    let manifest = session.manifest(&format!("{base}{reference}"))?;
    if manifest.manifests.is_empty() {
        return Ok(size_of(&manifest));
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let entry = manifest
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .ok_or_else(|| RegistryError::NoPlatform {
            image: image.to_string(),
            arch: arch.to_owned(),
        })?;
    // The digest comes from the registry and lands in a URL path: only the
    // OCI grammar (`algorithm:encoded`) is taken.
    if !is_digest(&entry.digest) {
        return Err(RegistryError::BadManifest {
            url: format!("{base}{reference}"),
            reason: format!("entry digest '{}' is not a digest", entry.digest),
        });
    }
    let url = format!("{base}{}", entry.digest);
    session.manifest(&url).map(|m| size_of(&m))
}

/// `algorithm:encoded` as the OCI image spec writes digests
/// (`sha256:` and 64 hex digits, in practice), at most 256 characters.
fn is_digest(text: &str) -> bool {
    let Some((algorithm, encoded)) = text.split_once(':') else {
        return false;
    };
    text.len() <= 256
        && !algorithm.is_empty()
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        && !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
}

/// Plain HTTP only on loopback, as the engine does for registries there.
fn scheme_for(host: &str) -> &'static str {
    if is_loopback(host) { "http" } else { "https" }
}

fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.rsplit_once(':') {
        // `[::1]:5000`, `127.0.0.1:5000`, `localhost:5000`; a bare `::1`
        // has colons of its own.
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

fn size_of(manifest: &Manifest) -> u64 {
    let layers = manifest
        .layers
        .iter()
        .fold(0u64, |sum, l| sum.saturating_add(l.size));
    layers.saturating_add(manifest.config.as_ref().map_or(0, |c| c.size))
}

/// How to answer a registry's `401`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    /// Send the login as Basic auth.
    Basic,
    /// Get a token from `realm` for `service` and `scope`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// The first challenge this client answers in a `WWW-Authenticate` header:
/// Bearer before Basic, since a registry offering both prefers tokens.
fn parse_challenge(header: &str) -> Result<Challenge, String> {
    let parsed: Vec<http_auth::ChallengeRef<'_>> =
        http_auth::parse_challenges(header).map_err(|e| format!("'{header}': {e}"))?;
    let param = |c: &http_auth::ChallengeRef<'_>, name: &str| {
        c.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    if let Some(bearer) = parsed
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    {
        let realm = param(bearer, "realm").ok_or_else(|| format!("'{header}': no realm"))?;
        return Ok(Challenge::Bearer {
            realm,
            service: param(bearer, "service"),
            scope: param(bearer, "scope"),
        });
    }
    if parsed
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
    {
        return Ok(Challenge::Basic);
    }
    Err(format!("'{header}': neither Bearer nor Basic"))
}

/// The requests for one image: the authorization found for the first
/// manifest serves the second.
struct Session<'a> {
    agent: ureq::Agent,
    registry: &'a str,
    repository: &'a str,
    login: Option<&'a RegistryCredentials>,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    fn new(registry: &'a str, repository: &'a str, login: Option<&'a RegistryCredentials>) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            // A 401 is an answer to read, not an error.
            .http_status_as_error(false)
            // A redirect could carry the Authorization header elsewhere.
            .max_redirects(0)
            .build()
            .into();
        Session {
            agent,
            registry,
            repository,
            login,
            authorization: None,
        }
    }

    fn manifest(&mut self, url: &str) -> Result<Manifest, RegistryError> {
        let mut answered_challenge = false;
        loop {
            let accept = "application/vnd.oci.image.index.v1+json, \
                application/vnd.docker.distribution.manifest.list.v2+json, \
                application/vnd.oci.image.manifest.v1+json, \
                application/vnd.docker.distribution.manifest.v2+json";
            let mut request = self.agent.get(url).header("Accept", accept);
            if let Some(authorization) = &self.authorization {
                request = request.header("Authorization", authorization);
            }
            let mut response = request.call().map_err(|e| RegistryError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
            let status = response.status().as_u16();
            if status == 401 && !answered_challenge {
                let header = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let challenge =
                    parse_challenge(&header).map_err(|reason| RegistryError::Challenge {
                        url: url.to_owned(),
                        reason,
                    })?;
                self.authorization = Some(self.answer(challenge)?);
                answered_challenge = true;
                continue;
            }
            if status == 401 || status == 403 {
                return Err(self.turned_away());
            }
            if status != 200 {
                return Err(RegistryError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
            let bad = |reason: String| RegistryError::BadManifest {
                url: url.to_owned(),
                reason,
            };
            let body = response
                .body_mut()
                .with_config()
                .limit(MANIFEST_BYTES_MAX)
                .read_to_string()
                .map_err(|e| bad(e.to_string()))?;
            return serde_json::from_str(&body).map_err(|e| bad(e.to_string()));
        }
    }

    /// A `401`/`403`: the login was refused, or there was none to give.
    fn turned_away(&self) -> RegistryError {
        let registry = self.registry.to_owned();
        match self.login {
            Some(_) => RegistryError::Refused { registry },
            None => RegistryError::NoCredentials { registry },
        }
    }

    /// The `Authorization` header that answers `challenge`.
    fn answer(&self, challenge: Challenge) -> Result<String, RegistryError> {
        match challenge {
            Challenge::Basic => self.login.map(basic).ok_or_else(|| self.turned_away()),
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let token = self.token(&realm, service.as_deref(), scope.as_deref())?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// A token from the registry's token server: anonymous without a login.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
    ) -> Result<String, RegistryError> {
        let failed = |reason: String| RegistryError::Token {
            realm: realm.to_owned(),
            reason,
        };
        let mut url = url::Url::parse(realm).map_err(|e| failed(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let secure = match url.scheme() {
            "https" => true,
            "http" => is_loopback(&host),
            _ => false,
        };
        if !secure {
            return Err(failed(
                "not HTTPS (plain HTTP only on loopback): no login is sent there".to_owned(),
            ));
        }
        let default_scope = format!("repository:{}:pull", self.repository);
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope.unwrap_or(&default_scope));
        }
        let mut request = self.agent.get(url.as_str());
        if let Some(login) = self.login {
            request = request.header("Authorization", basic(login));
        }
        let mut response = request.call().map_err(|e| failed(e.to_string()))?;
        match response.status().as_u16() {
            200 => {}
            401 | 403 => {
                return Err(self.turned_away());
            }
            status => return Err(failed(format!("HTTP {status}"))),
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(TOKEN_BYTES_MAX)
            .read_to_string()
            .map_err(|e| failed(e.to_string()))?;
        #[derive(Deserialize)]
        struct Answer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: Answer = serde_json::from_str(&body).map_err(|e| failed(e.to_string()))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("no token in the answer".to_owned()))?;
        // It goes into a header: nothing that could end the line.
        if token.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(failed("the token holds control characters".to_owned()));
        }
        Ok(token)
    }
}

fn basic(login: &RegistryCredentials) -> String {
    http_auth::basic::encode_credentials(&login.username, &login.password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_answered_bearer_first() {
        let bearer = |realm: &str, service: Option<&str>, scope: Option<&str>| {
            Ok(Challenge::Bearer {
                realm: realm.to_owned(),
                service: service.map(str::to_owned),
                scope: scope.map(str::to_owned),
            })
        };
        let table: [(&str, Result<Challenge, ()>); 7] = [
            (
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
                bearer(
                    "https://auth.docker.io/token",
                    Some("registry.docker.io"),
                    Some("repository:library/busybox:pull"),
                ),
            ),
            (
                r#"bearer realm="https://ghcr.io/token""#,
                bearer("https://ghcr.io/token", None, None),
            ),
            (r#"Basic realm="Registry Realm""#, Ok(Challenge::Basic)),
            (
                r#"Basic realm="r", Bearer realm="https://t/x",service="s""#,
                bearer("https://t/x", Some("s"), None),
            ),
            (r#"Bearer service="s""#, Err(())),
            (r#"Digest realm="r", nonce="n""#, Err(())),
            ("", Err(())),
        ];
        for (header, expected) in table {
            assert_eq!(
                parse_challenge(header).map_err(|_| ()),
                expected,
                "{header}"
            );
        }
    }

    #[test]
    fn only_digests_are_taken_from_a_manifest_list() {
        let sha = format!("sha256:{}", "a".repeat(64));
        for (text, ok) in [
            (sha.as_str(), true),
            ("sha512+b64u:abc-_=", true),
            ("sha256:", false),
            (":abc", false),
            ("latest", false),
            ("sha256:../../../v2/_catalog", false),
            ("sha256:abc?x=1", false),
            ("sha256:abc#frag", false),
        ] {
            assert_eq!(is_digest(text), ok, "{text}");
        }
        assert!(!is_digest(&format!("sha256:{}", "a".repeat(300))));
    }

    #[test]
    fn loopback_hosts_are_plain_http() {
        for (host, loopback) in [
            ("127.0.0.1:5000", true),
            ("localhost:5000", true),
            ("localhost", true),
            ("[::1]:5000", true),
            ("127.0.0.1.example.com", false),
            ("::1", true),
            ("registry.example.com:5000", false),
            ("ghcr.io", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(is_loopback(host), loopback, "{host}");
        }
    }

    #[test]
    fn registry_keys_are_hosts_and_logins_are_not_printed() {
        let login = RegistryCredentials {
            username: "device".to_owned(),
            password: "s3cret".to_owned(),
        };
        let ok = Registries::default()
            .with("docker.io", login.clone())
            .with("127.0.0.1:5000", login.clone());
        assert_eq!(ok.validate(), Ok(()));
        assert!(!format!("{ok:?}").contains("s3cret"));
        for bad in ["https://ghcr.io", "ghcr.io/org", ""] {
            let err = Registries::default().with(bad, login.clone()).validate();
            assert!(
                err.is_err_and(|e| e.contains(&format!("registries.\"{bad}\""))),
                "{bad}"
            );
        }
        let empty = RegistryCredentials {
            username: String::new(),
            password: "x".to_owned(),
        };
        let err = Registries::default().with("ghcr.io", empty).validate();
        assert_eq!(
            err,
            Err("registries.\"ghcr.io\".username is empty".to_owned())
        );
    }
}
