//! CloudFormation's intrinsic functions in a transformed policy document, resolved against
//! one deployment's names, as CloudFormation resolves them when it creates the role: `Ref`,
//! `Fn::GetAtt`, `Fn::Sub` (both forms) and `Fn::Join`.
//!
//! A reference the deployment does not have (a log group, an alarm) resolves to an ARN no
//! call ever names, so a statement about it grants nothing here; it never widens a grant.

use std::collections::BTreeMap;

use serde_json::Value;

/// What `Ref` and `Fn::GetAtt` answer for one deployment's resources and parameters.
#[derive(Default)]
pub struct Names {
    refs: BTreeMap<String, String>,
    attributes: BTreeMap<(String, String), String>,
}

impl Names {
    /// `AWS::Partition`, `AWS::Region` and `AWS::AccountId` for this region and account.
    pub fn new(region: &str, account: &str) -> Self {
        let mut names = Self::default();
        names
            .with_ref("AWS::Partition", "aws")
            .with_ref("AWS::Region", region)
            .with_ref("AWS::AccountId", account)
            .with_ref("AWS::URLSuffix", "amazonaws.com");
        names
    }

    pub fn with_ref(&mut self, logical_id: &str, value: impl Into<String>) -> &mut Self {
        self.refs.insert(logical_id.to_owned(), value.into());
        self
    }

    pub fn with_attribute(
        &mut self,
        logical_id: &str,
        attribute: &str,
        value: impl Into<String>,
    ) -> &mut Self {
        self.attributes
            .insert((logical_id.to_owned(), attribute.to_owned()), value.into());
        self
    }

    fn reference(&self, logical_id: &str) -> String {
        self.refs
            .get(logical_id)
            .cloned()
            .unwrap_or_else(|| unresolved(logical_id, "Ref"))
    }

    fn attribute(&self, logical_id: &str, attribute: &str) -> String {
        self.attributes
            .get(&(logical_id.to_owned(), attribute.to_owned()))
            .cloned()
            .unwrap_or_else(|| unresolved(logical_id, attribute))
    }

    /// `value` with every intrinsic replaced by what it names here.
    pub fn resolve(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries = map.iter();
                if let (Some((function, argument)), None) = (entries.next(), entries.next())
                    && let Some(resolved) = self.intrinsic(function, argument)
                {
                    return resolved;
                }
                Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), self.resolve(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            other => other.clone(),
        }
    }

    /// What the intrinsic `function` names for `argument`; `None` when `function` is a key
    /// like any other.
    fn intrinsic(&self, function: &str, argument: &Value) -> Option<Value> {
        let resolved = match function {
            "Ref" => self.reference(&text(argument)),
            "Fn::GetAtt" => {
                let (id, attribute) = match argument {
                    Value::Array(parts) => (text(&parts[0]), text(&parts[1])),
                    other => {
                        let joined = text(other);
                        let (id, attribute) = joined
                            .split_once('.')
                            .unwrap_or_else(|| panic!("Fn::GetAtt {joined}"));
                        (id.to_owned(), attribute.to_owned())
                    }
                };
                self.attribute(&id, &attribute)
            }
            "Fn::Sub" => self.sub(argument),
            "Fn::Join" => {
                let separator = text(&argument[0]);
                let parts: Vec<String> = argument[1]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|part| text(&self.resolve(part)))
                    .collect();
                parts.join(&separator)
            }
            f if f.starts_with("Fn::") => {
                panic!("the harness cannot resolve {f} in a policy: {argument}")
            }
            _ => return None,
        };
        Some(Value::String(resolved))
    }

    /// `Fn::Sub`: `"text ${Name} ${Id.Attribute}"`, or `[text, {variable: value}]`.
    fn sub(&self, argument: &Value) -> String {
        let (template, variables) = match argument {
            Value::Array(parts) => {
                let variables: BTreeMap<String, String> = parts[1]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), text(&self.resolve(v))))
                    .collect();
                (text(&parts[0]), variables)
            }
            other => (text(other), BTreeMap::new()),
        };
        let mut out = String::new();
        let mut rest = template.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .unwrap_or_else(|| panic!("Fn::Sub without a closing brace: {template}"));
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(value);
            } else if let Some((id, attribute)) = name
                .split_once('.')
                .filter(|(id, _)| !id.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(id, attribute));
            } else {
                out.push_str(&self.reference(name));
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => panic!("expected text in a policy, found {other}"),
    }
}

fn unresolved(logical_id: &str, attribute: &str) -> String {
    format!("arn:aws:trove-harness:::unresolved/{logical_id}/{attribute}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Names {
        let mut names = Names::new("us-east-1", "123456789012");
        names
            .with_ref("Stage", "t1")
            .with_ref("Table", "trove-t1")
            .with_attribute(
                "Table",
                "Arn",
                "arn:aws:dynamodb:us-east-1:123456789012:table/trove-t1",
            );
        names
    }

    #[test]
    fn sub_reads_parameters_pseudo_parameters_attributes_and_its_own_variables() {
        let resolved = names().resolve(&json!({
            "Fn::Sub": [
                "arn:${AWS::Partition}:s3:::trove-${Stage}-${AWS::AccountId}/${Key}/${Table.Arn}/${!Literal}",
                { "Key": { "Ref": "Table" } }
            ]
        }));
        assert_eq!(
            resolved,
            json!(
                "arn:aws:s3:::trove-t1-123456789012/trove-t1/arn:aws:dynamodb:us-east-1:123456789012:table/trove-t1/${Literal}"
            )
        );
    }

    #[test]
    fn refs_attributes_and_joins_resolve_inside_a_statement() {
        let resolved = names().resolve(&json!({
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": [
                { "Fn::GetAtt": ["Table", "Arn"] },
                { "Fn::Join": ["/", [{ "Fn::GetAtt": "Table.Arn" }, "index", "*"]] }
            ]
        }));
        assert_eq!(
            resolved["Resource"],
            json!([
                "arn:aws:dynamodb:us-east-1:123456789012:table/trove-t1",
                "arn:aws:dynamodb:us-east-1:123456789012:table/trove-t1/index/*"
            ])
        );
    }

    #[test]
    fn what_the_deployment_lacks_names_nothing_a_call_could_reach() {
        let resolved = names().resolve(&json!({ "Fn::GetAtt": ["FunctionLogs", "Arn"] }));
        assert_eq!(
            resolved,
            json!("arn:aws:trove-harness:::unresolved/FunctionLogs/Arn")
        );
    }
}
