//! The `migration-step` kind: one step of a migration between OS releases.

use crate::__private::bindings::migration_step::exports::osb::plugin::migration_step as wit;
use crate::Result;

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
