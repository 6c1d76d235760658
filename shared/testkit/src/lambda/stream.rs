//! The table's stream as Lambda's event source mapping reads it: every shard from its trim
//! horizon, each record once, kept or dropped by the mapping's filter pattern, and handed
//! over as the JSON batch a function receives (`aws:dynamodb` records, typed attribute
//! values).

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Map, Value, json};

pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Where each shard's reading goes on.
    next: tokio::sync::Mutex<HashMap<String, String>>,
}

impl StreamReader {
    pub fn new(client: aws_sdk_dynamodbstreams::Client, arn: String) -> Self {
        Self {
            client,
            arn,
            next: Default::default(),
        }
    }

    /// The records written since the last call that `pattern` (a filter criteria pattern,
    /// JSON) keeps, as the batch the mapping would invoke its function with.
    pub async fn batch(&self, pattern: &Value) -> Value {
        let mut next = self.next.lock().await;
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .expect("moto describes the stream")
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            let mut iterator = match next.get(&id) {
                Some(it) => it.clone(),
                None => self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .expect("moto gives a shard iterator")
                    .shard_iterator
                    .expect("a shard iterator"),
            };
            loop {
                let out = self
                    .client
                    .get_records()
                    .shard_iterator(&iterator)
                    .send()
                    .await
                    .expect("moto reads the stream");
                let got = out.records.unwrap_or_default();
                let done = got.is_empty();
                records.extend(got.iter().map(|r| self.lambda_record(r)));
                match out.next_shard_iterator {
                    Some(it) => iterator = it,
                    None => break,
                }
                if done {
                    break;
                }
            }
            next.insert(id, iterator);
        }
        let kept: Vec<Value> = records
            .into_iter()
            .filter(|r| matches_pattern(pattern, r))
            .collect();
        json!({ "Records": kept })
    }

    fn lambda_record(&self, record: &Record) -> Value {
        let change = record.dynamodb.as_ref().expect("a stream record's change");
        let image = |item: Option<&HashMap<String, AttributeValue>>| {
            Value::Object(
                item.into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), typed(v)))
                    .collect(),
            )
        };
        json!({
            "eventID": record.event_id,
            "eventName": record.event_name.as_ref().map(|n| n.as_str()),
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": super::stack::REGION,
            "eventSourceARN": self.arn,
            "dynamodb": {
                "ApproximateCreationDateTime": change
                    .approximate_creation_date_time
                    .map(|t| t.secs())
                    .unwrap_or_default(),
                "Keys": image(change.keys.as_ref()),
                "NewImage": image(change.new_image.as_ref()),
                "SequenceNumber": change.sequence_number,
                "SizeBytes": change.size_bytes.unwrap_or_default(),
                "StreamViewType": "NEW_IMAGE",
            }
        })
    }
}

/// An attribute value in the stream's JSON (`{"S": "..."}`, ...).
fn typed(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(typed).collect::<Vec<_>>() }),
        AttributeValue::M(m) => {
            let map: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), typed(v))).collect();
            json!({ "M": map })
        }
        other => panic!("no stream JSON for {other:?} here"),
    }
}

/// Whether `event` matches a filter pattern: each field of the pattern must be present, an
/// object matching an object, a list of allowed values (exact, or `{"prefix": ...}`) matching
/// a value. What else a pattern may say is not written here, and fails the test.
fn matches_pattern(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(name, want)| {
            event
                .get(name)
                .is_some_and(|got| matches_pattern(want, got))
        }),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            Value::Object(rule) => match (rule.get("prefix"), rule.len()) {
                (Some(Value::String(p)), 1) => event.as_str().is_some_and(|s| s.starts_with(p)),
                _ => panic!("a filter rule the harness does not evaluate: {a}"),
            },
            exact => exact == event,
        }),
        other => panic!("a filter pattern names fields or lists values, not {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pattern_keeps_matching_records_and_drops_the_rest() {
        let pattern = json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}});
        let record = |name: &str, pk: &str| json!({"eventName": name, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "x"}}}});
        assert!(matches_pattern(&pattern, &record("INSERT", "OUTBOX#1")));
        assert!(!matches_pattern(&pattern, &record("REMOVE", "OUTBOX#1")));
        assert!(!matches_pattern(
            &pattern,
            &record("INSERT", "T#acme#OUTBOX#1")
        ));
        assert!(!matches_pattern(&pattern, &json!({"eventName": "INSERT"})));
    }
}
