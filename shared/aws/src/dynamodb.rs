//! `Table` over one DynamoDB table: partition `pk`, sort `sk`, sparse index `gsi1`
//! (`gsi1pk`/`gsi1sk`, projection ALL).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnConsumedCapacity,
    ScalarAttributeType, TransactWriteItem,
};

use crate::meter;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::{Fault, fault};
use trove_core::ports::table::{
    Condition, GSI1_PK, GSI1_SK, Index, Item, Key, PK, Page, Query, SK, SkRange, Table, TableError,
    Write, check_add,
};

pub const GSI1: &str = "gsi1";

type AttrMap = HashMap<String, AttributeValue>;

/// DynamoDB's limit on the writes of one TransactWriteItems call.
const MAX_TRANSACTION_WRITES: usize = 100;
/// DynamoDB's limit on a sort key (and on any key attribute a cursor carries but the
/// partition key, which the cursor must equal the query's).
const MAX_SORT_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table_name: impl Into<String>) -> Self {
        Self {
            client,
            table: table_name.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// Creates the table the adapter expects (tests and local tooling; a deployment gets it
    /// from the template). On-demand billing, so nothing needs sizing.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), TableError> {
        let string_attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(build_error)
        };
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key(GSI1_PK, KeyType::Hash)?)
            .key_schema(key(GSI1_SK, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(build_error)?;
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(string_attr(PK)?)
            .attribute_definitions(string_attr(SK)?)
            .attribute_definitions(string_attr(GSI1_PK)?)
            .attribute_definitions(string_attr(GSI1_SK)?)
            .key_schema(key(PK, KeyType::Hash)?)
            .key_schema(key(SK, KeyType::Range)?)
            .global_secondary_indexes(gsi)
            .send()
            .await
            .map_err(|e| general_error(&fault(&e)))?;
        Ok(())
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        // Strongly consistent, as the embedded table is: services read their own writes.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| general_error(&fault(&e)))?;
        meter::capacity("read", out.consumed_capacity());
        out.item.map(from_attrs).transpose()
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let attrs = to_attrs(&item)?;
        let cond = condition.as_ref().map(CondExpr::build).transpose()?;
        let (expr, names, values) = CondExpr::split(cond);
        // A transaction holding the item refuses the write without writing: sent again as
        // the transactions are (`retry_contended`), its condition is evaluated afresh.
        retry_contended(|| async {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(attrs.clone()))
                .set_condition_expression(expr.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| meter::capacity("write", out.consumed_capacity()))
                .map_err(|e| conditional_error(&fault(&e), write_error))
        })
        .await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), TableError> {
        let cond = condition.as_ref().map(CondExpr::build).transpose()?;
        let (expr, names, values) = CondExpr::split(cond);
        retry_contended(|| async {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(key)))
                .set_condition_expression(expr.clone())
                .set_expression_attribute_names(names.clone())
                .set_expression_attribute_values(values.clone())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| meter::capacity("write", out.consumed_capacity()))
                .map_err(|e| conditional_error(&fault(&e), general_error))
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        let plan = KeyCondition::build(query);
        let start = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, query.index, &query.pk))
            .transpose()?;
        let limit = i32::try_from(query.limit.max(1)).unwrap_or(i32::MAX);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(match query.index {
                Index::Primary => None,
                Index::Gsi1 => Some(GSI1.to_owned()),
            })
            // Global secondary indexes only support eventually consistent reads.
            .consistent_read(query.index == Index::Primary)
            .key_condition_expression(plan.expression)
            .set_expression_attribute_names(Some(plan.names))
            .set_expression_attribute_values(Some(plan.values))
            .scan_index_forward(!query.descending)
            .limit(limit)
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| {
                let f = fault(&e);
                // DynamoDB refuses a start key outside the key condition; only a cursor from
                // another query can cause that.
                if query.cursor.is_some()
                    && f.code.as_deref() == Some("ValidationException")
                    && f.summary.to_ascii_lowercase().contains("start")
                {
                    TableError::InvalidCursor
                } else {
                    general_error(&f)
                }
            })?;
        meter::capacity("read", out.consumed_capacity());
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_attrs)
            .collect::<Result<Vec<_>, _>>()?;
        let cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(encode_cursor(&last)?),
            _ => None,
        };
        Ok(Page { items, cursor })
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        if writes.is_empty() {
            // DynamoDB rejects an empty transaction; writing nothing trivially succeeds.
            return Ok(());
        }
        if writes.len() > MAX_TRANSACTION_WRITES {
            // DynamoDB refuses it with a ValidationException, which reads as `InvalidItem`:
            // refusing it here must read the same.
            return Err(TableError::InvalidItem(format!(
                "a transaction holds at most {MAX_TRANSACTION_WRITES} writes, got {}",
                writes.len()
            )));
        }
        let items = writes
            .iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        // A transaction costs two units per item per KB started.
        let estimate = || {
            writes
                .iter()
                .map(|w| match w {
                    Write::Put { item, .. } => {
                        2.0 * meter::write_units(serde_json::to_vec(item).map_or(0, |b| b.len()))
                    }
                    _ => 2.0,
                })
                .sum()
        };
        // The SDK does not retry a cancellation. Sending the same writes again is safe: their
        // conditions are evaluated afresh, so a retry can only commit what would have
        // committed had it come first.
        retry_contended(|| async {
            self.client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| meter::capacity_or("write", out.consumed_capacity(), estimate))
                .map_err(|e| transact_error(&e))
        })
        .await
    }

    async fn add(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
    ) -> Result<(), TableError> {
        self.update(key, AddExpr::build(counters, &attrs)?, None)
            .await
    }

    async fn add_if(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        let mut update = AddExpr::build(counters, &attrs)?;
        // The condition's placeholders (`#a`, `:v`, `:lo`, `:hi`) never meet the update's
        // (`#s0`, `#c0`, ...).
        let cond = CondExpr::build(&condition)?;
        update.names.extend(cond.names);
        update.values.extend(cond.values);
        self.update(key, update, Some(cond.expression)).await
    }
}

/// The update expression of `Table::add`: `SET` each attribute `if_not_exists`, `ADD` each
/// counter, all through placeholders (names may be reserved words).
#[derive(Debug, Clone, PartialEq)]
struct AddExpr {
    expression: String,
    names: AttrNames,
    values: AttrMap,
}

impl AddExpr {
    fn build(counters: &[(&str, i64)], attrs: &Item) -> Result<Self, TableError> {
        check_add(counters, attrs)?;
        for attr in [GSI1_PK, GSI1_SK] {
            if attrs.get(attr).is_some_and(|v| !v.is_string()) {
                return Err(TableError::InvalidItem(format!(
                    "attribute {attr} must be a string"
                )));
            }
        }
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut sets = Vec::with_capacity(attrs.len());
        for (i, (name, value)) in attrs.iter().enumerate() {
            let value = serde_dynamo::to_attribute_value(value)
                .map_err(|e| TableError::InvalidItem(format!("attribute {name}: {e}")))?;
            names.insert(format!("#s{i}"), name.clone());
            values.insert(format!(":s{i}"), value);
            sets.push(format!("#s{i} = if_not_exists(#s{i}, :s{i})"));
        }
        let mut adds = Vec::with_capacity(counters.len());
        for (i, (name, delta)) in counters.iter().enumerate() {
            names.insert(format!("#c{i}"), (*name).to_owned());
            values.insert(format!(":c{i}"), AttributeValue::N(delta.to_string()));
            adds.push(format!("#c{i} :c{i}"));
        }
        let mut expression = format!("ADD {}", adds.join(", "));
        if !sets.is_empty() {
            expression = format!("SET {} {expression}", sets.join(", "));
        }
        Ok(Self {
            expression,
            names,
            values,
        })
    }
}

impl DynamoTable {
    /// The UpdateItem of `add` and `add_if`. A refused increment added nothing, so sending
    /// it again counts it once; without a condition, none can fail.
    async fn update(
        &self,
        key: &Key,
        update: AddExpr,
        condition: Option<String>,
    ) -> Result<(), TableError> {
        retry_contended(|| async {
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_attrs(key)))
                .update_expression(update.expression.clone())
                .set_condition_expression(condition.clone())
                .set_expression_attribute_names(Some(update.names.clone()))
                .set_expression_attribute_values(Some(update.values.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map(|out| {
                    // A counter item is small: one unit.
                    let reported = out.consumed_capacity.as_ref();
                    meter::capacity_or("write", reported, || 1.0);
                })
                .map_err(|e| conditional_error(&fault(&e), write_error))
        })
        .await
    }

    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, TableError> {
        let item = match write {
            Write::Put { item, condition } => {
                let (expr, names, values) =
                    CondExpr::split(condition.as_ref().map(CondExpr::build).transpose()?);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attrs(item)?))
                    .set_condition_expression(expr)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            Write::Delete { key, condition } => {
                let (expr, names, values) =
                    CondExpr::split(condition.as_ref().map(CondExpr::build).transpose()?);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(expr)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            Write::Check { key, condition } => {
                let (expr, names, values) = CondExpr::split(Some(CondExpr::build(condition)?));
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(expr)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }
}

fn key_attrs(key: &Key) -> AttrMap {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Converts a whole item with serde_dynamo; key attributes must be strings, or DynamoDB would
/// refuse the item with a less helpful message (or, for the index keys, silently leave it out
/// of the index).
fn to_attrs(item: &Item) -> Result<AttrMap, TableError> {
    for attr in [PK, SK] {
        match item.get(attr) {
            Some(Value::String(_)) => {}
            _ => {
                return Err(TableError::InvalidItem(format!(
                    "attribute {attr} must be a string"
                )));
            }
        }
    }
    for attr in [GSI1_PK, GSI1_SK] {
        match item.get(attr) {
            None | Some(Value::String(_)) => {}
            Some(_) => {
                return Err(TableError::InvalidItem(format!(
                    "attribute {attr} must be a string"
                )));
            }
        }
    }
    serde_dynamo::to_item(item).map_err(|e| TableError::InvalidItem(e.to_string()))
}

fn from_attrs(attrs: AttrMap) -> Result<Item, TableError> {
    serde_dynamo::from_item(attrs)
        .map_err(|e| TableError::Other(format!("stored item does not convert: {e}")))
}

/// A condition expression with its placeholders.
#[derive(Debug, Clone, PartialEq)]
struct CondExpr {
    expression: String,
    names: AttrNames,
    values: AttrMap,
}

type AttrNames = HashMap<String, String>;

impl CondExpr {
    fn build(condition: &Condition) -> Result<Self, TableError> {
        // The key attribute is present on every stored item, so its presence is the item's.
        Ok(match condition {
            Condition::NotExists => Self {
                expression: format!("attribute_not_exists({PK})"),
                names: HashMap::new(),
                values: HashMap::new(),
            },
            Condition::Exists => Self {
                expression: format!("attribute_exists({PK})"),
                names: HashMap::new(),
                values: HashMap::new(),
            },
            Condition::Equals(attr, value) => {
                let value: AttributeValue = serde_dynamo::to_attribute_value(value)
                    .map_err(|e| TableError::InvalidItem(format!("condition value: {e}")))?;
                // Placeholders, because the attribute may be a reserved word (`status`, `name`).
                Self {
                    expression: "#a = :v".to_owned(),
                    names: HashMap::from([("#a".to_owned(), attr.clone())]),
                    values: HashMap::from([(":v".to_owned(), value)]),
                }
            }
            Condition::Between(attr, low, high) => Self {
                expression: "#a BETWEEN :lo AND :hi".to_owned(),
                names: HashMap::from([("#a".to_owned(), attr.clone())]),
                values: HashMap::from([
                    (":lo".to_owned(), AttributeValue::N(low.to_string())),
                    (":hi".to_owned(), AttributeValue::N(high.to_string())),
                ]),
            },
            Condition::AbsentOrBelow(attr, limit) => Self {
                expression: "attribute_not_exists(#a) OR #a < :v".to_owned(),
                names: HashMap::from([("#a".to_owned(), attr.clone())]),
                values: HashMap::from([(":v".to_owned(), AttributeValue::N(limit.to_string()))]),
            },
        })
    }

    /// The request fields; DynamoDB refuses empty placeholder maps, so those become `None`.
    fn split(cond: Option<Self>) -> (Option<String>, Option<AttrNames>, Option<AttrMap>) {
        match cond {
            None => (None, None, None),
            Some(c) => (
                Some(c.expression),
                (!c.names.is_empty()).then_some(c.names),
                (!c.values.is_empty()).then_some(c.values),
            ),
        }
    }
}

/// A key condition on the partition and, optionally, a sort-key range.
#[derive(Debug, Clone, PartialEq)]
struct KeyCondition {
    expression: String,
    names: AttrNames,
    values: AttrMap,
}

impl KeyCondition {
    fn build(query: &Query) -> Self {
        let (pk, sk) = match query.index {
            Index::Primary => (PK, SK),
            Index::Gsi1 => (GSI1_PK, GSI1_SK),
        };
        let mut names = HashMap::from([("#pk".to_owned(), pk.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let expression = match &query.sk {
            SkRange::All => "#pk = :pk".to_owned(),
            SkRange::BeginsWith(prefix) => {
                names.insert("#sk".to_owned(), sk.to_owned());
                values.insert(":prefix".to_owned(), AttributeValue::S(prefix.clone()));
                "#pk = :pk AND begins_with(#sk, :prefix)".to_owned()
            }
            SkRange::Between(from, to) => {
                names.insert("#sk".to_owned(), sk.to_owned());
                values.insert(":from".to_owned(), AttributeValue::S(from.clone()));
                values.insert(":to".to_owned(), AttributeValue::S(to.clone()));
                "#pk = :pk AND #sk BETWEEN :from AND :to".to_owned()
            }
        };
        Self {
            expression,
            names,
            values,
        }
    }
}

/// The cursor is base64url (no padding) of the JSON object of `LastEvaluatedKey`; all key
/// attributes of this table are strings.
fn encode_cursor(last: &AttrMap) -> Result<String, TableError> {
    let mut json = BTreeMap::new();
    for (name, value) in last {
        match value {
            AttributeValue::S(s) => {
                json.insert(name.as_str(), s.as_str());
            }
            _ => {
                return Err(TableError::Other(format!(
                    "key attribute {name} is not a string"
                )));
            }
        }
    }
    let bytes = serde_json::to_vec(&json).map_err(|e| TableError::Other(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Decodes a cursor and checks it belongs to a query of this index and partition, so a
/// cursor can never move a query into another partition (another tenant's keys).
fn decode_cursor(cursor: &str, index: Index, pk: &str) -> Result<AttrMap, TableError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim_end_matches('='))
        .map_err(|_| TableError::InvalidCursor)?;
    let json: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| TableError::InvalidCursor)?;
    let (partition, expected): (&str, &[&str]) = match index {
        Index::Primary => (PK, &[PK, SK]),
        Index::Gsi1 => (GSI1_PK, &[GSI1_PK, GSI1_SK, PK, SK]),
    };
    let shape_ok = json.len() == expected.len() && expected.iter().all(|k| json.contains_key(*k));
    // A forged cursor may carry a sort key over DynamoDB's limit, which it would refuse
    // with a validation fault: refuse it here as the client's error.
    let sizes_ok = json
        .iter()
        .all(|(k, v)| k == partition || v.len() <= MAX_SORT_KEY_BYTES);
    if !shape_ok || !sizes_ok || json.get(partition).map(String::as_str) != Some(pk) {
        return Err(TableError::InvalidCursor);
    }
    Ok(json
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

fn build_error(e: BuildError) -> TableError {
    TableError::Other(format!("request construction: {e}"))
}

/// DynamoDB's answers for throughput refused on a key, partition or table (per-key hot spots
/// included): not an outage.
const THROTTLE_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

fn general_error(f: &Fault) -> TableError {
    if f.code
        .as_deref()
        .is_some_and(|c| THROTTLE_CODES.contains(&c))
    {
        TableError::Throttled(f.summary.clone())
    } else if f.code.as_deref() == Some("TransactionConflictException") {
        // A single write refused because a transaction holds its item: nothing was written and
        // nothing was learnt of what is stored.
        TableError::Contended(f.summary.clone())
    } else if f.transient {
        TableError::Unavailable(f.summary.clone())
    } else {
        TableError::Other(f.summary.clone())
    }
}

/// The error of a conditional write: its condition did not hold, or what `otherwise` makes
/// of the fault.
fn conditional_error(f: &Fault, otherwise: fn(&Fault) -> TableError) -> TableError {
    if f.code.as_deref() == Some("ConditionalCheckFailedException") {
        TableError::ConditionFailed
    } else {
        otherwise(f)
    }
}

/// As `general_error`, but an item DynamoDB refuses (too large, bad attribute) is the
/// caller's mistake.
fn write_error(f: &Fault) -> TableError {
    if f.code.as_deref() == Some("ValidationException") {
        TableError::InvalidItem(f.summary.clone())
    } else {
        general_error(f)
    }
}

fn transact_error(e: &SdkError<TransactWriteItemsError, HttpResponse>) -> TableError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
        e.as_service_error()
    {
        let codes: Vec<Option<&str>> = cancel
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        return cancellation(&codes);
    }
    write_error(&fault(e))
}

/// Attempts at a write that concurrent transactions keep refusing.
const CONTENDED_ATTEMPTS: u32 = 4;
/// The first retry waits up to this long (full jitter), doubling per attempt.
const CONTENDED_BASE_DELAY: std::time::Duration = std::time::Duration::from_millis(25);

/// Runs `attempt` again, after a random pause that doubles each time, while it fails with
/// `Contended`; other outcomes come back at once.
async fn retry_contended<F, Fut>(mut attempt: F) -> Result<(), TableError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), TableError>>,
{
    let mut n = 0;
    loop {
        match attempt().await {
            Err(TableError::Contended(m)) if n + 1 < CONTENDED_ATTEMPTS => {
                let cap = CONTENDED_BASE_DELAY * 2u32.pow(n);
                let pause = cap.mul_f64(rand::random::<f64>());
                tracing::debug!(attempt = n + 1, reason = %m, "transaction contended; retrying");
                tokio::time::sleep(pause).await;
                n += 1;
            }
            other => return other,
        }
    }
}

/// Maps the per-write cancellation reasons (in request order) to the port's error.
fn cancellation(codes: &[Option<&str>]) -> TableError {
    let failed: Vec<usize> = codes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    let throttled = codes.iter().any(|c| {
        matches!(
            c,
            Some("ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded")
        )
    });
    let conflicted = codes.contains(&Some("TransactionConflict"));
    // An item DynamoDB refuses inside a transaction (too large, bad attribute) comes back as
    // a cancellation: it is the caller's mistake as it is on a single write, and no retry
    // or second read can help.
    let refused = codes.iter().position(|c| *c == Some("ValidationError"));
    if failed.is_empty()
        && let Some(at) = refused
    {
        TableError::InvalidItem(format!(
            "transaction cancelled: write {at} refused as invalid"
        ))
    } else if failed.is_empty() && throttled {
        TableError::Throttled("transaction cancelled: throttled".to_owned())
    } else if failed.is_empty() && conflicted {
        TableError::Contended("a concurrent transaction holds one of its items".to_owned())
    } else {
        TableError::TransactionCanceled { failed }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ItemCollectionSizeLimitExceededException,
        ResourceNotFoundException, TransactionCanceledException, TransactionConflictException,
    };
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::retry::ErrorKind;
    use serde_json::json;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    #[test]
    fn cursor_round_trips_primary_and_index_keys() {
        let last = HashMap::from([("pk".to_owned(), s("P")), ("sk".to_owned(), s("a#1"))]);
        let c = encode_cursor(&last).expect("strings");
        assert!(!c.contains(['+', '/', '=']), "url-safe: {c}");
        assert_eq!(decode_cursor(&c, Index::Primary, "P").expect("valid"), last);

        let last = HashMap::from([
            ("pk".to_owned(), s("P")),
            ("sk".to_owned(), s("S")),
            ("gsi1pk".to_owned(), s("G")),
            ("gsi1sk".to_owned(), s("2024")),
        ]);
        let c = encode_cursor(&last).expect("strings");
        assert_eq!(decode_cursor(&c, Index::Gsi1, "G").expect("valid"), last);
    }

    #[test]
    fn cursor_refuses_garbage_other_partitions_and_other_indexes() {
        let invalid = |r: Result<AttrMap, TableError>| matches!(r, Err(TableError::InvalidCursor));
        assert!(invalid(decode_cursor("!!!", Index::Primary, "P")));
        assert!(invalid(decode_cursor("", Index::Primary, "P")));
        assert!(invalid(decode_cursor(
            &URL_SAFE_NO_PAD.encode("not json"),
            Index::Primary,
            "P"
        )));
        assert!(invalid(decode_cursor(
            &URL_SAFE_NO_PAD.encode(r#"{"pk":1,"sk":"a"}"#),
            Index::Primary,
            "P"
        )));
        let primary = encode_cursor(&HashMap::from([
            ("pk".to_owned(), s("T#a#X")),
            ("sk".to_owned(), s("1")),
        ]))
        .expect("strings");
        assert!(invalid(decode_cursor(&primary, Index::Primary, "T#b#X")));
        assert!(invalid(decode_cursor(&primary, Index::Gsi1, "T#a#X")));
    }

    #[test]
    fn cursor_refuses_a_forged_key_over_dynamodbs_limit() {
        let forged = encode_cursor(&HashMap::from([
            ("pk".to_owned(), s("T#a#X")),
            ("sk".to_owned(), s(&"a".repeat(1025))),
        ]))
        .expect("strings");
        assert!(matches!(
            decode_cursor(&forged, Index::Primary, "T#a#X"),
            Err(TableError::InvalidCursor)
        ));
    }

    #[test]
    fn cursor_refuses_non_string_keys() {
        let last = HashMap::from([("pk".to_owned(), AttributeValue::N("1".into()))]);
        assert!(matches!(encode_cursor(&last), Err(TableError::Other(_))));
    }

    #[test]
    fn conditions_become_expressions_with_placeholders() {
        let c = CondExpr::build(&Condition::NotExists).expect("builds");
        assert_eq!(c.expression, "attribute_not_exists(pk)");
        assert_eq!(CondExpr::split(Some(c)).1, None);

        let c = CondExpr::build(&Condition::Exists).expect("builds");
        assert_eq!(c.expression, "attribute_exists(pk)");

        let c =
            CondExpr::build(&Condition::Equals("status".into(), json!("pending"))).expect("builds");
        assert_eq!(c.expression, "#a = :v");
        assert_eq!(c.names.get("#a").map(String::as_str), Some("status"));
        assert_eq!(c.values.get(":v"), Some(&s("pending")));

        let c = CondExpr::build(&Condition::Equals("n".into(), json!(3))).expect("builds");
        assert_eq!(c.values.get(":v"), Some(&AttributeValue::N("3".into())));
        assert_eq!(CondExpr::split(None), (None, None, None));
    }

    #[test]
    fn key_conditions_cover_each_range_on_each_index() {
        let q = Query::new("P");
        let k = KeyCondition::build(&q);
        assert_eq!(k.expression, "#pk = :pk");
        assert_eq!(k.names.len(), 1);

        let k = KeyCondition::build(&Query::new("P").begins_with("V#"));
        assert_eq!(k.expression, "#pk = :pk AND begins_with(#sk, :prefix)");
        assert_eq!(k.names.get("#sk").map(String::as_str), Some("sk"));

        let k = KeyCondition::build(&Query::new("G").index(Index::Gsi1).between("a", "c"));
        assert_eq!(k.expression, "#pk = :pk AND #sk BETWEEN :from AND :to");
        assert_eq!(k.names.get("#pk").map(String::as_str), Some("gsi1pk"));
        assert_eq!(k.names.get("#sk").map(String::as_str), Some("gsi1sk"));
        assert_eq!(k.values.get(":to"), Some(&s("c")));
    }

    #[test]
    fn items_convert_both_ways_and_keys_must_be_strings() {
        let item = json!({"pk": "P", "sk": "S", "n": 42, "f": 1.5, "b": true, "z": null,
                          "l": [1, "x"], "m": {"k": "v"}});
        let Value::Object(item) = item else {
            unreachable!("object literal")
        };
        let attrs = to_attrs(&item).expect("valid");
        assert_eq!(attrs.get("n"), Some(&AttributeValue::N("42".into())));
        assert_eq!(from_attrs(attrs).expect("converts"), item);

        let Value::Object(bad) = json!({"pk": "P", "sk": 1}) else {
            unreachable!("object literal")
        };
        assert!(matches!(to_attrs(&bad), Err(TableError::InvalidItem(_))));
        let Value::Object(bad) = json!({"pk": "P", "sk": "S", "gsi1pk": 3}) else {
            unreachable!("object literal")
        };
        assert!(matches!(to_attrs(&bad), Err(TableError::InvalidItem(_))));
    }

    #[test]
    fn add_sets_attributes_if_absent_and_adds_counters() {
        let attrs = match serde_json::json!({"gsi1pk": "G", "name": "x"}) {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        };
        let e = AddExpr::build(&[("downloads", 2), ("bytes", -5)], &attrs).expect("valid");
        assert_eq!(
            e.expression,
            "SET #s0 = if_not_exists(#s0, :s0), #s1 = if_not_exists(#s1, :s1) ADD #c0 :c0, #c1 :c1"
        );
        assert_eq!(e.names["#c1"], "bytes");
        assert_eq!(e.values[":c1"], AttributeValue::N("-5".into()));
        assert_eq!(e.values[":s0"], AttributeValue::S("G".into()));
        let only = AddExpr::build(&[("n", 1)], &Item::new()).expect("valid");
        assert_eq!(only.expression, "ADD #c0 :c0");
        let invalid_item = |built: Result<AddExpr, TableError>| match built {
            Err(TableError::InvalidItem(why)) => why,
            other => panic!("expected InvalidItem, got {other:?}"),
        };
        let why = invalid_item(AddExpr::build(&[], &Item::new()));
        assert!(why.contains("at least one counter"), "{why}");
        let why = invalid_item(AddExpr::build(&[("pk", 1)], &Item::new()));
        assert!(why.contains("cannot write attribute \"pk\""), "{why}");
        let why = invalid_item(AddExpr::build(&[("name", 1)], &attrs));
        assert!(why.contains("names attribute name twice"), "{why}");
        let bad_index = match serde_json::json!({"gsi1sk": 3}) {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        };
        let why = invalid_item(AddExpr::build(&[("n", 1)], &bad_index));
        assert!(why.contains("gsi1sk must be a string"), "{why}");
    }

    #[tokio::test]
    async fn a_contended_transaction_is_retried_until_it_passes_or_the_attempts_run_out() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let calls = AtomicU32::new(0);
        let passes_on_third = retry_contended(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(TableError::Contended("busy".into())),
                _ => Ok(()),
            }
        })
        .await;
        assert!(passes_on_third.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        calls.store(0, Ordering::SeqCst);
        let always = retry_contended(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(TableError::Contended("busy".into()))
        })
        .await;
        assert!(matches!(always, Err(TableError::Contended(_))));
        assert_eq!(calls.load(Ordering::SeqCst), CONTENDED_ATTEMPTS);
        // Persistent contention answers 503 with a Retry-After, never 500 or 409.
        assert!(matches!(
            trove_core::services::Error::from(TableError::Contended("busy".into())),
            trove_core::services::Error::CoolingDown {
                retry_after_secs: 1
            }
        ));

        calls.store(0, Ordering::SeqCst);
        let failed = retry_contended(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(TableError::TransactionCanceled { failed: vec![0] })
        })
        .await;
        assert!(matches!(
            failed,
            Err(TableError::TransactionCanceled { .. })
        ));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a failed condition is final"
        );
    }

    /// What the client hands back when DynamoDB answered `status` with `err`.
    fn answered<E>(err: E, status: u16) -> SdkError<E, HttpResponse> {
        let status = status.try_into().expect("a valid HTTP status");
        SdkError::service_error(err, HttpResponse::new(status, SdkBody::empty()))
    }

    /// The metadata the client parses from an error answer: its code and message.
    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} (test)"))
            .build()
    }

    /// An answer of `code` as the client parses it where the operation's model does not
    /// name the code (`generic` is the operation's `generic`). `fault` reads only the code
    /// and the status, so the modelled error of the same code reads the same (the tests of
    /// modelled errors below check it).
    fn coded<E>(
        generic: fn(ErrorMetadata) -> E,
        code: &str,
        status: u16,
    ) -> SdkError<E, HttpResponse> {
        answered(generic(meta(code)), status)
    }

    /// The error each kind of call makes of a failure, as the adapter maps it.
    struct PerCall {
        read: TableError,
        put: TableError,
        delete: TableError,
        add: TableError,
        transact: TableError,
    }

    fn per_call(code: &str, status: u16) -> PerCall {
        PerCall {
            read: general_error(&fault(&coded(GetItemError::generic, code, status))),
            put: conditional_error(
                &fault(&coded(PutItemError::generic, code, status)),
                write_error,
            ),
            delete: conditional_error(
                &fault(&coded(DeleteItemError::generic, code, status)),
                general_error,
            ),
            add: write_error(&fault(&coded(UpdateItemError::generic, code, status))),
            transact: transact_error(&coded(TransactWriteItemsError::generic, code, status)),
        }
    }

    /// Asserts every kind of call reads the failure as `expected` says.
    fn assert_every_call(what: &str, calls: PerCall, expected: fn(&TableError) -> bool) {
        for (call, error) in [
            ("read", calls.read),
            ("put", calls.put),
            ("delete", calls.delete),
            ("add", calls.add),
            ("transact", calls.transact),
        ] {
            assert!(expected(&error), "{what} on {call} read as {error:?}");
        }
    }

    #[test]
    fn throughput_refusals_are_throttled_on_every_call() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
        ] {
            assert_every_call(code, per_call(code, 400), |e| {
                matches!(e, TableError::Throttled(_))
            });
        }
    }

    #[test]
    fn server_failures_are_unavailable_on_every_call() {
        for (code, status) in [
            ("InternalServerError", 500),
            ("ServiceUnavailable", 503),
            ("SomethingNew", 502),
        ] {
            assert_every_call(code, per_call(code, status), |e| {
                matches!(e, TableError::Unavailable(_))
            });
        }
    }

    #[test]
    fn timeouts_and_failures_to_reach_the_table_are_unavailable() {
        let unavailable = |e: SdkError<GetItemError, HttpResponse>| general_error(&fault(&e));
        let boom = || -> Box<dyn std::error::Error + Send + Sync> { "boom".into() };
        for (what, error) in [
            ("timeout", SdkError::timeout_error(boom())),
            (
                "connect timeout",
                SdkError::dispatch_failure(ConnectorError::timeout(boom())),
            ),
            (
                "connection refused",
                SdkError::dispatch_failure(ConnectorError::io(boom())),
            ),
            (
                "connection dropped mid-answer",
                SdkError::dispatch_failure(ConnectorError::other(
                    boom(),
                    Some(ErrorKind::TransientError),
                )),
            ),
            (
                "unreadable answer",
                SdkError::response_error(
                    boom(),
                    HttpResponse::new(
                        200.try_into().expect("a valid HTTP status"),
                        SdkBody::empty(),
                    ),
                ),
            ),
        ] {
            let e = unavailable(error);
            assert!(matches!(e, TableError::Unavailable(_)), "{what}: {e:?}");
        }
        // A request the client itself could not send is no outage: retrying cannot help.
        let e = unavailable(SdkError::dispatch_failure(ConnectorError::user(boom())));
        assert!(matches!(e, TableError::Other(_)), "{e:?}");
    }

    #[test]
    fn a_validation_refusal_is_an_invalid_item_on_writes() {
        let calls = per_call("ValidationException", 400);
        for (call, error) in [
            ("put", &calls.put),
            ("add", &calls.add),
            ("transact", &calls.transact),
        ] {
            assert!(
                matches!(error, TableError::InvalidItem(_)),
                "{call}: {error:?}"
            );
        }
        // A read or a delete names only a key the adapter built: the fault is its own.
        assert!(
            matches!(calls.read, TableError::Other(_)),
            "{:?}",
            calls.read
        );
        assert!(
            matches!(calls.delete, TableError::Other(_)),
            "{:?}",
            calls.delete
        );
    }

    #[test]
    fn a_missing_table_denied_access_and_a_full_item_collection_are_permanent() {
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ItemCollectionSizeLimitExceededException",
        ] {
            assert_every_call(code, per_call(code, 400), |e| {
                matches!(e, TableError::Other(_))
            });
        }
        // Modelled as the client parses them, they read the same.
        let missing = GetItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .meta(meta("ResourceNotFoundException"))
                .build(),
        );
        let e = general_error(&fault(&answered(missing, 400)));
        assert!(matches!(e, TableError::Other(_)), "{e:?}");
        let full = PutItemError::ItemCollectionSizeLimitExceededException(
            ItemCollectionSizeLimitExceededException::builder()
                .meta(meta("ItemCollectionSizeLimitExceededException"))
                .build(),
        );
        let e = conditional_error(&fault(&answered(full, 400)), write_error);
        assert!(matches!(e, TableError::Other(_)), "{e:?}");
    }

    #[test]
    fn a_failed_condition_of_a_single_write_is_condition_failed() {
        let failed = PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .meta(meta("ConditionalCheckFailedException"))
                .build(),
        );
        let e = conditional_error(&fault(&answered(failed, 400)), write_error);
        assert!(matches!(e, TableError::ConditionFailed), "{e:?}");
        let calls = per_call("ConditionalCheckFailedException", 400);
        assert!(
            matches!(calls.delete, TableError::ConditionFailed),
            "{:?}",
            calls.delete
        );
    }

    #[test]
    fn a_write_refused_for_a_transaction_in_progress_is_contended() {
        let held = PutItemError::TransactionConflictException(
            TransactionConflictException::builder()
                .meta(meta("TransactionConflictException"))
                .build(),
        );
        let e = conditional_error(&fault(&answered(held, 400)), write_error);
        assert!(matches!(e, TableError::Contended(_)), "{e:?}");
        let calls = per_call("TransactionConflictException", 400);
        for (call, error) in [("delete", calls.delete), ("add", calls.add)] {
            assert!(
                matches!(error, TableError::Contended(_)),
                "{call}: {error:?}"
            );
        }
    }

    /// A table whose HTTP answers are DynamoDB's refusal for an item a transaction holds,
    /// `refusals` times, then success; the SDK's own retries off, so every request counted
    /// is the adapter's.
    fn held_then_free(refusals: usize) -> (DynamoTable, Arc<AtomicUsize>) {
        use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
        let requests = Arc::new(AtomicUsize::new(0));
        let seen = requests.clone();
        let http = aws_smithy_http_client::test_util::infallible_client_fn(move |_| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if n < refusals {
                let held = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionConflictException","message":"held"}"#;
                (400, held)
            } else {
                (200, "{}")
            };
            http::Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.0")
                .body(body)
                .expect("response")
        });
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        (DynamoTable::new(Client::from_conf(config), "t"), requests)
    }

    #[tokio::test]
    async fn single_writes_a_transaction_holds_are_sent_again_until_it_lets_go() {
        let key = Key::new("P", "S");
        let item = || {
            let mut item = Item::new();
            item.insert(PK.into(), "P".into());
            item.insert(SK.into(), "S".into());
            item
        };
        let (table, requests) = held_then_free(2);
        table.put(item(), None).await.expect("put, third time");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        let (table, requests) = held_then_free(2);
        table.delete(&key, None).await.expect("delete, third time");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        let (table, requests) = held_then_free(2);
        table
            .add(&key, &[("n", 1)], Item::new())
            .await
            .expect("add, third time");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        let (table, requests) = held_then_free(2);
        let cond = Condition::Exists;
        table
            .add_if(&key, &[("n", 1)], Item::new(), cond)
            .await
            .expect("add_if, third time");
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        // Held throughout: the caller hears it after the bounded attempts.
        let (table, requests) = held_then_free(usize::MAX);
        let e = table.put(item(), None).await.expect_err("always held");
        assert!(matches!(e, TableError::Contended(_)), "{e:?}");
        assert_eq!(requests.load(Ordering::SeqCst), CONTENDED_ATTEMPTS as usize);
    }

    #[test]
    fn a_cancelled_transaction_reads_by_its_reasons() {
        let cancelled = |reasons: &[&str]| {
            let mut cancel = TransactionCanceledException::builder()
                .meta(meta("TransactionCanceledException"))
                .message("Transaction cancelled (test)");
            for code in reasons {
                cancel =
                    cancel.cancellation_reasons(CancellationReason::builder().code(*code).build());
            }
            transact_error(&answered(
                TransactWriteItemsError::TransactionCanceledException(cancel.build()),
                400,
            ))
        };
        let e = cancelled(&["None", "TransactionConflict"]);
        assert!(matches!(e, TableError::Contended(_)), "{e:?}");
        let e = cancelled(&["None", "ConditionalCheckFailed"]);
        assert!(
            matches!(&e, TableError::TransactionCanceled { failed } if failed == &[1]),
            "{e:?}"
        );
        let e = cancelled(&["ThrottlingError", "None"]);
        assert!(matches!(e, TableError::Throttled(_)), "{e:?}");
        // An invalid write is no condition that failed, and waiting cannot mend it.
        for reasons in [
            &["None", "ValidationError"][..],
            &["TransactionConflict", "ValidationError"],
        ] {
            let e = cancelled(reasons);
            assert!(
                matches!(e, TableError::InvalidItem(_)),
                "{reasons:?}: {e:?}"
            );
        }
    }

    #[test]
    fn cancellation_reports_failed_condition_indices() {
        let r = cancellation(&[Some("None"), Some("ConditionalCheckFailed"), Some("None")]);
        assert!(matches!(r, TableError::TransactionCanceled { failed } if failed == vec![1]));
        let r = cancellation(&[Some("TransactionConflict"), Some("None")]);
        assert!(matches!(r, TableError::Contended(_)), "{r:?}");
        // A failed condition decides, whatever else cancelled the transaction.
        let r = cancellation(&[Some("TransactionConflict"), Some("ConditionalCheckFailed")]);
        assert!(matches!(r, TableError::TransactionCanceled { failed } if failed == vec![1]));
        let r = cancellation(&[Some("ThrottlingError"), None]);
        assert!(matches!(r, TableError::Throttled(_)));
    }
}
