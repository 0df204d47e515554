//! A lease taken: renewed in the background while the attempt runs, and
//! given back after.
//!
//! The holder keeps the expiry it last wrote. When that passes without a
//! renewal getting through (DynamoDB unreachable, or silent), another writer
//! may take the lease, so the holder counts it as lost then, and says so,
//! rather than when it hears of the new holder (it may never hear).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{KEY, epoch_millis, failure};
use crate::lock::{Lost, Released};

/// The lease as the renewal last left it.
#[derive(Clone)]
struct State {
    /// The expiry last written, in milliseconds since the epoch.
    expires_at: i64,
    lost: Option<Lost>,
}

/// A lease taken: renewed in the background until released.
pub struct Holding {
    item: Item,
    renewer: JoinHandle<()>,
    state: watch::Receiver<State>,
}

/// The item of one lease, and the token that makes it this holder's.
#[derive(Clone)]
pub(super) struct Item {
    pub client: Client,
    pub table: String,
    pub key: String,
    pub token: String,
}

impl Holding {
    /// Starts renewing the lease just taken, which expires at `expires_at`.
    pub(super) fn start(item: Item, lease: Duration, expires_at: i64) -> Holding {
        let (state_tx, state) = watch::channel(State { expires_at, lost: None });
        let renewal = Renewal {
            item: item.clone(),
            lease,
        };
        Holding {
            item,
            renewer: tokio::spawn(renewal.run(state_tx)),
            state,
        }
    }

    /// Resolves once the lease is known to be lost.
    pub async fn lost(&mut self) -> Lost {
        match self.state.wait_for(|state| state.lost.is_some()).await {
            Ok(state) => state.lost.clone().expect("waited for a loss"),
            Err(_) => std::future::pending().await,
        }
    }

    /// The expiry last written.
    pub fn expires(&self) -> SystemTime {
        let at = self.state.borrow().expires_at;
        UNIX_EPOCH + Duration::from_millis(at.max(0) as u64)
    }

    /// Stops renewing and deletes the item if it is still this holder's.
    pub async fn release(self) -> Released {
        self.renewer.abort();
        if let Some(lost) = self.state.borrow().lost.clone() {
            return Released::Lost(lost);
        }
        let item = &self.item;
        let result = item
            .client
            .delete_item()
            .table_name(&item.table)
            .key(KEY, AttributeValue::S(item.key.clone()))
            .condition_expression("owner_token = :token")
            .expression_attribute_values(":token", AttributeValue::S(item.token.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Released::Given,
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Released::Lost(Lost::TakenOver)
            }
            Err(e) => Released::Failed(failure::describe("DeleteItem", &e)),
        }
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// The background renewal of one lease.
struct Renewal {
    item: Item,
    lease: Duration,
}

/// Why a renewal did not get through.
enum Refused {
    /// The token on the item is not this holder's.
    TakenOver,
    Failed(String),
}

impl Renewal {
    /// Every third of the lease, pushes its expiry on while the token is
    /// still this holder's. Failed renewals are tried again, each bounded by
    /// the expiry; once it passes, the lease counts as lost.
    async fn run(self, state: watch::Sender<State>) {
        let mut expires_at = state.borrow().expires_at;
        let mut failed: Option<String> = None;
        loop {
            tokio::time::sleep((self.lease / 3).min(until(expires_at))).await;
            let left = until(expires_at);
            let within = match (left.is_zero(), &failed) {
                (false, _) => left,
                // Woken past the expiry with no try failed: retry-on was
                // stalled (a stopped process, a paused VM). One try says
                // whether another writer took the lease meanwhile.
                (true, None) => self.lease,
                (true, Some(error)) => {
                    let lost = Lost::NotRenewed {
                        lease: self.lease,
                        error: error.clone(),
                    };
                    state.send_modify(|state| state.lost = Some(lost));
                    return;
                }
            };
            let next = epoch_millis() + self.lease.as_millis() as i64;
            match tokio::time::timeout(within, self.renew(next)).await {
                Ok(Ok(())) => {
                    expires_at = next;
                    failed = None;
                    state.send_modify(|state| state.expires_at = next);
                }
                Ok(Err(Refused::TakenOver)) => {
                    state.send_modify(|state| state.lost = Some(Lost::TakenOver));
                    return;
                }
                Ok(Err(Refused::Failed(error))) => failed = Some(error),
                Err(_) => failed = Some("DynamoDB UpdateItem: no answer before the lease expired".to_string()),
            }
        }
    }

    /// One conditional `UpdateItem` that sets the expiry to `expires_at`.
    async fn renew(&self, expires_at: i64) -> Result<(), Refused> {
        let item = &self.item;
        let result = item
            .client
            .update_item()
            .table_name(&item.table)
            .key(KEY, AttributeValue::S(item.key.clone()))
            .update_expression("SET expires_at = :expires")
            .condition_expression("owner_token = :token")
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .expression_attribute_values(":token", AttributeValue::S(item.token.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(Refused::TakenOver)
            }
            Err(e) => Err(Refused::Failed(failure::describe("UpdateItem", &e))),
        }
    }
}

/// How long until `at` (milliseconds since the epoch); zero once it passed.
fn until(at: i64) -> Duration {
    Duration::from_millis((at - epoch_millis()).max(0) as u64)
}
