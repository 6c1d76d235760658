//! Tests of `jobs::lease` that need the embedded host.
use std::sync::Arc;
use time::OffsetDateTime;
use trove_core::ports::table::Table;

use trove_core::jobs::lease::*;
use trove_embedded::SqliteTable;

const TTL: time::Duration = time::Duration::minutes(16);

fn table() -> (tempfile::TempDir, Arc<dyn Table>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let table = SqliteTable::open(&dir.path().join("lease.db")).expect("sqlite table");
    (dir, Arc::new(table))
}

fn held(a: &Acquired) -> bool {
    matches!(a, Acquired::Held(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_many_concurrent_runs_exactly_one_takes_the_lease() {
    let (_dir, table) = table();
    let now = OffsetDateTime::now_utc();
    let runs = (0..8).map(|_| {
        let table = Arc::clone(&table);
        tokio::spawn(async move { acquire(table.as_ref(), "cleanup", now, TTL).await })
    });
    let mut taken = 0;
    for run in runs {
        let acquired = run.await.expect("run").expect("acquire");
        taken += usize::from(held(&acquired));
    }
    assert_eq!(taken, 1);
}

#[tokio::test]
async fn a_second_run_while_the_first_holds_it_is_told_until_when() {
    let (_dir, table) = table();
    let now = OffsetDateTime::now_utc();
    let first = acquire(table.as_ref(), "cleanup", now, TTL)
        .await
        .expect("first");
    assert!(held(&first));
    let second = acquire(
        table.as_ref(),
        "cleanup",
        now + time::Duration::minutes(5),
        TTL,
    )
    .await
    .expect("second");
    match second {
        Acquired::Busy { until, .. } => {
            let until = until.expect("the holder's deadline");
            assert!(
                (until - (now + TTL)).abs() < time::Duration::SECOND,
                "{until}"
            );
        }
        Acquired::Held(_) => panic!("two runs at once"),
    }
    // Another job has a lease of its own.
    assert!(held(
        &acquire(table.as_ref(), "report", now, TTL)
            .await
            .expect("report")
    ));
}

#[tokio::test]
async fn a_released_or_expired_lease_can_be_taken_again_but_only_once() {
    let (_dir, table) = table();
    let now = OffsetDateTime::now_utc();
    let Acquired::Held(lease) = acquire(table.as_ref(), "cleanup", now, TTL)
        .await
        .expect("first")
    else {
        panic!("not taken")
    };
    lease.release(table.as_ref()).await.expect("release");
    let Acquired::Held(_dead) = acquire(table.as_ref(), "cleanup", now, TTL)
        .await
        .expect("after release")
    else {
        panic!("a released lease is free")
    };
    // That run died without releasing: after its lease ran out, one run takes over.
    let later = now + TTL + time::Duration::SECOND;
    let (a, b) = tokio::join!(
        acquire(table.as_ref(), "cleanup", later, TTL),
        acquire(table.as_ref(), "cleanup", later, TTL)
    );
    let taken = [a.expect("a"), b.expect("b")];
    assert_eq!(taken.iter().filter(|t| held(t)).count(), 1);
}

#[tokio::test]
async fn releasing_a_lease_taken_over_leaves_the_new_holder_alone() {
    let (_dir, table) = table();
    let now = OffsetDateTime::now_utc();
    let Acquired::Held(slow) = acquire(table.as_ref(), "cleanup", now, TTL)
        .await
        .expect("slow")
    else {
        panic!("not taken")
    };
    let later = now + TTL + time::Duration::SECOND;
    assert!(held(
        &acquire(table.as_ref(), "cleanup", later, TTL)
            .await
            .expect("takeover")
    ));
    slow.release(table.as_ref()).await.expect("release");
    assert!(!held(
        &acquire(table.as_ref(), "cleanup", later, TTL)
            .await
            .expect("third")
    ));
}
