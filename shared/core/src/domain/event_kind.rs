//! The domain events Trove announces: what a webhook may subscribe to, what the code emits,
//! what README.md lists. The strings are the CloudEvents `type` on the wire.

super::vocabulary! {
    pub enum EventKind {
        PackagePublished = "package.published",
        PackageRejected = "package.rejected",
        VersionDeleted = "version.deleted",
        RepositoryCreated = "repository.created",
        RepositoryDeleted = "repository.deleted",
        GrantChanged = "grant.changed",
        ReportReady = "report.ready",
    }
}

impl EventKind {
    /// Every kind, as a client reads it in an error: `a, b, c`.
    pub fn listed() -> String {
        Self::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds README.md's Webhooks section names, in its order: the backquoted words
    /// between "subscribes a URL to" and the end of that clause.
    fn readme_kinds() -> Vec<String> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).expect("README.md next to the workspace");
        let (_, rest) = readme
            .split_once("subscribes a URL to")
            .expect("README.md's Webhooks section says what a URL subscribes to");
        let (clause, _) = rest.split_once(';').expect("the list ends with ';'");
        clause
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn readme_lists_exactly_the_kinds() {
        let kinds: Vec<String> = EventKind::ALL.iter().map(|k| k.to_string()).collect();
        assert_eq!(readme_kinds(), kinds);
    }

    #[test]
    fn each_kind_parses_back_and_no_other_string_does() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(*kind));
        }
        assert_eq!(EventKind::parse("ping"), None);
        assert_eq!(EventKind::parse("Package.Published"), None);
    }
}
