//! The `Table` contract.

use std::sync::Arc;

use serde_json::{Value, json};
use trove_core::ports::table::query_all;
use trove_core::ports::{Condition, Index, Item, Key, Page, Query, Table, TableError, Write};
use trove_embedded::SqliteTable;

use crate::Fixture;

pub async fn local_table() -> Fixture<dyn Table> {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = SqliteTable::open(&dir.path().join("table.db")).expect("sqlite table opens");
    Fixture::new(Arc::new(table), Some(dir))
}

mod aws {
    use crate::cases;
    cases!(crate::moto::table =>
        get_absent_and_present,
        put_not_exists_twice_keeps_the_first,
        equals_condition_passes_and_fails,
        exists_condition,
        delete_with_condition,
        transaction_is_all_or_nothing,
        transaction_applies_puts_deletes_and_checks,
        a_transaction_of_more_than_100_writes_is_refused_whole,
        a_transaction_naming_one_key_twice_is_refused_whole,
        range_queries_are_ordered,
        pagination_returns_every_item_once,
        descending_pagination,
        garbage_cursor_is_invalid,
        cursor_from_another_partition_is_invalid,
        secondary_index_is_sparse_and_ordered,
        concurrent_conditional_puts_have_one_winner,
        concurrent_adds_sum_exactly,
        add_creates_the_item_and_sets_attributes_once,
        add_refuses_bad_arguments,
        a_conditional_add_applies_only_when_its_condition_holds,
        concurrent_conditional_adds_never_pass_their_bound,
    );
}

mod local {
    use crate::cases;
    cases!(super::local_table =>
        get_absent_and_present,
        put_not_exists_twice_keeps_the_first,
        equals_condition_passes_and_fails,
        exists_condition,
        delete_with_condition,
        transaction_is_all_or_nothing,
        transaction_applies_puts_deletes_and_checks,
        a_transaction_of_more_than_100_writes_is_refused_whole,
        a_transaction_naming_one_key_twice_is_refused_whole,
        range_queries_are_ordered,
        pagination_returns_every_item_once,
        descending_pagination,
        garbage_cursor_is_invalid,
        cursor_from_another_partition_is_invalid,
        secondary_index_is_sparse_and_ordered,
        concurrent_conditional_puts_have_one_winner,
        concurrent_adds_sum_exactly,
        add_creates_the_item_and_sets_attributes_once,
        add_refuses_bad_arguments,
        a_conditional_add_applies_only_when_its_condition_holds,
        concurrent_conditional_adds_never_pass_their_bound,
    );
}

fn item(value: Value) -> Item {
    match value {
        Value::Object(map) => map,
        other => panic!("test items are objects, got {other}"),
    }
}

fn sort_keys(page: &[Item]) -> Vec<String> {
    page.iter()
        .map(|i| i["sk"].as_str().expect("sk is a string").to_owned())
        .collect()
}

async fn put_all(table: &dyn Table, items: impl IntoIterator<Item = Value>) {
    for i in items {
        table.put(item(i), None).await.expect("put");
    }
}

/// Every page of a query, following cursors; a final empty page is allowed (DynamoDB may
/// return a cursor when nothing follows).
async fn all_pages(table: &dyn Table, query: Query) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(&query.clone().cursor(cursor.take()))
            .await
            .expect("query");
        assert!(page.items.len() <= query.limit, "a page exceeds the limit");
        cursor = page.cursor.clone();
        let done = cursor.is_none();
        pages.push(page);
        if done {
            return pages;
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
}

pub async fn get_absent_and_present(table: Arc<dyn Table>) {
    let key = Key::new("P#get", "S#1");
    assert!(table.get(&key).await.expect("get").is_none());

    let stored = item(json!({
        "pk": "P#get", "sk": "S#1",
        "name": "x", "n": 42, "f": 1.5, "ok": true, "none": null,
        "list": [1, "two", {"three": 3}], "map": {"a": {"b": "c"}}, "empty": ""
    }));
    table.put(stored.clone(), None).await.expect("put");
    assert_eq!(table.get(&key).await.expect("get"), Some(stored));
    assert!(
        table
            .get(&Key::new("P#get", "S#2"))
            .await
            .expect("get")
            .is_none()
    );
}

pub async fn put_not_exists_twice_keeps_the_first(table: Arc<dyn Table>) {
    let first = item(json!({"pk": "P#ne", "sk": "S", "v": 1}));
    let second = item(json!({"pk": "P#ne", "sk": "S", "v": 2}));
    table
        .put(first.clone(), Some(Condition::NotExists))
        .await
        .expect("first put wins");
    let err = table
        .put(second, Some(Condition::NotExists))
        .await
        .expect_err("second put must fail");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
    assert_eq!(
        table.get(&Key::new("P#ne", "S")).await.expect("get"),
        Some(first)
    );
}

pub async fn equals_condition_passes_and_fails(table: Arc<dyn Table>) {
    let key = Key::new("P#eq", "S");
    // `status` is a DynamoDB reserved word: the adapter must use placeholders.
    table
        .put(
            item(json!({"pk": "P#eq", "sk": "S", "status": "pending", "n": 1})),
            None,
        )
        .await
        .expect("put");

    let err = table
        .put(
            item(json!({"pk": "P#eq", "sk": "S", "status": "published", "n": 2})),
            Some(Condition::Equals("status".into(), json!("scanning"))),
        )
        .await
        .expect_err("status is not scanning");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");

    let next = item(json!({"pk": "P#eq", "sk": "S", "status": "scanning", "n": 2}));
    table
        .put(
            next.clone(),
            Some(Condition::Equals("status".into(), json!("pending"))),
        )
        .await
        .expect("status is pending");
    assert_eq!(table.get(&key).await.expect("get"), Some(next));

    // Numbers compare as numbers.
    table
        .put(
            item(json!({"pk": "P#eq", "sk": "S", "status": "scanning", "n": 3})),
            Some(Condition::Equals("n".into(), json!(2))),
        )
        .await
        .expect("n is 2");

    // Equals on an absent item (or an absent attribute) fails.
    let err = table
        .put(
            item(json!({"pk": "P#eq", "sk": "other"})),
            Some(Condition::Equals("status".into(), json!("pending"))),
        )
        .await
        .expect_err("no item");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
    let err = table
        .put(
            item(json!({"pk": "P#eq", "sk": "S"})),
            Some(Condition::Equals("missing".into(), json!("x"))),
        )
        .await
        .expect_err("no attribute");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
}

pub async fn exists_condition(table: Arc<dyn Table>) {
    let err = table
        .put(
            item(json!({"pk": "P#ex", "sk": "S", "v": 1})),
            Some(Condition::Exists),
        )
        .await
        .expect_err("nothing stored yet");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
    assert!(
        table
            .get(&Key::new("P#ex", "S"))
            .await
            .expect("get")
            .is_none()
    );

    table
        .put(item(json!({"pk": "P#ex", "sk": "S", "v": 1})), None)
        .await
        .expect("put");
    table
        .put(
            item(json!({"pk": "P#ex", "sk": "S", "v": 2})),
            Some(Condition::Exists),
        )
        .await
        .expect("stored now");
    let got = table.get(&Key::new("P#ex", "S")).await.expect("get");
    assert_eq!(got.map(|i| i["v"].clone()), Some(json!(2)));
}

pub async fn delete_with_condition(table: Arc<dyn Table>) {
    let key = Key::new("P#del", "S");
    table
        .delete(&key, None)
        .await
        .expect("deleting an absent item is fine");
    let err = table
        .delete(&key, Some(Condition::Exists))
        .await
        .expect_err("absent");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");

    let stored = item(json!({"pk": "P#del", "sk": "S", "status": "published"}));
    table.put(stored.clone(), None).await.expect("put");
    let err = table
        .delete(
            &key,
            Some(Condition::Equals("status".into(), json!("pending"))),
        )
        .await
        .expect_err("status differs");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
    let err = table
        .delete(&key, Some(Condition::NotExists))
        .await
        .expect_err("it exists");
    assert!(matches!(err, TableError::ConditionFailed), "{err:?}");
    assert_eq!(table.get(&key).await.expect("get"), Some(stored));

    table
        .delete(
            &key,
            Some(Condition::Equals("status".into(), json!("published"))),
        )
        .await
        .expect("status matches");
    assert!(table.get(&key).await.expect("get").is_none());
}

pub async fn transaction_is_all_or_nothing(table: Arc<dyn Table>) {
    table
        .put(
            item(json!({"pk": "P#tx", "sk": "guard", "state": "open"})),
            None,
        )
        .await
        .expect("put");
    table
        .put(item(json!({"pk": "P#tx", "sk": "victim", "v": 1})), None)
        .await
        .expect("put");

    let err = table
        .transact(vec![
            Write::Put {
                item: item(json!({"pk": "P#tx", "sk": "a", "v": 1})),
                condition: None,
            },
            Write::Put {
                item: item(json!({"pk": "P#tx", "sk": "b", "v": 1})),
                condition: Some(Condition::NotExists),
            },
            Write::Delete {
                key: Key::new("P#tx", "victim"),
                condition: None,
            },
            Write::Check {
                key: Key::new("P#tx", "guard"),
                condition: Condition::Equals("state".into(), json!("closed")),
            },
        ])
        .await
        .expect_err("the check fails");
    match err {
        TableError::TransactionCanceled { failed } => assert_eq!(failed, vec![3]),
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    for sk in ["a", "b"] {
        assert!(
            table
                .get(&Key::new("P#tx", sk))
                .await
                .expect("get")
                .is_none(),
            "{sk} was written by a cancelled transaction"
        );
    }
    assert!(
        table
            .get(&Key::new("P#tx", "victim"))
            .await
            .expect("get")
            .is_some(),
        "a cancelled transaction deleted an item"
    );

    // Two failing conditions are both reported, in request order.
    let err = table
        .transact(vec![
            Write::Put {
                item: item(json!({"pk": "P#tx", "sk": "victim", "v": 2})),
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: item(json!({"pk": "P#tx", "sk": "c", "v": 1})),
                condition: None,
            },
            Write::Delete {
                key: Key::new("P#tx", "nothing-here"),
                condition: Some(Condition::Exists),
            },
        ])
        .await
        .expect_err("two conditions fail");
    match err {
        TableError::TransactionCanceled { failed } => assert_eq!(failed, vec![0, 2]),
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    assert!(
        table
            .get(&Key::new("P#tx", "c"))
            .await
            .expect("get")
            .is_none()
    );
}

pub async fn transaction_applies_puts_deletes_and_checks(table: Arc<dyn Table>) {
    put_all(
        &*table,
        [
            json!({"pk": "P#txok", "sk": "guard", "state": "open"}),
            json!({"pk": "P#txok", "sk": "old", "v": 1}),
        ],
    )
    .await;
    let version = item(json!({"pk": "P#txok", "sk": "V#1", "status": "published"}));
    let audit = item(json!({"pk": "P#txok", "sk": "AUDIT#1", "who": "alice"}));
    table
        .transact(vec![
            Write::Put {
                item: version.clone(),
                condition: Some(Condition::NotExists),
            },
            Write::Put {
                item: audit.clone(),
                condition: None,
            },
            Write::Delete {
                key: Key::new("P#txok", "old"),
                condition: Some(Condition::Exists),
            },
            Write::Check {
                key: Key::new("P#txok", "guard"),
                condition: Condition::Equals("state".into(), json!("open")),
            },
        ])
        .await
        .expect("every condition holds");
    assert_eq!(
        table.get(&Key::new("P#txok", "V#1")).await.expect("get"),
        Some(version)
    );
    assert_eq!(
        table
            .get(&Key::new("P#txok", "AUDIT#1"))
            .await
            .expect("get"),
        Some(audit)
    );
    assert!(
        table
            .get(&Key::new("P#txok", "old"))
            .await
            .expect("get")
            .is_none()
    );
    table
        .transact(Vec::new())
        .await
        .expect("an empty transaction writes nothing");
}

/// DynamoDB's limit on the writes of one transaction.
const MAX_TRANSACTION_WRITES: usize = 100;

/// `n` puts of new items into partition `pk`, each on condition it is new.
fn new_items(pk: &str, n: usize) -> Vec<Write> {
    (0..n)
        .map(|i| Write::Put {
            item: item(json!({"pk": pk, "sk": format!("new#{i:03}")})),
            condition: Some(Condition::NotExists),
        })
        .collect()
}

/// The sort keys stored in partition `pk`, in order.
async fn stored_sort_keys(table: &dyn Table, pk: &str) -> Vec<String> {
    let items = query_all(table, Query::new(pk)).await.expect("query");
    sort_keys(&items)
}

pub async fn a_transaction_of_more_than_100_writes_is_refused_whole(table: Arc<dyn Table>) {
    let pk = "P#tx101";
    put_all(&*table, [json!({"pk": pk, "sk": "victim"})]).await;
    // Every condition holds: only the number of writes is wrong.
    let mut writes = new_items(pk, MAX_TRANSACTION_WRITES);
    writes.push(Write::Delete {
        key: Key::new(pk, "victim"),
        condition: None,
    });
    let err = table
        .transact(writes)
        .await
        .expect_err("101 writes are more than one transaction holds");
    assert!(matches!(err, TableError::InvalidItem(_)), "{err:?}");
    assert_eq!(
        stored_sort_keys(&*table, pk).await,
        ["victim"],
        "a refused transaction wrote something"
    );

    table
        .transact(new_items(pk, MAX_TRANSACTION_WRITES))
        .await
        .expect("100 writes are one transaction");
    assert_eq!(
        stored_sort_keys(&*table, pk).await.len(),
        MAX_TRANSACTION_WRITES + 1
    );
}

pub async fn a_transaction_naming_one_key_twice_is_refused_whole(table: Arc<dyn Table>) {
    let pk = "P#txtwice";
    let stored = item(json!({"pk": pk, "sk": "twice", "v": 1}));
    table.put(stored.clone(), None).await.expect("put");
    let twice = Key::new(pk, "twice");
    let other = || Write::Put {
        item: item(json!({"pk": pk, "sk": "other"})),
        condition: Some(Condition::NotExists),
    };
    // Every condition holds: only the second write on one key is wrong.
    let cases = [
        (
            "a put and a delete",
            vec![
                other(),
                Write::Put {
                    item: item(json!({"pk": pk, "sk": "twice", "v": 2})),
                    condition: None,
                },
                Write::Delete {
                    key: twice.clone(),
                    condition: None,
                },
            ],
        ),
        (
            "a check and a put",
            vec![
                other(),
                Write::Check {
                    key: twice.clone(),
                    condition: Condition::Exists,
                },
                Write::Put {
                    item: item(json!({"pk": pk, "sk": "twice", "v": 3})),
                    condition: None,
                },
            ],
        ),
    ];
    for (what, writes) in cases {
        let err = table
            .transact(writes)
            .await
            .expect_err("one transaction writes each key once");
        assert!(matches!(err, TableError::InvalidItem(_)), "{what}: {err:?}");
        assert_eq!(
            table.get(&twice).await.expect("get"),
            Some(stored.clone()),
            "{what}: a refused transaction changed the item it named twice"
        );
        assert!(
            table
                .get(&Key::new(pk, "other"))
                .await
                .expect("get")
                .is_none(),
            "{what}: a refused transaction wrote another item"
        );
    }
}

async fn seed_range(table: &dyn Table) {
    put_all(
        table,
        [
            json!({"pk": "P#rng", "sk": "A#1"}),
            json!({"pk": "P#rng", "sk": "V#001"}),
            json!({"pk": "P#rng", "sk": "V#003"}),
            json!({"pk": "P#rng", "sk": "V#002"}),
            json!({"pk": "P#rng", "sk": "V#010"}),
            json!({"pk": "P#rng", "sk": "W#1"}),
            json!({"pk": "P#rng-other", "sk": "V#005"}),
            json!({"pk": "P#rn", "sk": "V#004"}),
        ],
    )
    .await;
}

pub async fn range_queries_are_ordered(table: Arc<dyn Table>) {
    seed_range(&*table).await;
    let q = |query: Query| {
        let table = table.clone();
        async move { sort_keys(&table.query(&query).await.expect("query").items) }
    };
    assert_eq!(
        q(Query::new("P#rng")).await,
        ["A#1", "V#001", "V#002", "V#003", "V#010", "W#1"]
    );
    assert_eq!(
        q(Query::new("P#rng").descending()).await,
        ["W#1", "V#010", "V#003", "V#002", "V#001", "A#1"]
    );
    assert_eq!(
        q(Query::new("P#rng").begins_with("V#")).await,
        ["V#001", "V#002", "V#003", "V#010"]
    );
    assert_eq!(
        q(Query::new("P#rng").begins_with("V#").descending()).await,
        ["V#010", "V#003", "V#002", "V#001"]
    );
    assert_eq!(
        q(Query::new("P#rng").begins_with("V#00")).await,
        ["V#001", "V#002", "V#003"]
    );
    // Inclusive on both ends.
    assert_eq!(
        q(Query::new("P#rng").between("V#001", "V#003")).await,
        ["V#001", "V#002", "V#003"]
    );
    assert_eq!(
        q(Query::new("P#rng").between("V#002", "W#1").descending()).await,
        ["W#1", "V#010", "V#003", "V#002"]
    );
    assert!(q(Query::new("P#rng").begins_with("X#")).await.is_empty());
    assert!(q(Query::new("P#nothing")).await.is_empty());
    // Limit alone returns the first items in order.
    assert_eq!(
        q(Query::new("P#rng").begins_with("V#").limit(2)).await,
        ["V#001", "V#002"]
    );
}

pub async fn pagination_returns_every_item_once(table: Arc<dyn Table>) {
    let expected: Vec<String> = (0..23).map(|i| format!("I#{i:03}")).collect();
    // Out of order, so the adapter's order is the sort key's, not insertion's.
    for sk in expected.iter().rev() {
        table
            .put(item(json!({"pk": "P#page", "sk": sk})), None)
            .await
            .expect("put");
    }
    table
        .put(item(json!({"pk": "P#page", "sk": "J#000"})), None)
        .await
        .expect("put");

    for limit in [1, 5, 23, 50] {
        let pages = all_pages(&*table, Query::new("P#page").begins_with("I#").limit(limit)).await;
        let seen: Vec<String> = pages.iter().flat_map(|p| sort_keys(&p.items)).collect();
        assert_eq!(seen, expected, "limit {limit}");
        assert!(
            pages.len() >= expected.len().div_ceil(limit),
            "limit {limit}: too few pages"
        );
        assert!(
            pages.len() <= expected.len().div_ceil(limit) + 1,
            "limit {limit}: too many pages"
        );
    }

    let pages = all_pages(
        &*table,
        Query::new("P#page").between("I#005", "I#012").limit(3),
    )
    .await;
    let seen: Vec<String> = pages.iter().flat_map(|p| sort_keys(&p.items)).collect();
    assert_eq!(seen, expected[5..=12]);
}

pub async fn descending_pagination(table: Arc<dyn Table>) {
    for i in 0..10 {
        table
            .put(
                item(json!({"pk": "P#desc", "sk": format!("S#{i:02}")})),
                None,
            )
            .await
            .expect("put");
    }
    let pages = all_pages(&*table, Query::new("P#desc").descending().limit(4)).await;
    let seen: Vec<String> = pages.iter().flat_map(|p| sort_keys(&p.items)).collect();
    let expected: Vec<String> = (0..10).rev().map(|i| format!("S#{i:02}")).collect();
    assert_eq!(seen, expected);
}

pub async fn garbage_cursor_is_invalid(table: Arc<dyn Table>) {
    table
        .put(item(json!({"pk": "P#cur", "sk": "S#1"})), None)
        .await
        .expect("put");
    for garbage in ["", "not a cursor", "%%%", "eyJwayI6MX0", "AAAA"] {
        let err = table
            .query(&Query::new("P#cur").cursor(Some(garbage.to_owned())))
            .await
            .expect_err("garbage cursor");
        assert!(
            matches!(err, TableError::InvalidCursor),
            "cursor {garbage:?}: {err:?}"
        );
    }
}

pub async fn cursor_from_another_partition_is_invalid(table: Arc<dyn Table>) {
    // A cursor must not carry a query into another partition (another tenant's keys).
    for i in 0..3 {
        for pk in ["T#a#X", "T#b#X"] {
            table
                .put(item(json!({"pk": pk, "sk": format!("S#{i}")})), None)
                .await
                .expect("put");
        }
    }
    let page = table
        .query(&Query::new("T#a#X").limit(1))
        .await
        .expect("query");
    let cursor = page.cursor.expect("more items follow");
    let err = table
        .query(&Query::new("T#b#X").limit(1).cursor(Some(cursor)))
        .await
        .expect_err("cursor of another partition");
    assert!(matches!(err, TableError::InvalidCursor), "{err:?}");
}

pub async fn secondary_index_is_sparse_and_ordered(table: Arc<dyn Table>) {
    put_all(
        &*table,
        [
            json!({"pk": "U#3", "sk": "UPLOAD", "gsi1pk": "OPEN#idx", "gsi1sk": "2024-01-03"}),
            json!({"pk": "U#1", "sk": "UPLOAD", "gsi1pk": "OPEN#idx", "gsi1sk": "2024-01-01"}),
            json!({"pk": "U#2", "sk": "UPLOAD", "gsi1pk": "OPEN#idx", "gsi1sk": "2024-01-02"}),
            json!({"pk": "U#4", "sk": "UPLOAD", "gsi1pk": "OPEN#idx", "gsi1sk": "2024-02-01"}),
            // Sparse: no index keys, or only half of them, means not in the index.
            json!({"pk": "U#5", "sk": "UPLOAD"}),
            json!({"pk": "U#6", "sk": "UPLOAD", "gsi1pk": "OPEN#idx"}),
            json!({"pk": "U#7", "sk": "UPLOAD", "gsi1pk": "OTHER#idx", "gsi1sk": "2024-01-01"}),
        ],
    )
    .await;
    let pks = |page: &[Item]| -> Vec<String> {
        page.iter()
            .map(|i| i["pk"].as_str().expect("pk").to_owned())
            .collect()
    };
    let idx = Query::new("OPEN#idx").index(Index::Gsi1);

    let page = table.query(&idx).await.expect("query");
    assert_eq!(pks(&page.items), ["U#1", "U#2", "U#3", "U#4"]);
    // The index projects whole items.
    assert_eq!(page.items[0]["gsi1sk"], json!("2024-01-01"));
    assert_eq!(page.items[0]["sk"], json!("UPLOAD"));

    let page = table
        .query(&idx.clone().begins_with("2024-01").descending())
        .await
        .expect("query");
    assert_eq!(pks(&page.items), ["U#3", "U#2", "U#1"]);
    let page = table
        .query(&idx.clone().between("2024-01-02", "2024-02-01"))
        .await
        .expect("query");
    assert_eq!(pks(&page.items), ["U#2", "U#3", "U#4"]);

    let pages = all_pages(&*table, idx.clone().limit(3)).await;
    let seen: Vec<String> = pages.iter().flat_map(|p| pks(&p.items)).collect();
    assert_eq!(seen, ["U#1", "U#2", "U#3", "U#4"]);

    // Removing the index keys removes the item from the index.
    table
        .put(item(json!({"pk": "U#1", "sk": "UPLOAD"})), None)
        .await
        .expect("put");
    let page = table.query(&idx).await.expect("query");
    assert_eq!(pks(&page.items), ["U#2", "U#3", "U#4"]);
}

pub async fn concurrent_conditional_puts_have_one_winner(table: Arc<dyn Table>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let table = table.clone();
            tokio::spawn(async move {
                table
                    .put(
                        item(json!({"pk": "P#race", "sk": "V#1", "writer": i})),
                        Some(Condition::NotExists),
                    )
                    .await
                    .map(|()| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task completes") {
            Ok(i) => winners.push(i),
            Err(TableError::ConditionFailed) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let stored = table
        .get(&Key::new("P#race", "V#1"))
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(stored["writer"], json!(winners[0]));
}

pub async fn concurrent_adds_sum_exactly(table: Arc<dyn Table>) {
    let key = Key::new("C#day", "R#libs#P#widget");
    let tasks: Vec<_> = (0..40i64)
        .map(|i| {
            let (table, key) = (table.clone(), key.clone());
            tokio::spawn(async move {
                table
                    .add(&key, &[("downloads", 1), ("bytes", i)], Item::new())
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task completes").expect("add");
    }
    let stored = table.get(&key).await.expect("get").expect("created");
    assert_eq!(stored["downloads"].as_i64(), Some(40));
    assert_eq!(stored["bytes"].as_i64(), Some((0..40).sum::<i64>()));
    table
        .add(&key, &[("downloads", -15)], Item::new())
        .await
        .expect("negative add");
    let stored = table.get(&key).await.expect("get").expect("stored");
    assert_eq!(stored["downloads"].as_i64(), Some(25));
}

pub async fn add_creates_the_item_and_sets_attributes_once(table: Arc<dyn Table>) {
    let key = Key::new("C#attrs", "P#a");
    let first = item(json!({"gsi1pk": "USAGE", "gsi1sk": "a", "package": "a"}));
    table
        .add(&key, &[("uploads", 1)], first)
        .await
        .expect("add creates");
    let second = item(json!({"gsi1pk": "OTHER", "gsi1sk": "b", "package": "b", "status": "x"}));
    table
        .add(&key, &[("uploads", 2), ("rejected", 1)], second)
        .await
        .expect("add updates");
    let stored = table.get(&key).await.expect("get").expect("stored");
    assert_eq!(stored["pk"], "C#attrs");
    assert_eq!(stored["sk"], "P#a");
    assert_eq!(stored["uploads"].as_i64(), Some(3));
    assert_eq!(stored["rejected"].as_i64(), Some(1));
    assert_eq!(stored["package"], "a", "present attributes are kept");
    assert_eq!(stored["status"], "x", "absent attributes are set");
    let page = table
        .query(&Query::new("USAGE").index(Index::Gsi1))
        .await
        .expect("index query");
    assert_eq!(page.items.len(), 1, "the created item is in the index");
    assert_eq!(page.items[0]["uploads"].as_i64(), Some(3));

    // Adding to an item that a put created keeps its other attributes.
    let put = Key::new("C#attrs", "P#put");
    table
        .put(
            item(json!({"pk": "C#attrs", "sk": "P#put", "name": "n"})),
            None,
        )
        .await
        .expect("put");
    table
        .add(&put, &[("n", 5)], Item::new())
        .await
        .expect("add");
    let stored = table.get(&put).await.expect("get").expect("stored");
    assert_eq!(
        (stored["name"].as_str(), stored["n"].as_i64()),
        (Some("n"), Some(5))
    );
}

/// `add_if` and the numeric conditions a token bucket needs: `Between` holds only for a
/// stored number in range, `AbsentOrBelow` for no item, no attribute or a smaller number;
/// a refused add changes nothing.
pub async fn a_conditional_add_applies_only_when_its_condition_holds(table: Arc<dyn Table>) {
    let key = Key::new("C#cond-add", "S");
    let stored = |table: Arc<dyn Table>| {
        let key = key.clone();
        async move {
            table
                .get(&key)
                .await
                .expect("get")
                .and_then(|i| i.get("tat").and_then(Value::as_i64))
        }
    };
    let refused = table
        .add_if(
            &key,
            &[("tat", 5)],
            Item::new(),
            Condition::Between("tat".into(), 0, 10),
        )
        .await;
    assert!(
        matches!(refused, Err(TableError::ConditionFailed)),
        "{refused:?}"
    );
    assert_eq!(table.get(&key).await.expect("get"), None, "nothing created");

    table
        .add_if(
            &key,
            &[("tat", 5)],
            Item::new(),
            Condition::AbsentOrBelow("tat".into(), 1),
        )
        .await
        .expect("absent: holds");
    assert_eq!(stored(table.clone()).await, Some(5));
    table
        .add_if(
            &key,
            &[("tat", 3)],
            Item::new(),
            Condition::Between("tat".into(), 5, 5),
        )
        .await
        .expect("in range, bounds included");
    assert_eq!(stored(table.clone()).await, Some(8));
    for condition in [
        Condition::Between("tat".into(), 0, 7),
        Condition::Between("tat".into(), 9, 20),
        Condition::AbsentOrBelow("tat".into(), 8),
        Condition::Between("other".into(), 0, 100),
    ] {
        let refused = table
            .add_if(&key, &[("tat", 1)], Item::new(), condition.clone())
            .await;
        assert!(
            matches!(refused, Err(TableError::ConditionFailed)),
            "{condition:?}: {refused:?}"
        );
    }
    assert_eq!(
        stored(table.clone()).await,
        Some(8),
        "refusals changed nothing"
    );
    // An item without the attribute is "absent or below", and so is a put's condition.
    table
        .add_if(
            &key,
            &[("n", 1)],
            Item::new(),
            Condition::AbsentOrBelow("other".into(), 0),
        )
        .await
        .expect("no such attribute: holds");
    table
        .put(
            item(json!({"pk": "C#cond-add", "sk": "S", "tat": 100})),
            Some(Condition::AbsentOrBelow("tat".into(), 9)),
        )
        .await
        .expect("8 is below 9");
    assert_eq!(stored(table.clone()).await, Some(100));
    let refused = table
        .put(
            item(json!({"pk": "C#cond-add", "sk": "S", "tat": 1})),
            Some(Condition::AbsentOrBelow("tat".into(), 100)),
        )
        .await;
    assert!(
        matches!(refused, Err(TableError::ConditionFailed)),
        "{refused:?}"
    );
}

/// Many writers adding to one item under a bound: each add is checked and applied as one
/// step, so the item ends exactly at the bound and no writer is refused below it.
pub async fn concurrent_conditional_adds_never_pass_their_bound(table: Arc<dyn Table>) {
    let key = Key::new("C#bounded", "S");
    table
        .put(item(json!({"pk": "C#bounded", "sk": "S", "tat": 0})), None)
        .await
        .expect("put");
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (table, key) = (table.clone(), key.clone());
            tokio::spawn(async move {
                table
                    .add_if(
                        &key,
                        &[("tat", 1)],
                        Item::new(),
                        Condition::Between("tat".into(), 0, 9),
                    )
                    .await
            })
        })
        .collect();
    let mut applied = 0;
    for task in tasks {
        match task.await.expect("task completes") {
            Ok(()) => applied += 1,
            Err(TableError::ConditionFailed) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(applied, 10, "0 to 9 each let one add through");
    let stored = table.get(&key).await.expect("get").expect("stored");
    assert_eq!(stored["tat"].as_i64(), Some(10));
}

pub async fn add_refuses_bad_arguments(table: Arc<dyn Table>) {
    let key = Key::new("C#bad", "S");
    for (counters, attrs) in [
        (vec![], Item::new()),
        (vec![("pk", 1)], Item::new()),
        (vec![("n", 1), ("n", 1)], Item::new()),
        (vec![("n", 1)], item(json!({"n": 2}))),
        (vec![("n", 1)], item(json!({"sk": "other"}))),
    ] {
        let result = table.add(&key, &counters, attrs.clone()).await;
        assert!(
            matches!(result, Err(TableError::InvalidItem(_))),
            "{counters:?} {attrs:?}: {result:?}"
        );
    }
    assert!(table.get(&key).await.expect("get").is_none());
}
