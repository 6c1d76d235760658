//! Entry names and link targets, judged the way an extractor would use them: nothing may
//! land outside the directory the archive is extracted into.

/// An entry name split into normal components (`.` and empty ones dropped, `..` resolved).
/// Refuses absolute names and names that climb above the archive root.
pub fn components(name: &str, max_len: usize) -> Result<Vec<String>, String> {
    if name.len() > max_len {
        return Err(format!(
            "entry name too long: {} bytes (limit {max_len}): {}...",
            name.len(),
            truncate(name, 80)
        ));
    }
    if name.contains('\0') {
        return Err(format!("invalid entry name: {:?}", truncate(name, 80)));
    }
    if is_absolute(name) {
        return Err(format!("absolute path: {name}"));
    }
    resolve(&[], name).ok_or_else(|| format!("path traversal: {name}"))
}

/// Whether a link at `entry` (its components) pointing to `target` leaves the archive root.
/// Symbolic links resolve from the link's directory, hard links from the root.
pub fn link_escapes(entry: &[String], target: &str, symbolic: bool) -> bool {
    if target.is_empty() || target.contains('\0') || is_absolute(target) {
        return true;
    }
    let base = match (symbolic, entry.split_last()) {
        (true, Some((_, dir))) => dir,
        _ => &[],
    };
    resolve(base, target).is_none()
}

/// Whether some directory on the way to `entry` is a link the archive created earlier: an
/// extractor would write through it, where the link check of `entry` alone cannot see.
pub fn through_link(entry: &[String], links: &std::collections::HashSet<Vec<String>>) -> bool {
    (1..entry.len()).any(|n| links.contains(&entry[..n]))
}

/// Unix `/x`, Windows `\x`, `C:x`, `C:\x`: all leave the root.
fn is_absolute(name: &str) -> bool {
    let b = name.as_bytes();
    matches!(b.first(), Some(b'/' | b'\\'))
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// `base` joined with `rel` (either separator), or `None` once `..` climbs above the root.
fn resolve(base: &[String], rel: &str) -> Option<Vec<String>> {
    let mut out: Vec<String> = base.to_vec();
    for part in rel.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            other => out.push(other.to_owned()),
        }
    }
    Some(out)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn parts(name: &str) -> Vec<String> {
        components(name, 1024).expect("inside")
    }

    #[test]
    fn names_stay_inside() {
        assert_eq!(parts("a/./b//c"), ["a", "b", "c"]);
        assert_eq!(parts("a/../b"), ["b"]);
        assert_eq!(parts("dir/"), ["dir"]);
        assert_eq!(
            components("../../etc/evil", 1024),
            Err("path traversal: ../../etc/evil".into())
        );
        assert_eq!(
            components("a/../../b", 1024),
            Err("path traversal: a/../../b".into())
        );
        assert_eq!(
            components("..\\..\\win.ini", 1024),
            Err("path traversal: ..\\..\\win.ini".into())
        );
        assert_eq!(
            components("/etc/passwd", 1024),
            Err("absolute path: /etc/passwd".into())
        );
        assert_eq!(
            components("C:\\Windows\\x", 1024),
            Err("absolute path: C:\\Windows\\x".into())
        );
        let err = components(&"a".repeat(2000), 1024).expect_err("too long");
        assert!(
            err.starts_with("entry name too long: 2000 bytes (limit 1024)"),
            "{err}"
        );
    }

    #[test]
    fn links_must_not_escape() {
        let at = parts("pkg/lib/link");
        assert!(!link_escapes(&at, "../data/x", true));
        assert!(!link_escapes(&at, "../../README", true));
        assert!(link_escapes(&at, "../../../etc/passwd", true));
        assert!(link_escapes(&at, "/etc/passwd", true));
        // Hard links name a path from the root.
        assert!(!link_escapes(&at, "pkg/other", false));
        assert!(link_escapes(&at, "../x", false));
    }

    #[test]
    fn writing_through_a_link_is_seen() {
        let links: HashSet<Vec<String>> = [parts("d1")].into_iter().collect();
        assert!(through_link(&parts("d1/d2"), &links));
        assert!(!through_link(&parts("d1"), &links));
        assert!(!through_link(&parts("d2/d1"), &links));
    }
}
