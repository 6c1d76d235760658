//! ASL paths: `$…` selects from a state's data, `$$…` from the context object.
//!
//! Selection is done by `serde_json_path` (RFC 9535 JSONPath). The States Language adds one
//! distinction the RFC does not make: a *reference path* — only `.name`, `['name']` and
//! `[index]` steps — names at most one node and yields that node's value, while any other
//! path (wildcards, slices, filters, `..`) yields the array of every node it matches, as
//! Step Functions does. Reference paths are recognised here and handed to the crate in
//! their canonical bracket form (so `$.upload-id`, accepted by Step Functions, works even
//! though RFC 9535's shorthand would refuse the `-`); ResultPath writes along their steps.

use std::fmt;

use serde_json::Value;
use serde_json_path::JsonPath;

/// One step of a reference path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Name(String),
    Index(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Path {
    text: String,
    /// `$$…`: selects from the context object.
    context: bool,
    query: JsonPath,
    /// Present for reference paths.
    steps: Option<Vec<Step>>,
}

impl Path {
    /// Any path: a reference path or a JSONPath query.
    pub(crate) fn parse(text: &str) -> Result<Path, String> {
        let (context, rest) = match text.strip_prefix('$') {
            Some(rest) if rest.starts_with('$') => (true, rest),
            Some(_) => (false, text),
            None => return Err(format!("`{text}` is not a path: paths start with `$`")),
        };
        let steps = reference_steps(rest);
        let query_text = match &steps {
            Some(steps) => canonical(steps),
            None => rest.to_owned(),
        };
        let query = JsonPath::parse(&query_text)
            .map_err(|e| format!("`{text}` is not a valid JSONPath: {e}"))?;
        Ok(Path {
            text: text.to_owned(),
            context,
            query,
            steps,
        })
    }

    /// A reference path: names at most one node (required where a single value is read or
    /// written: ResultPath, Choice variables, ItemsPath, SecondsPath, …).
    pub(crate) fn reference(text: &str) -> Result<Path, String> {
        let path = Path::parse(text)?;
        if path.steps.is_none() {
            return Err(format!(
                "`{text}` must be a reference path (only `.name`, `['name']` and `[index]` \
                 steps, no wildcards, slices, filters or `..`)"
            ));
        }
        Ok(path)
    }

    pub(crate) fn is_context(&self) -> bool {
        self.context
    }

    /// The steps of a reference path.
    pub(crate) fn steps(&self) -> Option<&[Step]> {
        self.steps.as_deref()
    }

    /// The selected value, or `None` when a reference path names nothing. A query path
    /// always yields an array (empty when nothing matched).
    pub(crate) fn select_opt(&self, data: &Value, context: &Value) -> Option<Value> {
        let target = if self.context { context } else { data };
        let nodes = self.query.query(target);
        if self.steps.is_some() {
            nodes.all().first().map(|v| (*v).clone())
        } else {
            Some(Value::Array(nodes.all().into_iter().cloned().collect()))
        }
    }

    /// The selected value; a reference path that names nothing is an error (the caller
    /// turns it into `States.Runtime`).
    pub(crate) fn select(&self, data: &Value, context: &Value) -> Result<Value, String> {
        self.select_opt(data, context).ok_or_else(|| {
            let what = if self.context {
                "the context object"
            } else {
                "the input"
            };
            format!("the path `{}` selects nothing in {what}", self.text)
        })
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Writes `value` at the reference-path `steps` of `target`, creating missing objects on
/// the way (ResultPath semantics). A step through a non-object, or an index past the end of
/// an array, is an error.
pub(crate) fn write_at(target: &mut Value, steps: &[Step], value: Value) -> Result<(), String> {
    let Some((last, parents)) = steps.split_last() else {
        *target = value;
        return Ok(());
    };
    let mut node = target;
    for step in parents {
        node = match step {
            Step::Name(name) => match node {
                Value::Object(map) => map
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Default::default())),
                other => return Err(format!("cannot add field `{name}` to {}", kind(other))),
            },
            Step::Index(i) => match node {
                Value::Array(items) => {
                    let len = items.len();
                    items
                        .get_mut(*i)
                        .ok_or_else(|| format!("index {i} is past the end of an array of {len}"))?
                }
                other => return Err(format!("cannot index {} with [{i}]", kind(other))),
            },
        };
    }
    match (last, node) {
        (Step::Name(name), Value::Object(map)) => {
            map.insert(name.clone(), value);
            Ok(())
        }
        (Step::Index(i), Value::Array(items)) => {
            let len = items.len();
            let slot = items
                .get_mut(*i)
                .ok_or_else(|| format!("index {i} is past the end of an array of {len}"))?;
            *slot = value;
            Ok(())
        }
        (Step::Name(name), other) => Err(format!("cannot add field `{name}` to {}", kind(other))),
        (Step::Index(i), other) => Err(format!("cannot index {} with [{i}]", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The steps of `$` followed by `.name`, `['name']`, `["name"]` and `[index]` only; `None`
/// for anything else (which may still be a valid JSONPath query).
fn reference_steps(text: &str) -> Option<Vec<Step>> {
    let mut chars = text.strip_prefix('$')?.chars().peekable();
    let mut steps = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    // Characters with a meaning in JSONPath make this a query, not a name.
                    if c.is_whitespace() || "*?@$()'\"]".contains(c) {
                        return None;
                    }
                    name.push(c);
                    chars.next();
                }
                if name.is_empty() {
                    return None;
                }
                steps.push(Step::Name(name));
            }
            '[' => match chars.next()? {
                quote @ ('\'' | '"') => {
                    let mut name = String::new();
                    loop {
                        match chars.next()? {
                            '\\' => name.push(chars.next()?),
                            c if c == quote => break,
                            c => name.push(c),
                        }
                    }
                    if chars.next()? != ']' {
                        return None;
                    }
                    steps.push(Step::Name(name));
                }
                d if d.is_ascii_digit() => {
                    let mut digits = String::from(d);
                    loop {
                        match chars.next()? {
                            ']' => break,
                            d if d.is_ascii_digit() => digits.push(d),
                            _ => return None,
                        }
                    }
                    if digits.len() > 1 && digits.starts_with('0') {
                        return None;
                    }
                    steps.push(Step::Index(digits.parse().ok()?));
                }
                _ => return None,
            },
            _ => return None,
        }
    }
    Some(steps)
}

/// RFC 9535 bracket notation of reference-path steps.
fn canonical(steps: &[Step]) -> String {
    let mut out = String::from("$");
    for step in steps {
        match step {
            Step::Name(name) => {
                out.push_str("['");
                for c in name.chars() {
                    match c {
                        '\'' => out.push_str("\\'"),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push_str("']");
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn select(path: &str, data: &Value) -> Result<Value, String> {
        Path::parse(path)?.select(data, &json!({"Execution": {"Id": "e-1"}}))
    }

    #[test]
    fn reference_paths_yield_one_value() {
        let data = json!({"a": {"b-c": [10, 20]}, "x y": 1});
        assert_eq!(select("$", &data), Ok(data.clone()));
        assert_eq!(select("$.a.b-c[1]", &data), Ok(json!(20)));
        assert_eq!(select("$['a']['b-c'][0]", &data), Ok(json!(10)));
        assert_eq!(select("$[\"x y\"]", &data), Ok(json!(1)));
        assert_eq!(select("$$.Execution.Id", &data), Ok(json!("e-1")));
        assert_eq!(
            select("$.missing", &data),
            Err("the path `$.missing` selects nothing in the input".into())
        );
        assert_eq!(
            select("$.a.b-c[5]", &data),
            Err("the path `$.a.b-c[5]` selects nothing in the input".into())
        );
    }

    #[test]
    fn queries_yield_arrays() {
        let data = json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}]});
        assert_eq!(select("$.items[*].n", &data), Ok(json!([1, 2, 3])));
        assert_eq!(select("$.items[?@.n > 1].n", &data), Ok(json!([2, 3])));
        assert_eq!(select("$..n", &data), Ok(json!([1, 2, 3])));
        assert_eq!(select("$.items[0:2].n", &data), Ok(json!([1, 2])));
        assert_eq!(select("$.nothing[*]", &data), Ok(json!([])));
    }

    #[test]
    fn bad_paths_are_refused() {
        let err = Path::parse("a.b").expect_err("no `$`");
        assert_eq!(err, "`a.b` is not a path: paths start with `$`");
        for query in ["$.a[", "$.a[?@.b ==]"] {
            let err = Path::parse(query).expect_err(query);
            assert!(
                err.starts_with(&format!("`{query}` is not a valid JSONPath: ")),
                "{err}"
            );
        }
        for query in ["$.a[*]", "$..a"] {
            let err = Path::reference(query).expect_err(query);
            assert!(
                err.starts_with(&format!("`{query}` must be a reference path")),
                "{err}"
            );
        }
        assert!(Path::reference("$.a[0].b").is_ok());
    }

    #[test]
    fn writes_create_objects_along_the_way() {
        let mut v = json!({"a": 1});
        let p = Path::reference("$.x.y").expect("path");
        write_at(&mut v, p.steps().expect("steps"), json!(2)).expect("write");
        assert_eq!(v, json!({"a": 1, "x": {"y": 2}}));
        let p = Path::reference("$.a.b").expect("path");
        assert_eq!(
            write_at(&mut v, p.steps().expect("steps"), json!(3)),
            Err("cannot add field `b` to a number".into())
        );
        let mut arr = json!({"l": [1, 2]});
        let p = Path::reference("$.l[1]").expect("path");
        write_at(&mut arr, p.steps().expect("steps"), json!("two")).expect("write");
        assert_eq!(arr, json!({"l": [1, "two"]}));
    }
}
