//! Extractors whose rejections are problem+json, and the one `Caller` extractor every
//! authenticated route takes.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::http::problem::ApiError;
use crate::http::{limits, openapi_document};
use crate::services::Error;
use crate::services::access::caller::Caller;

/// A JSON body, held to the limits its OpenAPI schema states (`http::limits`) before it is
/// read as a `T`: a field over its limit is a 400 naming the field and the limit.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned + utoipa::PartialSchema,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(mut value) =
            axum::Json::<serde_json::Value>::from_request(req, state).await?;
        limits::check(&value, &T::schema(), openapi_document()).map_err(Error::Invalid)?;
        integral_numbers_as_integers(&mut value);
        // Read from the bytes again so a body of the wrong shape is refused exactly as the
        // plain extractor refuses it (422, naming the field).
        let bytes = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
        let axum::Json(body) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(body))
    }
}

/// JSON has one number type, and JSON Schema calls `2.0` an integer: a client that writes
/// a count as `2.0` (Python's `json.dumps(2.0)`) means `2`, which serde's integer fields
/// would refuse. Integral numbers within 2^53 (where a double is exact) become integers.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT
            {
                // Within ±2^53 the cast is exact.
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// The caller `http::guard` let through; a route outside the guard has none (401).
impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Error::Unauthenticated.into())
    }
}

#[cfg(test)]
mod tests {
    use super::integral_numbers_as_integers;
    use serde_json::json;

    #[test]
    fn integral_numbers_read_as_integers_and_fractions_stay() {
        let mut v = json!({"size": 2.0, "parts": [{"number": 1.0}], "rate": 0.5, "n": 3,
            "big": 1e300, "neg": -4.0});
        integral_numbers_as_integers(&mut v);
        assert_eq!(
            v,
            json!({"size": 2, "parts": [{"number": 1}], "rate": 0.5, "n": 3, "big": 1e300,
                "neg": -4})
        );
        #[derive(serde::Deserialize)]
        struct Upload {
            size: u64,
        }
        let upload: Upload = serde_json::from_value(v).expect("an integer now");
        assert_eq!(upload.size, 2);
    }
}
