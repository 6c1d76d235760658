//! Validated names. Every name that reaches a key has passed through here, so the table
//! keys' separator `#` can never appear inside a name, nor `/` but as the one separator of
//! an npm scoped package name (`@scope/name`); blob keys never hold a name of these.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::echo::echo;

/// Why a name was refused, phrased for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value}: {rule}")]
pub struct NameError {
    pub what: &'static str,
    /// The refused input, quoted by `echo`: short and escaped.
    pub value: String,
    pub rule: &'static str,
}

fn check(
    what: &'static str,
    value: &str,
    max: usize,
    first: fn(char) -> bool,
    rest: fn(char) -> bool,
    rule: &'static str,
) -> Result<(), NameError> {
    let err = || NameError {
        what,
        value: echo(value).to_string(),
        rule,
    };
    let mut chars = value.chars();
    match chars.next() {
        Some(c) if first(c) => {}
        _ => return Err(err()),
    }
    if value.len() > max || !chars.all(rest) {
        return Err(err());
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $max:literal, $first:expr, $rest:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub fn parse(value: &str) -> Result<Self, NameError> {
                check($what, value, $max, $first, $rest, $rule)?;
                Ok(Self(value.to_owned()))
            }
        }

        crate::domain::validated_string_impls!($ty, NameError);
    };
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

name_type!(
    /// A tenant: the unit of isolation.
    TenantName, "tenant name", 63, lower_alnum,
    |c| lower_alnum(c) || c == '-',
    "use 1-63 lower-case letters, digits or '-', starting with a letter or digit"
);

name_type!(
    RepoName,
    "repository name",
    64,
    lower_alnum,
    |c| lower_alnum(c) || matches!(c, '-' | '_' | '.'),
    "use 1-64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
);

name_type!(
    /// A user's, service account's or group's name, unique per tenant and kind.
    PrincipalName,
    "principal name",
    64,
    lower_alnum,
    |c| lower_alnum(c) || matches!(c, '-' | '_' | '.'),
    "use 1-64 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit"
);

/// A package: `widget`, or npm's scoped form `@acme/widget`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

const PACKAGE_NAME: &str = "package name";
const MAX_PACKAGE_NAME: usize = 128;
/// npm's limit, scope included.
const MAX_SCOPED_PACKAGE_NAME: usize = 214;

impl PackageName {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        match value.strip_prefix('@') {
            Some(scoped) => check_scoped_package(value, scoped)?,
            None => check(
                PACKAGE_NAME,
                value,
                MAX_PACKAGE_NAME,
                alnum,
                |c| alnum(c) || matches!(c, '-' | '_' | '.'),
                "use 1-128 letters, digits, '-', '_' or '.', starting with a letter or digit",
            )?,
        }
        Ok(Self(value.to_owned()))
    }

    /// Whether this is an npm scoped name (`@scope/name`).
    pub fn is_scoped(&self) -> bool {
        self.0.starts_with('@')
    }
}

crate::domain::validated_string_impls!(PackageName, NameError);

/// `@scope/name`: npm's characters in each part (lower case only, as npm has required
/// since scopes exist), and exactly one `/`, so a name is never a path.
fn check_scoped_package(value: &str, scoped: &str) -> Result<(), NameError> {
    let npm_char = |c: char| lower_alnum(c) || matches!(c, '-' | '_' | '.' | '~');
    let part_ok = |part: &str| part.starts_with(lower_alnum) && part.chars().all(npm_char);
    let valid = value.len() <= MAX_SCOPED_PACKAGE_NAME
        && scoped
            .split_once('/')
            .is_some_and(|(scope, name)| part_ok(scope) && part_ok(name));
    if valid {
        return Ok(());
    }
    Err(NameError {
        what: PACKAGE_NAME,
        value: echo(value).to_string(),
        rule: "write a scoped name as @scope/name, at most 214 characters, each part of \
               lower-case letters, digits, '-', '_', '.' or '~', starting with a letter or digit",
    })
}

name_type!(
    VersionName,
    "version",
    64,
    alnum,
    |c| alnum(c) || matches!(c, '-' | '_' | '.' | '+'),
    "use 1-64 letters, digits, '.', '-', '_' or '+', starting with a letter or digit"
);

name_type!(
    FileName,
    "filename",
    255,
    alnum,
    |c| alnum(c) || matches!(c, '-' | '_' | '.' | '+'),
    "use 1-255 letters, digits, '.', '-', '_' or '+', starting with a letter or digit (no paths)"
);

/// A name being introduced (a new package, version or file) must also end with a letter or
/// digit, as PEP 508 has it for package names: `widget.` and `widget_` would otherwise be two
/// more packages that read as `widget`. `parse` keeps the older rule, so names stored before
/// still load and can still be read.
macro_rules! new_name_rule {
    ($ty:ident, $what:literal) => {
        impl $ty {
            pub fn parse_new(value: &str) -> Result<Self, NameError> {
                let name = Self::parse(value)?;
                if value.ends_with(|c: char| c.is_ascii_alphanumeric()) {
                    Ok(name)
                } else {
                    Err(NameError {
                        what: $what,
                        value: echo(value).to_string(),
                        rule: "start and end it with a letter or digit",
                    })
                }
            }
        }
    };
}

new_name_rule!(PackageName, "package name");
new_name_rule!(VersionName, "version");
new_name_rule!(FileName, "filename");

/// A lower-case hex SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(value: &str) -> Result<Self, NameError> {
        if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(NameError {
                what: "sha256",
                value: echo(value).to_string(),
                rule: "give the SHA-256 digest as 64 hexadecimal characters",
            })
        }
    }
    pub fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, NameError> {
        Self::parse(&value)
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> String {
        value.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE_RULE: &str = "use 1-128 letters";
    const FILE_RULE: &str = "use 1-255 letters";
    const NEW_NAME_RULE: &str = "start and end it with a letter or digit";
    const SCOPED_RULE: &str = "write a scoped name as @scope/name";

    /// Refused as a `what` under the rule `rule` names: the refusal must say which check
    /// failed, not only that one did.
    #[track_caller]
    fn assert_refused<T: fmt::Debug>(parsed: Result<T, NameError>, what: &str, rule: &str) {
        match parsed {
            Ok(name) => panic!("accepted as {name:?}; expected a refused {what}"),
            Err(err) => {
                assert_eq!(err.what, what, "{err}");
                assert!(err.rule.contains(rule), "expected rule {rule:?}: {err}");
            }
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        assert!(RepoName::parse("libs-release").is_ok());
        assert!(PackageName::parse("Foo_bar.baz-1").is_ok());
        assert!(VersionName::parse("1.2.3-rc.1+build.5").is_ok());
        assert!(FileName::parse("foo-1.0.tar.gz").is_ok());
        assert!(TenantName::parse("default").is_ok());
    }

    #[test]
    fn refuses_separators_paths_and_empty() {
        for bad in ["", "a#b", "a/b", "../x", ".hidden", "-x", "a b", "é"] {
            assert_refused(PackageName::parse(bad), "package name", PACKAGE_RULE);
            assert_refused(FileName::parse(bad), "filename", FILE_RULE);
        }
        let repo_rule = "use 1-64 lower-case letters";
        assert_refused(RepoName::parse("UPPER"), "repository name", repo_rule);
        assert_refused(
            RepoName::parse(&"a".repeat(65)),
            "repository name",
            repo_rule,
        );
        assert_refused(
            VersionName::parse("1.0/evil"),
            "version",
            "use 1-64 letters",
        );
    }

    #[test]
    fn new_names_must_end_with_a_letter_or_digit() {
        for bad in ["widget.", "widget_", "widget-"] {
            let err = PackageName::parse_new(bad).expect_err("trailing punctuation");
            assert!(
                err.to_string().contains("end it with a letter or digit"),
                "{err}"
            );
            // Stored before the rule, such a name still loads.
            assert!(PackageName::parse(bad).is_ok(), "{bad:?}");
        }
        assert_refused(VersionName::parse_new("1.0.0-"), "version", NEW_NAME_RULE);
        assert_refused(VersionName::parse_new("1.0.0+"), "version", NEW_NAME_RULE);
        assert_refused(FileName::parse_new("a.bin."), "filename", NEW_NAME_RULE);
        assert!(PackageName::parse_new("Widget").is_ok());
        assert!(VersionName::parse_new("1.0.0-RC1").is_ok());
        assert!(FileName::parse_new("A.BIN").is_ok());
        // Refused by the older rule already, which names the first character.
        assert_refused(PackageName::parse_new("-x"), "package name", PACKAGE_RULE);
    }

    #[test]
    fn unscoped_package_names_stay_within_128_characters() {
        assert!(PackageName::parse(&"a".repeat(128)).is_ok());
        let err = PackageName::parse(&"a".repeat(129)).expect_err("too long");
        assert!(err.to_string().contains("1-128"), "{err}");
        for bad in ["a%2fb", "a%2Fb", "pkg@1"] {
            assert_refused(PackageName::parse(bad), "package name", PACKAGE_RULE);
        }
        assert_refused(PackageName::parse("@"), "package name", SCOPED_RULE);
    }

    #[test]
    fn accepts_npm_scoped_package_names() {
        for good in ["@acme/widget", "@a/b", "@acme-corp/my.widget_2", "@0/x~y"] {
            let name = PackageName::parse(good).expect(good);
            assert!(name.is_scoped(), "{good}");
            assert_eq!(name.as_str(), good);
        }
        assert!(!PackageName::parse("widget").expect("valid").is_scoped());
        // 1 + 100 + 1 + 112 = 214 characters, npm's limit.
        let longest = format!("@{}/{}", "s".repeat(100), "n".repeat(112));
        assert!(PackageName::parse(&longest).is_ok());
        let too_long = PackageName::parse(&format!("{longest}n"));
        assert_refused(too_long, "package name", "at most 214 characters");
    }

    #[test]
    fn refuses_malformed_scoped_names() {
        for bad in [
            "@/",
            "@acme",
            "@acme/",
            "@/widget",
            "@acme/widget/x",
            "@scope/../x",
            "@../x",
            "@./x",
            "@acme/..",
            "@acme/.x",
            "@acme/_x",
            "@_acme/x",
            "@Acme/widget",
            "@acme/Widget",
            "@acme/wid get",
            "@acme%2fwidget",
            "@acme/a#b",
            "@@acme/x",
            "@acme/x@1",
            "@acme\\x",
        ] {
            let err = PackageName::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("@scope/name"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn new_scoped_names_must_end_with_a_letter_or_digit() {
        assert!(PackageName::parse_new("@acme/widget").is_ok());
        assert!(PackageName::parse("@acme/widget-").is_ok());
        let err = PackageName::parse_new("@acme/widget-").expect_err("trailing '-'");
        assert!(
            err.to_string().contains("end it with a letter or digit"),
            "{err}"
        );
    }

    #[test]
    fn error_names_the_rule() {
        let err = VersionName::parse("1 0").expect_err("space is refused");
        assert!(err.to_string().contains("invalid version"));
        assert!(err.to_string().contains("letters, digits"));
    }

    #[test]
    fn sha256_is_normalised_to_lower_case() {
        let upper = "A".repeat(64);
        assert_eq!(Sha256Hex::parse(&upper).map(|s| s.0), Ok("a".repeat(64)));
        let rule = "64 hexadecimal characters";
        assert_refused(Sha256Hex::parse("abc"), "sha256", rule);
        assert_refused(Sha256Hex::parse(&"g".repeat(64)), "sha256", rule);
    }
}
