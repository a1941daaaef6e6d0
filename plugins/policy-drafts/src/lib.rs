//! `policy-drafts`: draft releases of the configured apps run on this
//! device outside development mode: the policy of a device in a test
//! fleet, where a release pipeline sends drafts to be tested (and marked
//! final by their own test blocks) before they reach the rest of the fleet.
//!
//! Its allow counts for a draft only because the device config grants it
//! the `drafts` capability; the runtime asks every other policy too, so a
//! draft still runs only where its contract holds and the window is open.
//! A final release is not this policy's business: it is allowed with
//! nothing said. A draft of an app not in config `apps` is denied.
//!
//! The release's status is the runtime's `data.status` in the release's
//! contract; a contract without one, or with another value, is
//! `invalid-input` naming the field, never a guess.

mod settings;

use osb_sdk::{ContractPolicy, Decision, PluginError, Release, Result};

use settings::{Apps, Settings};

/// The plugin value: the settings read at creation, or why they are bad.
struct Drafts {
    // A `Result` because `Default` cannot fail: a bad setting is reported
    // by `self_check` and by every call instead.
    settings: Result<Settings>,
}

impl Default for Drafts {
    fn default() -> Self {
        Drafts {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

impl ContractPolicy for Drafts {
    fn evaluate(&mut self, _device: &str, release: &Release) -> Result<Decision> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        decide(&settings.apps, release)
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map(|_| ()).map_err(Clone::clone)
    }
}

/// Whether a release says it is a draft or final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Draft,
    Final,
}

/// The release's status, from its contract's `data.status`.
fn status(release: &Release) -> Result<Status> {
    let field = |what: &str| {
        PluginError::invalid_input(format!(
            "invalid argument 'release.contract' of {} {}: {what}",
            release.app, release.version
        ))
    };
    let contract: serde_json::Value =
        serde_json::from_str(&release.contract).map_err(|e| field(&format!("not JSON: {e}")))?;
    match contract.pointer("/data/status") {
        Some(serde_json::Value::String(s)) if s == "draft" => Ok(Status::Draft),
        Some(serde_json::Value::String(s)) if s == "final" => Ok(Status::Final),
        Some(other) => Err(field(&format!(
            "data.status is {other}, expected \"draft\" or \"final\""
        ))),
        None => Err(field("no data.status: the release's status is unknown")),
    }
}

/// The decision on `release` for a device whose drafts setting is `apps`.
fn decide(apps: &Apps, release: &Release) -> Result<Decision> {
    if status(release)? == Status::Final {
        return Ok(Decision::allow());
    }
    let what = format!("draft {} of app '{}'", release.version, release.app);
    Ok(if apps.contains(&release.app) {
        Decision::allow().with_reason(format!(
            "{what} may run on this device (config apps = {apps})"
        ))
    } else {
        Decision::reject(format!(
            "{what}: drafts of this app do not run on this device (config apps = {apps})"
        ))
    })
}

osb_sdk::export_plugin!(ContractPolicy for Drafts);

#[cfg(test)]
mod tests {
    use super::*;
    use osb_sdk::ErrorCode;

    fn release(app: &str, contract: &str) -> Release {
        Release {
            app: app.into(),
            version: "2.0.0".into(),
            contract: contract.into(),
        }
    }

    fn with_status(app: &str, status: &str) -> Release {
        release(
            app,
            &format!(
                r#"{{"type": "sw.release", "slug": "{app}", "version": "2.0.0", "data": {{"status": "{status}"}}}}"#
            ),
        )
    }

    fn apps(written: &str) -> Apps {
        Settings::from_lookup(|k| (k == "apps").then(|| written.to_owned()))
            .unwrap()
            .apps
    }

    #[test]
    fn drafts_of_the_configured_apps_are_allowed_with_a_reason_and_others_denied() {
        let cases = [
            // (apps, app, status, allowed, reason)
            (
                "*",
                "main",
                "draft",
                true,
                "draft 2.0.0 of app 'main' may run on this device (config apps = *)",
            ),
            (
                "main, web",
                "web",
                "draft",
                true,
                "draft 2.0.0 of app 'web' may run on this device (config apps = main,web)",
            ),
            (
                "main",
                "web",
                "draft",
                false,
                "draft 2.0.0 of app 'web': drafts of this app do not run on this device (config apps = main)",
            ),
            // Finals are not this policy's business.
            ("main", "web", "final", true, ""),
            ("*", "main", "final", true, ""),
        ];
        for (configured, app, status, allowed, reason) in cases {
            let decision = decide(&apps(configured), &with_status(app, status)).unwrap();
            assert_eq!(decision.allow, allowed, "{configured} {app} {status}");
            assert_eq!(
                decision.reasons.join("; "),
                reason,
                "{configured} {app} {status}"
            );
        }
    }

    #[test]
    fn a_release_without_a_known_status_is_invalid_input_naming_the_field() {
        for (contract, says) in [
            (
                r#"{"type": "sw.release", "slug": "main"}"#,
                "no data.status",
            ),
            (
                r#"{"type": "sw.release", "slug": "main", "data": {"status": "beta"}}"#,
                r#"data.status is "beta", expected "draft" or "final""#,
            ),
            (
                r#"{"type": "sw.release", "slug": "main", "data": {"status": 1}}"#,
                "data.status is 1",
            ),
            ("not json", "not JSON"),
        ] {
            let error = decide(&apps("*"), &release("main", contract)).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput, "{contract}");
            assert!(
                error
                    .message
                    .starts_with("invalid argument 'release.contract' of main 2.0.0: ")
                    && error.message.contains(says),
                "{contract}: {}",
                error.message
            );
        }
    }
}
