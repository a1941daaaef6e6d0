//! The one rule by which an HTTP URL is read, for a manifest's requested
//! prefixes, a device's granted ones and every URL a plugin sends: what is
//! checked is what is sent.

/// `raw` parsed as an http(s) URL and normalised by the WHATWG rules
/// (the `url` crate): `..` and `.` segments resolved, `%2e` read as a dot,
/// `\` as `/`. Refused: other schemes, user info (a plugin must not send
/// credentials in the authority), and percent-encoded `/`, `\`, `.` or
/// `%` left in the path, which some servers decode into a path the check
/// never saw.
pub fn normalised_url(raw: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(raw).map_err(|e| format!("'{raw}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!("'{raw}' is not an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("'{raw}' carries user info"));
    }
    let path = url.path().to_ascii_lowercase();
    if ["%2f", "%5c", "%2e", "%25"]
        .iter()
        .any(|e| path.contains(e))
    {
        return Err(format!(
            "'{raw}' has an encoded '/', '\\', '.' or '%' in its path"
        ));
    }
    url.set_fragment(None);
    Ok(url)
}

/// `url` lies within `prefix` when both have the same scheme, host and
/// port, and the prefix's path is a whole-segment prefix of the URL's
/// (`/api` holds `/api` and `/api/v1`, not `/apix`). Manifest validation
/// makes every prefix a URL with a path.
pub fn url_within(url: &url::Url, prefix: &str) -> bool {
    let Ok(prefix) = normalised_url(prefix) else {
        return false;
    };
    if url.scheme() != prefix.scheme()
        || url.host() != prefix.host()
        || url.port_or_known_default() != prefix.port_or_known_default()
    {
        return false;
    }
    let (path, within) = (url.path(), prefix.path());
    match path.strip_prefix(within) {
        Some(rest) => within.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}
