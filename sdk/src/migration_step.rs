//! The `migration-step` kind: one step of a migration between OS releases.

use crate::Result;
use export::bindings::exports::osb::plugin::migration_step as wit;

/// The migration being run: from which OS release to which.
pub use wit::Migration;

/// Whether a step still has work to do.
pub use wit::CheckOutcome;

/// One step of a migration between OS releases.
///
/// [`check`](Self::check) says whether [`apply`](Self::apply) has work to
/// do; [`rollback`](Self::rollback) undoes `apply` when the migration is
/// abandoned. A crash or power cut can interrupt any of them and the host
/// may call them again, so each should be idempotent.
///
/// Export an implementation with `export_plugin!(MigrationStep for
/// MyType)`. The value is created with [`Default`] on the first call and
/// reused until the host discards the instance.
pub trait MigrationStep: Default + 'static {
    /// Whether the step has work to do for `migration`.
    fn check(&mut self, migration: &Migration) -> Result<CheckOutcome>;

    /// Does the step's work.
    fn apply(&mut self, migration: &Migration) -> Result<()>;

    /// Undoes what [`apply`](Self::apply) did.
    fn rollback(&mut self, migration: &Migration) -> Result<()>;

    /// Called on a new version before it replaces the running one: fail if
    /// this version cannot work here. The default succeeds.
    fn self_check(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What `export_plugin!(MigrationStep for T)` expands to use, reached as
/// `$crate::__private::migration_step`. Not public API.
#[doc(hidden)]
pub mod export {
    use std::marker::PhantomData;

    use super::wit;
    use crate::__private::bindings::lifecycle::exports::osb::plugin::lifecycle;
    use crate::__private::instance;
    use crate::{CheckOutcome, Migration, MigrationStep, PluginError};

    /// Export glue for `osb:plugin/migration-step`.
    pub mod bindings {
        crate::__private::bindings::export_world!(
            "migration-step",
            "$crate::__private::migration_step::bindings"
        );
    }

    /// Exports a [`MigrationStep`] as `lifecycle` + `migration-step`: each method
    /// fetches the plugin value and forwards to the trait method.
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: MigrationStep> lifecycle::Guest for Adapter<T> {
        fn self_check() -> Result<(), PluginError> {
            instance::with(T::self_check)
        }
    }

    impl<T: MigrationStep> wit::Guest for Adapter<T> {
        fn check(migration: Migration) -> Result<CheckOutcome, PluginError> {
            instance::with(|plugin: &mut T| plugin.check(&migration))
        }

        fn apply(migration: Migration) -> Result<(), PluginError> {
            instance::with(|plugin: &mut T| plugin.apply(&migration))
        }

        fn rollback(migration: Migration) -> Result<(), PluginError> {
            instance::with(|plugin: &mut T| plugin.rollback(&migration))
        }
    }
}
