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
///
/// A driver that does work before it has a task to store (starting a
/// process, re-attaching to one) claims the id first, so two calls for the
/// same task cannot both do that work:
///
/// ```
/// use nomad_plugin_sdk::driver::TaskStore;
///
/// let store: TaskStore<u32> = TaskStore::new();
/// let claim = store.claim("a/web/0001").unwrap();
/// // A second StartTask for the same id is refused while the first runs.
/// assert!(store.claim("a/web/0001").is_err());
/// let task = claim.insert(42); // ... after starting the process
/// assert_eq!(*task, 42);
/// assert!(store.claim("a/web/0001").is_err());
/// // A claim dropped without insert (the start failed) frees the id.
/// drop(store.claim("b/web/0002").unwrap());
/// assert!(store.claim("b/web/0002").is_ok());
/// ```
#[derive(Debug)]
pub struct TaskStore<T> {
    tasks: Mutex<HashMap<String, Slot<T>>>,
}

/// A task, or an id claimed by a call that is still starting it.
#[derive(Debug)]
enum Slot<T> {
    Claimed,
    Task(Arc<T>),
}

impl<T> Slot<T> {
    fn task(&self) -> Option<&Arc<T>> {
        match self {
            Slot::Task(t) => Some(t),
            Slot::Claimed => None,
        }
    }
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot<T>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds or replaces a task.
    pub fn insert(&self, id: impl Into<String>, task: T) -> Arc<T> {
        let task = Arc::new(task);
        self.lock().insert(id.into(), Slot::Task(task.clone()));
        task
    }

    /// Claims `id` for a task about to be started or recovered, in one
    /// step: the error Nomad expects (`AlreadyExists`) when the id is known
    /// or claimed by another call. Fill the claim with [`Claim::insert`];
    /// dropping it unfilled frees the id again.
    pub fn claim(&self, id: impl Into<String>) -> Result<Claim<'_, T>, PluginError> {
        let id = id.into();
        let mut tasks = self.lock();
        if tasks.contains_key(&id) {
            return Err(PluginError::AlreadyExists(format!(
                "task {id:?} is already running"
            )));
        }
        tasks.insert(id.clone(), Slot::Claimed);
        Ok(Claim {
            store: self,
            id: Some(id),
        })
    }

    /// The task, or the not-found error Nomad should see.
    pub fn get(&self, id: &str) -> Result<Arc<T>, PluginError> {
        self.lock()
            .get(id)
            .and_then(Slot::task)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    /// Whether a task is known (a claimed id whose task is not stored yet
    /// is not).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().get(id).and_then(Slot::task).is_some()
    }

    /// Removes a task, returning it.
    pub fn remove(&self, id: &str) -> Option<Arc<T>> {
        let mut tasks = self.lock();
        match tasks.get(id) {
            Some(Slot::Task(_)) => match tasks.remove(id) {
                Some(Slot::Task(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }

    /// Every task id.
    pub fn ids(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, slot)| slot.task().is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.lock().values().filter(|s| s.task().is_some()).count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An id claimed in a [`TaskStore`] by [`TaskStore::claim`]; see there.
#[derive(Debug)]
#[must_use = "a claim dropped without insert frees the id again"]
pub struct Claim<'a, T> {
    store: &'a TaskStore<T>,
    id: Option<String>,
}

impl<T> Claim<'_, T> {
    /// Stores the task under the claimed id.
    pub fn insert(mut self, task: T) -> Arc<T> {
        let task = Arc::new(task);
        if let Some(id) = self.id.take() {
            self.store.lock().insert(id, Slot::Task(task.clone()));
        }
        task
    }
}

impl<T> Drop for Claim<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut tasks = self.store.lock();
            if matches!(tasks.get(&id), Some(Slot::Claimed)) {
                tasks.remove(&id);
            }
        }
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

    #[test]
    fn a_claimed_id_is_neither_found_nor_claimable_until_released() {
        let store: TaskStore<u8> = TaskStore::new();
        let claim = store.claim("t").unwrap();
        assert!(store.get("t").is_err());
        assert!(!store.contains("t"));
        assert!(store.ids().is_empty());
        assert!(store.is_empty());
        assert!(store.remove("t").is_none());
        let again = store.claim("t").unwrap_err();
        assert!(matches!(again, PluginError::AlreadyExists(_)), "{again:?}");
        drop(claim);
        let claim = store.claim("t").unwrap();
        assert_eq!(*claim.insert(7), 7);
        assert_eq!(*store.get("t").unwrap(), 7);
        assert_eq!(store.len(), 1);
        assert!(store.claim("t").is_err());
        assert_eq!(store.remove("t").map(|t| *t), Some(7));
        assert!(store.claim("t").is_ok());
    }

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
