//! Bindings of `osb:plugin@0.3.0` (`sdk/wit/v0.3.0`), the draft of the next
//! version, and its conversions to and from [`latest`](super::latest).
//!
//! The draft equals 0.2.0 but for its number, so every conversion is field
//! for field; the macros check at compile time that both sides still have
//! the same fields and cases. When the draft changes a type, that type's
//! conversion is written out by hand here.

super::other_version!("../sdk/wit/v0.3.0");

use hardware_adapter::exports::osb::plugin::hardware_adapter::{
    BootStatus as BootStatusV, Slot as SlotV,
};
use latest::hardware_adapter::exports::osb::plugin::hardware_adapter::{BootStatus, Slot};

same_cases!(SlotV => Slot { A, B });
same_cases!(Slot => SlotV { A, B });

impl From<BootStatusV> for BootStatus {
    fn from(v: BootStatusV) -> BootStatus {
        let BootStatusV {
            booted,
            next,
            unconfirmed,
            boot_count,
            boot_limit,
            rolled_back_from,
        } = v;
        BootStatus {
            booted: booted.into(),
            next: next.into(),
            unconfirmed,
            boot_count,
            boot_limit,
            rolled_back_from: rolled_back_from.map(Into::into),
        }
    }
}
