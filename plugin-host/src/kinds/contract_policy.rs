//! The `contract-policy` kind: decides whether an app release may run on
//! this device, with reasons. The executor calls it typed
//! ([`PluginHost::evaluate_policy`], over [`PluginHost::contract_policies`]).
//!
//! Policies fail closed: whatever keeps a policy from giving a usable
//! decision (not loaded, quarantined, a trap, its deadline, a limit, an
//! error it answers, a malformed decision) is a [`PolicyError`], which the
//! caller treats as "not now": the release waits and the running one stays.
//! A decision's reasons are the plugin's text, so they come back escaped
//! and bounded, ready to be logged and shown in `osb status`.

use serde::Serialize;
use serde_json::Value;
use wasmtime::Store;

use super::{ArgsError, Exports, args, outcome, versions};
use crate::PluginName;
use crate::grants::EffectiveGrants;
use crate::host::PluginHost;
use crate::host_api::StoreState;
use crate::loaded::CallError;
use crate::manifest::PluginKind;
use crate::wit::latest::contract_policy::exports::osb::plugin::contract_policy as wit;
use crate::wit::latest::{ErrorCode, PluginError};

/// The app release a policy decides on: its app, its version and its
/// contract (contract JSON whose `requires` are the release's).
pub use wit::Release;

versions!(
    contract_policy,
    ContractPolicyPluginPre,
    ContractPolicyPlugin
);

/// The functions, `self-check` first.
pub const FUNCTIONS: &[&str] = &["self-check", "evaluate"];

/// More reasons than this are cut, with one more saying how many were
/// (`… and 12 more`).
/// A contract check gives one per requirement: a release of a few dozen
/// blocks stays far below.
pub const MAX_REASONS: usize = 256;

/// A longer reason is cut (at a character boundary) and ends in `…`.
pub const MAX_REASON_BYTES: usize = 2048;

/// A policy's decision as the runtime acts on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the release may be applied now.
    pub allow: bool,
    /// Why, in the policy's words, control characters escaped, blank ones
    /// dropped, each at most [`MAX_REASON_BYTES`], at most [`MAX_REASONS`]
    /// (and one saying how many more there were). Never empty for a deny;
    /// may be empty for an allow (a policy with nothing to say).
    pub reasons: Vec<String>,
    /// Whether the version that decided holds the `drafts` grant: its allow
    /// lets a draft release run outside development mode. Read from the
    /// same loaded version as the decision, so a swap cannot pair one
    /// version's answer with another's grant.
    pub drafts: bool,
}

/// Why a policy gave no decision. Each message names the policy; each case
/// means the same to the caller: do not apply the release now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The call gave no answer: the plugin is not loaded, is not a policy,
    /// is quarantined, or trapped, ran past its deadline or hit a limit.
    #[error("policy '{plugin}' did not decide: {source}")]
    Call {
        /// The policy.
        plugin: PluginName,
        /// What the call ran into; it names the plugin too.
        source: CallError,
    },
    /// The policy answered that it cannot decide.
    #[error("policy '{plugin}' could not decide: {}: {message}", code.name())]
    Plugin {
        /// The policy.
        plugin: PluginName,
        /// The WIT error code.
        code: ErrorCode,
        /// The plugin's message, escaped and bounded like a reason.
        message: String,
    },
    /// The answer is no decision the runtime can act on.
    #[error("policy '{plugin}' answered a malformed decision: {reason}")]
    Malformed {
        /// The policy.
        plugin: PluginName,
        /// What is wrong with it.
        reason: String,
    },
}

impl PolicyError {
    /// The policy that gave no decision.
    pub fn plugin(&self) -> &PluginName {
        match self {
            PolicyError::Call { plugin, .. }
            | PolicyError::Plugin { plugin, .. }
            | PolicyError::Malformed { plugin, .. } => plugin,
        }
    }
}

/// A parsed JSON call.
pub enum Call {
    /// `evaluate(device, release)`: the device's contract as JSON text.
    Evaluate(String, Release),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateArgs {
    device: String,
    release: Release,
}

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "evaluate" => args::<EvaluateArgs>(a).map(|a| Call::Evaluate(a.device, a.release)),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

impl Instance {
    /// `contract-policy.evaluate`, the plugin's answer as given.
    pub async fn evaluate(
        &self,
        store: &mut Store<StoreState>,
        device: &str,
        release: &Release,
    ) -> wasmtime::Result<Result<wit::Decision, PluginError>> {
        macro_rules! converted {
            ($e:ident) => {
                Ok($e
                    .osb_plugin_contract_policy()
                    .call_evaluate(store, device, &release.clone().into())
                    .await?
                    .map(wit::Decision::from))
            };
        }
        match self {
            Instance::V0_2_0(e) => {
                e.osb_plugin_contract_policy()
                    .call_evaluate(store, device, release)
                    .await
            }
            Instance::V0_1_0(e) => converted!(e),
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => converted!(e),
        }
    }

    /// Runs a parsed JSON call: the answer as given, unchecked, so that
    /// `osb plugin call` shows what the plugin really said.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        let Call::Evaluate(device, release) = call;
        Ok(outcome(self.evaluate(store, &device, &release).await?))
    }
}

impl PluginHost {
    /// Asks the contract-policy plugin `plugin` whether `release` may be
    /// applied on the device whose contract (as contract JSON) is
    /// `device`. The call runs on the version current when it starts,
    /// whatever is swapped in meanwhile.
    pub fn evaluate_policy(
        &self,
        plugin: &PluginName,
        device: &str,
        release: &Release,
    ) -> Result<Decision, PolicyError> {
        self.evaluate_policy_told(plugin, &|_| device.to_owned(), release)
    }

    /// [`evaluate_policy`](Self::evaluate_policy), the device told as
    /// `device` makes it from the deciding version's grants: what a policy
    /// is told may depend on what it was granted (its sensors' readings),
    /// and the grants are read from the very version that decides, so a
    /// swap cannot hand one version what another was granted.
    pub fn evaluate_policy_told(
        &self,
        plugin: &PluginName,
        device: &dyn Fn(&EffectiveGrants) -> String,
        release: &Release,
    ) -> Result<Decision, PolicyError> {
        let call_error = |source| PolicyError::Call {
            plugin: plugin.clone(),
            source,
        };
        let loaded = self.current(plugin).map_err(call_error)?;
        let _span =
            tracing::debug_span!("plugin_call", plugin = %plugin, function = "evaluate").entered();
        if loaded.kind() != PluginKind::ContractPolicy {
            return Err(call_error(loaded.no_such_function("evaluate")));
        }
        let device = device(&loaded.ctx.grants);
        let answer = loaded
            .call(self.driver(), async |store, exports| match exports {
                Exports::ContractPolicy(p) => p.evaluate(store, &device, release).await,
                // Checked above: a contract-policy plugin has its exports.
                _ => Err(wasmtime::Error::msg("not a contract-policy instance")),
            })
            .map_err(call_error)?;
        match answer {
            Ok(decision) => checked(plugin, decision, loaded.ctx.grants.drafts),
            Err(e) => Err(PolicyError::Plugin {
                plugin: plugin.clone(),
                code: e.code,
                message: bounded(&e.message),
            }),
        }
    }

    /// The loaded plugins of kind `contract-policy`, in name order.
    pub fn contract_policies(&self) -> Vec<PluginName> {
        self.names()
            .into_iter()
            .filter(|name| {
                self.get(name)
                    .is_some_and(|p| p.kind() == PluginKind::ContractPolicy)
            })
            .collect()
    }
}

/// The plugin's decision made safe to act on and to log, or why it is not
/// one.
fn checked(
    plugin: &PluginName,
    decision: wit::Decision,
    drafts: bool,
) -> Result<Decision, PolicyError> {
    let given: Vec<&String> = decision
        .reasons
        .iter()
        .filter(|r| !r.trim().is_empty())
        .collect();
    if !decision.allow && given.is_empty() {
        return Err(PolicyError::Malformed {
            plugin: plugin.clone(),
            reason: "it denies without a reason".into(),
        });
    }
    let mut reasons: Vec<String> = given.iter().take(MAX_REASONS).map(|r| bounded(r)).collect();
    let cut = given.len() - reasons.len();
    if cut > 0 {
        reasons.push(format!("… and {cut} more"));
    }
    Ok(Decision {
        allow: decision.allow,
        reasons,
        drafts,
    })
}

/// `text` with control characters escaped (a newline must not forge a log
/// line) and cut to [`MAX_REASON_BYTES`]. Also what an adapter's bootloader
/// error says is made safe with.
pub(crate) fn bounded(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_REASON_BYTES));
    for c in text.trim().chars() {
        let piece = if c.is_control() {
            c.escape_default().to_string()
        } else {
            c.to_string()
        };
        if out.len() + piece.len() > MAX_REASON_BYTES - '…'.len_utf8() {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> PluginName {
        PluginName::new("policy-test").unwrap()
    }

    fn check(allow: bool, reasons: &[&str]) -> Result<Decision, PolicyError> {
        checked(
            &plugin(),
            wit::Decision {
                allow,
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            },
            false,
        )
    }

    fn decision(allow: bool, reasons: &[&str]) -> Decision {
        Decision {
            allow,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            drafts: false,
        }
    }

    #[test]
    fn decisions_pass_with_their_reasons_made_safe() {
        for (allow, given, expect) in [
            (true, &[][..], &[][..]),
            (true, &["inside the window"][..], &["inside the window"][..]),
            (false, &["too hot", "  "][..], &["too hot"][..]),
            (false, &["a\nFAKE LOG LINE"][..], &["a\\nFAKE LOG LINE"][..]),
            (false, &["\u{1b}[31mred"][..], &["\\u{1b}[31mred"][..]),
            (true, &["", " padded "][..], &["padded"][..]),
        ] {
            assert_eq!(
                check(allow, given),
                Ok(decision(allow, expect)),
                "{given:?}"
            );
        }
    }

    #[test]
    fn a_deny_needs_a_reason() {
        for given in [&[][..], &[""][..], &[" ", "\t"][..]] {
            let error = check(false, given).unwrap_err();
            assert_eq!(
                error.to_string(),
                "policy 'policy-test' answered a malformed decision: it denies without a reason",
                "{given:?}"
            );
        }
    }

    #[test]
    fn reasons_are_bounded_in_number_and_length() {
        let many: Vec<String> = (0..MAX_REASONS + 5).map(|i| format!("r{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let got = check(false, &many).unwrap();
        assert_eq!(got.reasons.len(), MAX_REASONS + 1);
        assert_eq!(
            got.reasons[MAX_REASONS - 1],
            format!("r{}", MAX_REASONS - 1)
        );
        assert_eq!(got.reasons[MAX_REASONS], "… and 5 more");

        let long = "é".repeat(MAX_REASON_BYTES);
        let got = check(true, &[&long]).unwrap();
        let reason = &got.reasons[0];
        assert!(reason.len() <= MAX_REASON_BYTES, "{}", reason.len());
        assert!(reason.ends_with("é…"), "{reason}");
        let newlines = "\n".repeat(MAX_REASON_BYTES);
        assert!(bounded(&format!("x{newlines}y")).len() <= MAX_REASON_BYTES);
    }

    #[test]
    fn errors_name_the_policy() {
        let error = PolicyError::Plugin {
            plugin: plugin(),
            code: ErrorCode::InvalidInput,
            message: "argument 'device' is not a contract".into(),
        };
        assert_eq!(
            error.to_string(),
            "policy 'policy-test' could not decide: invalid-input: argument 'device' is not a contract"
        );
        assert_eq!(error.plugin(), &plugin());
    }
}
