//! Rendered index pages, kept per process. A package manager reads a project's page far more
//! often than anyone publishes to it, and rendering a long history costs one table query per
//! version; serving the last rendering costs one read of the package. Each page is stamped
//! with the package's `rev` as read *before* rendering it, and is served only while the
//! package still has that `rev`: every change a page shows (a publish, a deletion, a yank)
//! bumps it. A page rendered from newer data than its stamp is only ever replaced sooner.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;

use crate::domain::model::{Package, Repository};
use crate::domain::names::TenantName;

/// All pages together stay under this.
const MAX_BYTES: usize = 64 << 20;
/// A page larger than this is rendered every time rather than crowd out the others.
const MAX_PAGE: usize = MAX_BYTES / 8;

/// Which page: one repository instance (a repository deleted and created again under its
/// name is another), one package, one rendering (its content type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    tenant: String,
    repo: String,
    repo_created: i128,
    package: String,
    form: &'static str,
    /// The origin absolute links in the page start with (npm's tarball URLs); empty for
    /// pages with relative links only. Part of the key: a client's `Host` never reaches
    /// another client's page.
    origin: String,
}

impl PageKey {
    pub fn new(
        tenant: &TenantName,
        repo: &Repository,
        package: &Package,
        form: &'static str,
    ) -> Self {
        Self {
            tenant: tenant.to_string(),
            repo: repo.name.to_string(),
            repo_created: repo.created_at.unix_timestamp_nanos(),
            package: package.name.to_string(),
            form,
            origin: String::new(),
        }
    }

    /// The page as rendered for clients of `origin`.
    pub fn with_origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.origin);
        self
    }
}

/// A rendered page and its ETag.
#[derive(Debug)]
pub struct Page {
    pub rev: u64,
    pub body: Bytes,
    pub etag: String,
}

#[derive(Default)]
pub struct PageCache {
    inner: Mutex<Pages>,
}

struct Pages {
    pages: LruCache<PageKey, Arc<Page>>,
    bytes: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Self {
            pages: LruCache::unbounded(),
            bytes: 0,
        }
    }
}

impl PageCache {
    /// The page if it was rendered at the package's current `rev`.
    pub fn get(&self, key: &PageKey, rev: u64) -> Option<Arc<Page>> {
        let mut pages = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        pages.pages.get(key).filter(|p| p.rev == rev).cloned()
    }

    pub fn put(&self, key: PageKey, page: Page) {
        if page.body.len() > MAX_PAGE {
            return;
        }
        let mut pages = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let added = page.body.len();
        if let Some(old) = pages.pages.put(key, Arc::new(page)) {
            pages.bytes -= old.body.len();
        }
        pages.bytes += added;
        while pages.bytes > MAX_BYTES {
            match pages.pages.pop_lru() {
                Some((_, old)) => pages.bytes -= old.body.len(),
                None => break,
            }
        }
    }

    /// How many pages are kept (for tests).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pages
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(package: &str) -> PageKey {
        PageKey {
            tenant: "acme".into(),
            repo: "py".into(),
            repo_created: 1,
            package: package.into(),
            form: "text/html",
            origin: String::new(),
        }
    }

    #[test]
    fn a_page_rendered_for_one_origin_is_not_served_to_another() {
        let cache = PageCache::default();
        let mine = key("widget").with_origin("http://registry.test");
        cache.put(mine.clone(), page(3, 10));
        assert!(cache.get(&mine, 3).is_some());
        assert!(
            cache
                .get(&key("widget").with_origin("http://evil.test"), 3)
                .is_none()
        );
        assert!(cache.get(&key("widget"), 3).is_none());
    }

    fn page(rev: u64, len: usize) -> Page {
        Page {
            rev,
            body: Bytes::from(vec![b'x'; len]),
            etag: format!("\"{rev}\""),
        }
    }

    #[test]
    fn a_page_is_served_only_at_the_rev_it_was_rendered_at() {
        let cache = PageCache::default();
        cache.put(key("a"), page(3, 10));
        assert_eq!(cache.get(&key("a"), 3).map(|p| p.rev), Some(3));
        assert!(cache.get(&key("a"), 4).is_none(), "a newer package");
        assert!(cache.get(&key("b"), 3).is_none());
        let mut other_instance = key("a");
        other_instance.repo_created = 2;
        assert!(
            cache.get(&other_instance, 3).is_none(),
            "a repository created again"
        );
    }

    #[test]
    fn pages_stay_under_the_byte_budget_oldest_out_first() {
        let cache = PageCache::default();
        let each = MAX_PAGE;
        for i in 0..(MAX_BYTES / each + 3) {
            cache.put(key(&i.to_string()), page(1, each));
        }
        assert_eq!(cache.len(), MAX_BYTES / each);
        assert!(cache.get(&key("0"), 1).is_none(), "the oldest went first");
        cache.put(key("huge"), page(1, MAX_PAGE + 1));
        assert!(cache.get(&key("huge"), 1).is_none(), "too large to keep");
    }
}
