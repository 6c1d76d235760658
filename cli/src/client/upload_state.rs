//! What an unfinished `trove push` leaves behind so that running it again resumes: one file
//! per file content (`uploads/<sha256>.json` beside the login), removed once the upload
//! settles.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::client::private_file;

/// Where a push sends a file: the same file pushed to the same place resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub server: String,
    pub repository: String,
    pub package: String,
    pub version: String,
    pub filename: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub upload_id: String,
    #[serde(flatten)]
    pub target: Target,
    pub size: u64,
    pub sha256: String,
    /// None for a file sent in one PUT.
    pub part_size: Option<u64>,
}

/// The folder of upload states.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// `uploads/` beside the stored login.
    pub fn in_config_dir() -> anyhow::Result<Self> {
        Ok(Self::new(crate::client::config::root()?.join("uploads")))
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.json"))
    }

    pub fn save(&self, state: &UploadState) -> anyhow::Result<()> {
        let path = self.path(&state.sha256);
        private_file::write(&path, &serde_json::to_vec_pretty(state)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// The state of the file with this content, if a push of it was interrupted.
    pub fn load(&self, sha256: &str) -> anyhow::Result<Option<UploadState>> {
        read(&self.path(sha256))
    }

    pub fn remove(&self, sha256: &str) -> anyhow::Result<()> {
        let path = self.path(sha256);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }

    /// Interrupted pushes to `target` of other content than `sha256`: the file changed
    /// since. Unreadable states are skipped (they resume nothing).
    pub fn others_for(&self, target: &Target, sha256: &str) -> anyhow::Result<Vec<UploadState>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot list {}", self.dir.display()));
            }
        };
        let mut found = Vec::new();
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            if let Ok(Some(state)) = read(&path)
                && state.target == *target
                && state.sha256 != sha256
            {
                found.push(state);
            }
        }
        Ok(found)
    }
}

fn read(path: &Path) -> anyhow::Result<Option<UploadState>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn target() -> Target {
        Target {
            server: "http://127.0.0.1:8080".into(),
            repository: "libs".into(),
            package: "widget".into(),
            version: "1.0.0".into(),
            filename: "widget.bin".into(),
        }
    }

    fn state(sha: char) -> UploadState {
        UploadState {
            upload_id: "01jz0000000000000000000000".into(),
            target: target(),
            size: 40 << 20,
            sha256: sha.to_string().repeat(64),
            part_size: Some(16 << 20),
        }
    }

    #[test]
    fn a_state_reads_back_as_written_and_only_its_owner_may_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().join("uploads"));
        let s = state('a');
        store.save(&s).expect("save");
        assert_eq!(store.load(&s.sha256).expect("load"), Some(s.clone()));
        let file = dir
            .path()
            .join("uploads")
            .join(format!("{}.json", s.sha256));
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        for field in [
            "upload_id",
            "server",
            "repository",
            "package",
            "version",
            "filename",
            "part_size",
        ] {
            assert!(json.get(field).is_some(), "{field} in {json}");
        }
        store.remove(&s.sha256).expect("remove");
        assert_eq!(store.load(&s.sha256).expect("load"), None);
        store.remove(&s.sha256).expect("removing twice is fine");
    }

    #[test]
    fn an_interrupted_push_of_other_content_to_the_same_place_is_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().to_path_buf());
        assert!(store.others_for(&target(), "x").expect("empty").is_empty());
        let old = state('a');
        store.save(&old).expect("save");
        let mut elsewhere = state('b');
        elsewhere.target.version = "2.0.0".into();
        store.save(&elsewhere).expect("save");
        std::fs::write(dir.path().join("junk.json"), b"{").expect("write junk");

        let same_content = store.others_for(&target(), &old.sha256).expect("list");
        assert!(same_content.is_empty(), "{same_content:?}");
        let changed = store.others_for(&target(), &"c".repeat(64)).expect("list");
        assert_eq!(changed, vec![old]);
    }
}
