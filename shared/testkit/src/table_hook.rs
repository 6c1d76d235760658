//! A `Table` with a hook in front: tests that make the table fail, stall, die part-way or
//! count what reaches it say only that, and every call they leave alone goes through
//! unchanged.

use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;
use trove_core::ports::{Condition, Item, Key, Page, Query, Table, TableError, Write};

/// One call on the port, as the hook sees it before the table does.
#[derive(Debug, Clone, Copy)]
pub enum Call<'a> {
    Get(&'a Key),
    Put(&'a Item),
    Delete(&'a Key),
    Query(&'a Query),
    Transact(&'a [Write]),
    Add(&'a Key),
    AddIf(&'a Key),
}

#[async_trait]
pub trait Hook: Send + Sync + 'static {
    /// Runs before each call: an error is the call's answer and the table is not reached.
    async fn before(&self, call: Call<'_>) -> Result<(), TableError>;
}

/// `inner` behind `hook`; derefs to the hook, so a test reaches its switches and counters
/// through the table it installed.
pub struct Hooked<H> {
    pub inner: Arc<dyn Table>,
    pub hook: H,
}

impl<H: Hook> Hooked<H> {
    pub fn new(inner: Arc<dyn Table>, hook: H) -> Arc<Self> {
        Arc::new(Self { inner, hook })
    }
}

impl<H> Deref for Hooked<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.hook
    }
}

#[async_trait]
impl<H: Hook> Table for Hooked<H> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, TableError> {
        self.hook.before(Call::Get(key)).await?;
        self.inner.get(key).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), TableError> {
        self.hook.before(Call::Put(&item)).await?;
        self.inner.put(item, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), TableError> {
        self.hook.before(Call::Delete(key)).await?;
        self.inner.delete(key, condition).await
    }
    async fn query(&self, query: &Query) -> Result<Page, TableError> {
        self.hook.before(Call::Query(query)).await?;
        self.inner.query(query).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), TableError> {
        self.hook.before(Call::Transact(&writes)).await?;
        self.inner.transact(writes).await
    }
    async fn add(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
    ) -> Result<(), TableError> {
        self.hook.before(Call::Add(key)).await?;
        self.inner.add(key, counters, attrs).await
    }
    async fn add_if(
        &self,
        key: &Key,
        counters: &[(&str, i64)],
        attrs: Item,
        condition: Condition,
    ) -> Result<(), TableError> {
        self.hook.before(Call::AddIf(key)).await?;
        self.inner.add_if(key, counters, attrs, condition).await
    }
}
