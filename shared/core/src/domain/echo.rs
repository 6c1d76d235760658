//! The one way client input is quoted back in an error: short, and with every character
//! that could forge a log line, end a string early or reorder text on screen escaped.
//! An error that names what the client sent helps it; one that repeats 60 KB of it, or
//! carries its CR/LF, NUL or right-to-left marks raw, helps an attacker.

use std::fmt;

/// At most this many characters of client input are quoted back.
pub const MAX_ECHO_CHARS: usize = 64;

/// `input` quoted for an error message: at most [`MAX_ECHO_CHARS`] characters, escaped,
/// with `…` when cut. `format!("upload {} not found", echo(id))`.
pub fn echo(input: &str) -> Echo<'_> {
    Echo(input)
}

pub struct Echo<'a>(&'a str);

impl fmt::Display for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        write_escaped(f, self.0, MAX_ECHO_CHARS, true)?;
        f.write_str("\"")
    }
}

impl fmt::Debug for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `text` with unsafe characters escaped and cut to `max` characters: for a whole message
/// that may hold client input (a serde rejection, a detail built elsewhere). Quotes stay
/// as they are, so an `echo` inside the message reads the same.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 2));
    let _ = write_escaped(&mut out, text, max, false);
    out
}

fn write_escaped(out: &mut impl fmt::Write, text: &str, max: usize, quoted: bool) -> fmt::Result {
    for (i, c) in text.chars().enumerate() {
        if i == max {
            return out.write_char('…');
        }
        if needs_escape(c) {
            write!(out, "\\u{{{:x}}}", u32::from(c))?;
        } else if quoted && (c == '"' || c == '\\') {
            write!(out, "\\{c}")?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// Control characters (CR, LF, NUL, ESC…), and the format characters that reorder or hide
/// text: bidi embeddings, overrides and isolates, zero-width characters, the BOM.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{061C}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_is_short_quoted_and_marks_the_cut() {
        let long = "a".repeat(60_000);
        let shown = echo(&long).to_string();
        assert_eq!(shown, format!("\"{}…\"", "a".repeat(MAX_ECHO_CHARS)));
        assert_eq!(echo("wh_1").to_string(), "\"wh_1\"");
    }

    #[test]
    fn an_echo_escapes_line_breaks_nul_and_bidi_marks() {
        let shown = echo("a\r\nb\0c\u{200F}d\u{202E}e\"f\\").to_string();
        assert_eq!(
            shown,
            "\"a\\u{d}\\u{a}b\\u{0}c\\u{200f}d\\u{202e}e\\\"f\\\\\""
        );
        assert!(!shown.chars().any(needs_escape));
    }

    #[test]
    fn sanitize_keeps_an_echo_as_it_is() {
        let message = format!("no such upload {}", echo("a\nb"));
        assert_eq!(sanitize(&message, 100), message);
    }

    #[test]
    fn sanitize_bounds_a_whole_message() {
        let text = format!("bad {}", "\n".repeat(1000));
        let clean = sanitize(&text, 10);
        assert!(!clean.contains('\n'));
        assert!(clean.ends_with('…'));
        assert!(clean.chars().count() < 10 * 8);
    }
}
