//! Choice rules: parsed from their JSON shape with every comparison operator of the States
//! Language (and the `…Path` variants), checked at load, evaluated against a state's input.

use std::cmp::Ordering;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{AslError, AslErrorKind, TaskFailure};
use super::path::Path;

/// The JSON shape of a rule: `Variable` plus exactly one operator, or `And`/`Or`/`Not`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawRule {
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    variable: Option<String>,
    #[serde(default)]
    and: Option<Vec<RawRule>>,
    #[serde(default)]
    or: Option<Vec<RawRule>>,
    #[serde(default)]
    not: Option<Box<RawRule>>,
    #[serde(default)]
    string_equals: Option<String>,
    #[serde(default)]
    string_equals_path: Option<String>,
    #[serde(default)]
    string_less_than: Option<String>,
    #[serde(default)]
    string_less_than_path: Option<String>,
    #[serde(default)]
    string_greater_than: Option<String>,
    #[serde(default)]
    string_greater_than_path: Option<String>,
    #[serde(default)]
    string_less_than_equals: Option<String>,
    #[serde(default)]
    string_less_than_equals_path: Option<String>,
    #[serde(default)]
    string_greater_than_equals: Option<String>,
    #[serde(default)]
    string_greater_than_equals_path: Option<String>,
    #[serde(default)]
    string_matches: Option<String>,
    #[serde(default)]
    numeric_equals: Option<f64>,
    #[serde(default)]
    numeric_equals_path: Option<String>,
    #[serde(default)]
    numeric_less_than: Option<f64>,
    #[serde(default)]
    numeric_less_than_path: Option<String>,
    #[serde(default)]
    numeric_greater_than: Option<f64>,
    #[serde(default)]
    numeric_greater_than_path: Option<String>,
    #[serde(default)]
    numeric_less_than_equals: Option<f64>,
    #[serde(default)]
    numeric_less_than_equals_path: Option<String>,
    #[serde(default)]
    numeric_greater_than_equals: Option<f64>,
    #[serde(default)]
    numeric_greater_than_equals_path: Option<String>,
    #[serde(default)]
    boolean_equals: Option<bool>,
    #[serde(default)]
    boolean_equals_path: Option<String>,
    #[serde(default)]
    timestamp_equals: Option<String>,
    #[serde(default)]
    timestamp_equals_path: Option<String>,
    #[serde(default)]
    timestamp_less_than: Option<String>,
    #[serde(default)]
    timestamp_less_than_path: Option<String>,
    #[serde(default)]
    timestamp_greater_than: Option<String>,
    #[serde(default)]
    timestamp_greater_than_path: Option<String>,
    #[serde(default)]
    timestamp_less_than_equals: Option<String>,
    #[serde(default)]
    timestamp_less_than_equals_path: Option<String>,
    #[serde(default)]
    timestamp_greater_than_equals: Option<String>,
    #[serde(default)]
    timestamp_greater_than_equals_path: Option<String>,
    #[serde(default)]
    is_null: Option<bool>,
    #[serde(default)]
    is_present: Option<bool>,
    #[serde(default)]
    is_numeric: Option<bool>,
    #[serde(default)]
    is_string: Option<bool>,
    #[serde(default)]
    is_boolean: Option<bool>,
    #[serde(default)]
    is_timestamp: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    fn holds(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Gt => ord == Ordering::Greater,
            Op::Le => ord != Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Literal(Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypeTest {
    Null,
    Present,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    Compare {
        kind: Kind,
        op: Op,
        operand: Operand,
    },
    Matches(Vec<PatternPart>),
    Is(TypeTest, bool),
}

#[derive(Debug, Clone)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

/// One top-level rule of a Choice state and where it leads.
#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub(crate) rule: Rule,
    pub(crate) next: String,
}

impl Branch {
    /// `field` is the rule's place (`Choices[2]`) for error messages.
    pub(crate) fn compile(raw: RawRule, field: &str) -> Result<Branch, AslError> {
        let next = raw.next.clone().ok_or_else(|| {
            AslError::new(
                AslErrorKind::MissingTransition,
                "a top-level choice rule needs `Next`",
            )
            .at_field(field)
        })?;
        let rule = compile_rule(raw, true).map_err(|e| e.at_field(field))?;
        Ok(Branch { rule, next })
    }
}

fn compile_rule(raw: RawRule, top_level: bool) -> Result<Rule, AslError> {
    let invalid = |msg: String| AslError::new(AslErrorKind::InvalidValue, msg);
    if !top_level && raw.next.is_some() {
        return Err(invalid("a nested choice rule must not have `Next`".into()).at_field("Next"));
    }
    let combinators = [raw.and.is_some(), raw.or.is_some(), raw.not.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let mut tests = operators(&raw)?;
    if combinators > 0 {
        if combinators > 1 || !tests.is_empty() || raw.variable.is_some() {
            return Err(invalid(
                "a rule is either one of And/Or/Not or a Variable with one comparison".into(),
            ));
        }
        if let Some(rules) = raw.and {
            return Ok(Rule::And(compile_list(rules, "And")?));
        }
        if let Some(rules) = raw.or {
            return Ok(Rule::Or(compile_list(rules, "Or")?));
        }
        if let Some(rule) = raw.not {
            let inner = compile_rule(*rule, false).map_err(|e| e.at_field("Not"))?;
            return Ok(Rule::Not(Box::new(inner)));
        }
    }
    let variable = raw.variable.ok_or_else(|| {
        AslError::new(
            AslErrorKind::MissingField,
            "a comparison needs `Variable` (or use And/Or/Not)",
        )
        .at_field("Variable")
    })?;
    let variable = Path::reference(&variable)
        .map_err(|m| AslError::new(AslErrorKind::BadPath, m).at_field("Variable"))?;
    let test = match tests.len() {
        1 => tests.remove(0),
        0 => return Err(invalid("the rule has no comparison operator".into())),
        _ => {
            return Err(invalid(
                "the rule has more than one comparison operator".into(),
            ));
        }
    };
    Ok(Rule::Test { variable, test })
}

fn compile_list(rules: Vec<RawRule>, field: &str) -> Result<Vec<Rule>, AslError> {
    if rules.is_empty() {
        return Err(
            AslError::new(AslErrorKind::InvalidValue, "must hold at least one rule")
                .at_field(field),
        );
    }
    rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            compile_rule(r, false).map_err(|e| e.at_field(&format!("[{i}]")).at_field(field))
        })
        .collect()
}

/// Every comparison operator present in the rule, compiled.
fn operators(raw: &RawRule) -> Result<Vec<Test>, AslError> {
    let mut tests = Vec::new();
    let lit = |kind, op, v: Value| Test::Compare {
        kind,
        op,
        operand: Operand::Literal(v),
    };
    let string_ops = [
        (&raw.string_equals, Op::Eq),
        (&raw.string_less_than, Op::Lt),
        (&raw.string_greater_than, Op::Gt),
        (&raw.string_less_than_equals, Op::Le),
        (&raw.string_greater_than_equals, Op::Ge),
    ];
    for (v, op) in string_ops {
        if let Some(s) = v {
            tests.push(lit(Kind::String, op, Value::String(s.clone())));
        }
    }
    let numeric_ops = [
        (raw.numeric_equals, Op::Eq),
        (raw.numeric_less_than, Op::Lt),
        (raw.numeric_greater_than, Op::Gt),
        (raw.numeric_less_than_equals, Op::Le),
        (raw.numeric_greater_than_equals, Op::Ge),
    ];
    for (v, op) in numeric_ops {
        if let Some(n) = v {
            tests.push(lit(Kind::Numeric, op, Value::from(n)));
        }
    }
    if let Some(b) = raw.boolean_equals {
        tests.push(lit(Kind::Boolean, Op::Eq, Value::Bool(b)));
    }
    let timestamp_ops = [
        (&raw.timestamp_equals, Op::Eq, "TimestampEquals"),
        (&raw.timestamp_less_than, Op::Lt, "TimestampLessThan"),
        (&raw.timestamp_greater_than, Op::Gt, "TimestampGreaterThan"),
        (
            &raw.timestamp_less_than_equals,
            Op::Le,
            "TimestampLessThanEquals",
        ),
        (
            &raw.timestamp_greater_than_equals,
            Op::Ge,
            "TimestampGreaterThanEquals",
        ),
    ];
    for (v, op, field) in timestamp_ops {
        if let Some(s) = v {
            if parse_timestamp(s).is_none() {
                return Err(AslError::new(
                    AslErrorKind::InvalidValue,
                    format!("`{s}` is not an RFC 3339 timestamp"),
                )
                .at_field(field));
            }
            tests.push(lit(Kind::Timestamp, op, Value::String(s.clone())));
        }
    }
    let path_ops = [
        (
            &raw.string_equals_path,
            Kind::String,
            Op::Eq,
            "StringEqualsPath",
        ),
        (
            &raw.string_less_than_path,
            Kind::String,
            Op::Lt,
            "StringLessThanPath",
        ),
        (
            &raw.string_greater_than_path,
            Kind::String,
            Op::Gt,
            "StringGreaterThanPath",
        ),
        (
            &raw.string_less_than_equals_path,
            Kind::String,
            Op::Le,
            "StringLessThanEqualsPath",
        ),
        (
            &raw.string_greater_than_equals_path,
            Kind::String,
            Op::Ge,
            "StringGreaterThanEqualsPath",
        ),
        (
            &raw.numeric_equals_path,
            Kind::Numeric,
            Op::Eq,
            "NumericEqualsPath",
        ),
        (
            &raw.numeric_less_than_path,
            Kind::Numeric,
            Op::Lt,
            "NumericLessThanPath",
        ),
        (
            &raw.numeric_greater_than_path,
            Kind::Numeric,
            Op::Gt,
            "NumericGreaterThanPath",
        ),
        (
            &raw.numeric_less_than_equals_path,
            Kind::Numeric,
            Op::Le,
            "NumericLessThanEqualsPath",
        ),
        (
            &raw.numeric_greater_than_equals_path,
            Kind::Numeric,
            Op::Ge,
            "NumericGreaterThanEqualsPath",
        ),
        (
            &raw.boolean_equals_path,
            Kind::Boolean,
            Op::Eq,
            "BooleanEqualsPath",
        ),
        (
            &raw.timestamp_equals_path,
            Kind::Timestamp,
            Op::Eq,
            "TimestampEqualsPath",
        ),
        (
            &raw.timestamp_less_than_path,
            Kind::Timestamp,
            Op::Lt,
            "TimestampLessThanPath",
        ),
        (
            &raw.timestamp_greater_than_path,
            Kind::Timestamp,
            Op::Gt,
            "TimestampGreaterThanPath",
        ),
        (
            &raw.timestamp_less_than_equals_path,
            Kind::Timestamp,
            Op::Le,
            "TimestampLessThanEqualsPath",
        ),
        (
            &raw.timestamp_greater_than_equals_path,
            Kind::Timestamp,
            Op::Ge,
            "TimestampGreaterThanEqualsPath",
        ),
    ];
    for (v, kind, op, field) in path_ops {
        if let Some(text) = v {
            let path = Path::reference(text)
                .map_err(|m| AslError::new(AslErrorKind::BadPath, m).at_field(field))?;
            tests.push(Test::Compare {
                kind,
                op,
                operand: Operand::Path(path),
            });
        }
    }
    if let Some(pattern) = &raw.string_matches {
        tests.push(Test::Matches(parse_pattern(pattern)));
    }
    let type_tests = [
        (raw.is_null, TypeTest::Null),
        (raw.is_present, TypeTest::Present),
        (raw.is_numeric, TypeTest::Numeric),
        (raw.is_string, TypeTest::String),
        (raw.is_boolean, TypeTest::Boolean),
        (raw.is_timestamp, TypeTest::Timestamp),
    ];
    for (v, t) in type_tests {
        if let Some(b) = v {
            tests.push(Test::Is(t, b));
        }
    }
    Ok(tests)
}

impl Rule {
    /// Whether the rule holds. A variable that selects nothing is `States.Runtime`, except
    /// for `IsPresent`, which exists to ask exactly that.
    pub(crate) fn holds(&self, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.holds(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.holds(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.holds(input, context)?),
            Rule::Test { variable, test } => {
                if let Test::Is(TypeTest::Present, expected) = test {
                    return Ok(variable.select_opt(input, context).is_some() == *expected);
                }
                let value = variable
                    .select(input, context)
                    .map_err(|m| TaskFailure::runtime(format!("Choice rule: {m}")))?;
                test.holds(&value, input, context)
            }
        }
    }
}

impl Test {
    fn holds(&self, value: &Value, input: &Value, context: &Value) -> Result<bool, TaskFailure> {
        match self {
            Test::Is(t, expected) => {
                let is = match t {
                    TypeTest::Null => value.is_null(),
                    TypeTest::Present => true,
                    TypeTest::Numeric => value.is_number(),
                    TypeTest::String => value.is_string(),
                    TypeTest::Boolean => value.is_boolean(),
                    TypeTest::Timestamp => value.as_str().and_then(parse_timestamp).is_some(),
                };
                Ok(is == *expected)
            }
            Test::Matches(pattern) => Ok(value.as_str().is_some_and(|s| matches(pattern, s))),
            Test::Compare { kind, op, operand } => {
                let other = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => p
                        .select(input, context)
                        .map_err(|m| TaskFailure::runtime(format!("Choice rule: {m}")))?,
                };
                // Values of another type than the operator's never match (no error).
                let ord = match kind {
                    Kind::String => match (value.as_str(), other.as_str()) {
                        (Some(a), Some(b)) => Some(a.cmp(b)),
                        _ => None,
                    },
                    Kind::Numeric => match (value.as_f64(), other.as_f64()) {
                        (Some(a), Some(b)) => a.partial_cmp(&b),
                        _ => None,
                    },
                    Kind::Boolean => match (value.as_bool(), other.as_bool()) {
                        (Some(a), Some(b)) => Some(a.cmp(&b)),
                        _ => None,
                    },
                    Kind::Timestamp => match (
                        value.as_str().and_then(parse_timestamp),
                        other.as_str().and_then(parse_timestamp),
                    ) {
                        (Some(a), Some(b)) => Some(a.cmp(&b)),
                        _ => None,
                    },
                };
                Ok(ord.is_some_and(|o| op.holds(o)))
            }
        }
    }
}

pub(crate) fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// A `StringMatches` pattern: `*` matches any run of characters; `\*` and `\\` stand for
/// a literal star and backslash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternPart {
    Char(char),
    Star,
}

fn parse_pattern(pattern: &str) -> Vec<PatternPart> {
    let mut parts = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.push(PatternPart::Char(chars.next().unwrap_or('\\'))),
            '*' => parts.push(PatternPart::Star),
            c => parts.push(PatternPart::Char(c)),
        }
    }
    parts
}

/// Glob matching with backtracking over the last star only: linear for patterns like
/// `*.tgz` and `log-*-2024*`.
fn matches(pattern: &[PatternPart], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(PatternPart::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(PatternPart::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|part| *part == PatternPart::Star)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(v: Value) -> Result<Rule, AslError> {
        let mut v = v;
        v["Next"] = json!("X");
        let raw: RawRule = serde_json::from_value(v)
            .map_err(|e| AslError::new(AslErrorKind::Syntax, e.to_string()))?;
        Branch::compile(raw, "Choices[0]").map(|b| b.rule)
    }

    fn holds(r: Value, input: Value) -> Result<bool, TaskFailure> {
        rule(r)
            .expect("valid rule")
            .holds(&input, &json!({"Execution": {"Name": "n"}}))
    }

    #[test]
    fn every_comparison_operator() {
        let input = json!({
            "s": "beta", "n": 5, "b": true, "t": "2024-05-01T10:00:00Z",
            "s2": "alpha", "n2": 5.0, "t2": "2024-05-01T12:00:00+02:00", "nul": null
        });
        let cases = [
            (json!({"Variable": "$.s", "StringEquals": "beta"}), true),
            (json!({"Variable": "$.s", "StringLessThan": "gamma"}), true),
            (
                json!({"Variable": "$.s", "StringGreaterThan": "gamma"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEquals": "beta"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEquals": "beta"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringEqualsPath": "$.s2"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanPath": "$.s2"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanPath": "$.s2"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.s"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s2"}),
                true,
            ),
            (json!({"Variable": "$.s", "StringMatches": "b*a"}), true),
            (json!({"Variable": "$.s", "StringMatches": "*x*"}), false),
            (json!({"Variable": "$.n", "NumericEquals": 5}), true),
            (json!({"Variable": "$.n", "NumericLessThan": 5.5}), true),
            (json!({"Variable": "$.n", "NumericGreaterThan": 5}), false),
            (json!({"Variable": "$.n", "NumericLessThanEquals": 5}), true),
            (
                json!({"Variable": "$.n", "NumericGreaterThanEquals": 6}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericEqualsPath": "$.n2"}),
                true,
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanPath": "$.n2"}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericGreaterThanPath": "$.n2"}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.n2"}),
                true,
            ),
            (
                json!({"Variable": "$.n", "NumericGreaterThanEqualsPath": "$.n2"}),
                true,
            ),
            (json!({"Variable": "$.b", "BooleanEquals": true}), true),
            (json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"}), true),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2024-05-01T10:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampEqualsPath": "$.t2"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThan": "2024-05-01T10:00:01Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanPath": "$.t2"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThan": "2024-01-01T00:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanPath": "$.t2"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanEquals": "2024-05-01T10:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.t2"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2025-01-01T00:00:00Z"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.t2"}),
                true,
            ),
            (json!({"Variable": "$.nul", "IsNull": true}), true),
            (json!({"Variable": "$.s", "IsNull": true}), false),
            (json!({"Variable": "$.s", "IsPresent": true}), true),
            (json!({"Variable": "$.absent", "IsPresent": false}), true),
            (json!({"Variable": "$.n", "IsNumeric": true}), true),
            (json!({"Variable": "$.s", "IsString": true}), true),
            (json!({"Variable": "$.b", "IsBoolean": false}), false),
            (json!({"Variable": "$.t", "IsTimestamp": true}), true),
            (json!({"Variable": "$.s", "IsTimestamp": true}), false),
            // A value of another type never matches.
            (json!({"Variable": "$.n", "StringEquals": "5"}), false),
            (json!({"Variable": "$.s", "NumericEquals": 5}), false),
            (
                json!({"Variable": "$$.Execution.Name", "StringEquals": "n"}),
                true,
            ),
        ];
        for (r, expected) in cases {
            assert_eq!(holds(r.clone(), input.clone()), Ok(expected), "{r}");
        }
    }

    #[test]
    fn combinators() {
        let input = json!({"a": 1, "b": "x"});
        let r = json!({"And": [
            {"Variable": "$.a", "NumericEquals": 1},
            {"Or": [
                {"Variable": "$.b", "StringEquals": "y"},
                {"Not": {"Variable": "$.b", "StringEquals": "z"}}
            ]}
        ]});
        assert_eq!(holds(r, input.clone()), Ok(true));
        let r = json!({"Not": {"Variable": "$.a", "NumericEquals": 1}});
        assert_eq!(holds(r, input), Ok(false));
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let err = holds(
            json!({"Variable": "$.nope", "StringEquals": "x"}),
            json!({}),
        )
        .expect_err("missing");
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn malformed_rules_are_refused() {
        use AslErrorKind::*;
        let bad = [
            (json!({"Variable": "$.a"}), InvalidValue, "Choices[0]"),
            (
                json!({"Variable": "$.a", "StringEquals": "x", "IsNull": true}),
                InvalidValue,
                "Choices[0]",
            ),
            (
                json!({"StringEquals": "x"}),
                MissingField,
                "Choices[0].Variable",
            ),
            (
                json!({"Variable": "$.a[*]", "StringEquals": "x"}),
                BadPath,
                "Choices[0].Variable",
            ),
            (
                json!({"Variable": "$.a", "TimestampEquals": "yesterday"}),
                InvalidValue,
                "Choices[0].TimestampEquals",
            ),
            (
                json!({"Variable": "$.a", "StringEqualsPath": "nope"}),
                BadPath,
                "Choices[0].StringEqualsPath",
            ),
            (json!({"And": []}), InvalidValue, "Choices[0].And"),
            (
                json!({"And": [{"Variable": "$.a", "IsNull": true, "Next": "Y"}]}),
                InvalidValue,
                "Choices[0].And[0].Next",
            ),
            (
                json!({"Not": {"Variable": "$.a", "IsNull": true}, "Variable": "$.a"}),
                InvalidValue,
                "Choices[0]",
            ),
        ];
        for (r, kind, field) in bad {
            let err = rule(r.clone()).expect_err("refused");
            assert_eq!(
                (err.kind, err.field.as_deref()),
                (kind, Some(field)),
                "{r}: {err}"
            );
        }
        let err = rule(json!({"Variable": "$.a", "NumericEqualz": 1})).expect_err("typo");
        assert!(err.message.contains("NumericEqualz"), "{err}");
    }

    #[test]
    fn glob_patterns() {
        let m = |p: &str, s: &str| matches(&parse_pattern(p), s);
        assert!(m("*.tgz", "widget-1.0.tgz"));
        assert!(!m("*.tgz", "widget-1.0.zip"));
        assert!(m("log-*-2024*", "log-app-2024-05"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*", ""));
        assert!(m("a*", "a"));
        assert!(!m("a?", "ab"));
    }
}
