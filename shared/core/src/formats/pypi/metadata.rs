//! Core metadata (a wheel's `METADATA`, an sdist's `PKG-INFO`): email-style headers up to
//! the first blank line; the description that may follow is not read.

/// Longest `Requires-Python` kept (it goes on every file of the index).
const MAX_REQUIRES_PYTHON: usize = 256;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreMetadata {
    pub metadata_version: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub requires_python: Option<String>,
}

/// Reads the fields the index needs. `complete` says whether `text` is the whole file (the
/// scan keeps only a prefix): the header section must end within it.
pub fn parse(text: &str, complete: bool) -> Result<CoreMetadata, String> {
    let mut meta = CoreMetadata::default();
    for (field, value) in headers(text, complete)? {
        let slot = match field.as_str() {
            "metadata-version" => &mut meta.metadata_version,
            "name" => &mut meta.name,
            "version" => &mut meta.version,
            "requires-python" => &mut meta.requires_python,
            _ => continue,
        };
        if slot.is_some() {
            return Err(format!("it has more than one {field} header"));
        }
        *slot = Some(value);
    }
    if let Some(rp) = &meta.requires_python
        && (rp.len() > MAX_REQUIRES_PYTHON || rp.chars().any(char::is_control))
    {
        return Err(format!(
            "its Requires-Python is longer than {MAX_REQUIRES_PYTHON} characters or holds control characters"
        ));
    }
    Ok(meta)
}

/// The `Summary` header, made one line for search ([`crate::formats::summary_line`]).
/// `None` when the headers cannot be read as [`parse`] reads them, or when there is no
/// `Summary` or more than one: which of two would be the package's is anyone's guess.
pub fn summary(text: &str, complete: bool) -> Option<String> {
    let headers = headers(text, complete).ok()?;
    let mut summaries = headers.into_iter().filter(|(field, _)| field == "summary");
    let (_, summary) = summaries.next()?;
    if summaries.next().is_some() {
        return None;
    }
    crate::formats::summary_line(&summary)
}

/// The headers up to the first blank line, as (lower-case field, value), continuation lines
/// joined to their header's value with a space.
fn headers(text: &str, complete: bool) -> Result<Vec<(String, String)>, String> {
    let mut ended = false;
    // (field, value) of the header being read, continuation lines appended.
    let mut current: Option<(String, String)> = None;
    let mut headers = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            ended = true;
            break;
        }
        if line.starts_with([' ', '\t']) {
            match &mut current {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                None => return Err("starts with a continuation line".into()),
            }
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .ok_or_else(|| format!("line is no header: {:?}", shorten(line)))?;
        headers.extend(current.take());
        current = Some((field.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    headers.extend(current.take());
    if !ended && !complete {
        return Err(format!(
            "its headers are longer than the {} KiB read",
            crate::formats::MANIFEST_MAX / 1024
        ));
    }
    Ok(headers)
}

fn shorten(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_up_to_the_description() {
        let text = "Metadata-Version: 2.1\r\nName: Foo_Bar\nVersion: 1.0\n\
                    Requires-Python: >=3.8,\n  <4\nSummary: x\n\nVersion: 9.9 (description)\n";
        let m = parse(text, true).expect("parses");
        assert_eq!(m.name.as_deref(), Some("Foo_Bar"));
        assert_eq!(m.version.as_deref(), Some("1.0"));
        assert_eq!(m.requires_python.as_deref(), Some(">=3.8, <4"));
        assert_eq!(m.metadata_version.as_deref(), Some("2.1"));
    }

    #[test]
    fn hostile_metadata_is_refused() {
        let long = format!("Name: a\nRequires-Python: {}\n\n", ">=3".repeat(100));
        let requires_python = "Requires-Python is longer than 256 characters or holds control";
        for (text, complete, why) in [
            ("Name: a\nName: b\n\n", true, "more than one name header"),
            (" continuation\n", true, "starts with a continuation line"),
            (
                "no colon here\n",
                true,
                "line is no header: \"no colon here\"",
            ),
            // Cut before the end of its headers: cannot be trusted to be all of them.
            (
                "Name: a\nVersion: 1",
                false,
                "headers are longer than the 32 KiB read",
            ),
            (&long, true, requires_python),
            (
                "Name: a\nRequires-Python: >=3\u{7}\n\n",
                true,
                requires_python,
            ),
        ] {
            let err = parse(text, complete).expect_err(text);
            assert!(err.contains(why), "{text:?}: {err}");
        }
        assert!(parse("Name: a\nVersion: 1", true).is_ok());
    }
}
