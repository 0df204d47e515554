//! `--lock`: a lock held during each attempt and released during the waits,
//! on a file (flock, for writers on one machine) or as a lease on an item in
//! DynamoDB (for writers on different machines).

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod file;

use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::parse::LockTarget;

/// What a DynamoDB lease needs besides its table and key.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))]
pub(crate) struct LeaseOptions {
    /// How long a lease lasts unless renewed (`--lock-lease`).
    pub lease: Duration,
    /// Create a missing table (`--lock-create-table`).
    pub create_table: bool,
    /// The command line, recorded in the item for whoever waits.
    pub command: String,
}

/// How to get a build with DynamoDB locks, for the messages of one without.
pub(crate) const HOW_TO_BUILD_WITH_DYNAMODB: &str = "cargo install --locked --path . --features dynamodb";

/// Whether this build can use `target`: a DynamoDB lock needs the cargo feature.
pub(crate) fn available(target: &LockTarget) -> bool {
    matches!(target, LockTarget::File(_)) || cfg!(feature = "dynamodb")
}

pub(crate) enum Lock {
    File(file::FileLock),
    #[cfg(feature = "dynamodb")]
    DynamoDb(dynamodb::Lease),
}

/// Holds the lock until released (a file lock also on drop).
pub(crate) enum LockGuard<'a> {
    File(#[allow(dead_code)] file::FileGuard<'a>),
    #[cfg(feature = "dynamodb")]
    DynamoDb(dynamodb::Holding),
}

/// What trying the lock found.
pub(crate) enum Taken<'a> {
    Got(LockGuard<'a>),
    Busy(Holder),
}

/// Who holds a busy lock, as far as retry-on can tell.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))] // only a lease says these
#[derive(Clone, Debug)]
pub(crate) enum Holder {
    /// A file lock does not say.
    Unknown,
    /// What a lease's item says: host, pid, command and expiry.
    Named(String),
    /// The lease's item was gone when read: its holder had just given it back.
    Gone,
}

/// Why a lock held during an attempt was lost.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))] // only a lease says these
#[derive(Clone, Debug)]
pub(crate) enum Lost {
    /// A renewal found another writer's token: this retry-on was stalled
    /// past the expiry, and another writer took the lease.
    TakenOver,
    /// No renewal got through within a lease length (`lease`), so another
    /// writer may take it; `error` is the last failure.
    NotRenewed { lease: Duration, error: String },
}

/// How giving the lock back went.
#[cfg_attr(not(feature = "dynamodb"), allow(dead_code))] // only a lease says these
pub(crate) enum Released {
    /// Given back: the next writer may take it at once.
    Given,
    /// It was lost before it was given back.
    Lost(Lost),
    /// The service refused or failed: the lease stays until it expires.
    Failed(String),
}

impl Lock {
    /// Opens the lock: the file (created if missing), or a DynamoDB client
    /// from the standard credential and region chain. `place` says where a
    /// config file set it, for the message of a build that cannot use it.
    pub(crate) async fn open(target: &LockTarget, options: LeaseOptions, place: Option<&str>) -> Result<Lock, Error> {
        match target {
            LockTarget::File(path) => file::FileLock::open(path).map(Lock::File),
            #[cfg(feature = "dynamodb")]
            LockTarget::DynamoDb { table, key } => {
                let _ = place;
                dynamodb::Lease::open(table, key, options).await.map(Lock::DynamoDb)
            }
            #[cfg(not(feature = "dynamodb"))]
            LockTarget::DynamoDb { .. } => {
                let _ = options;
                Err(Error::Usage(format!(
                    "{}: this retry-on was built without DynamoDB locks (cargo feature \"dynamodb\"); \
                     build one with them: {HOW_TO_BUILD_WITH_DYNAMODB}",
                    match place {
                        Some(place) => format!("{place}: {target}"),
                        None => format!("--lock {target}"),
                    }
                )))
            }
        }
    }

    /// The lock as the user wrote it, for messages.
    pub(crate) fn name(&self) -> String {
        match self {
            Lock::File(lock) => lock.path().display().to_string(),
            #[cfg(feature = "dynamodb")]
            Lock::DynamoDb(lease) => lease.name(),
        }
    }

    /// Whether any request to the lock's service got an answer (a file
    /// always answers): a lock not taken in time may be one whose service
    /// is silent rather than busy.
    pub(crate) fn answered(&self) -> bool {
        match self {
            Lock::File(_) => true,
            #[cfg(feature = "dynamodb")]
            Lock::DynamoDb(lease) => lease.answered(),
        }
    }

    /// Takes the lock if it is free.
    pub(crate) async fn try_take(&self) -> Result<Taken<'_>, Error> {
        match self {
            Lock::File(lock) => Ok(match lock.try_take()? {
                Some(guard) => Taken::Got(LockGuard::File(guard)),
                None => Taken::Busy(Holder::Unknown),
            }),
            #[cfg(feature = "dynamodb")]
            Lock::DynamoDb(lease) => Ok(match lease.try_take().await? {
                Ok(holding) => Taken::Got(LockGuard::DynamoDb(holding)),
                Err(holder) => Taken::Busy(holder),
            }),
        }
    }

    /// Waits until the lock is taken; the caller races it against its
    /// deadline and signals.
    pub(crate) async fn take(&self) -> Result<LockGuard<'_>, Error> {
        match self {
            Lock::File(lock) => lock.take().await.map(LockGuard::File),
            #[cfg(feature = "dynamodb")]
            Lock::DynamoDb(lease) => lease.take().await.map(LockGuard::DynamoDb),
        }
    }
}

impl LockGuard<'_> {
    /// Resolves when the lock is known to be lost (a lease that another
    /// writer took, or that could not be renewed in time); never for a file lock.
    pub(crate) async fn lost(&mut self) -> Lost {
        match self {
            LockGuard::File(_) => std::future::pending().await,
            #[cfg(feature = "dynamodb")]
            LockGuard::DynamoDb(holding) => holding.lost().await,
        }
    }

    /// When the lock frees itself if it is not released: a lease's expiry
    /// as last renewed; `None` for a file lock, which never outlives retry-on.
    pub(crate) fn expires(&self) -> Option<SystemTime> {
        match self {
            LockGuard::File(_) => None,
            #[cfg(feature = "dynamodb")]
            LockGuard::DynamoDb(holding) => Some(holding.expires()),
        }
    }

    /// Releases the lock. The caller bounds the time it may take.
    pub(crate) async fn release(self) -> Released {
        match self {
            LockGuard::File(guard) => {
                drop(guard);
                Released::Given
            }
            #[cfg(feature = "dynamodb")]
            LockGuard::DynamoDb(holding) => holding.release().await,
        }
    }
}
