//! `osb:plugin/http`: the host makes the request, for granted URL prefixes
//! only, and never follows redirects (a redirect could leave the allow-list).

use std::io::Read;
use std::time::{Duration, SystemTime};

use super::StoreState;
use crate::plugin::wit::latest::Timestamp;
use crate::plugin::wit::latest::host::osb::plugin::http::{Host, HttpError, Request, Response};

/// Response bodies larger than this are cut off with an error.
pub const MAX_BODY: u64 = 1 << 20;
const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends an allowed request. The real one speaks HTTP(S); the SDK harness
/// answers from a table.
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: &Request) -> Result<Response, HttpError>;
}

impl Host for StoreState {
    fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, HttpError>> {
        if !self.plugin.grants.allows_url(&request.url) {
            tracing::warn!(plugin = %self.plugin.name, url = %request.url, "http request outside the plugin's grant refused");
            return Ok(Err(HttpError::Denied(format!(
                "'{}' is not within the plugin's http grant",
                request.url
            ))));
        }
        let _span =
            tracing::debug_span!("http", plugin = %self.plugin.name, url = %request.url).entered();
        Ok(self.plugin.services.http.send(&request))
    }
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => Timestamp {
            seconds: d.as_secs() as i64,
            nanoseconds: d.subsec_nanos(),
        },
        Err(e) => {
            // Before 1970: a device with no clock. Negative seconds, positive nanos.
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                Timestamp {
                    seconds: -s,
                    nanoseconds: 0,
                }
            } else {
                Timestamp {
                    seconds: -s - 1,
                    nanoseconds: 1_000_000_000 - n,
                }
            }
        }
    }
}

/// HTTP(S) with rustls and the webpki roots.
pub struct UreqTransport;

impl HttpTransport for UreqTransport {
    fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let timeout = Duration::from_millis(request.timeout_ms.max(1).into()).min(MAX_TIMEOUT);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (k, v) in &request.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(request.body.clone())
            .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
        let sent_at = timestamp(SystemTime::now());
        let response = agent.run(req).map_err(|e| match e {
            ureq::Error::Timeout(_) => HttpError::Timeout,
            other => HttpError::Transport(other.to_string()),
        })?;
        let received_at = timestamp(SystemTime::now());
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_BODY)
            .read_to_end(&mut body)
            .map_err(|e| HttpError::Transport(format!("reading body: {e}")))?;
        Ok(Response {
            status,
            headers,
            body,
            sent_at,
            received_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_before_the_epoch_keep_nanoseconds_positive() {
        let t = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanoseconds), (-2, 500_000_000));
        let ts = timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!((ts.seconds, ts.nanoseconds), (5, 0));
    }
}
