//! Outbound HTTP, made by the host for URLs the plugin was granted
//! (capability `http`: a list of URL prefixes).

use std::time::Duration;

use crate::__private::bindings::host::osb::plugin::http as wit;
use crate::PluginError;

/// An HTTP request. Build one with [`Request::get`] or [`Request::new`] and
/// the `with_*` methods.
pub use wit::Request;

/// An HTTP response, with the host's clock readings around the exchange
/// (useful to bound a `Date` header by the round trip).
pub use wit::Response;

/// Why a request failed: `Denied` (URL not granted), `InvalidRequest`,
/// `Transport` (connection, TLS, ...) or `Timeout`.
pub use wit::HttpError;

/// Sends `request` and waits for the response head and body.
///
/// Any status is an `Ok` response; only failing to get a response is an
/// error.
pub fn send(request: &Request) -> Result<Response, HttpError> {
    wit::send(request)
}

impl Request {
    /// The timeout of a request built here unless
    /// [`with_timeout`](Request::with_timeout) changes it.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A request with `method` (such as `"HEAD"`) to `url`, no headers, an
    /// empty body and [`Request::DEFAULT_TIMEOUT`].
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout_ms: duration_to_ms(Self::DEFAULT_TIMEOUT),
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// Adds a header (repeated names are kept, in order).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the timeout of the whole exchange; saturates at `u32::MAX` ms.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = duration_to_ms(timeout);
        self
    }
}

impl Response {
    /// The value of the first header called `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl From<HttpError> for PluginError {
    /// Lets `?` turn a failed request into a plugin error.
    fn from(error: HttpError) -> Self {
        match error {
            HttpError::Denied(reason) => {
                PluginError::permission_denied(format!("http request denied: {reason}"))
            }
            HttpError::InvalidRequest(reason) => {
                PluginError::invalid_input(format!("invalid http request: {reason}"))
            }
            HttpError::Transport(reason) => {
                PluginError::unavailable(format!("http request failed: {reason}"))
            }
            HttpError::Timeout => PluginError::unavailable("http request timed out"),
        }
    }
}

fn duration_to_ms(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    #[test]
    fn header_lookup_ignores_case() {
        let response = Response {
            status: 204,
            headers: vec![("Date".into(), "Tue, 14 Nov 2023 22:13:20 GMT".into())],
            body: Vec::new(),
            sent_at: Timestamp::UNIX_EPOCH,
            received_at: Timestamp::UNIX_EPOCH,
        };
        assert_eq!(
            response.header("date"),
            Some("Tue, 14 Nov 2023 22:13:20 GMT")
        );
        assert_eq!(response.header("server"), None);
        assert!(response.is_success());
    }

    #[test]
    fn timeout_saturates() {
        let request =
            Request::get("https://example.com/").with_timeout(Duration::from_secs(u64::MAX));
        assert_eq!(request.timeout_ms, u32::MAX);
        assert_eq!(Request::get("x").timeout_ms, 10_000);
    }
}
