//! `TimeHandle`: how the rest of the runtime reads the clock's state, now
//! and as it changes.

use tokio::sync::watch;

use osb_state::TimeStatus;

/// The state the time service publishes. Cheap to clone; readers never
/// block the service.
#[derive(Debug, Clone)]
pub struct TimeHandle(watch::Receiver<TimeStatus>);

impl TimeHandle {
    /// A state no service will change: what `osb apply` uses, as told.
    pub fn fixed(status: TimeStatus) -> TimeHandle {
        let (_sender, receiver) = watch::channel(status);
        TimeHandle(receiver)
    }

    pub(super) fn new(receiver: watch::Receiver<TimeStatus>) -> TimeHandle {
        TimeHandle(receiver)
    }

    /// The state now.
    pub fn current(&self) -> TimeStatus {
        *self.0.borrow()
    }

    /// Waits for the state to change. Once no service publishes any more
    /// (a fixed handle, or the service stopped) it waits for ever, so a
    /// `select!` on it never spins.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_handle_reads_its_state_and_never_wakes() {
        let mut h = TimeHandle::fixed(TimeStatus::Coarse);
        assert_eq!(h.current(), TimeStatus::Coarse);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::select! {
                () = h.changed() => panic!("a fixed state changed"),
                () = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        });
    }

    #[test]
    fn a_published_change_wakes_the_reader() {
        let (sender, receiver) = watch::channel(TimeStatus::Unsynced);
        let mut h = TimeHandle::new(receiver);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        sender.send_replace(TimeStatus::Synced);
        rt.block_on(h.changed());
        assert_eq!(h.current(), TimeStatus::Synced);
    }
}
