//! The sockets of this process, by recipient: what a wake-up from the bus
//! reaches.
//!
//! A socket does not receive notifications through the hub, only the news
//! that its recipient has new ones; it then reads them from the database
//! past the last number it sent. So a wake-up can be lost, repeated or
//! merged with others without losing or repeating a notification, a
//! replica that missed wake-ups (its listener reconnected) catches every
//! socket up by waking them all, and a slow socket holds no queue in
//! memory: what it has not sent yet stays in the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, watch};
use uuid::Uuid;

/// The open sockets of this process.
#[derive(Debug)]
pub(crate) struct Hub {
    sockets: Mutex<HashMap<Uuid, Vec<Arc<Notify>>>>,
    /// Set when the process shuts down: every socket closes.
    closing: watch::Sender<bool>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub { sockets: Mutex::default(), closing: watch::channel(false).0 }
    }
}

/// One socket's place in the hub, given up when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    hub: Arc<Hub>,
    recipient: Uuid,
    wake: Arc<Notify>,
}

/// The recipient holds as many sockets as it may.
#[derive(Debug)]
pub(crate) struct TooManySockets;

impl Hub {
    /// Registers a socket of `recipient`, unless it already holds `limit`.
    /// Register before reading the database: a notification committed after
    /// the read then always wakes the socket.
    pub(crate) fn register(self: &Arc<Self>, recipient: Uuid, limit: usize) -> Result<Registration, TooManySockets> {
        let wake = Arc::new(Notify::new());
        let mut sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        let held = sockets.entry(recipient).or_default();
        if held.len() >= limit {
            return Err(TooManySockets);
        }
        held.push(Arc::clone(&wake));
        Ok(Registration { hub: Arc::clone(self), recipient, wake })
    }

    /// Tells the sockets of `recipient` that it has new notifications.
    pub(crate) fn wake(&self, recipient: Uuid) {
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        for wake in sockets.get(&recipient).into_iter().flatten() {
            // A socket busy sending finds the permit when it next waits.
            wake.notify_one();
        }
    }

    /// Tells every socket to close: the process is shutting down.
    pub(crate) fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Wakes every socket (after wake-ups may have been missed).
    pub(crate) fn wake_all(&self) {
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        for wake in sockets.values().flatten() {
            wake.notify_one();
        }
    }

    /// The sockets open in this process.
    pub(crate) fn open(&self) -> usize {
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        sockets.values().map(Vec::len).sum()
    }

    /// The sockets `recipient` holds.
    #[cfg(test)]
    fn held(&self, recipient: Uuid) -> usize {
        let sockets = self.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        sockets.get(&recipient).map_or(0, Vec::len)
    }
}

impl Registration {
    /// Waits until the recipient may have new notifications (at once if a
    /// wake-up came since the last wait).
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Completes once the process is shutting down.
    pub(crate) async fn closing(&self) {
        let mut closing = self.hub.closing.subscribe();
        // The hub outlives its registrations: the channel stays open.
        let _ = closing.wait_for(|closing| *closing).await;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut sockets = self.hub.sockets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = sockets.get_mut(&self.recipient) {
            held.retain(|wake| !Arc::ptr_eq(wake, &self.wake));
            if held.is_empty() {
                sockets.remove(&self.recipient);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wake_up_before_the_wait_is_kept_and_several_are_one() {
        let hub = Arc::new(Hub::default());
        let recipient = Uuid::new_v4();
        let socket = hub.register(recipient, 2).map_err(|_| "registered").unwrap_or_else(|e| panic!("{e}"));
        hub.wake(recipient);
        hub.wake(recipient);
        tokio::time::timeout(Duration::from_secs(1), socket.woken()).await.unwrap_or_else(|_| panic!("not woken"));
        let again = tokio::time::timeout(Duration::from_millis(50), socket.woken()).await;
        assert!(again.is_err(), "two wake-ups before a wait are one");
        hub.wake(Uuid::new_v4());
        assert!(tokio::time::timeout(Duration::from_millis(50), socket.woken()).await.is_err(), "another recipient's");
        hub.wake_all();
        assert!(tokio::time::timeout(Duration::from_secs(1), socket.woken()).await.is_ok());
    }

    #[test]
    fn a_recipient_holds_at_most_its_limit_and_a_dropped_socket_frees_its_place() {
        let hub = Arc::new(Hub::default());
        let recipient = Uuid::new_v4();
        let first = hub.register(recipient, 2);
        let second = hub.register(recipient, 2);
        assert!(first.is_ok() && second.is_ok());
        assert!(hub.register(recipient, 2).is_err());
        drop(first);
        assert_eq!(hub.held(recipient), 1);
        assert!(hub.register(recipient, 2).is_ok());
        drop(second);
        assert_eq!(hub.held(recipient), 0);
    }
}
