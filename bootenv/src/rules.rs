//! What the bootloader and the adapter do to the environment: stage an
//! update, commit it, and the power-on that counts its boots and falls
//! back. Pure: each is a change of an [`Env`], table-tested below.

use crate::env::{Env, Slot};

/// The boots an update gets when nothing says otherwise (a fresh device).
pub const DEFAULT_BOOT_LIMIT: u32 = 3;

/// The most boots an update may be given: past a few, a boot that keeps
/// failing only keeps the device down longer.
pub const MAX_BOOT_LIMIT: u32 = 100;

/// The environment as the runtime asks about it (the WIT `boot-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BootStatus {
    /// The slot the running system booted from.
    pub booted: Slot,
    /// The slot the next boot takes.
    pub next: Slot,
    /// An update is staged or booted and not yet committed.
    pub unconfirmed: bool,
    /// Boots of the unconfirmed update so far.
    pub boot_count: u32,
    /// Boots it gets before the fallback.
    pub boot_limit: u32,
    /// An update the bootloader gave up on, until the next stage.
    pub rolled_back_from: Option<Slot>,
}

/// What one power-on did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerOn {
    /// No update unconfirmed: the default slot booted.
    Default(Slot),
    /// The unconfirmed update booted, this being its `count`th boot of
    /// `limit`.
    Trying {
        /// The update's slot.
        slot: Slot,
        /// Its boots so far, this one included.
        count: u32,
        /// Its limit.
        limit: u32,
    },
    /// The update's boots ran out: the fallback slot booted instead, and
    /// the update is no longer unconfirmed.
    FellBack {
        /// The slot booted.
        slot: Slot,
        /// The update given up on.
        from: Slot,
    },
}

impl PowerOn {
    /// The slot that booted.
    pub fn slot(self) -> Slot {
        match self {
            PowerOn::Default(slot)
            | PowerOn::Trying { slot, .. }
            | PowerOn::FellBack { slot, .. } => slot,
        }
    }
}

/// Why a stage or a commit was refused; the environment is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The running system's own slot cannot take an update.
    #[error("slot {0} is the booted slot; an update goes into the other one")]
    BootedSlot(Slot),
    /// The running system is itself an update on trial: staging another
    /// would make the fallback a slot that was never confirmed.
    #[error("the booted slot {0} is an unconfirmed update; commit it or let it fall back first")]
    Unconfirmed(Slot),
    /// A limit outside `1..=MAX_BOOT_LIMIT`.
    #[error("boot limit {0} is not within 1..={MAX_BOOT_LIMIT}")]
    BootLimit(u32),
    /// A commit before the staged slot booted: it would make a slot that
    /// never ran the default.
    #[error("the staged slot {0} has not booted yet")]
    NotBooted(Slot),
}

impl Env {
    /// The state as the runtime asks about it.
    pub fn state(&self) -> BootStatus {
        BootStatus {
            booted: self.booted_slot,
            next: self.boot_slot,
            unconfirmed: self.upgrade_available,
            boot_count: self.bootcount,
            boot_limit: self.bootlimit,
            rolled_back_from: self.rolled_back_from,
        }
    }

    /// The next boots try `slot`, counted, falling back to the booted slot
    /// after `limit`. A slot staged and not yet booted may be staged again
    /// (a newer update written over it).
    pub fn stage(&mut self, slot: Slot, limit: u32) -> Result<(), Refused> {
        if !(1..=MAX_BOOT_LIMIT).contains(&limit) {
            return Err(Refused::BootLimit(limit));
        }
        if slot == self.booted_slot {
            return Err(Refused::BootedSlot(slot));
        }
        if self.on_trial() {
            return Err(Refused::Unconfirmed(self.booted_slot));
        }
        self.boot_slot = slot;
        self.fallback_slot = self.booted_slot;
        self.upgrade_available = true;
        self.bootcount = 0;
        self.bootlimit = limit;
        self.rolled_back_from = None;
        Ok(())
    }

    /// The booted slot becomes the one every boot takes; the counter is
    /// cleared. Nothing to do when no update is unconfirmed.
    pub fn commit(&mut self) -> Result<(), Refused> {
        if !self.upgrade_available {
            return Ok(());
        }
        if !self.on_trial() {
            return Err(Refused::NotBooted(self.boot_slot));
        }
        self.fallback_slot = self.booted_slot;
        self.upgrade_available = false;
        self.bootcount = 0;
        Ok(())
    }

    /// What the bootloader does on power-on: while an update is
    /// unconfirmed, count the boot, and once the count passes the limit
    /// boot the fallback slot instead and give the update up; then record
    /// the slot booted.
    pub fn power_on(&mut self) -> PowerOn {
        let outcome = if !self.upgrade_available {
            PowerOn::Default(self.boot_slot)
        } else {
            self.bootcount = self.bootcount.saturating_add(1);
            if self.bootcount > self.bootlimit {
                let from = self.boot_slot;
                self.boot_slot = self.fallback_slot;
                self.upgrade_available = false;
                self.bootcount = 0;
                self.rolled_back_from = Some(from);
                PowerOn::FellBack {
                    slot: self.boot_slot,
                    from,
                }
            } else {
                PowerOn::Trying {
                    slot: self.boot_slot,
                    count: self.bootcount,
                    limit: self.bootlimit,
                }
            }
        };
        self.booted_slot = outcome.slot();
        outcome
    }

    /// The running system is the unconfirmed update.
    fn on_trial(&self) -> bool {
        self.upgrade_available && self.booted_slot == self.boot_slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a table: what is done, and the state after it as a
    /// line (`booted next unconfirmed count/limit rolled-back-from`).
    enum Step {
        Stage(Slot, u32),
        Commit,
        Boot,
    }
    use Slot::{A, B};
    use Step::{Boot, Commit, Stage};

    fn line(s: BootStatus) -> String {
        format!(
            "{} {} {} {}/{} {}",
            s.booted,
            s.next,
            if s.unconfirmed {
                "unconfirmed"
            } else {
                "confirmed"
            },
            s.boot_count,
            s.boot_limit,
            s.rolled_back_from.map_or("-", Slot::name),
        )
    }

    /// Runs `steps` from a fresh device on slot a; each step's outcome
    /// and the state after it, one line per step.
    fn run(steps: &[Step]) -> Vec<String> {
        let mut env = Env::fresh(A);
        steps
            .iter()
            .map(|step| {
                let before = env.clone();
                let outcome = match *step {
                    Stage(slot, limit) => env.stage(slot, limit).map(|()| format!("stage {slot}")),
                    Commit => env.commit().map(|()| "commit".to_owned()),
                    Boot => Ok(match env.power_on() {
                        PowerOn::Default(s) => format!("boot {s}"),
                        PowerOn::Trying { slot, count, limit } => {
                            format!("boot {slot} try {count}/{limit}")
                        }
                        PowerOn::FellBack { slot, from } => {
                            format!("boot {slot} fell back from {from}")
                        }
                    }),
                };
                match outcome {
                    Ok(what) => format!("{what}: {}", line(env.state())),
                    Err(why) => {
                        assert_eq!(env, before, "a refusal changes nothing");
                        format!("refused: {why}")
                    }
                }
            })
            .collect()
    }

    #[track_caller]
    fn check(steps: &[Step], expected: &[&str]) {
        assert_eq!(run(steps), expected);
    }

    #[test]
    fn a_good_update_boots_once_then_is_committed() {
        check(
            &[Boot, Stage(B, 3), Boot, Commit, Boot, Boot],
            &[
                "boot a: a a confirmed 0/3 -",
                "stage b: a b unconfirmed 0/3 -",
                "boot b try 1/3: b b unconfirmed 1/3 -",
                "commit: b b confirmed 0/3 -",
                "boot b: b b confirmed 0/3 -",
                "boot b: b b confirmed 0/3 -",
            ],
        );
    }

    #[test]
    fn a_bad_update_boots_until_its_count_runs_out_then_the_old_slot_boots() {
        check(
            &[Stage(B, 2), Boot, Boot, Boot, Boot],
            &[
                "stage b: a b unconfirmed 0/2 -",
                "boot b try 1/2: b b unconfirmed 1/2 -",
                "boot b try 2/2: b b unconfirmed 2/2 -",
                "boot a fell back from b: a a confirmed 0/2 b",
                "boot a: a a confirmed 0/2 b",
            ],
        );
    }

    #[test]
    fn a_limit_of_one_falls_back_on_the_second_boot() {
        check(
            &[Stage(B, 1), Boot, Boot],
            &[
                "stage b: a b unconfirmed 0/1 -",
                "boot b try 1/1: b b unconfirmed 1/1 -",
                "boot a fell back from b: a a confirmed 0/1 b",
            ],
        );
    }

    #[test]
    fn after_a_fallback_the_next_stage_clears_what_was_rolled_back() {
        check(
            &[Stage(B, 1), Boot, Boot, Stage(B, 3), Boot, Commit],
            &[
                "stage b: a b unconfirmed 0/1 -",
                "boot b try 1/1: b b unconfirmed 1/1 -",
                "boot a fell back from b: a a confirmed 0/1 b",
                "stage b: a b unconfirmed 0/3 -",
                "boot b try 1/3: b b unconfirmed 1/3 -",
                "commit: b b confirmed 0/3 -",
            ],
        );
    }

    #[test]
    fn commit_is_idempotent_and_the_update_after_goes_back_to_the_first_slot() {
        check(
            &[Stage(B, 3), Boot, Commit, Commit, Stage(A, 2), Boot, Commit],
            &[
                "stage b: a b unconfirmed 0/3 -",
                "boot b try 1/3: b b unconfirmed 1/3 -",
                "commit: b b confirmed 0/3 -",
                "commit: b b confirmed 0/3 -",
                "stage a: b a unconfirmed 0/2 -",
                "boot a try 1/2: a a unconfirmed 1/2 -",
                "commit: a a confirmed 0/2 -",
            ],
        );
    }

    #[test]
    fn what_is_refused_changes_nothing() {
        check(
            &[
                Stage(A, 3),
                Stage(B, 0),
                Stage(B, MAX_BOOT_LIMIT + 1),
                Stage(B, 3),
                Commit,
                // Staged and not booted: a newer update may replace it.
                Stage(B, 5),
                Boot,
                Stage(A, 3),
                Stage(B, 3),
            ],
            &[
                "refused: slot a is the booted slot; an update goes into the other one",
                "refused: boot limit 0 is not within 1..=100",
                "refused: boot limit 101 is not within 1..=100",
                "stage b: a b unconfirmed 0/3 -",
                "refused: the staged slot b has not booted yet",
                "stage b: a b unconfirmed 0/5 -",
                "boot b try 1/5: b b unconfirmed 1/5 -",
                "refused: the booted slot b is an unconfirmed update; commit it or let it fall back first",
                "refused: slot b is the booted slot; an update goes into the other one",
            ],
        );
    }

    #[test]
    fn the_count_cannot_overflow() {
        let mut env = Env::fresh(A);
        env.stage(B, MAX_BOOT_LIMIT).unwrap();
        env.bootcount = u32::MAX;
        assert_eq!(env.power_on(), PowerOn::FellBack { slot: A, from: B });
    }
}
