//! Crate names as crates.io takes them, `.crate` filenames, and where a crate's file sits in
//! the sparse index.

use crate::domain::canonical::crate_folded;
use crate::domain::echo::echo;
use crate::formats::semver_order;

/// crates.io's longest name.
const MAX_NAME: usize = 64;

/// Names no crate may take (compared with case and `-`/`_` folded): the crates of the
/// standard library and the path keywords would shadow what every crate already sees, and
/// Windows cannot create a file or directory with a device's name.
const RESERVED: &[&str] = &[
    "alloc",
    "core",
    "proc_macro",
    "std",
    "test",
    "self",
    "crate",
    "super",
    "nul",
    "con",
    "aux",
    "prn",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// Checks a name as crates.io does for a new crate.
pub fn check_crate_name(name: &str) -> Result<(), String> {
    check_shape(name)
        .and_then(|()| {
            let folded = crate_folded(name);
            if RESERVED.contains(&folded.as_str()) {
                return Err("it is a reserved name");
            }
            Ok(())
        })
        .map_err(|why| format!("invalid crate name {}: {why}", echo(name)))
}

/// A crate name's characters and length, without the reserved names: what a dependency
/// may be called (a crate depends on `core` renamed from `rustc-std-workspace-core`).
pub(crate) fn check_shape(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("a crate name must not be empty"),
        Some(c) if !c.is_ascii_alphabetic() => {
            return Err("a crate name must start with an ASCII letter");
        }
        Some(_) => {}
    }
    if name.len() > MAX_NAME {
        return Err("a crate name has at most 64 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        return Err("a crate name holds only ASCII letters, digits, '-' and '_'");
    }
    Ok(())
}

/// The filename of `name` `version`'s crate file, as cargo names it.
pub fn crate_filename(name: &str, version: &str) -> String {
    format!("{name}-{version}.crate")
}

/// The crate name and normalised version a `.crate` filename names. A name may hold `-`
/// and digits (`foo-2`), a version a prerelease with `-`: the split points are tried from
/// the right.
pub fn parse_filename(filename: &str) -> Result<(String, String), String> {
    let shown = echo(filename);
    let stem = filename.strip_suffix(".crate").ok_or_else(|| {
        format!("unsupported file {shown}: a Cargo repository takes crate files (.crate)")
    })?;
    let (name, version) = semver_order::split_name_version(stem, |n| check_shape(n).is_ok())
        .ok_or_else(|| {
            format!(
                "invalid crate filename {shown}: name it {{name}}-{{version}}.crate with a \
                 SemVer version, such as widget-1.0.0.crate"
            )
        })?;
    check_crate_name(name)?;
    Ok((name.to_owned(), version.to_string()))
}

/// Where a crate's file sits in the sparse index, lower case (cargo's layout): `1/a`,
/// `2/ab`, `3/a/abc`, `se/rd/serde`.
pub fn index_path(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    // By characters, not bytes: a name that is not ASCII gets a path, never a panic.
    let chars: Vec<char> = lower.chars().collect();
    let part = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    match chars.len() {
        0..=2 => format!("{}/{lower}", chars.len()),
        3 => format!("3/{}/{lower}", part(0..1)),
        _ => format!("{}/{}/{lower}", part(0..2), part(2..4)),
    }
}

/// The crate an index path asks for: its last part, when that is a crate name and the
/// directories before it are the ones [`index_path`] gives it. The name is returned as
/// written (cargo asks in lower case; the catalog finds a crate by its canonical form).
pub fn name_of_index_path(path: &str) -> Option<String> {
    let (dirs, name) = path.rsplit_once('/')?;
    check_crate_name(name).ok()?;
    let expected = index_path(name);
    let (expected_dirs, _) = expected.rsplit_once('/')?;
    (dirs == expected_dirs).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_crates_io_accepts() {
        for good in [
            "serde",
            "serde_json",
            "foo-bar",
            "Inflector",
            "a",
            "x86",
            "a-1_b",
        ] {
            assert_eq!(check_crate_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_crate_name(&"a".repeat(64)), Ok(()));
    }

    #[test]
    fn refuses_names_crates_io_refuses_with_its_reason() {
        for (bad, why) in [
            ("", "must not be empty"),
            ("1password", "start with an ASCII letter"),
            ("_private", "start with an ASCII letter"),
            ("-dash", "start with an ASCII letter"),
            ("foo.bar", "only ASCII letters, digits"),
            ("foo bar", "only ASCII letters, digits"),
            ("foo/bar", "only ASCII letters, digits"),
            ("caf\u{e9}", "only ASCII letters, digits"),
            ("\u{e9}t\u{e9}", "start with an ASCII letter"),
        ] {
            let err = check_crate_name(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.starts_with("invalid crate name \""), "{err}");
        }
        let err = check_crate_name(&"a".repeat(65)).expect_err("65 characters");
        assert!(err.contains("at most 64 characters"), "{err}");
    }

    #[test]
    fn refuses_reserved_names_in_any_spelling() {
        for reserved in [
            "std",
            "core",
            "alloc",
            "test",
            "proc_macro",
            "proc-macro",
            "Proc_Macro",
            "self",
            "crate",
            "super",
            "STD",
            "nul",
            "con",
            "aux",
            "prn",
            "com1",
            "COM9",
            "lpt1",
            "lpt9",
        ] {
            let err = check_crate_name(reserved).expect_err(reserved);
            assert!(err.contains("reserved name"), "{reserved}: {err}");
        }
        for free in ["stdx", "com10", "lpt0", "core2", "tests"] {
            assert_eq!(check_crate_name(free), Ok(()), "{free}");
        }
        // A dependency may still be called so (a renamed one).
        assert_eq!(check_shape("core"), Ok(()));
    }

    #[test]
    fn crate_files_are_named_name_dash_version() {
        assert_eq!(crate_filename("serde", "1.0.0"), "serde-1.0.0.crate");
        assert_eq!(
            crate_filename("Foo-Bar", "2.0.0-rc.1"),
            "Foo-Bar-2.0.0-rc.1.crate"
        );
    }

    #[test]
    fn filenames_split_at_the_rightmost_point_that_leaves_a_version() {
        let parsed = |f: &str| parse_filename(f).expect(f);
        assert_eq!(
            parsed("serde-1.0.0.crate"),
            ("serde".into(), "1.0.0".into())
        );
        assert_eq!(
            parsed("foo-2-1.0.0.crate"),
            ("foo-2".into(), "1.0.0".into())
        );
        assert_eq!(
            parsed("my-crate-1.0.0-beta-2.crate"),
            ("my-crate".into(), "1.0.0-beta-2".into())
        );
        assert_eq!(
            parsed("Foo_Bar-0.1.0+build.5.crate"),
            ("Foo_Bar".into(), "0.1.0+build.5".into())
        );
        // `foo-1.0.0` is no crate name: the split moves left.
        assert_eq!(
            parsed("foo-1.0.0-1.0.0.crate"),
            ("foo".into(), "1.0.0-1.0.0".into())
        );
        let err = parse_filename("serde-1.0.0.tar.gz").expect_err("not a crate");
        assert!(err.contains("takes crate files (.crate)"), "{err}");
        for bad in [
            "serde-1.0.crate",
            "serde.crate",
            "-1.0.0.crate",
            "1x-1.0.0.crate",
        ] {
            let err = parse_filename(bad).expect_err(bad);
            assert!(err.starts_with("invalid crate filename"), "{bad}: {err}");
        }
        let err = parse_filename("std-1.0.0.crate").expect_err("reserved");
        assert!(err.contains("reserved name"), "{err}");
    }

    #[test]
    fn index_paths_follow_cargos_layout_in_lower_case() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("abcd"), "ab/cd/abcd");
        assert_eq!(index_path("serde"), "se/rd/serde");
        assert_eq!(index_path("Serde_JSON"), "se/rd/serde_json");
        assert_eq!(index_path("X"), "1/x");
        assert_eq!(
            index_path("\u{e9}t\u{e9}s"),
            "\u{e9}t/\u{e9}s/\u{e9}t\u{e9}s"
        );
    }

    #[test]
    fn index_paths_name_their_crate_and_nothing_else() {
        for name in ["a", "ab", "abc", "serde", "serde_json", "foo-bar"] {
            assert_eq!(name_of_index_path(&index_path(name)).as_deref(), Some(name));
        }
        assert_eq!(name_of_index_path("se/rd/Serde").as_deref(), Some("Serde"));
        for not_a_crate in [
            "config.json",
            "",
            "serde",
            "SE/RD/serde",
            "se/rd/serde/",
            "/se/rd/serde",
            "ab/cd/serde",
            "se/rd/se",
            "1/ab",
            "3/b/abc",
            "3/abc",
            "../../x",
            "1/../x",
            "se/rd/..",
            "st/d/std",
            "3/s/std",
            "se/rd/ser.de",
        ] {
            assert_eq!(name_of_index_path(not_a_crate), None, "{not_a_crate:?}");
        }
    }
}
