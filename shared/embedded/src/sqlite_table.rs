//! The `Table` port on one SQLite file, honouring DynamoDB's semantics: conditional writes,
//! all-or-nothing transactions that report which conditions failed, ordered range queries
//! on the base table and a sparse secondary index, and opaque cursors.
//!
//! Concurrency: rusqlite is blocking. Writes go through one connection behind a mutex
//! (SQLite has a single writer anyway, and serialising in-process avoids `SQLITE_BUSY`
//! churn); a write runs on the caller's thread when the lock is free and on `spawn_blocking`
//! when it is not. Reads run inline on a connection from a small pool, since WAL lets
//! readers run concurrently with each other and with the writer.
//!
//! Durability: WAL with `synchronous = NORMAL`. A commit is a `write()` of its WAL frames, so
//! once `put`/`transact` returns, the data is in the OS page cache and survives a `kill -9`
//! of the process; only an OS crash or power loss can drop the last commits (never corrupt
//! the file). That is the trade-off a development server wants; `FULL` would fsync per commit.
//! Checkpoints (copying frames into the database file, with its fsync) run on a thread of
//! their own, never in a request's commit.
//!
//! Keys compare as UTF-8 bytes (SQLite's BINARY collation, which is code-point order), the
//! order DynamoDB uses for string sort keys.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OpenFlags, OptionalExtension, ToSql, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use trove_core::ports::table::{GSI1_PK, GSI1_SK, PK, SK, TTL_ATTR, check_add};
use trove_core::ports::{
    Condition, Index, Item, Key, Page, Query, SkRange, Table, TableError, Write,
};

/// DynamoDB's limits, so what works here also works there.
const MAX_TRANSACT_WRITES: usize = 100;
const MAX_ITEM_BYTES: usize = 400 * 1024;
const MAX_PK_BYTES: usize = 2048;
const MAX_SK_BYTES: usize = 1024;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How often expired items are swept, and how many go per write transaction (short, so
/// requests never queue long behind the sweep).
const TTL_SWEEP_EVERY: Duration = Duration::from_secs(3600);
const TTL_BATCH: usize = 500;

/// How often committed WAL frames are checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Idle read connections kept; more are opened under load and closed afterwards.
const MAX_IDLE_READERS: usize = 8;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk     TEXT NOT NULL,
    sk     TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    body   TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk)
    WHERE gsi1pk IS NOT NULL;
";

/// A `Table` on one SQLite file. Cloning shares the connections.
#[derive(Clone)]
pub struct SqliteTable {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Write transactions committed, so the checkpointer knows when there is work.
    commits: AtomicU64,
    /// Told when a committed write touched a partition with this prefix (see `watch`).
    watch: std::sync::OnceLock<(&'static str, Arc<tokio::sync::Notify>)>,
}

impl fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteTable")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn db_err(e: rusqlite::Error) -> TableError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            TableError::Unavailable(e.to_string())
        }
        _ => TableError::Other(e.to_string()),
    }
}

fn invalid(why: impl Into<String>) -> TableError {
    TableError::InvalidItem(why.into())
}

impl SqliteTable {
    /// Opens (creating if needed) the database file and its schema.
    pub fn open(path: &Path) -> Result<SqliteTable, TableError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| TableError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = Connection::open(path).map_err(db_err)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(TableError::Other(format!(
                "cannot use WAL journal on {} (got {mode})",
                path.display()
            )));
        }
        // Checkpoints run on their own thread (`start_checkpointer`), not in the commit
        // that crosses the threshold; the WAL file is cut back to 64 MB after each reset.
        writer
            .execute_batch(
                "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
                 PRAGMA journal_size_limit = 67108864;",
            )
            .map_err(db_err)?;
        writer.execute_batch(SCHEMA).map_err(db_err)?;
        let inner = Inner {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            commits: AtomicU64::new(0),
            watch: std::sync::OnceLock::new(),
        };
        // Fail now, not on the first read, if readers cannot open.
        let reader = inner.open_reader()?;
        inner.checkin(reader);
        let table = SqliteTable {
            inner: Arc::new(inner),
        };
        table.start_ttl_sweeper();
        table.start_checkpointer();
        Ok(table)
    }

    /// What is told (one permit, as `Notify::notify_one`) each time a put or a transaction
    /// that wrote to a partition starting with `prefix` commits: the outbox relay waits on
    /// it instead of polling. One prefix per table; a second call gets the first's `Notify`.
    pub fn watch(&self, prefix: &'static str) -> Arc<tokio::sync::Notify> {
        let (_, notify) = self
            .inner
            .watch
            .get_or_init(|| (prefix, Arc::new(tokio::sync::Notify::new())));
        Arc::clone(notify)
    }

    fn committed<'k>(&self, mut pks: impl Iterator<Item = &'k str>) {
        if let Some((prefix, notify)) = self.inner.watch.get()
            && pks.any(|pk| pk.starts_with(prefix))
        {
            notify.notify_one();
        }
    }

    /// Deletes the items whose TTL attribute is a number below `now_epoch`, as DynamoDB's
    /// TTL does; items without one, or with a non-number, stay. Returns how many went.
    pub fn expire(&self, now_epoch: i64) -> Result<usize, TableError> {
        let sql = format!(
            "DELETE FROM items WHERE (pk, sk) IN (SELECT pk, sk FROM items \
             WHERE typeof(json_extract(body, '$.{TTL_ATTR}')) IN ('integer', 'real') \
             AND json_extract(body, '$.{TTL_ATTR}') < ?1 LIMIT {TTL_BATCH})"
        );
        let mut total = 0;
        loop {
            let n = self
                .inner
                .write(|tx| tx.execute(&sql, [now_epoch]).map_err(db_err))?;
            total += n;
            if n < TTL_BATCH {
                return Ok(total);
            }
        }
    }

    /// A background thread that expires items hourly while the table is open; it ends once
    /// every handle is dropped. The first sweep waits an interval, as DynamoDB's lags.
    fn start_ttl_sweeper(&self) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("trove-table-ttl".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(TTL_SWEEP_EVERY);
                    let Some(inner) = weak.upgrade() else { return };
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                    match (SqliteTable { inner }).expire(now) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(items = n, "expired table items"),
                        Err(e) => tracing::warn!(error = %e, "table TTL sweep failed"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no table TTL sweeper: expired items stay");
        }
    }

    /// Runs `f` in one write transaction. Uncontended, the usual case, it runs right here: a
    /// commit is a `write()` of WAL frames with no fsync (checkpoints run on their own
    /// thread), tens of microseconds, less than the two thread hops to the blocking pool and
    /// back. When another write holds the lock, it waits on the blocking pool instead, so a
    /// runtime worker never sleeps on the lock.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, TableError> + Send + 'static,
    ) -> Result<T, TableError> {
        let f = match self.inner.try_write(f) {
            Ok(done) => return done,
            Err(f) => f,
        };
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.write(f))
            .await
            .map_err(|e| TableError::Other(format!("table task failed: {e}")))?
    }

    /// A background thread that copies committed WAL frames into the database file every
    /// `CHECKPOINT_EVERY` while writes come in (PASSIVE: it never blocks a reader or the
    /// writer), so no request pays for a checkpoint's page copies and fsync. It ends once
    /// every handle is dropped.
    fn start_checkpointer(&self) {
        let weak = Arc::downgrade(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("trove-table-checkpoint".into())
            .spawn(move || {
                let mut seen = 0;
                let mut conn = None;
                loop {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    let Some(inner) = weak.upgrade() else { return };
                    let commits = inner.commits.load(Ordering::Relaxed);
                    if commits == seen {
                        continue;
                    }
                    seen = commits;
                    if conn.is_none() {
                        conn = Connection::open(&inner.path)
                            .inspect_err(|e| tracing::warn!(error = %e, "no checkpoint connection"))
                            .ok();
                    }
                    if let Some(c) = &conn
                        && let Err(e) =
                            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "table checkpoint failed; retried later");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no checkpoint thread: the WAL checkpoints on commit");
            if let Ok(conn) = self.inner.writer.lock() {
                let _ = conn.execute_batch("PRAGMA wal_autocheckpoint = 1000;");
            }
        }
    }
}

impl Inner {
    fn open_reader(&self) -> Result<Connection, TableError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(db_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        Ok(conn)
    }

    fn idle_readers(&self) -> MutexGuard<'_, Vec<Connection>> {
        // A Vec of idle connections stays consistent whatever panicked while holding it.
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkout(&self) -> Result<Connection, TableError> {
        let idle = self.idle_readers().pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open_reader(),
        }
    }

    fn checkin(&self, conn: Connection) {
        let mut idle = self.idle_readers();
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        let conn = self.checkout()?;
        let result = f(&conn);
        self.checkin(conn);
        result
    }

    /// Runs `f` in one write transaction if the writer's lock is free; otherwise hands `f`
    /// back untouched.
    fn try_write<T, F>(&self, f: F) -> Result<Result<T, TableError>, F>
    where
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, TableError>,
    {
        let mut conn = match self.writer.try_lock() {
            Ok(conn) => conn,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(f),
        };
        Ok(self.in_transaction(&mut conn, f))
    }

    /// Runs `f` in one write transaction, waiting for the writer's lock.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        self.in_transaction(&mut conn, f)
    }

    /// Runs `f` in one IMMEDIATE transaction on the locked writer (the write lock is taken
    /// up front, so reading the current item and writing cannot interleave with another
    /// writer); commits on `Ok`, rolls back on `Err`.
    fn in_transaction<T>(
        &self,
        conn: &mut Connection,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, TableError>,
    ) -> Result<T, TableError> {
        // A panic while the lock was held cannot leave a transaction open (rusqlite rolls
        // back on drop, and we check below), so the connection is reused instead of
        // failing every later write.
        if !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").map_err(db_err)?;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let value = f(&tx)?;
        tx.commit().map_err(db_err)?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(value)
    }
}

/// The stored form of an item, validated as DynamoDB would.
struct Row {
    pk: String,
    sk: String,
    gsi1: Option<(String, String)>,
    body: String,
}

fn check_key(key: &Key) -> Result<(), TableError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(invalid("pk and sk must be non-empty"));
    }
    if key.pk.len() > MAX_PK_BYTES || key.sk.len() > MAX_SK_BYTES {
        return Err(invalid("key too long"));
    }
    Ok(())
}

fn index_attr<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, TableError> {
    match item.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a non-empty string"))),
    }
}

impl Row {
    fn of(item: &Item) -> Result<Row, TableError> {
        let key = Key::of(item).ok_or_else(|| invalid("item needs string pk and sk"))?;
        check_key(&key)?;
        let gsi1 = match (index_attr(item, GSI1_PK)?, index_attr(item, GSI1_SK)?) {
            (Some(p), Some(s)) => Some((p.to_owned(), s.to_owned())),
            _ => None,
        };
        let body = serde_json::to_string(item).map_err(|e| invalid(e.to_string()))?;
        if body.len() > MAX_ITEM_BYTES {
            return Err(invalid("item larger than 400 KB"));
        }
        Ok(Row {
            pk: key.pk,
            sk: key.sk,
            gsi1,
            body,
        })
    }

    fn key(&self) -> Key {
        Key::new(self.pk.clone(), self.sk.clone())
    }
}

fn parse_body(body: &str) -> Result<Item, TableError> {
    serde_json::from_str(body).map_err(|e| TableError::Other(format!("corrupt stored item: {e}")))
}

fn load(conn: &Connection, key: &Key) -> Result<Option<String>, TableError> {
    conn.prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| {
            stmt.query_row([&key.pk, &key.sk], |r| r.get::<_, String>(0))
                .optional()
        })
        .map_err(db_err)
}

fn store(conn: &Connection, row: &Row) -> Result<(), TableError> {
    let (gpk, gsk) = match &row.gsi1 {
        Some((p, s)) => (Some(p.as_str()), Some(s.as_str())),
        None => (None, None),
    };
    conn.prepare_cached(
        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| stmt.execute(rusqlite::params![row.pk, row.sk, gpk, gsk, row.body]))
    .map_err(db_err)?;
    Ok(())
}

fn remove(conn: &Connection, key: &Key) -> Result<(), TableError> {
    conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
        .and_then(|mut stmt| stmt.execute([&key.pk, &key.sk]))
        .map_err(db_err)?;
    Ok(())
}

/// DynamoDB compares numbers by value (`1` equals `1.0`); JSON values otherwise compare
/// structurally.
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether `condition` holds for the item currently stored under the key.
fn holds(conn: &Connection, key: &Key, condition: Option<&Condition>) -> Result<bool, TableError> {
    let Some(condition) = condition else {
        return Ok(true);
    };
    let current = load(conn, key)?;
    Ok(match condition {
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::Equals(attr, expected) => match current {
            None => false,
            Some(body) => parse_body(&body)?
                .get(attr)
                .is_some_and(|v| values_equal(v, expected)),
        },
        Condition::Between(attr, low, high) => match current {
            None => false,
            Some(body) => number(&parse_body(&body)?, attr).is_some_and(|n| {
                #[allow(clippy::cast_precision_loss)]
                let (low, high) = (*low as f64, *high as f64);
                (low..=high).contains(&n)
            }),
        },
        Condition::AbsentOrBelow(attr, limit) => match current {
            None => true,
            Some(body) => {
                let item = parse_body(&body)?;
                match item.get(attr) {
                    None => true,
                    #[allow(clippy::cast_precision_loss)]
                    Some(_) => number(&item, attr).is_some_and(|n| n < *limit as f64),
                }
            }
        },
    })
}

/// The attribute as a number, if it is one (DynamoDB compares numbers only with numbers).
fn number(item: &Item, attr: &str) -> Option<f64> {
    item.get(attr)?.as_f64()
}

/// A transaction's write, validated before anything is touched.
enum Op {
    Put(Row, Option<Condition>),
    Delete(Key, Option<Condition>),
    Check(Key, Condition),
}

impl Op {
    fn of(write: Write) -> Result<Op, TableError> {
        Ok(match write {
            Write::Put { item, condition } => Op::Put(Row::of(&item)?, condition),
            Write::Delete { key, condition } => {
                check_key(&key)?;
                Op::Delete(key, condition)
            }
            Write::Check { key, condition } => {
                check_key(&key)?;
                Op::Check(key, condition)
            }
        })
    }

    fn key(&self) -> Key {
        match self {
            Op::Put(row, _) => row.key(),
            Op::Delete(key, _) | Op::Check(key, _) => key.clone(),
        }
    }

    fn condition(&self) -> Option<&Condition> {
        match self {
            Op::Put(_, c) | Op::Delete(_, c) => c.as_ref(),
            Op::Check(_, c) => Some(c),
        }
    }

    fn apply(&self, conn: &Connection) -> Result<(), TableError> {
        match self {
            Op::Put(row, _) => store(conn, row),
            Op::Delete(key, _) => remove(conn, key),
            Op::Check(..) => Ok(()),
        }
    }
}

// ---- queries and cursors ----

/// The last key a page returned. `part` is the partition queried, so a cursor cannot be
/// replayed against another partition or index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    ix: String,
    part: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsk: Option<String>,
    pk: String,
    sk: String,
}

fn index_name(index: Index) -> &'static str {
    match index {
        Index::Primary => "primary",
        Index::Gsi1 => "gsi1",
    }
}

fn encode_cursor(cursor: &Cursor) -> Result<String, TableError> {
    let json = serde_json::to_vec(cursor).map_err(|e| TableError::Other(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(text: &str, query: &Query) -> Result<Cursor, TableError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| TableError::InvalidCursor)?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| TableError::InvalidCursor)?;
    let shape_ok = match query.index {
        Index::Primary => cursor.gsk.is_none() && cursor.pk == query.pk,
        Index::Gsi1 => cursor.gsk.is_some(),
    };
    if cursor.ix != index_name(query.index) || cursor.part != query.pk || !shape_ok {
        return Err(TableError::InvalidCursor);
    }
    Ok(cursor)
}

/// The least string above every string that starts with `prefix`, or `None` when there is
/// none (empty prefix, or only `char::MAX`). Computed on chars rather than bytes so the
/// bound stays valid UTF-8 (a TEXT value SQLite compares bytewise); since UTF-8 byte order
/// is code-point order, `prefix <= s < successor` holds exactly for the strings with that
/// prefix, for any Unicode prefix, not only the ASCII keys the domain builds.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            char::MAX => None,
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// SQL and parameters of one page of a query. Only range comparisons on the indexed sort
/// column: user text never reaches a LIKE pattern, and SQLite walks the index from the
/// cursor instead of filtering.
fn page_sql(query: &Query, cursor: Option<&Cursor>, fetch: i64) -> (String, Vec<Box<dyn ToSql>>) {
    let (select, part_col, sort_col, order) = match query.index {
        Index::Primary => ("SELECT body FROM items", "pk", "sk", vec!["sk"]),
        Index::Gsi1 => (
            "SELECT body FROM items",
            "gsi1pk",
            "gsi1sk",
            vec!["gsi1sk", "pk", "sk"],
        ),
    };
    let mut sql = format!("{select} WHERE {part_col} = ?");
    let mut params: Vec<Box<dyn ToSql>> = vec![Box::new(query.pk.clone())];
    match &query.sk {
        SkRange::All => {}
        SkRange::BeginsWith(prefix) => {
            sql.push_str(&format!(" AND {sort_col} >= ?"));
            params.push(Box::new(prefix.clone()));
            if let Some(upper) = prefix_successor(prefix) {
                sql.push_str(&format!(" AND {sort_col} < ?"));
                params.push(Box::new(upper));
            }
        }
        SkRange::Between(low, high) => {
            sql.push_str(&format!(" AND {sort_col} >= ? AND {sort_col} <= ?"));
            params.push(Box::new(low.clone()));
            params.push(Box::new(high.clone()));
        }
    }
    let cmp = if query.descending { "<" } else { ">" };
    if let Some(c) = cursor {
        match (&query.index, &c.gsk) {
            (Index::Gsi1, Some(gsk)) => {
                sql.push_str(&format!(" AND (gsi1sk, pk, sk) {cmp} (?, ?, ?)"));
                params.push(Box::new(gsk.clone()));
                params.push(Box::new(c.pk.clone()));
                params.push(Box::new(c.sk.clone()));
            }
            _ => {
                sql.push_str(&format!(" AND sk {cmp} ?"));
                params.push(Box::new(c.sk.clone()));
            }
        }
    }
    let dir = if query.descending { "DESC" } else { "ASC" };
    let order: Vec<String> = order.iter().map(|c| format!("{c} {dir}")).collect();
    sql.push_str(&format!(" ORDER BY {} LIMIT ?", order.join(", ")));
    params.push(Box::new(fetch));
    (sql, params)
}

fn run_query(conn: &Connection, query: &Query) -> Result<Page, TableError> {
    if query.pk.is_empty() {
        return Err(invalid("query partition key must be non-empty"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, query))
        .transpose()?;
    let limit = query.limit.max(1);
    // One more than asked tells whether another page exists.
    let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
    let (sql, params) = page_sql(query, cursor.as_ref(), fetch);
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
    let bodies = stmt
        .query_map(params.as_slice(), |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
        .map_err(db_err)?;
    let more = bodies.len() > limit;
    let items = bodies
        .iter()
        .take(limit)
        .map(|b| parse_body(b))
        .collect::<Result<Vec<Item>, _>>()?;
    let cursor = match items.last() {
        Some(last) if more => Some(encode_cursor(&cursor_after(last, query)?)?),
        _ => None,
    };
    Ok(Page { items, cursor })
}

fn cursor_after(item: &Item, query: &Query) -> Result<Cursor, TableError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TableError::Other(format!("stored item lacks {name}")))
    };
    Ok(Cursor {
        ix: index_name(query.index).to_owned(),
        part: query.pk.clone(),
        gsk: match query.index {
            Index::Primary => None,
            Index::Gsi1 => Some(text(GSI1_SK)?),
        },
        pk: text(PK)?,
        sk: text(SK)?,
    })
}

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        check_key(key)?;
        // Reads run inline: a point read under WAL takes microseconds and never waits on
        // the writer, so the hop to the blocking pool would cost more than the read itself.
        self.inner
            .read(|conn| load(conn, key))?
            .map(|body| parse_body(&body))
            .transpose()
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        let row = Row::of(&item)?;
        let pk = row.pk.clone();
        self.write(move |tx| {
            if !holds(tx, &row.key(), condition.as_ref())? {
                return Err(TableError::ConditionFailed);
            }
            store(tx, &row)
        })
        .await?;
        self.committed(std::iter::once(pk.as_str()));
        Ok(())
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), TableError> {
        check_key(key)?;
        let key = key.clone();
        self.write(move |tx| {
            if !holds(tx, &key, condition.as_ref())? {
                return Err(TableError::ConditionFailed);
            }
            remove(tx, &key)
        })
        .await
    }

    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        // Inline, as `get`: a page is at most `limit` rows read through an index.
        self.inner.read(|conn| run_query(conn, query))
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        if writes.len() > MAX_TRANSACT_WRITES {
            return Err(invalid(format!(
                "a transaction holds at most {MAX_TRANSACT_WRITES} writes"
            )));
        }
        let ops = writes
            .into_iter()
            .map(Op::of)
            .collect::<Result<Vec<_>, _>>()?;
        let mut keys = std::collections::HashSet::with_capacity(ops.len());
        if !ops.iter().all(|op| keys.insert(op.key())) {
            return Err(invalid("a transaction writes each key at most once"));
        }
        if ops.is_empty() {
            return Ok(());
        }
        let pks: Vec<String> = ops.iter().map(|op| op.key().pk).collect();
        self.write(move |tx| {
            // Keys are distinct, so checking every condition before applying any write
            // sees the same state DynamoDB does; every failing index is reported.
            let mut failed = Vec::new();
            for (i, op) in ops.iter().enumerate() {
                if !holds(tx, &op.key(), op.condition())? {
                    failed.push(i);
                }
            }
            if !failed.is_empty() {
                return Err(TableError::TransactionCanceled { failed });
            }
            ops.iter().try_for_each(|op| op.apply(tx))
        })
        .await?;
        self.committed(pks.iter().map(String::as_str));
        Ok(())
    }

    async fn add(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
    ) -> Result<(), TableError> {
        self.add_where(key, counters, attrs, None).await
    }

    async fn add_if(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.add_where(key, counters, attrs, Some(condition)).await
    }
}

impl SqliteTable {
    async fn add_where(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Option<Condition>,
    ) -> Result<(), TableError> {
        check_key(key)?;
        check_add(counters, &attrs)?;
        let key = key.clone();
        let counters: Vec<(String, i64)> = counters
            .iter()
            .map(|(n, d)| ((*n).to_owned(), *d))
            .collect();
        // Read, add and store under the writer's IMMEDIATE transaction: no other write can
        // come between, which is what makes the add atomic.
        self.write(move |tx| {
            if !holds(tx, &key, condition.as_ref())? {
                return Err(TableError::ConditionFailed);
            }
            let mut item = match load(tx, &key)? {
                Some(body) => parse_body(&body)?,
                None => {
                    let mut item = Item::new();
                    item.insert(PK.into(), key.pk.clone().into());
                    item.insert(SK.into(), key.sk.clone().into());
                    item
                }
            };
            for (name, value) in attrs {
                item.entry(name).or_insert(value);
            }
            for (name, delta) in &counters {
                let current = match item.get(name) {
                    None => 0,
                    Some(v) => v.as_i64().ok_or_else(|| {
                        invalid(format!("attribute {name} is not a whole number"))
                    })?,
                };
                let sum = current
                    .checked_add(*delta)
                    .ok_or_else(|| invalid(format!("attribute {name} overflows")))?;
                item.insert(name.clone(), sum.into());
            }
            store(tx, &Row::of(&item)?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(v: Value) -> Item {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn open() -> (tempfile::TempDir, SqliteTable) {
        let dir = tempfile::tempdir().expect("tempdir");
        let table = SqliteTable::open(&dir.path().join("trove.db")).expect("open");
        (dir, table)
    }

    #[tokio::test]
    async fn commits_reach_the_database_file_through_the_checkpointer() {
        let (dir, t) = open();
        let db = dir.path().join("trove.db");
        let before = std::fs::metadata(&db).expect("db file").len();
        let body = "x".repeat(2000);
        for i in 0..100 {
            t.put(
                item(json!({"pk": "P", "sk": format!("{i:03}"), "v": body})),
                None,
            )
            .await
            .expect("put");
        }
        // Commits never checkpoint themselves (wal_autocheckpoint = 0): only the
        // checkpointer thread moves the pages from the WAL into the database file.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&db).expect("db file").len() < before + 100 * 2000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {} bytes",
                std::fs::metadata(&db).expect("db file").len()
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_finds_the_writer_busy_waits_off_the_runtime_and_commits() {
        let (_dir, t) = open();
        let (locked, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let inner = Arc::clone(&t.inner);
        let holder = std::thread::spawn(move || {
            let _held = inner.writer.lock().expect("writer");
            locked.0.send(()).expect("signal");
            let _ = release.1.recv();
        });
        locked.1.recv().expect("lock taken");
        let table = t.clone();
        let pending = tokio::spawn(async move {
            table
                .put(
                    item(json!({"pk": "P", "sk": "late"})),
                    Some(Condition::NotExists),
                )
                .await
        });
        // The runtime keeps running while the write waits: this read is answered.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !pending.is_finished(),
            "the write did not wait for the lock"
        );
        assert_eq!(t.get(&Key::new("P", "late")).await.expect("get"), None);
        release.0.send(()).expect("release");
        holder.join().expect("holder");
        pending.await.expect("task").expect("put");
        assert!(t.get(&Key::new("P", "late")).await.expect("get").is_some());
    }

    #[tokio::test]
    async fn expired_items_go_as_dynamodb_ttl_drops_them() {
        let (_dir, t) = open();
        let rows = [
            ("past", json!(99)),
            ("past-real", json!(99.5)),
            ("now", json!(100)),
            ("future", json!(5000)),
            ("text", json!("1")),
        ];
        for (sk, ttl) in rows {
            t.put(item(json!({"pk": "P", "sk": sk, TTL_ATTR: ttl})), None)
                .await
                .expect("put");
        }
        t.put(item(json!({"pk": "P", "sk": "none"})), None)
            .await
            .expect("put");
        // More than one batch, and indexed items too.
        for i in 0..(TTL_BATCH + 7) {
            let row = json!({"pk": "Q", "sk": format!("{i:04}"), TTL_ATTR: 1,
                             "gsi1pk": "G", "gsi1sk": format!("{i:04}")});
            t.put(item(row), None).await.expect("put");
        }
        let gone = t.expire(100).expect("expire");
        assert_eq!(gone, 2 + TTL_BATCH + 7);
        let left = t.query(&Query::new("P")).await.expect("query").items;
        let left: Vec<_> = left
            .iter()
            .map(|i| i["sk"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(left, ["future", "none", "now", "text"]);
        assert!(
            t.query(&Query::new("Q"))
                .await
                .expect("query")
                .items
                .is_empty()
        );
        let by_index = Query::new("G").index(Index::Gsi1);
        assert!(t.query(&by_index).await.expect("query").items.is_empty());
        assert_eq!(t.expire(100).expect("again"), 0);
    }

    #[test]
    fn prefix_successor_edges() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("V#"), Some("V$".into()));
        assert_eq!(prefix_successor("a\u{7f}"), Some("a\u{80}".into()));
        assert_eq!(prefix_successor("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(prefix_successor("ab\u{10FFFF}"), Some("ac".into()));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        // Every string with the prefix sorts (bytewise) inside the range, and a neighbour
        // without it does not.
        for prefix in ["V#1", "a\u{7f}", "é", "x\u{10FFFF}"] {
            let upper = prefix_successor(prefix).expect("bounded");
            for s in [
                prefix.to_string(),
                format!("{prefix}\u{10FFFF}zzz"),
                format!("{prefix}\0"),
            ] {
                assert!(prefix.as_bytes() <= s.as_bytes() && s.as_bytes() < upper.as_bytes());
            }
            assert!(upper.as_bytes() > prefix.as_bytes());
            assert!(!upper.starts_with(prefix));
        }
    }

    #[test]
    fn cursors_refuse_garbage_and_other_partitions() {
        let q = Query::new("P1");
        let good = Cursor {
            ix: "primary".into(),
            part: "P1".into(),
            gsk: None,
            pk: "P1".into(),
            sk: "a".into(),
        };
        let text = encode_cursor(&good).expect("encode");
        assert_eq!(decode_cursor(&text, &q).expect("decodes"), good);
        for garbage in [
            "",
            "!!!",
            "bm90IGpzb24",
            &URL_SAFE_NO_PAD.encode(b"{\"ix\":1}"),
        ] {
            assert!(matches!(
                decode_cursor(garbage, &q),
                Err(TableError::InvalidCursor)
            ));
        }
        let other = Query::new("P2");
        assert!(matches!(
            decode_cursor(&text, &other),
            Err(TableError::InvalidCursor)
        ));
        let gsi = Query::new("P1").index(Index::Gsi1);
        assert!(matches!(
            decode_cursor(&text, &gsi),
            Err(TableError::InvalidCursor)
        ));
        let extra =
            URL_SAFE_NO_PAD.encode(br#"{"ix":"primary","part":"P1","pk":"P1","sk":"a","x":1}"#);
        assert!(matches!(
            decode_cursor(&extra, &q),
            Err(TableError::InvalidCursor)
        ));
    }

    #[tokio::test]
    async fn conditional_writes() {
        let (_dir, t) = open();
        let k = Key::new("P", "S");
        let it = item(json!({"pk": "P", "sk": "S", "n": 1, "s": "x"}));
        t.put(it.clone(), Some(Condition::NotExists))
            .await
            .expect("first");
        assert!(matches!(
            t.put(it.clone(), Some(Condition::NotExists)).await,
            Err(TableError::ConditionFailed)
        ));
        t.put(it.clone(), Some(Condition::Equals("n".into(), json!(1.0))))
            .await
            .expect("numbers compare by value");
        assert!(matches!(
            t.put(it.clone(), Some(Condition::Equals("s".into(), json!("y"))))
                .await,
            Err(TableError::ConditionFailed)
        ));
        assert!(matches!(
            t.delete(&Key::new("P", "other"), Some(Condition::Exists))
                .await,
            Err(TableError::ConditionFailed)
        ));
        t.delete(&Key::new("P", "other"), None)
            .await
            .expect("absent is fine");
        assert_eq!(t.get(&k).await.expect("get"), Some(it));
        t.delete(&k, Some(Condition::Exists)).await.expect("delete");
        assert_eq!(t.get(&k).await.expect("get"), None);
        for bad in [
            json!({"pk": "P"}),
            json!({"pk": 1, "sk": "S"}),
            json!({"pk": "", "sk": "S"}),
            json!({"pk": "P", "sk": "S", "gsi1pk": 3}),
            json!({"pk": "P", "sk": "S", "big": "x".repeat(MAX_ITEM_BYTES)}),
        ] {
            assert!(matches!(
                t.put(item(bad), None).await,
                Err(TableError::InvalidItem(_))
            ));
        }
    }

    #[tokio::test]
    async fn transactions_are_all_or_nothing() {
        let (_dir, t) = open();
        t.put(item(json!({"pk": "P", "sk": "a", "v": 1})), None)
            .await
            .expect("put");
        t.put(item(json!({"pk": "P", "sk": "d"})), None)
            .await
            .expect("put");
        let writes = vec![
            Write::Put {
                item: item(json!({"pk": "P", "sk": "b"})),
                condition: Some(Condition::NotExists),
            },
            Write::Check {
                key: Key::new("P", "a"),
                condition: Condition::Equals("v".into(), json!(2)),
            },
            Write::Delete {
                key: Key::new("P", "d"),
                condition: None,
            },
            Write::Put {
                item: item(json!({"pk": "P", "sk": "c"})),
                condition: Some(Condition::Exists),
            },
        ];
        match t.transact(writes.clone()).await {
            Err(TableError::TransactionCanceled { failed }) => assert_eq!(failed, vec![1, 3]),
            other => panic!("unexpected {other:?}"),
        }
        assert!(t.get(&Key::new("P", "b")).await.expect("get").is_none());
        assert!(t.get(&Key::new("P", "d")).await.expect("get").is_some());

        t.transact(vec![writes[0].clone(), writes[2].clone()])
            .await
            .expect("commits");
        assert!(t.get(&Key::new("P", "b")).await.expect("get").is_some());
        assert!(t.get(&Key::new("P", "d")).await.expect("get").is_none());

        let same_key = vec![
            Write::Check {
                key: Key::new("P", "a"),
                condition: Condition::Exists,
            },
            Write::Delete {
                key: Key::new("P", "a"),
                condition: None,
            },
        ];
        assert!(matches!(
            t.transact(same_key).await,
            Err(TableError::InvalidItem(_))
        ));
        assert!(t.get(&Key::new("P", "a")).await.expect("get").is_some());

        let too_many = (0..101)
            .map(|i| Write::Delete {
                key: Key::new("P", format!("k{i}")),
                condition: None,
            })
            .collect();
        assert!(matches!(
            t.transact(too_many).await,
            Err(TableError::InvalidItem(_))
        ));
        t.transact(vec![]).await.expect("nothing to do");
    }

    #[tokio::test]
    async fn queries_page_in_order_with_ranges() {
        let (_dir, t) = open();
        for i in 0..25 {
            let mut it = item(json!({"pk": "P", "sk": format!("V#{i:02}")}));
            if i % 2 == 0 {
                it.insert("gsi1pk".into(), json!("G"));
                // Ties on gsi1sk are broken by pk, sk.
                it.insert("gsi1sk".into(), json!(format!("t{}", i / 4)));
            }
            t.put(it, None).await.expect("put");
        }
        t.put(item(json!({"pk": "P", "sk": "V$"})), None)
            .await
            .expect("put");
        t.put(item(json!({"pk": "P", "sk": "U"})), None)
            .await
            .expect("put");
        t.put(item(json!({"pk": "Q", "sk": "V#00"})), None)
            .await
            .expect("put");

        async fn all(t: &SqliteTable, q: Query) -> Vec<String> {
            let mut out = Vec::new();
            let mut cursor = None;
            loop {
                let page = t.query(&q.clone().cursor(cursor)).await.expect("query");
                assert!(page.items.len() <= q.limit);
                out.extend(
                    page.items
                        .iter()
                        .map(|i| i["sk"].as_str().expect("sk").to_owned()),
                );
                match page.cursor {
                    Some(c) => cursor = Some(c),
                    None => return out,
                }
            }
        }

        let asc = all(&t, Query::new("P").begins_with("V#").limit(7)).await;
        let expected: Vec<String> = (0..25).map(|i| format!("V#{i:02}")).collect();
        assert_eq!(asc, expected);
        let desc = all(&t, Query::new("P").begins_with("V#").limit(4).descending()).await;
        assert_eq!(desc, expected.iter().rev().cloned().collect::<Vec<_>>());
        let between = all(&t, Query::new("P").between("V#03", "V#05").limit(2)).await;
        assert_eq!(between, vec!["V#03", "V#04", "V#05"]);
        assert_eq!(all(&t, Query::new("P").limit(100)).await.len(), 27);

        // Exactly `limit` items: no cursor.
        let page = t
            .query(&Query::new("P").between("V#00", "V#04").limit(5))
            .await
            .expect("q");
        assert_eq!(page.items.len(), 5);
        assert!(page.cursor.is_none());

        let gsi = all(&t, Query::new("G").index(Index::Gsi1).limit(3)).await;
        let even: Vec<String> = (0..25).step_by(2).map(|i| format!("V#{i:02}")).collect();
        assert_eq!(gsi, even);
        let gsi_desc = all(&t, Query::new("G").index(Index::Gsi1).limit(2).descending()).await;
        assert_eq!(gsi_desc, even.iter().rev().cloned().collect::<Vec<_>>());
        let gsi_prefix = all(
            &t,
            Query::new("G")
                .index(Index::Gsi1)
                .begins_with("t1")
                .limit(1),
        )
        .await;
        assert_eq!(gsi_prefix, vec!["V#04", "V#06"]);

        let page = t.query(&Query::new("P").limit(1)).await.expect("q");
        let cursor = page.cursor.expect("more");
        assert!(matches!(
            t.query(&Query::new("Q").cursor(Some(cursor))).await,
            Err(TableError::InvalidCursor)
        ));
        assert!(matches!(
            t.query(&Query::new("P").cursor(Some("garbage".into())))
                .await,
            Err(TableError::InvalidCursor)
        ));
    }

    #[tokio::test]
    async fn prefix_text_is_not_a_pattern() {
        let (_dir, t) = open();
        for sk in ["a%b", "axb", "a_c", "abc", "A%B"] {
            t.put(item(json!({"pk": "P", "sk": sk})), None)
                .await
                .expect("put");
        }
        let page = t
            .query(&Query::new("P").begins_with("a%"))
            .await
            .expect("q");
        assert_eq!(page.items.len(), 1);
        let page = t
            .query(&Query::new("P").begins_with("a_"))
            .await
            .expect("q");
        assert_eq!(page.items.len(), 1);
    }

    #[tokio::test]
    async fn queries_use_the_indexes() {
        let (_dir, t) = open();
        let conn = t.inner.checkout().expect("reader");
        for q in [
            Query::new("P").begins_with("V#").descending(),
            Query::new("G").index(Index::Gsi1).between("a", "b"),
        ] {
            let cursor = Cursor {
                ix: index_name(q.index).into(),
                part: q.pk.clone(),
                gsk: matches!(q.index, Index::Gsi1).then(|| "a".into()),
                pk: "x".into(),
                sk: "y".into(),
            };
            let (sql, params) = page_sql(&q, Some(&cursor), 10);
            let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan")
                .query_map(params.as_slice(), |r| r.get::<_, String>(3))
                .expect("rows")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            let plan = plan.join("; ");
            assert!(!plan.contains("TEMP B-TREE"), "sorts: {plan}");
            assert!(plan.contains("SEARCH"), "scans: {plan}");
        }
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("trove.db");
        {
            let t = SqliteTable::open(&path).expect("open");
            t.put(item(json!({"pk": "P", "sk": "S"})), None)
                .await
                .expect("put");
        }
        let t = SqliteTable::open(&path).expect("reopen");
        assert!(t.get(&Key::new("P", "S")).await.expect("get").is_some());
    }
}
