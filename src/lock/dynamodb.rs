//! `--lock dynamodb://TABLE/KEY`: a lease on item KEY of a DynamoDB table,
//! for writers that do not share a host.
//!
//! The item's partition key is `lock_key`. A writer takes the lease with a
//! conditional `PutItem` (the item is absent, or its lease has expired),
//! renews it every third of its length with an `UpdateItem` conditional on
//! its own token, and gives it back with a `DeleteItem` conditional on the
//! same token. A holder that dies stops renewing; its lease expires and the
//! next writer takes it. The SDK's standard retry mode retries throttling
//! and transient errors; anything else is retry-on's own failure.

mod failure;
mod holding;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

pub use holding::Holding;
use holding::Item;

use super::{Holder, LeaseOptions};
use crate::error::Error;

/// The partition key of the table.
const KEY: &str = "lock_key";
/// The most bytes DynamoDB takes in a partition key.
const LONGEST_KEY: usize = 2048;
/// The first wait between two tries at a busy lease, and the cap.
const FIRST_POLL: Duration = Duration::from_millis(100);
const LAST_POLL: Duration = Duration::from_secs(2);
/// How long a table that `--lock-create-table` created may take to become usable.
const TABLE_READY_WITHIN: Duration = Duration::from_secs(120);

/// What retry-on knows about the lease before taking it.
pub struct Lease {
    client: Client,
    table: String,
    key: String,
    options: LeaseOptions,
    host: String,
    /// Whether any request got an answer, even an error.
    answered: AtomicBool,
}

impl Lease {
    /// Makes a client from the standard chain: environment, shared config
    /// and credentials files, profiles, SSO, instance and container roles;
    /// `AWS_ENDPOINT_URL(_DYNAMODB)` is honoured. Nothing is sent yet.
    pub async fn open(table: &str, key: &str, options: LeaseOptions) -> Result<Lease, Error> {
        let name = format!("dynamodb://{table}/{key}");
        // `--lock-lease` and `lock_lease` are at least parse::SHORTEST_LEASE.
        if key.len() > LONGEST_KEY {
            let start: String = key.chars().take(40).collect();
            return Err(Error::Usage(format!(
                "--lock dynamodb://{table}/{start}…: KEY is {} bytes, and DynamoDB takes at most \
                 {LONGEST_KEY} in a partition key",
                key.len()
            )));
        }
        // Bounds on one request, so that a silent endpoint cannot hold a run forever.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(failure::CONNECT_WITHIN)
            .operation_attempt_timeout(failure::REQUEST_WITHIN)
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .load()
            .await;
        if config.region().is_none_or(|region| region.as_ref().is_empty()) {
            return Err(Error::LockService {
                lock: name,
                message: "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in the profile"
                    .to_string(),
            });
        }
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".to_string());
        Ok(Lease {
            client: Client::new(&config),
            table: table.to_string(),
            key: key.to_string(),
            options,
            host,
            answered: AtomicBool::new(false),
        })
    }

    pub fn name(&self) -> String {
        format!("dynamodb://{}/{}", self.table, self.key)
    }

    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    /// Notes whether the service answered, and passes the result on.
    fn heard<T, E, R>(&self, result: Result<T, SdkError<E, R>>) -> Result<T, SdkError<E, R>> {
        if failure::answered(&result) {
            self.answered.store(true, Ordering::Relaxed);
        }
        result
    }

    fn fail(&self, message: String) -> Error {
        Error::LockService {
            lock: self.name(),
            message,
        }
    }

    /// One try: `Ok(holding)`, or `Err(holder)` while someone else holds it.
    pub async fn try_take(&self) -> Result<Result<Holding, Holder>, Error> {
        let token = new_token();
        match self.put(&token).await {
            Ok(expires_at) => Ok(Ok(self.hold(token, expires_at))),
            Err(Put::Busy) => Ok(Err(self.holder().await?)),
            Err(Put::NoTable) if self.options.create_table => {
                self.create_table().await?;
                self.take_when_ready(token).await
            }
            Err(Put::NoTable) => Err(self.no_table()),
            Err(Put::Failed(error)) => Err(error),
        }
    }

    /// Polls with jittered backoff (from 100ms, capped at 2s) until the lease is taken.
    pub async fn take(&self) -> Result<Holding, Error> {
        let mut poll = FIRST_POLL;
        loop {
            let jittered = poll.mul_f64(0.5 + fastrand::f64() / 2.0);
            tokio::time::sleep(jittered).await;
            poll = (poll * 2).min(LAST_POLL);
            let token = new_token();
            match self.put(&token).await {
                Ok(expires_at) => return Ok(self.hold(token, expires_at)),
                Err(Put::Busy) => {}
                Err(Put::NoTable) => return Err(self.no_table()),
                Err(Put::Failed(error)) => return Err(error),
            }
        }
    }

    /// The conditional `PutItem` that takes the lease: the item is absent,
    /// its lease expired, or it has no expiry that is a number (no lease
    /// retry-on wrote, which would otherwise be waited on for ever). `Ok`
    /// with the expiry written.
    async fn put(&self, token: &str) -> Result<i64, Put> {
        let now = epoch_millis();
        let expires = now + self.options.lease.as_millis() as i64;
        let s = |v: &str| AttributeValue::S(v.to_string());
        let n = |v: i64| AttributeValue::N(v.to_string());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, s(&self.key))
            .item("owner_host", s(&self.host))
            .item("owner_pid", n(i64::from(std::process::id())))
            .item("owner_token", s(token))
            .item("expires_at", n(expires))
            .item("lease_ms", n(self.options.lease.as_millis() as i64))
            .item("command", s(&self.options.command))
            .condition_expression(
                "attribute_not_exists(#key) OR NOT attribute_type(expires_at, :number) OR expires_at < :now",
            )
            .expression_attribute_names("#key", KEY)
            .expression_attribute_values(":number", s("N"))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match self.heard(result) {
            Ok(_) => Ok(expires),
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => Err(Put::Busy),
                Some(se) if se.is_resource_not_found_exception() => Err(Put::NoTable),
                _ => Err(Put::Failed(self.fail(failure::describe("PutItem", &e)))),
            },
        }
    }

    /// Who holds the lease, as its item says, for the line that says retry-on waits.
    async fn holder(&self) -> Result<Holder, Error> {
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(self.key.clone()))
            .consistent_read(true)
            .send()
            .await;
        let item = self
            .heard(result)
            .map_err(|e| self.fail(failure::describe("GetItem", &e)))?
            .item;
        Ok(item.map_or(Holder::Gone, |item| Holder::Named(describe_holder(&item))))
    }

    /// `--lock-create-table`: the table, on-demand. Another writer creating
    /// it at the same time is no error.
    async fn create_table(&self) -> Result<(), Error> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| self.fail(format!("CreateTable: {e}"));
        let result = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(KEY)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(built)?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(KEY)
                    .key_type(KeyType::Hash)
                    .build()
                    .map_err(built)?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match self.heard(result) {
            Err(e) if !e.as_service_error().is_some_and(|se| se.is_resource_in_use_exception()) => {
                Err(self.fail(failure::describe("CreateTable", &e)))
            }
            _ => Ok(()),
        }
    }

    /// After creating the table: tries until the new table takes items.
    async fn take_when_ready(&self, token: String) -> Result<Result<Holding, Holder>, Error> {
        let give_up = tokio::time::Instant::now() + TABLE_READY_WITHIN;
        loop {
            match self.put(&token).await {
                Ok(expires_at) => return Ok(Ok(self.hold(token, expires_at))),
                Err(Put::Busy) => return Ok(Err(self.holder().await?)),
                Err(Put::NoTable) if tokio::time::Instant::now() < give_up => {
                    tokio::time::sleep(Duration::from_secs(1)).await
                }
                Err(Put::NoTable) => return Err(self.no_table()),
                Err(Put::Failed(error)) => return Err(error),
            }
        }
    }

    fn no_table(&self) -> Error {
        self.fail(format!(
            "DynamoDB table {:?} does not exist; create it (partition key \"lock_key\", a string) \
             or pass --lock-create-table",
            self.table
        ))
    }

    /// Starts renewing the lease just taken.
    fn hold(&self, token: String, expires_at: i64) -> Holding {
        let item = Item {
            client: self.client.clone(),
            table: self.table.clone(),
            key: self.key.clone(),
            token,
        };
        Holding::start(item, self.options.lease, expires_at)
    }
}

/// Why a `PutItem` did not take the lease.
enum Put {
    Busy,
    NoTable,
    Failed(Error),
}

/// A random owner token, new for each lease taken.
fn new_token() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn epoch_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `HOST pid N, running COMMAND, lease expiring in 12s` from the holder's item.
fn describe_holder(item: &HashMap<String, AttributeValue>) -> String {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s) | AttributeValue::N(s)) => s.clone(),
        _ => "?".to_string(),
    };
    let left = match item.get("expires_at") {
        Some(AttributeValue::N(at)) => at.parse::<i64>().ok(),
        _ => None,
    }
    .map(|at| Duration::from_millis((at - epoch_millis()).max(0) as u64));
    let expiry = match left {
        Some(left) if left.is_zero() => "lease expired".to_string(),
        Some(left) => format!("lease expiring in {}", crate::parse::show_duration(left)),
        None => "no lease expiry in the item: taken as expired".to_string(),
    };
    format!(
        "{} pid {}, running {}, {expiry}",
        text("owner_host"),
        text("owner_pid"),
        text("command")
    )
}
