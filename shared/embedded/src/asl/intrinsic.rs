//! Intrinsic functions (`States.Format('{}', $.x)`, …): a small parser for the call syntax,
//! checked at load (known function, argument count, literal arguments), and evaluation.
//!
//! Failures while evaluating are `States.IntrinsicFailure`; a path argument that selects
//! nothing is `States.Runtime`, as for every other path.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use serde_json::{Number, Value};
use sha2::Digest;

use super::error::TaskFailure;
use super::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.ArrayPartition" => Func::ArrayPartition,
            "States.ArrayContains" => Func::ArrayContains,
            "States.ArrayRange" => Func::ArrayRange,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayUnique" => Func::ArrayUnique,
            "States.Base64Encode" => Func::Base64Encode,
            "States.Base64Decode" => Func::Base64Decode,
            "States.Hash" => Func::Hash,
            "States.JsonMerge" => Func::JsonMerge,
            "States.MathRandom" => Func::MathRandom,
            "States.MathAdd" => Func::MathAdd,
            "States.StringSplit" => Func::StringSplit,
            "States.UUID" => Func::Uuid,
            _ => return None,
        })
    }

    /// Allowed argument counts (inclusive).
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::Uuid => (0, 0),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::MathRandom => (2, 3),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
        }
    }
}

/// A string literal: characters with whether they were escaped, because `States.Format`
/// treats an escaped `\{` as text and an unescaped `{}` as a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StrLit(Vec<(char, bool)>);

impl StrLit {
    fn text(&self) -> String {
        self.0.iter().map(|(c, _)| *c).collect()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Str(StrLit),
    Literal(Value),
    Path(Path),
    Call(Box<Call>),
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    func: Func,
    name: String,
    args: Vec<Arg>,
}

/// Whether a string is meant as an intrinsic function call.
pub(crate) fn looks_like_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

impl Call {
    pub(crate) fn parse(text: &str) -> Result<Call, String> {
        let mut parser = Parser {
            src: text,
            chars: text.char_indices().collect(),
            pos: 0,
        };
        parser.skip_ws();
        let call = parser.call()?;
        parser.skip_ws();
        if parser.pos < parser.chars.len() {
            return Err(format!(
                "unexpected text after the call in `{text}` at offset {}",
                parser.offset()
            ));
        }
        Ok(call)
    }

    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        let fail = |msg: String| TaskFailure::intrinsic(format!("{}: {msg}", self.name));
        // Format keeps the template's escapes, so it reads its first argument itself.
        if self.func == Func::Format {
            let Some(Arg::Str(template)) = self.args.first() else {
                return Err(fail("the first argument must be a string literal".into()));
            };
            let values = self.args[1..]
                .iter()
                .map(|a| a.eval(input, context))
                .collect::<Result<Vec<_>, _>>()?;
            return format(template, &values).map(Value::String).map_err(fail);
        }
        let args = self
            .args
            .iter()
            .map(|a| a.eval(input, context))
            .collect::<Result<Vec<_>, _>>()?;
        apply(self.func, &args).map_err(fail)
    }
}

impl Arg {
    fn eval(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        match self {
            Arg::Str(s) => Ok(Value::String(s.text())),
            Arg::Literal(v) => Ok(v.clone()),
            Arg::Path(p) => p.select(input, context).map_err(TaskFailure::runtime),
            Arg::Call(c) => c.eval(input, context),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn offset(&self) -> usize {
        self.chars.get(self.pos).map_or(self.src.len(), |(i, _)| *i)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.offset();
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name = self.src[start..self.offset()].to_owned();
        let func =
            Func::from_name(&name).ok_or_else(|| format!("unknown intrinsic function `{name}`"))?;
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(format!("expected `(` after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected `,` or `)` in the arguments of {name}")),
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let expected = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            return Err(format!(
                "{name} takes {expected} argument(s), got {}",
                args.len()
            ));
        }
        check_literals(func, &name, &args)?;
        Ok(Call { func, name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string().map(Arg::Str),
            Some('$') => self.path().map(Arg::Path),
            Some('S') => self.call().map(|c| Arg::Call(Box::new(c))),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(_) => {
                let start = self.offset();
                while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                    self.pos += 1;
                }
                match &self.src[start..self.offset()] {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    other => Err(format!("unexpected argument `{other}` at offset {start}")),
                }
            }
            None => Err("unexpected end of the call".into()),
        }
    }

    fn string(&mut self) -> Result<StrLit, String> {
        let start = self.offset();
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated string starting at offset {start}")),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(StrLit(out));
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self
                        .peek()
                        .ok_or_else(|| format!("unterminated string starting at offset {start}"))?;
                    out.push((c, true));
                    self.pos += 1;
                }
                Some(c) => {
                    out.push((c, false));
                    self.pos += 1;
                }
            }
        }
    }

    /// A path runs to the next `,` or `)` outside brackets and quotes.
    fn path(&mut self) -> Result<Path, String> {
        let start = self.offset();
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(_), '\\') => self.pos += 1,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']') => depth = depth.saturating_sub(1),
                (None, ')') if depth == 0 => break,
                (None, ')') => depth -= 1,
                (None, ',') if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        let text = self.src[start..self.offset()].trim_end();
        Path::parse(text)
    }

    fn number(&mut self) -> Result<Arg, String> {
        let start = self.offset();
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(c))
        {
            self.pos += 1;
        }
        let text = &self.src[start..self.offset()];
        let n: Number = serde_json::from_str(text).map_err(|_| format!("bad number `{text}`"))?;
        Ok(Arg::Literal(Value::Number(n)))
    }
}

/// Load-time checks of literal arguments, so a definition that can only fail is refused.
fn check_literals(func: Func, name: &str, args: &[Arg]) -> Result<(), String> {
    match (func, args.first(), args.get(1)) {
        (Func::Format, Some(first), _) if !matches!(first, Arg::Str(_)) => Err(format!(
            "{name}: the first argument must be a string literal"
        )),
        (Func::Format, Some(Arg::Str(template)), _) => {
            let placeholders = count_placeholders(template);
            if placeholders != args.len() - 1 {
                return Err(format!(
                    "{name}: the template has {placeholders} placeholder(s) for {} argument(s)",
                    args.len() - 1
                ));
            }
            Ok(())
        }
        (Func::Hash, _, Some(Arg::Str(algorithm))) => hasher(&algorithm.text()).map(|_| ()),
        _ => Ok(()),
    }
}

fn count_placeholders(template: &StrLit) -> usize {
    template
        .0
        .windows(2)
        .filter(|w| w[0] == ('{', false) && w[1] == ('}', false))
        .count()
}

fn format(template: &StrLit, values: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut values = values.iter();
    let mut chars = template.0.iter().peekable();
    while let Some(&(c, escaped)) = chars.next() {
        if c == '{' && !escaped && chars.peek() == Some(&&('}', false)) {
            chars.next();
            match values.next() {
                Some(Value::String(s)) => out.push_str(s),
                Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                    out.push_str(&v.to_string())
                }
                Some(_) => {
                    return Err("arguments must be strings, numbers, booleans or null".into());
                }
                None => return Err("more placeholders than arguments".into()),
            }
        } else {
            out.push(c);
        }
    }
    if values.next().is_some() {
        return Err("more arguments than placeholders".into());
    }
    Ok(out)
}

fn apply(func: Func, args: &[Value]) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).unwrap_or(&Value::Null);
    match func {
        Func::Format => Err("Format is evaluated with its template".into()),
        Func::StringToJson => {
            let s = as_str(arg(0))?;
            serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))
        }
        Func::JsonToString => serde_json::to_string(arg(0))
            .map(Value::String)
            .map_err(|e| e.to_string()),
        Func::Array => Ok(Value::Array(args.to_vec())),
        Func::ArrayPartition => {
            let items = as_array(arg(0))?;
            let size = as_count(arg(1))?;
            if size == 0 {
                return Err("the chunk size must be positive".into());
            }
            Ok(Value::Array(
                items
                    .chunks(size)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        Func::ArrayContains => Ok(Value::Bool(as_array(arg(0))?.contains(arg(1)))),
        Func::ArrayRange => {
            let (start, end, step) = (as_i64(arg(0))?, as_i64(arg(1))?, as_i64(arg(2))?);
            if step == 0 {
                return Err("the step must not be 0".into());
            }
            let mut out = Vec::new();
            let mut n = start;
            while (step > 0 && n <= end) || (step < 0 && n >= end) {
                if out.len() >= 1000 {
                    return Err("at most 1000 items".into());
                }
                out.push(Value::from(n));
                n += step;
            }
            Ok(Value::Array(out))
        }
        Func::ArrayGetItem => {
            let items = as_array(arg(0))?;
            let i = as_count(arg(1))?;
            items
                .get(i)
                .cloned()
                .ok_or_else(|| format!("index {i} is past the end of an array of {}", items.len()))
        }
        Func::ArrayLength => Ok(Value::from(as_array(arg(0))?.len())),
        Func::ArrayUnique => {
            let mut out: Vec<Value> = Vec::new();
            for v in as_array(arg(0))? {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        Func::Base64Encode => Ok(Value::String(STANDARD.encode(as_str(arg(0))?))),
        Func::Base64Decode => {
            let bytes = STANDARD
                .decode(as_str(arg(0))?)
                .map_err(|e| format!("not base64: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| "the decoded bytes are not UTF-8".into())
        }
        Func::Hash => {
            let data = match arg(0) {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let digest = hasher(as_str(arg(1))?)?(data.as_bytes());
            Ok(Value::String(digest))
        }
        Func::JsonMerge => {
            let (Value::Object(a), Value::Object(b)) = (arg(0), arg(1)) else {
                return Err("both arguments must be objects".into());
            };
            if arg(2) != &Value::Bool(false) {
                return Err("only a shallow merge (false) is supported".into());
            }
            let mut merged = a.clone();
            merged.extend(b.clone());
            Ok(Value::Object(merged))
        }
        Func::MathRandom => {
            let (start, end) = (as_i64(arg(0))?, as_i64(arg(1))?);
            if start >= end {
                return Err("the start must be less than the end".into());
            }
            Ok(Value::from(rand::rng().random_range(start..end)))
        }
        Func::MathAdd => {
            let sum = as_i64(arg(0))?
                .checked_add(as_i64(arg(1))?)
                .ok_or("the sum overflows")?;
            Ok(Value::from(sum))
        }
        Func::StringSplit => {
            let s = as_str(arg(0))?;
            let separators: Vec<char> = as_str(arg(1))?.chars().collect();
            Ok(Value::Array(
                s.split(separators.as_slice())
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        Func::Uuid => Ok(Value::String(uuid_v4())),
    }
}

type HashFn = fn(&[u8]) -> String;

/// The supported `States.Hash` algorithms. MD5 and SHA-1 would need crates the project
/// does not otherwise carry; asking for them is refused (at load when the name is literal).
fn hasher(name: &str) -> Result<HashFn, String> {
    match name {
        "SHA-256" => Ok(|d| hex::encode(sha2::Sha256::digest(d))),
        "SHA-384" => Ok(|d| hex::encode(sha2::Sha384::digest(d))),
        "SHA-512" => Ok(|d| hex::encode(sha2::Sha512::digest(d))),
        "MD5" | "SHA-1" => Err(format!(
            "States.Hash algorithm {name} is not supported here (use SHA-256, SHA-384 or SHA-512)"
        )),
        other => Err(format!("unknown States.Hash algorithm `{other}`")),
    }
}

fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn as_str(v: &Value) -> Result<&str, String> {
    v.as_str()
        .ok_or_else(|| format!("expected a string, got {v}"))
}

fn as_array(v: &Value) -> Result<&Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("expected an array, got {v}"))
}

fn as_i64(v: &Value) -> Result<i64, String> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    // Step Functions accepts whole numbers written with a fraction (3.0).
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(format!("expected an integer, got {v}")),
    }
}

fn as_count(v: &Value) -> Result<usize, String> {
    usize::try_from(as_i64(v)?).map_err(|_| format!("expected a non-negative integer, got {v}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Why `text` is refused at parse.
    fn refusal(text: &str) -> String {
        match Call::parse(text) {
            Err(why) => why,
            Ok(_) => panic!("{text} was accepted"),
        }
    }

    fn eval(text: &str, input: Value) -> Result<Value, TaskFailure> {
        Call::parse(text)
            .map_err(TaskFailure::intrinsic)?
            .eval(&input, &json!({"Execution": {"Id": "exec-1"}}))
    }

    #[test]
    fn format_fills_placeholders_and_keeps_escapes() {
        let input = json!({"name": "widget", "n": 3, "ok": true});
        assert_eq!(
            eval(
                "States.Format('{} x{} ({})', $.name, $.n, $.ok)",
                input.clone()
            ),
            Ok(json!("widget x3 (true)"))
        );
        assert_eq!(
            eval(
                r"States.Format('\{literal\} {} it\'s', $$.Execution.Id)",
                input
            ),
            Ok(json!("{literal} exec-1 it's"))
        );
        assert_eq!(
            refusal("States.Format('{} {}', 'one')"),
            "States.Format: the template has 2 placeholder(s) for 1 argument(s)"
        );
        assert_eq!(
            refusal("States.Format($.x)"),
            "States.Format: the first argument must be a string literal"
        );
    }

    #[test]
    fn json_round_trips() {
        let input = json!({"doc": "{\"a\":[1,2]}", "obj": {"k": "v"}});
        assert_eq!(
            eval("States.StringToJson($.doc)", input.clone()),
            Ok(json!({"a": [1, 2]}))
        );
        assert_eq!(
            eval("States.JsonToString($.obj)", input.clone()),
            Ok(json!("{\"k\":\"v\"}"))
        );
        let err = eval("States.StringToJson($.obj)", input).expect_err("not a string");
        assert_eq!(err.error, "States.IntrinsicFailure");
    }

    #[test]
    fn arrays_and_math() {
        let input = json!({"l": [1, 2, 2, 3], "a": 40});
        assert_eq!(
            eval("States.Array('a', 1, $.a, null, true)", input.clone()),
            Ok(json!(["a", 1, 40, null, true]))
        );
        assert_eq!(eval("States.ArrayLength($.l)", input.clone()), Ok(json!(4)));
        assert_eq!(eval("States.MathAdd($.a, 2)", input.clone()), Ok(json!(42)));
        assert_eq!(eval("States.MathAdd(-5, 2)", input.clone()), Ok(json!(-3)));
        assert_eq!(
            eval("States.ArrayPartition($.l, 3)", input.clone()),
            Ok(json!([[1, 2, 2], [3]]))
        );
        assert_eq!(
            eval("States.ArrayContains($.l, 3)", input.clone()),
            Ok(json!(true))
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 3)", input.clone()),
            Ok(json!([1, 4, 7]))
        );
        assert_eq!(
            eval("States.ArrayGetItem($.l, 3)", input.clone()),
            Ok(json!(3))
        );
        assert_eq!(
            eval("States.ArrayUnique($.l)", input.clone()),
            Ok(json!([1, 2, 3]))
        );
        assert_eq!(
            eval("States.ArrayLength(States.Array(1, 2))", input.clone()),
            Ok(json!(2))
        );
        let r = eval("States.MathRandom(1, 5)", input.clone()).expect("random");
        assert!((1..5).contains(&r.as_i64().expect("int")));
        let err = eval("States.MathAdd($.l, 1)", input.clone()).expect_err("not a number");
        assert_eq!(err.error, "States.IntrinsicFailure");
        let err = eval("States.ArrayLength($.missing)", input).expect_err("missing");
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn strings_hashes_and_uuids() {
        let input = json!({"s": "a,b,,c"});
        assert_eq!(
            eval("States.StringSplit($.s, ',')", input.clone()),
            Ok(json!(["a", "b", "c"]))
        );
        assert_eq!(
            eval("States.Base64Encode('hi')", input.clone()),
            Ok(json!("aGk="))
        );
        assert_eq!(
            eval("States.Base64Decode('aGk=')", input.clone()),
            Ok(json!("hi"))
        );
        assert_eq!(
            eval("States.Hash('abc', 'SHA-256')", input.clone()),
            Ok(json!(
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ))
        );
        assert!(
            refusal("States.Hash('abc', 'MD5')")
                .starts_with("States.Hash algorithm MD5 is not supported here")
        );
        let uuid = eval("States.UUID()", input).expect("uuid");
        let uuid = uuid.as_str().expect("string");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }

    #[test]
    fn bad_calls_are_refused_at_parse() {
        for (call, why) in [
            ("States.Nope(1)", "unknown intrinsic function `States.Nope`"),
            ("States.UUID(1)", "States.UUID takes 0 argument(s), got 1"),
            (
                "States.MathAdd(1)",
                "States.MathAdd takes 2 argument(s), got 1",
            ),
            (
                "States.Array(1, 2",
                "expected `,` or `)` in the arguments of States.Array",
            ),
            (
                "States.Array('unterminated)",
                "unterminated string starting at offset 13",
            ),
            (
                "States.Array(1) trailing",
                "unexpected text after the call in `States.Array(1) trailing` at offset 16",
            ),
            ("States.Array($.a[)", "`$.a[)` is not a valid JSONPath: "),
            (
                "States.Array(bogus)",
                "unexpected argument `bogus` at offset 13",
            ),
        ] {
            let refused = refusal(call);
            assert!(refused.starts_with(why), "{call}: {refused}");
        }
    }
}
