//! `--lock FILE`: an exclusive advisory lock (flock) held during each attempt.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::Error;

pub(crate) struct FileLock {
    file: Arc<File>,
    path: PathBuf,
}

/// Holds the lock until dropped.
pub(crate) struct FileGuard<'a>(&'a FileLock);

impl Drop for FileGuard<'_> {
    fn drop(&mut self) {
        let _ = self.0.file.unlock();
    }
}

impl FileLock {
    /// Opens (creating if missing, never truncating) the lock file. Rust opens
    /// files close-on-exec, so the command never inherits it.
    pub(crate) fn open(path: &Path) -> Result<FileLock, Error> {
        let writable = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path);
        // flock needs no write access: a lock file that another user created
        // (mode 0644, say) is locked through a read-only descriptor, as flock(1) does.
        let file = match writable {
            Err(e) if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem) => {
                File::open(path).map_err(|_| e)
            }
            other => other,
        }
        .map_err(|source| Error::Lock {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileLock {
            file: Arc::new(file),
            path: path.to_path_buf(),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the lock if it is free.
    pub(crate) fn try_take(&self) -> Result<Option<FileGuard<'_>>, Error> {
        match self.file.try_lock() {
            Ok(()) => Ok(Some(FileGuard(self))),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(Error::Lock {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Waits for the lock on a thread of its own (flock has no timeout), so
    /// the caller can race it against a deadline and signals.
    pub(crate) async fn take(&self) -> Result<FileGuard<'_>, Error> {
        let (tx, rx) = oneshot::channel();
        let file = Arc::clone(&self.file);
        std::thread::spawn(move || {
            let _ = tx.send(file.lock());
        });
        match rx.await {
            Ok(Ok(())) => Ok(FileGuard(self)),
            Ok(Err(source)) => Err(Error::Lock {
                path: self.path.clone(),
                source,
            }),
            Err(_) => Err(Error::Lock {
                path: self.path.clone(),
                source: std::io::Error::other("lock thread ended"),
            }),
        }
    }
}
