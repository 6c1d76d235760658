//! Reference counts of content blobs, and their safe collection.
//!
//! Published bytes live once at `blobs/sha256/<hex>`, shared by every file with those bytes
//! in every tenant. One item per blob (`BLOB#<hex>`) counts the files that reference it:
//!
//! - `refs`: how many file records name the sha256;
//! - `state`: `live`, or `collecting` once cleanup has claimed it for deletion;
//! - `rev`: a fresh ULID on every write, so "rev unchanged" means "item unchanged", even
//!   across an item deleted and created again (no ABA).
//!
//! Items with `refs = 0` or in `collecting` state sit in the sparse index partition
//! `COLLECTABLE_BLOBS`, which is all cleanup reads.
//!
//! The protocol:
//!
//! 1. **Publish** (Persist), on each attempt: (a) read the blob item; if it is `collecting`,
//!    wait and try again; (b) make sure the object exists (copy it from `incoming/` when
//!    absent); (c) commit the file record *and* `refs + 1` in one transaction, conditioned
//!    on the item's `rev` as read in (a) (or on its absence).
//! 2. **Delete** (a version, by a maintainer or by retention): remove file records and
//!    decrement `refs` in one transaction per batch, conditioned on each item's `rev`.
//! 3. **Collect** (cleanup), per item found in `COLLECTABLE_BLOBS`: (a) claim it:
//!    `state = collecting`, new `rev`, conditioned on the `rev` read while `refs = 0`;
//!    (b) delete the object (and the core metadata stored beside it); (c) delete the item,
//!    conditioned on the claim's `rev`.
//!    An item found `collecting` longer than a claim's lease (its run died between the
//!    steps) is claimed again the same way, so of two runs resuming it only one proceeds.
//!
//! Why a referenced blob's object is never deleted: an object is deleted only after a
//! successful claim, and a claimed item stays `collecting` until the object is gone. A
//! publish that commits read the item in (1a) as live (or absent) with the `rev` it
//! conditions on; a claim between that read and the commit would have changed `rev` and
//! failed the commit. So no claim was live between (1a) and the commit: either none ever
//! happened, or the previous claim's object deletion and item deletion both finished before
//! (1a) read "absent", and (1b) then copied the bytes back. After the commit `refs > 0`,
//! so no claim can succeed until a deletion brings it back to 0. Storage reads in (1b) are
//! strongly consistent (S3, files), and table reads of the item are consistent `get`s; the
//! index may lag, which only makes a claim's condition fail.
//!
//! Files published before reference counting have no item: deleting them leaves their
//! bytes in place. A publish that finds bytes already stored but no item cannot tell
//! whether uncounted files reference them, so it creates the item `kept`: never
//! collected. A publish that copied the bytes itself knows better. The price of the doubt
//! is storage (bytes a failed publish left behind and a later one counted stay), never a
//! wrong deletion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::keys::{self, BlobKey, COLLECTABLE_BLOBS};
use crate::domain::model::{from_item, to_item};
use crate::domain::names::Sha256Hex;
use crate::ports::table::{GSI1_PK, GSI1_SK};
use crate::ports::{Condition, Index, Item, Query, TableError, Write};
use crate::services::{Context, Error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobState {
    Live,
    Collecting,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlobRef {
    pub sha256: Sha256Hex,
    pub size: u64,
    pub refs: u64,
    pub state: BlobState,
    /// Never collected (see `Counting::one_more`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kept: bool,
    pub rev: String,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl BlobRef {
    fn item(&self) -> Result<Item, TableError> {
        let mut item = to_item(&keys::blob_ref(&self.sha256), self)?;
        if !self.kept && (self.refs == 0 || self.state == BlobState::Collecting) {
            item.insert(
                GSI1_PK.into(),
                COLLECTABLE_BLOBS.shard_of(self.sha256.as_str()).into(),
            );
            item.insert(GSI1_SK.into(), self.sha256.to_string().into());
        }
        Ok(item)
    }

    fn changed(&self, ctx: &Context) -> Self {
        Self {
            rev: new_rev(),
            updated_at: ctx.clock.now(),
            ..self.clone()
        }
    }

    fn rev_is(&self) -> Condition {
        Condition::Equals("rev".into(), self.rev.clone().into())
    }
}

fn new_rev() -> String {
    ulid::Ulid::new().to_string()
}

pub async fn load(ctx: &Context, sha256: &Sha256Hex) -> Result<Option<BlobRef>, TableError> {
    match ctx.table.get(&keys::blob_ref(sha256)).await? {
        Some(item) => Ok(Some(from_item(item)?)),
        None => Ok(None),
    }
}

/// What a publish found in step (1a).
pub enum Counting {
    /// No item: the first file with these bytes (or bytes stored before counting began).
    Absent,
    Live(BlobRef),
    /// Cleanup is deleting the bytes: wait until it is done, then copy them again.
    Collecting,
}

/// Step (1a): the blob's count as it is now.
pub async fn read_count(ctx: &Context, sha256: &Sha256Hex) -> Result<Counting, TableError> {
    Ok(match load(ctx, sha256).await? {
        None => Counting::Absent,
        Some(current) if current.state == BlobState::Collecting => Counting::Collecting,
        Some(current) => Counting::Live(current),
    })
}

impl Counting {
    /// Step (1c): the write that counts one more file, holding only if the item is still
    /// as read. `kept`: the bytes were already stored with no count (stored before
    /// counting began, or copied by a publish that never committed): they may be
    /// referenced by files nobody counted, so they are never collected.
    pub fn one_more(
        self,
        ctx: &Context,
        sha256: &Sha256Hex,
        size: u64,
        kept: bool,
    ) -> Result<Option<Write>, TableError> {
        let (next, condition) = match self {
            Counting::Collecting => return Ok(None),
            Counting::Live(current) => {
                let mut next = current.changed(ctx);
                next.refs += 1;
                (next, current.rev_is())
            }
            Counting::Absent => (
                BlobRef {
                    sha256: sha256.clone(),
                    size,
                    refs: 1,
                    state: BlobState::Live,
                    kept,
                    rev: new_rev(),
                    updated_at: ctx.clock.now(),
                },
                Condition::NotExists,
            ),
        };
        Ok(Some(Write::Put {
            item: next.item()?,
            condition: Some(condition),
        }))
    }
}

/// The writes that drop `count` references per blob (step 2). Blobs without an item
/// (published before counting) are left alone.
pub async fn release(
    ctx: &Context,
    counts: &BTreeMap<Sha256Hex, u64>,
) -> Result<Vec<Write>, TableError> {
    let mut writes = Vec::with_capacity(counts.len());
    for (sha256, n) in counts {
        let Some(current) = load(ctx, sha256).await? else {
            continue;
        };
        let mut next = current.changed(ctx);
        next.refs = current.refs.saturating_sub(*n);
        writes.push(Write::Put {
            item: next.item()?,
            condition: Some(current.rev_is()),
        });
    }
    Ok(writes)
}

/// What collection removed (or, on a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    pub blobs: u64,
    pub bytes: u64,
}

/// Step 3 over every collectable blob. On a dry run nothing changes; `pending` adds the
/// references a dry run would have released (by sha256), so it reports those blobs too.
pub async fn collect(
    ctx: &Context,
    dry_run: bool,
    pending: &BTreeMap<Sha256Hex, u64>,
) -> Result<Collected, Error> {
    let mut done = Collected::default();
    let mut seen = std::collections::BTreeSet::new();
    for partition in COLLECTABLE_BLOBS.partitions() {
        let mut query = Query::new(partition).index(Index::Gsi1).limit(200);
        loop {
            let page = ctx.table.query(&query).await?;
            for item in page.items {
                let found: BlobRef = from_item(item)?;
                seen.insert(found.sha256.clone());
                let size = found.size;
                let collected = if dry_run {
                    !found.kept && (found.refs == 0 || found.state == BlobState::Collecting)
                } else {
                    collect_one(ctx, found).await?
                };
                if collected {
                    done.blobs += 1;
                    done.bytes += size;
                }
            }
            match page.cursor {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
    }
    if dry_run {
        for (sha256, n) in pending {
            if seen.contains(sha256) {
                continue;
            }
            if let Some(current) = load(ctx, sha256).await?
                && !current.kept
                && current.refs <= *n
            {
                done.blobs += 1;
                done.bytes += current.size;
            }
        }
    }
    Ok(done)
}

/// A claim older than this belongs to a cleanup run that died (a run lives minutes): the
/// next run takes it over. A younger one is left to the run that made it.
const CLAIM_LEASE: time::Duration = time::Duration::hours(1);

/// Claims, deletes the object, then the item. `false` when the blob is referenced again,
/// or another run holds (or won) the claim.
async fn collect_one(ctx: &Context, found: BlobRef) -> Result<bool, Error> {
    match found.state {
        BlobState::Live if found.refs > 0 || found.kept => return Ok(false),
        BlobState::Collecting if ctx.clock.now() - found.updated_at < CLAIM_LEASE => {
            return Ok(false);
        }
        BlobState::Live | BlobState::Collecting => {}
    }
    // Taking over a stale claim is a claim too: of two runs resuming it, one wins, and
    // only the winner deletes anything.
    let mut claim = found.changed(ctx);
    claim.state = BlobState::Collecting;
    match ctx.table.put(claim.item()?, Some(found.rev_is())).await {
        Ok(()) => {}
        Err(TableError::ConditionFailed) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    ctx.blobs.delete(&BlobKey::content(&claim.sha256)).await?;
    // A file's core metadata lives and dies with its bytes (`pipeline::persist`).
    ctx.blobs
        .delete(&BlobKey::core_metadata(&claim.sha256))
        .await?;
    match ctx
        .table
        .delete(&keys::blob_ref(&claim.sha256), Some(claim.rev_is()))
        .await
    {
        // A run that took over a claim we held past its lease finishes the item.
        Ok(()) | Err(TableError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(sha256 = %claim.sha256, size = claim.size, "content blob collected");
    Ok(true)
}
