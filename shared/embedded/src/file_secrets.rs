//! The `Secrets` port on a directory: `dir/<name>.key`, 32 random bytes made on first use,
//! readable by the owner only.
//!
//! Creation is race-free across tasks and processes: the bytes go to a synced temporary file
//! that is then hard-linked to the final name. `link` fails if the name exists, so exactly
//! one creator wins and every loser reads the winner's bytes; no reader ever sees a partial
//! file.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use async_trait::async_trait;

use super::fs_atomic::{self, TempFile};
use trove_core::ports::{SecretError, Secrets};

const SECRET_LEN: usize = 32;

#[derive(Debug)]
pub struct FileSecrets {
    dir: PathBuf,
    /// Secrets never change once created, so each is read from disk once per process.
    cache: RwLock<HashMap<String, Vec<u8>>>,
}

impl FileSecrets {
    pub fn new(dir: PathBuf) -> FileSecrets {
        FileSecrets {
            dir,
            cache: RwLock::new(HashMap::new()),
        }
    }

    fn cached(&self, name: &str) -> Option<Vec<u8>> {
        // The map holds plain bytes; a panic elsewhere cannot leave it half-updated.
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache.get(name).cloned()
    }

    fn remember(&self, name: &str, secret: &[u8]) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache.insert(name.to_owned(), secret.to_vec());
    }
}

/// A file name for any secret name, injective so two names never share a file: safe
/// characters stay, every other byte (and a leading dot) becomes `~HH`.
fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, b) in name.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && i > 0);
        if safe {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("~{b:02x}"));
        }
    }
    out.push_str(".key");
    out
}

fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn read_or_create(dir: &Path, name: &str) -> Result<Vec<u8>, SecretError> {
    let err = |e: io::Error| SecretError::Other(format!("secret {name}: {e}"));
    let path = dir.join(file_name(name));
    match std::fs::read(&path) {
        Ok(bytes) if bytes.is_empty() => {
            return Err(SecretError::Other(format!("secret {name}: file is empty")));
        }
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(e)),
    }

    create_dir(dir).map_err(err)?;
    let mut secret = vec![0u8; SECRET_LEN];
    rand::fill(&mut secret[..]);
    let tmp = TempFile::new(dir.join(fs_atomic::unique_name(".new-")));
    write_private(tmp.path(), &secret).map_err(err)?;
    match std::fs::hard_link(tmp.path(), &path) {
        Ok(()) => {
            fs_atomic::sync_dir(dir).map_err(err)?;
            Ok(secret)
        }
        // Another task or process created it first: theirs is the secret.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => std::fs::read(&path).map_err(err),
        Err(e) => Err(err(e)),
    }
    // `tmp` is removed on drop; the final name keeps the bytes through its own link.
}

#[async_trait]
impl Secrets for FileSecrets {
    async fn get(&self, name: &str) -> Result<Vec<u8>, SecretError> {
        if name.is_empty() {
            return Err(SecretError::NotFound("(empty name)".into()));
        }
        if let Some(secret) = self.cached(name) {
            return Ok(secret);
        }
        let dir = self.dir.clone();
        let owned = name.to_owned();
        let secret = tokio::task::spawn_blocking(move || read_or_create(&dir, &owned))
            .await
            .map_err(|e| SecretError::Other(e.to_string()))??;
        self.remember(name, &secret);
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn file_names_are_injective_and_tame() {
        assert_eq!(file_name("url-signing"), "url-signing.key");
        assert_eq!(file_name("a/b"), "a~2fb.key");
        assert_ne!(file_name("a/b"), file_name("a_b"));
        assert_ne!(file_name("a~2fb"), file_name("a/b"));
        assert_eq!(file_name(".."), "~2e..key");
        assert_eq!(file_name("../x"), "~2e.~2fx.key");
    }

    #[tokio::test]
    async fn created_once_private_and_stable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secrets = FileSecrets::new(dir.path().join("secrets"));
        let a = secrets.get("url-signing").await.expect("created");
        assert_eq!(a.len(), SECRET_LEN);
        assert_eq!(secrets.get("url-signing").await.expect("again"), a);
        assert_ne!(secrets.get("other").await.expect("other"), a);

        // A new process (a new store) reads the same bytes.
        let fresh = FileSecrets::new(dir.path().join("secrets"));
        assert_eq!(fresh.get("url-signing").await.expect("reread"), a);

        let path = dir.path().join("secrets/url-signing.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Only the two key files remain: no temporary leftovers.
        assert_eq!(
            std::fs::read_dir(dir.path().join("secrets"))
                .expect("dir")
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn racing_creators_agree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            // Separate stores: no shared cache, like separate processes.
            let store = Arc::new(FileSecrets::new(dir.path().to_path_buf()));
            tasks.push(tokio::spawn(async move { store.get("race").await }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("task").expect("secret"));
        }
        assert!(seen.windows(2).all(|w| w[0] == w[1]));
    }
}
