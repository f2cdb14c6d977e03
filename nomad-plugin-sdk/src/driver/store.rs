//! Bookkeeping every driver needs: tasks by id, and exits many callers can
//! wait for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::ExitResult;
use crate::PluginError;

/// Tasks keyed by task id, shared between the driver's methods.
///
/// ```
/// use nomad_plugin_sdk::driver::TaskStore;
///
/// let store: TaskStore<u32> = TaskStore::new();
/// store.insert("a/web/0001", 42);
/// assert_eq!(*store.get("a/web/0001").unwrap(), 42);
/// assert!(store.get("nope").is_err());
/// ```
#[derive(Debug)]
pub struct TaskStore<T> {
    tasks: Mutex<HashMap<String, Arc<T>>>,
}

impl<T> Default for TaskStore<T> {
    fn default() -> Self {
        TaskStore {
            tasks: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> TaskStore<T> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<T>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a task.
    pub fn insert(&self, id: impl Into<String>, task: T) -> Arc<T> {
        let task = Arc::new(task);
        self.lock().insert(id.into(), task.clone());
        task
    }

    /// The task, or the not-found error Nomad should see.
    pub fn get(&self, id: &str) -> Result<Arc<T>, PluginError> {
        self.lock().get(id).cloned().ok_or_else(|| not_found(id))
    }

    /// Whether a task is known.
    pub fn contains(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Removes a task, returning it.
    pub fn remove(&self, id: &str) -> Option<Arc<T>> {
        self.lock().remove(id)
    }

    /// Every task id.
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The error for an unknown task id, worded the same everywhere.
pub fn not_found(id: &str) -> PluginError {
    PluginError::NotFound(format!("task not found for given id: {id:?}"))
}

/// A task's exit, set once and awaited by any number of `WaitTask` calls.
#[derive(Debug, Clone)]
pub struct ExitWatch {
    tx: Arc<watch::Sender<Option<ExitResult>>>,
}

impl Default for ExitWatch {
    fn default() -> Self {
        ExitWatch {
            tx: Arc::new(watch::channel(None).0),
        }
    }
}

impl ExitWatch {
    /// A task that has not exited yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the exit (the first one wins) and wakes every waiter.
    pub fn exited(&self, result: ExitResult) {
        self.tx.send_if_modified(|slot| {
            if slot.is_none() {
                *slot = Some(result);
                true
            } else {
                false
            }
        });
    }

    /// The exit, if it happened.
    pub fn result(&self) -> Option<ExitResult> {
        self.tx.borrow().clone()
    }

    /// Waits for the exit.
    pub async fn wait(&self) -> ExitResult {
        let mut rx = self.tx.subscribe();
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `self`, so this cannot happen while
                // we hold it; report rather than hang if it ever does.
                return ExitResult {
                    err: Some("task exit watch dropped".into()),
                    ..Default::default()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_waiters_get_the_same_exit() {
        let w = ExitWatch::new();
        let a = tokio::spawn({
            let w = w.clone();
            async move { w.wait().await }
        });
        let b = tokio::spawn({
            let w = w.clone();
            async move { w.wait().await }
        });
        w.exited(ExitResult::code(3));
        w.exited(ExitResult::code(4));
        assert_eq!(a.await.unwrap().exit_code, 3);
        assert_eq!(b.await.unwrap().exit_code, 3);
        assert_eq!(w.wait().await.exit_code, 3);
    }
}
