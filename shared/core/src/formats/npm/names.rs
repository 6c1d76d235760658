//! npm package names, as npm checks a name for a new package, and tarball filenames
//! (`{basename}-{version}.tgz`, the scope left out as npm itself names them).

use crate::domain::echo::echo;
use crate::formats::semver_order;

/// npm's longest name, scope included.
const MAX_NAME: usize = 214;
/// Names npm gives no package: they would shadow a directory or a file browsers fetch.
const RESERVED: [&str; 2] = ["node_modules", "favicon.ico"];

/// Checks a name as npm does for a new package and returns it unchanged: npm has one
/// spelling per package, so there is nothing to fold.
pub fn normalize(name: &str) -> Result<String, String> {
    check(name)
        .map(|()| name.to_owned())
        .map_err(|why| format!("invalid package name {}: {why}", echo(name)))
}

fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("name length must be greater than zero".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "name can no longer contain more than {MAX_NAME} characters"
        ));
    }
    if name.trim() != name {
        return Err("name cannot contain leading or trailing spaces".into());
    }
    if name.chars().any(char::is_uppercase) {
        return Err("name can no longer contain capital letters".into());
    }
    if RESERVED.contains(&name) {
        return Err(format!("{name} is not a valid package name"));
    }
    let bare = match name.strip_prefix('@') {
        Some(scoped) => {
            let (scope, bare) = scoped
                .split_once('/')
                .ok_or("a scoped name is written @scope/name")?;
            check_part(scope, "scope")?;
            bare
        }
        None => name,
    };
    check_part(bare, "name")?;
    if bare.contains('~') {
        return Err("name can no longer contain special characters (\"~'!()*\")".into());
    }
    Ok(())
}

/// One part of a name (the scope, or the name after it).
fn check_part(part: &str, what: &str) -> Result<(), String> {
    if part.is_empty() {
        return Err(format!("{what} cannot be empty"));
    }
    if part.starts_with('.') {
        return Err(format!("{what} cannot start with a period"));
    }
    if part.starts_with('_') {
        return Err(format!("{what} cannot start with an underscore"));
    }
    let url_safe = |c: char| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_' | '~')
    };
    if !part.chars().all(url_safe) {
        return Err(format!(
            "{what} can only contain URL-friendly characters (lower-case letters, digits, \
             '-', '.', '_' and '~')"
        ));
    }
    Ok(())
}

/// The name without its scope: what npm names the package's tarballs after.
pub fn basename(package: &str) -> &str {
    match package.strip_prefix('@') {
        Some(scoped) => scoped.split_once('/').map_or(scoped, |(_, bare)| bare),
        None => package,
    }
}

/// The filename of `package` `version`'s tarball: `@acme/widget` 1.0.0 is `widget-1.0.0.tgz`.
pub fn tarball_filename(package: &str, version: &str) -> String {
    format!("{}-{version}.tgz", basename(package))
}

/// The basename and normalised version a tarball filename names. A basename may hold `-`
/// and a prerelease too, so the split points are tried from the right.
pub fn parse_filename(filename: &str) -> Result<(String, String), String> {
    let shown = echo(filename);
    let stem = filename.strip_suffix(".tgz").ok_or_else(|| {
        format!("unsupported file {shown}: an npm repository takes package tarballs (.tgz)")
    })?;
    semver_order::split_name_version(stem, |base| !base.is_empty())
        .map(|(base, version)| (base.to_owned(), version.to_string()))
        .ok_or_else(|| {
            format!(
                "invalid tarball filename {shown}: name it {{name}}-{{version}}.tgz with a \
                 SemVer version, such as widget-1.0.0.tgz"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_npm_accepts_for_new_packages() {
        for good in [
            "widget",
            "my-widget",
            "my.widget_2",
            "0x",
            "@acme/widget",
            "@acme-corp/my.widget",
            "@a/b",
            "-dash-first",
        ] {
            assert_eq!(normalize(good).as_deref(), Ok(good), "{good}");
        }
        // 1 + 100 + 1 + 112 = 214 characters.
        let longest = format!("@{}/{}", "s".repeat(100), "n".repeat(112));
        assert!(normalize(&longest).is_ok());
        assert!(normalize(&"n".repeat(214)).is_ok());
    }

    #[test]
    fn refuses_names_npm_refuses_with_its_reason() {
        for (bad, why) in [
            ("", "greater than zero"),
            ("Widget", "capital letters"),
            ("@Acme/widget", "capital letters"),
            (" widget", "leading or trailing spaces"),
            ("wid get", "URL-friendly"),
            (".widget", "cannot start with a period"),
            ("_widget", "cannot start with an underscore"),
            ("@acme/.widget", "name cannot start with a period"),
            ("@acme/_widget", "name cannot start with an underscore"),
            ("@.acme/widget", "scope cannot start with a period"),
            ("@_acme/widget", "scope cannot start with an underscore"),
            ("../x", "cannot start with a period"),
            ("@scope/../x", "name cannot start with a period"),
            ("a/b", "URL-friendly"),
            ("a%2fb", "URL-friendly"),
            ("@acme%2fwidget", "@scope/name"),
            ("@acme", "@scope/name"),
            ("@/widget", "scope cannot be empty"),
            ("@acme/", "name cannot be empty"),
            ("@acme/a/b", "URL-friendly"),
            ("node_modules", "not a valid package name"),
            ("favicon.ico", "not a valid package name"),
            ("wid~get", "special characters"),
            ("wid\u{e9}get", "URL-friendly"),
        ] {
            let err = normalize(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.starts_with("invalid package name \""), "{err}");
        }
        let err = normalize(&"n".repeat(215)).expect_err("215 characters");
        assert!(err.contains("more than 214 characters"), "{err}");
        // The echo of a long input is bounded.
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn tarballs_are_named_after_the_unscoped_name() {
        assert_eq!(
            tarball_filename("@acme/widget", "1.0.0"),
            "widget-1.0.0.tgz"
        );
        assert_eq!(tarball_filename("widget", "1.0.0"), "widget-1.0.0.tgz");
        assert_eq!(
            tarball_filename("my-widget", "2.0.0-rc.1"),
            "my-widget-2.0.0-rc.1.tgz"
        );
    }

    #[test]
    fn filenames_split_at_the_rightmost_point_that_leaves_a_version() {
        let parsed = |f: &str| parse_filename(f).expect(f);
        assert_eq!(
            parsed("widget-1.0.0.tgz"),
            ("widget".into(), "1.0.0".into())
        );
        assert_eq!(
            parsed("my-widget-1.0.0.tgz"),
            ("my-widget".into(), "1.0.0".into())
        );
        assert_eq!(
            parsed("my-widget-1.0.0-beta-2.tgz"),
            ("my-widget".into(), "1.0.0-beta-2".into())
        );
        assert_eq!(
            parsed("w-1.0.0+build.5.tgz"),
            ("w".into(), "1.0.0+build.5".into())
        );
        let err = parse_filename("widget-1.0.0.tar.gz").expect_err("not a tarball");
        assert!(err.starts_with("unsupported file"), "{err}");
        assert!(err.contains("package tarballs (.tgz)"), "{err}");
        for bad in [
            "widget-1.0.tgz",
            "widget-v1.0.0.tgz",
            "widget.tgz",
            "-1.0.0.tgz",
        ] {
            let err = parse_filename(bad).expect_err(bad);
            assert!(
                err.starts_with(&format!("invalid tarball filename \"{bad}\"")),
                "{err}"
            );
            assert!(err.contains("{name}-{version}.tgz"), "{err}");
        }
    }
}
