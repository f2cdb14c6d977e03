//! Task events a driver publishes for Nomad's task event log.

use tokio::sync::broadcast;

use super::TaskEvent;

/// Carries [`TaskEvent`]s from the driver to Nomad's `TaskEvents` stream.
///
/// Keep one in the driver, publish with [`EventBus::emit`], and return it
/// from [`Driver::events`](super::Driver::events). Events published while no
/// Nomad client listens are dropped, as they would be in a Go driver.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<TaskEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(256).0,
        }
    }
}

impl EventBus {
    /// A new bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes an event.
    pub fn emit(&self, event: TaskEvent) {
        let _ = self.tx.send(event);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.tx.subscribe()
    }
}
