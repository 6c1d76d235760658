//! `Table`: DynamoDB-shaped items in one table. The domain decides keys, conditions and
//! transactions; adapters only honour the semantics (conditional failure, all-or-nothing
//! transactions, ordered range queries, opaque cursors).

use async_trait::async_trait;
use serde_json::Value;

/// An item: a JSON object that always carries string attributes `pk` and `sk`, and
/// optionally `gsi1pk`/`gsi1sk` to appear in the secondary index (sparse).
pub type Item = serde_json::Map<String, Value>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item, if it carries string `pk` and `sk`.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
    }
}

/// A condition on the item currently stored under the written key.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No item is stored under the key.
    NotExists,
    /// An item is stored under the key.
    Exists,
    /// An item is stored and its attribute equals the value.
    Equals(String, Value),
    /// An item is stored and its attribute is a number from `.1` to `.2`, both included.
    Between(String, i64, i64),
    /// No item is stored, or it lacks the attribute, or the attribute is a number below `.1`.
    AbsentOrBelow(String, i64),
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; fails the transaction when the condition does not hold.
    Check { key: Key, condition: Condition },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The base table: partition `pk`, sort `sk`.
    Primary,
    /// The secondary index: partition `gsi1pk`, sort `gsi1sk`; only items carrying both.
    Gsi1,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    All,
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
}

#[derive(Debug, Clone)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SkRange,
    /// At most this many items per page (at least 1).
    pub limit: usize,
    /// Opaque cursor from a previous page of the same query.
    pub cursor: Option<String>,
    pub descending: bool,
}

impl Query {
    pub fn new(pk: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            pk: pk.into(),
            sk: SkRange::All,
            limit: 100,
            cursor: None,
            descending: false,
        }
    }
    pub fn index(mut self, index: Index) -> Self {
        self.index = index;
        self
    }
    pub fn begins_with(mut self, prefix: impl Into<String>) -> Self {
        self.sk = SkRange::BeginsWith(prefix.into());
        self
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sk = SkRange::Between(from.into(), to.into());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("condition failed")]
    ConditionFailed,
    /// The transaction wrote nothing; `failed` lists the indices of the writes whose
    /// condition did not hold (empty only when the store cancelled it for a reason it does
    /// not name; a conflict is `Contended` and an invalid write `InvalidItem`).
    #[error("transaction cancelled (failed conditions at {failed:?})")]
    TransactionCanceled { failed: Vec<usize> },
    /// The transaction wrote nothing because a concurrent transaction held one of its items
    /// (DynamoDB's `TransactionConflict`). No condition failed: this says nothing about what
    /// is stored, so it must never read as "already exists". Adapters retry it; it reaches
    /// a caller only when the contention persists.
    #[error("transaction contended: {0}")]
    Contended(String),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("invalid item: {0}")]
    InvalidItem(String),
    /// Timed out, failed on the server or unreachable: the table itself is in trouble, and
    /// worth retrying. What the circuit breaker counts.
    #[error("table unavailable: {0}")]
    Unavailable(String),
    /// Refused for throughput (a hot key or partition, DynamoDB's throttling): the table
    /// serves other items meanwhile. Worth retrying shortly; never a sign it is down.
    #[error("table throttled: {0}")]
    Throttled(String),
    /// Refused without trying: the table has been unavailable lately (see
    /// `breaker`). Retry after this many seconds.
    #[error("table circuit open; retry in {retry_after_secs} s")]
    CircuitOpen { retry_after_secs: u64 },
    #[error("table error: {0}")]
    Other(String),
}

/// The attribute DynamoDB's time-to-live reads (unix seconds): an item whose value has
/// passed is deleted in the background, some time later (the local table sweeps hourly).
/// Readers must not rely on an expired item being gone.
pub const TTL_ATTR: &str = "expires_at_epoch";

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError>;
    /// Stores the item (replacing any), if the condition holds; else `ConditionFailed`.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError>;
    /// Removes the item (absent is fine), if the condition holds; else `ConditionFailed`.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), TableError>;
    /// Items of one partition in sort-key order, a page at a time.
    async fn query(&self, query: &Query) -> Result<Page, TableError>;
    /// All writes or none (at most 100, each on a distinct key).
    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError>;
    /// Atomically adds each delta to its numeric attribute (DynamoDB's `ADD`): concurrent
    /// adds never lose one another. Creates the item if missing (an absent counter counts
    /// from 0), and sets each of `attrs` the item does not carry yet (`if_not_exists`: index
    /// keys, descriptive fields). At least one counter; no name twice, and none of them the
    /// item's key.
    async fn add(&self, key: &Key, counters: &[(&str, i64)], attrs: Item)
    -> Result<(), TableError>;
    /// As [`Table::add`], if the condition holds for the item as stored (one atomic update:
    /// no read first, so concurrent writers never lose to each other's reads); else
    /// `ConditionFailed`.
    async fn add_if(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Condition,
    ) -> Result<(), TableError>;
}

/// Checks an `add`'s arguments as DynamoDB would refuse them, so both adapters agree.
pub fn check_add(counters: &[(&str, i64)], attrs: &Item) -> Result<(), TableError> {
    if counters.is_empty() {
        return Err(TableError::InvalidItem(
            "add needs at least one counter".into(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    let names = counters
        .iter()
        .map(|(n, _)| *n)
        .chain(attrs.keys().map(String::as_str));
    for name in names {
        if name.is_empty() || name == PK || name == SK {
            return Err(TableError::InvalidItem(format!(
                "add cannot write attribute {name:?}"
            )));
        }
        if !seen.insert(name) {
            return Err(TableError::InvalidItem(format!(
                "add names attribute {name} twice"
            )));
        }
    }
    Ok(())
}

/// Every item the query matches, following cursors page by page. For partitions known to be
/// small (a version's files, open uploads, running executions); lists a client pages through
/// use `Table::query` and hand the cursor back.
pub async fn query_all(table: &dyn Table, mut query: Query) -> Result<Vec<Item>, TableError> {
    let mut items = Vec::new();
    loop {
        let page = table.query(&query).await?;
        items.extend(page.items);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(items),
        }
    }
}
