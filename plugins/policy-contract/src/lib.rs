//! `policy-contract`: the default policy. A release may run when every
//! requirement of its contract holds on the device's contract, as
//! `osb contract check` says (contrato's `satisfiesChildContract`, in
//! `osb-contract`); a vendor replaces the rule by replacing this plugin.
//!
//! The reasons are the check's, one per requirement, held or failed and
//! why (`FAILED: sw.release app@1.0.0 requires[0]: arch.sw amd64: ...`),
//! in the order the contract lists them; a release without requirements is
//! allowed with none. Either argument that is not a contract is
//! `invalid-input` naming the argument and the field, never a decision.
//!
//! No capabilities and no configuration: the answer depends on the two
//! contracts alone.

use osb_contract::{Contract, check};
use osb_sdk::{ContractPolicy, Decision, PluginError, Release, Result};

/// The plugin value; it holds nothing between calls.
#[derive(Default)]
struct ContractCheck;

impl ContractPolicy for ContractCheck {
    fn evaluate(&mut self, device: &str, release: &Release) -> Result<Decision> {
        decide(device, release)
    }
}

/// The decision on `release` against the device's contract `device`.
fn decide(device: &str, release: &Release) -> Result<Decision> {
    let device = Contract::from_json_str(device).map_err(|error| {
        PluginError::invalid_input(format!(
            "invalid argument 'device': not a contract: {error}"
        ))
    })?;
    let require = Contract::from_json_str(&release.contract).map_err(|error| {
        PluginError::invalid_input(format!(
            "invalid argument 'release.contract' of {} {}: not a contract: {error}",
            release.app, release.version
        ))
    })?;
    let report = check(&device, &require);
    Ok(Decision {
        allow: report.holds(),
        reasons: report.entries.iter().map(ToString::to_string).collect(),
    })
}

osb_sdk::export_plugin!(ContractPolicy for ContractCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use osb_sdk::ErrorCode;

    const JETSON: &str =
        include_str!("../../../contract/tests/fixtures/hw.device-type/jetson-tx2/contract.json");

    fn device() -> String {
        format!(r#"{{"type": "meta.context", "slug": "device", "children": [{JETSON}]}}"#)
    }

    fn release(contract: &str) -> Release {
        Release {
            app: "app".into(),
            version: "1.0.0".into(),
            contract: contract.into(),
        }
    }

    fn requiring(arch: &str) -> Release {
        release(&format!(
            r#"{{"type": "sw.release", "slug": "app", "version": "1.0.0",
                "requires": [{{"type": "hw.device-type", "data": {{"arch": "{arch}"}}}}]}}"#
        ))
    }

    #[test]
    fn allows_what_holds_and_denies_what_fails_with_a_reason_per_requirement() {
        let allowed = decide(&device(), &requiring("aarch64")).unwrap();
        assert!(allowed.allow);
        assert_eq!(
            allowed.reasons,
            [
                r#"held: sw.release app@1.0.0 requires[0]: hw.device-type with data.arch "aarch64": matched by jetson-tx2@1"#
            ]
        );

        let denied = decide(&device(), &requiring("amd64")).unwrap();
        assert!(!denied.allow);
        assert_eq!(denied.reasons.len(), 1);
        assert!(
            denied.reasons[0].starts_with(
                r#"FAILED: sw.release app@1.0.0 requires[0]: hw.device-type with data.arch "amd64": "#
            ),
            "{:?}",
            denied.reasons
        );
    }

    #[test]
    fn no_requirements_is_an_allow_without_reasons() {
        let got = decide(
            &device(),
            &release(r#"{"type": "sw.release", "slug": "app"}"#),
        )
        .unwrap();
        assert!(got.allow);
        assert!(got.reasons.is_empty(), "{:?}", got.reasons);
    }

    #[test]
    fn bad_contracts_are_invalid_input_naming_the_argument() {
        for (device, contract, expect) in [
            (
                "{",
                r#"{"type": "t", "slug": "s"}"#,
                "invalid argument 'device': ",
            ),
            (
                r#"{"type": "t", "slug": "s"}"#,
                "[]",
                "invalid argument 'release.contract' of app 1.0.0: ",
            ),
            (
                r#"{"type": "t", "slug": "s"}"#,
                r#"{"type": "t", "slug": "s", "requires": [{"slug": "x"}]}"#,
                "invalid argument 'release.contract' of app 1.0.0: not a contract: requires[0]",
            ),
        ] {
            let error = decide(device, &release(contract)).unwrap_err();
            assert_eq!(error.code, ErrorCode::InvalidInput);
            assert!(error.message.starts_with(expect), "{}", error.message);
        }
    }
}
