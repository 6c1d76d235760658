//! Who is attempting a delivery, and how a claim left by a dead dispatcher is told from one
//! still in progress without waiting for its lease to run out.
//!
//! A claim names its holder: the dispatcher instance (a new id at every start) and, in AWS,
//! the queue message being handled. A claim is abandoned when its lease ended, when the queue
//! hands out the same message again (SQS does that only after the previous handling timed
//! out, i.e. the function died), or when the holder was a local process that has exited: each
//! local dispatcher holds a lock file while it runs, and the kernel drops the lock with the
//! process however it ends.

use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The holder of an attempt's claim, stored on the delivery record with the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The claiming dispatcher instance.
    pub holder: String,
    /// The queue message whose handling claimed it, when the queue names its messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
}

/// One hand-over of a queue message: SQS's message id and `ApproximateReceiveCount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub message_id: String,
    pub receive_count: u32,
}

impl Receipt {
    /// Whether this is a later hand-over of the message `earlier` was: the queue hands a
    /// message out again only once the handling of the previous copy timed out.
    pub fn supersedes(&self, earlier: &Receipt) -> bool {
        self.message_id == earlier.message_id && self.receive_count > earlier.receive_count
    }

    /// Whether the queue handed this message out before (its earlier handler died or failed).
    pub fn is_redelivery(&self) -> bool {
        self.receive_count > 1
    }
}

/// A new dispatcher instance id: a lower-case ULID, usable as a file name.
pub fn new_instance_id() -> String {
    ulid::Ulid::new().to_string().to_ascii_lowercase()
}

/// The lock files of the dispatchers of one data dir: this process holds its own for as long
/// as it lives; a holder whose file is not locked has exited.
#[derive(Debug)]
pub struct HolderLocks {
    dir: PathBuf,
    /// Kept open: the lock lasts as long as the handle.
    _own: File,
}

const LOCK_SUFFIX: &str = ".lock";

impl HolderLocks {
    /// Locks `instance`'s file under `dir`, and removes the files of holders that exited.
    pub fn register(dir: &Path, instance: &str) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        remove_unlocked(dir);
        // Locked under a temporary name, then renamed: a file under its final name is
        // always locked while its process lives, so nobody removes a live holder's file.
        let staging = dir.join(format!("{instance}.new"));
        let own = File::create(&staging)?;
        own.try_lock().map_err(io::Error::from)?;
        std::fs::rename(&staging, dir.join(format!("{instance}{LOCK_SUFFIX}")))?;
        Ok(Self {
            dir: dir.to_owned(),
            _own: own,
        })
    }

    /// Whether the dispatcher `holder` still runs. A holder that is not a local instance
    /// id, or whose file is gone, does not.
    pub fn is_alive(&self, holder: &str) -> bool {
        if holder.is_empty() || !holder.chars().all(|c| c.is_ascii_alphanumeric()) {
            return false;
        }
        let path = self.dir.join(format!("{holder}{LOCK_SUFFIX}"));
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
            // Unknown: the lease's end still decides.
            Err(_) => return true,
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
                false
            }
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => true,
        }
    }
}

/// Removes the lock files nobody holds (dispatchers that exited, or died before renaming).
fn remove_unlocked(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_alive_while_its_locks_are_held_and_not_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = new_instance_id();
        let b = new_instance_id();
        let locks_a = HolderLocks::register(dir.path(), &a).expect("a registers");
        let locks_b = HolderLocks::register(dir.path(), &b).expect("b registers");
        assert!(locks_b.is_alive(&a));
        assert!(locks_a.is_alive(&b));
        drop(locks_a);
        assert!(!locks_b.is_alive(&a), "a exited");
        assert!(!dir.path().join(format!("{a}{LOCK_SUFFIX}")).exists());
        assert!(!locks_b.is_alive("never-ran"));
        assert!(!locks_b.is_alive("../../etc/passwd"));
        assert!(!locks_b.is_alive(""));
    }

    #[test]
    fn a_new_start_clears_the_files_of_exited_holders() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = new_instance_id();
        drop(HolderLocks::register(dir.path(), &old).expect("registers"));
        let _new = HolderLocks::register(dir.path(), &new_instance_id()).expect("registers");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn only_a_later_hand_over_of_the_same_message_supersedes_a_receipt() {
        let first = Receipt {
            message_id: "m1".into(),
            receive_count: 1,
        };
        let again = Receipt {
            receive_count: 2,
            ..first.clone()
        };
        let other = Receipt {
            message_id: "m2".into(),
            receive_count: 5,
        };
        assert!(again.supersedes(&first));
        assert!(!first.supersedes(&again));
        assert!(!first.supersedes(&first));
        assert!(!other.supersedes(&first));
        assert!(again.is_redelivery() && !first.is_redelivery());
    }
}
