//! How data moves through a state: InputPath → Parameters (payload template) → the state's
//! work → ResultSelector → ResultPath → OutputPath. Each piece is compiled at load; applying
//! one that does not fit the data is `States.Runtime` (intrinsic functions may also raise
//! `States.IntrinsicFailure`).

use serde_json::{Map, Value};

use super::error::{AslError, AslErrorKind, TaskFailure};
use super::intrinsic::{self, Call};
use super::path::{self, Path};

/// InputPath / OutputPath.
#[derive(Debug, Clone)]
pub(crate) enum DataPath {
    /// Absent or `$`: the whole value.
    Whole,
    /// `null`: an empty object.
    Discard,
    Select(Path),
}

impl DataPath {
    /// `field` absent → `None`; JSON `null` → `Some(None)`.
    pub(crate) fn compile(field: &str, raw: Option<Option<String>>) -> Result<Self, AslError> {
        match raw {
            None => Ok(DataPath::Whole),
            Some(None) => Ok(DataPath::Discard),
            Some(Some(text)) if text == "$" => Ok(DataPath::Whole),
            Some(Some(text)) => Path::parse(&text)
                .map(DataPath::Select)
                .map_err(|m| AslError::new(AslErrorKind::BadPath, m).at_field(field)),
        }
    }

    pub(crate) fn apply(
        &self,
        field: &str,
        value: Value,
        context: &Value,
    ) -> Result<Value, TaskFailure> {
        match self {
            DataPath::Whole => Ok(value),
            DataPath::Discard => Ok(Value::Object(Map::new())),
            DataPath::Select(p) => p
                .select(&value, context)
                .map_err(|m| TaskFailure::runtime(format!("{field}: {m}"))),
        }
    }
}

/// ResultPath: where a state's result goes in its raw input.
#[derive(Debug, Clone)]
pub(crate) enum ResultPath {
    /// Absent or `$`: the result replaces the input.
    Replace,
    /// `null`: the result is dropped, the input passes through.
    Discard,
    At(Path),
}

impl ResultPath {
    pub(crate) fn compile(field: &str, raw: Option<Option<String>>) -> Result<Self, AslError> {
        let bad = |m: String| AslError::new(AslErrorKind::BadPath, m).at_field(field);
        match raw {
            None => Ok(ResultPath::Replace),
            Some(None) => Ok(ResultPath::Discard),
            Some(Some(text)) if text == "$" => Ok(ResultPath::Replace),
            Some(Some(text)) => {
                let p = Path::reference(&text).map_err(bad)?;
                if p.is_context() {
                    return Err(bad(format!("`{text}` cannot write to the context object")));
                }
                Ok(ResultPath::At(p))
            }
        }
    }

    pub(crate) fn apply(&self, raw_input: Value, result: Value) -> Result<Value, TaskFailure> {
        match self {
            ResultPath::Replace => Ok(result),
            ResultPath::Discard => Ok(raw_input),
            ResultPath::At(p) => {
                let mut out = raw_input;
                let steps = p.steps().unwrap_or_default();
                path::write_at(&mut out, steps, result)
                    .map_err(|m| TaskFailure::runtime(format!("ResultPath `{p}`: {m}")))?;
                Ok(out)
            }
        }
    }
}

/// A payload template (Parameters, ResultSelector, ItemSelector): JSON in which a key
/// ending in `.$` takes its value from a path or an intrinsic function, at any depth.
#[derive(Debug, Clone)]
pub(crate) enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path(Path),
    Call(Call),
}

impl Template {
    /// `field` names the template for error messages.
    pub(crate) fn compile(field: &str, raw: &Value) -> Result<Template, AslError> {
        compile_node(raw).map_err(|(at, kind, m)| {
            let e = AslError::new(kind, m);
            if at.is_empty() {
                e.at_field(field)
            } else {
                e.at_field(&at).at_field(field)
            }
        })
    }

    pub(crate) fn render(&self, input: &Value, context: &Value) -> Result<Value, TaskFailure> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut out = Map::new();
                for (k, t) in fields {
                    out.insert(k.clone(), t.render(input, context)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => items
                .iter()
                .map(|t| t.render(input, context))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Template::Path(p) => p
                .select(input, context)
                .map_err(|m| TaskFailure::runtime(format!("payload template: {m}"))),
            Template::Call(c) => c.eval(input, context),
        }
    }
}

type NodeError = (String, AslErrorKind, String);

fn compile_node(raw: &Value) -> Result<Template, NodeError> {
    match raw {
        Value::Object(map) => {
            let mut fields = Vec::with_capacity(map.len());
            let mut dynamic = false;
            for (key, value) in map {
                let nest = |(at, kind, m): NodeError| {
                    let at = if at.is_empty() {
                        key.clone()
                    } else if at.starts_with('[') {
                        format!("{key}{at}")
                    } else {
                        format!("{key}.{at}")
                    };
                    (at, kind, m)
                };
                if let Some(name) = key.strip_suffix(".$") {
                    dynamic = true;
                    let Value::String(expr) = value else {
                        return Err((
                            key.clone(),
                            AslErrorKind::InvalidValue,
                            "a field ending in `.$` must hold a path or an intrinsic function"
                                .into(),
                        ));
                    };
                    fields.push((name.to_owned(), compile_expr(expr).map_err(nest)?));
                } else {
                    let t = compile_node(value).map_err(nest)?;
                    dynamic |= !matches!(t, Template::Literal(_));
                    fields.push((key.clone(), t));
                }
            }
            if dynamic {
                Ok(Template::Object(fields))
            } else {
                Ok(Template::Literal(raw.clone()))
            }
        }
        Value::Array(items) => {
            let items = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    compile_node(v).map_err(|(at, k, m)| {
                        let at = match at.as_str() {
                            "" => format!("[{i}]"),
                            a if a.starts_with('[') => format!("[{i}]{a}"),
                            a => format!("[{i}].{a}"),
                        };
                        (at, k, m)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if items.iter().all(|t| matches!(t, Template::Literal(_))) {
                Ok(Template::Literal(raw.clone()))
            } else {
                Ok(Template::Array(items))
            }
        }
        other => Ok(Template::Literal(other.clone())),
    }
}

fn compile_expr(expr: &str) -> Result<Template, NodeError> {
    if intrinsic::looks_like_call(expr) {
        Call::parse(expr)
            .map(Template::Call)
            .map_err(|m| (String::new(), AslErrorKind::BadIntrinsic, m))
    } else {
        Path::parse(expr)
            .map(Template::Path)
            .map_err(|m| (String::new(), AslErrorKind::BadPath, m))
    }
}

/// A string field that may be a reference path or an intrinsic function (Fail's
/// ErrorPath/CausePath).
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Literal(String),
    Dynamic(Template),
}

impl Text {
    pub(crate) fn compile_dynamic(field: &str, expr: &str) -> Result<Text, AslError> {
        if intrinsic::looks_like_call(expr) {
            Call::parse(expr)
                .map(|c| Text::Dynamic(Template::Call(c)))
                .map_err(|m| AslError::new(AslErrorKind::BadIntrinsic, m).at_field(field))
        } else {
            Path::reference(expr)
                .map(|p| Text::Dynamic(Template::Path(p)))
                .map_err(|m| AslError::new(AslErrorKind::BadPath, m).at_field(field))
        }
    }

    pub(crate) fn render(
        &self,
        field: &str,
        input: &Value,
        context: &Value,
    ) -> Result<String, TaskFailure> {
        match self {
            Text::Literal(s) => Ok(s.clone()),
            Text::Dynamic(t) => match t.render(input, context)? {
                Value::String(s) => Ok(s),
                other => Err(TaskFailure::runtime(format!(
                    "{field} must select a string, got {other}"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ctx() -> Value {
        json!({"Execution": {"Id": "exec-9"}, "Map": {"Item": {"Index": 2}}})
    }

    #[test]
    fn templates_fill_nested_dynamic_fields() {
        let t = Template::compile(
            "Parameters",
            &json!({
                "static": {"keep": [1, 2]},
                "id.$": "$$.Execution.Id",
                "nested": {"deep": {"v.$": "$.a.b"}, "list": [{"x.$": "$.a"}, 3]},
                "count.$": "States.ArrayLength($.l)",
                "all.$": "$.l[*]"
            }),
        )
        .expect("compiles");
        let out = t
            .render(&json!({"a": {"b": "B"}, "l": [4, 5]}), &ctx())
            .expect("renders");
        assert_eq!(
            out,
            json!({
                "static": {"keep": [1, 2]},
                "id": "exec-9",
                "nested": {"deep": {"v": "B"}, "list": [{"x": {"b": "B"}}, 3]},
                "count": 2,
                "all": [4, 5]
            })
        );
        let err = t
            .render(&json!({"l": []}), &ctx())
            .expect_err("missing $.a.b");
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn template_errors_name_the_field() {
        let err =
            Template::compile("Parameters", &json!({"a": {"b.$": "nope"}})).expect_err("bad path");
        assert_eq!(err.kind, AslErrorKind::BadPath);
        assert_eq!(err.field.as_deref(), Some("Parameters.a.b.$"));
        let err = Template::compile("ResultSelector", &json!({"x.$": 3})).expect_err("number");
        assert_eq!(err.kind, AslErrorKind::InvalidValue);
        let err = Template::compile("Parameters", &json!({"l": [{"x.$": "States.Nope()"}]}))
            .expect_err("bad intrinsic");
        assert_eq!(err.kind, AslErrorKind::BadIntrinsic);
        assert_eq!(err.field.as_deref(), Some("Parameters.l[0].x.$"));
    }

    #[test]
    fn result_paths() {
        let input = json!({"a": 1});
        let rp = |raw: Option<Option<&str>>| {
            ResultPath::compile("ResultPath", raw.map(|o| o.map(str::to_owned))).expect("ok")
        };
        assert_eq!(rp(None).apply(input.clone(), json!(2)), Ok(json!(2)));
        assert_eq!(
            rp(Some(None)).apply(input.clone(), json!(2)),
            Ok(input.clone())
        );
        assert_eq!(
            rp(Some(Some("$.r.s"))).apply(input.clone(), json!(2)),
            Ok(json!({"a": 1, "r": {"s": 2}}))
        );
        let err = rp(Some(Some("$.a.b")))
            .apply(input, json!(2))
            .expect_err("through a number");
        assert_eq!(err.error, "States.Runtime");
        for (text, why) in [
            ("$.a[*]", "must be a reference path"),
            ("$$.Execution", "cannot write to the context object"),
        ] {
            let err = ResultPath::compile("ResultPath", Some(Some(text.into()))).expect_err(text);
            assert_eq!(err.kind, AslErrorKind::BadPath, "{err}");
            assert_eq!(err.field.as_deref(), Some("ResultPath"));
            assert!(err.message.contains(why), "{err}");
        }
    }

    #[test]
    fn input_and_output_paths() {
        let v = json!({"a": {"b": 1}});
        let p = DataPath::compile("InputPath", Some(Some("$.a".into()))).expect("ok");
        assert_eq!(p.apply("InputPath", v.clone(), &ctx()), Ok(json!({"b": 1})));
        let p = DataPath::compile("InputPath", Some(None)).expect("ok");
        assert_eq!(p.apply("InputPath", v.clone(), &ctx()), Ok(json!({})));
        let p = DataPath::compile("OutputPath", Some(Some("$.zz".into()))).expect("ok");
        let err = p
            .apply("OutputPath", v, &ctx())
            .expect_err("selects nothing");
        assert_eq!(err.error, "States.Runtime");
        assert_eq!(
            err.cause,
            "OutputPath: the path `$.zz` selects nothing in the input"
        );
        let err = DataPath::compile("InputPath", Some(Some("x".into()))).expect_err("no `$`");
        assert_eq!(err.kind, AslErrorKind::BadPath, "{err}");
        assert_eq!(err.field.as_deref(), Some("InputPath"));
    }
}
