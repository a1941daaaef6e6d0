//! The `contract-policy` kind: decides whether an app release may run.

use crate::Result;
use export::bindings::exports::osb::plugin::contract_policy as wit;

/// The app release being decided on.
pub use wit::Release;

/// A policy's verdict with the reasons an operator will read.
pub use wit::Decision;

impl Decision {
    /// The release may run.
    pub fn allow() -> Self {
        Decision {
            allow: true,
            reasons: Vec::new(),
        }
    }

    /// The release may not run, because of `reason`.
    pub fn reject(reason: impl Into<String>) -> Self {
        Decision {
            allow: false,
            reasons: vec![reason.into()],
        }
    }

    /// Adds a reason (for an allow, a note; for a reject, one more cause).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reasons.push(reason.into());
        self
    }
}

/// Decides whether an app release may run on this device.
///
/// Export an implementation with `export_plugin!(ContractPolicy for
/// MyType)`. The value is created with [`Default`] on the first call and
/// reused until the host discards the instance.
pub trait ContractPolicy: Default + 'static {
    /// Decides on `release`; `device` is the running device's OS contract as
    /// contract JSON.
    ///
    /// An `Err` means the policy could not decide (the host treats the
    /// release as not allowed); a reasoned "no" is `Ok(Decision::reject(..))`.
    fn evaluate(&mut self, device: &str, release: &Release) -> Result<Decision>;

    /// Called on a new version before it replaces the running one: fail if
    /// this version cannot work here. The default succeeds.
    fn self_check(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What `export_plugin!(ContractPolicy for T)` expands to use, reached as
/// `$crate::__private::contract_policy`. Not public API.
#[doc(hidden)]
pub mod export {
    use std::marker::PhantomData;

    use super::wit;
    use crate::__private::bindings::lifecycle::exports::osb::plugin::lifecycle;
    use crate::__private::instance;
    use crate::{ContractPolicy, Decision, PluginError, Release};

    /// Export glue for `osb:plugin/contract-policy`.
    pub mod bindings {
        crate::__private::bindings::export_world!(
            "contract-policy",
            "$crate::__private::contract_policy::bindings"
        );
    }

    /// Exports a [`ContractPolicy`] as `lifecycle` + `contract-policy`: each method
    /// fetches the plugin value and forwards to the trait method.
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: ContractPolicy> lifecycle::Guest for Adapter<T> {
        fn self_check() -> Result<(), PluginError> {
            instance::with(T::self_check)
        }
    }

    impl<T: ContractPolicy> wit::Guest for Adapter<T> {
        fn evaluate(device: String, release: Release) -> Result<Decision, PluginError> {
            instance::with(|plugin: &mut T| plugin.evaluate(&device, &release))
        }
    }
}
