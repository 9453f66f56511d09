//! Request parameters: the query string of a GET, the JSON body of anything else, read with
//! typed getters that answer `INVALID_PARAMETER_VALUE` in MLflow's words.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::Method;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The largest request body accepted (MLflow's log-batch limit is 1 MB of payload).
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) struct Params(pub(crate) Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        RawParams::from_request(req, state).await?.params()
    }
}

/// A request's query string and body as they came, for a handler with a faster reading of the
/// usual request than [`Params`] ([`RawParams::typed`]), and [`Params`] for the rest.
pub(crate) struct RawParams {
    query: String,
    get: bool,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for RawParams {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().unwrap_or("").to_owned();
        let get = req.method() == Method::GET;
        let body = if get {
            Bytes::new()
        } else {
            Bytes::from_request(req, state)
                .await
                .map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?
        };
        if body.len() > MAX_BODY {
            return Err(ApiError::invalid("the request body is too large"));
        }
        Ok(Self { query, get, body })
    }
}

impl RawParams {
    /// The JSON body read straight into `T`, when there is no query string to merge and it
    /// reads (`None`: read it with [`Self::params`], which says what is wrong in MLflow's words).
    pub(crate) fn typed<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        // An object, as the general reading requires (serde would also read a struct from an
        // array).
        let object = self
            .body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if self.get || !self.query.is_empty() || !object {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// The query string's parameters, then the JSON body's.
    pub(crate) fn params(&self) -> ApiResult<Params> {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(self.query.as_bytes()) {
            let (k, v) = (k.into_owned(), Value::String(v.into_owned()));
            match map.get_mut(&k) {
                Some(Value::Array(items)) => items.push(v),
                Some(existing) => {
                    let first = existing.take();
                    *existing = Value::Array(vec![first, v]);
                }
                None => {
                    map.insert(k, v);
                }
            }
        }
        if !self.get && !self.body.iter().all(u8::is_ascii_whitespace) {
            let value: Value = serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::invalid(format!("malformed JSON in the request body: {e}"))
            })?;
            let Value::Object(obj) = value else {
                return Err(ApiError::invalid("the request body must be a JSON object"));
            };
            map.extend(obj);
        }
        Ok(Params(map))
    }
}

fn missing(key: &str) -> ApiError {
    ApiError::invalid(format!(
        "Missing value for required parameter '{key}'. See the API docs for more information about request parameters."
    ))
}

fn wrong(key: &str, v: &Value) -> ApiError {
    ApiError::invalid(format!("Invalid value {v} for parameter '{key}' supplied."))
}

impl Params {
    fn present(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn str(&self, key: &str) -> ApiResult<String> {
        self.opt_str(key)?.ok_or_else(|| missing(key))
    }

    pub(crate) fn opt_str(&self, key: &str) -> ApiResult<Option<String>> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(wrong(key, v)),
        }
    }

    /// The first of several names that is present (MLflow sends both `run_id` and `run_uuid`).
    pub(crate) fn str_any(&self, keys: &[&str]) -> ApiResult<String> {
        for k in keys {
            if let Some(v) = self.opt_str(k)?.filter(|v| !v.is_empty()) {
                return Ok(v);
            }
        }
        Err(missing(keys[0]))
    }

    pub(crate) fn opt_i64(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.present(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| wrong(key, &Value::Number(n.clone()))),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| wrong(key, &Value::String(s.clone()))),
            Some(v) => Err(wrong(key, v)),
        }
    }

    /// A list of strings (a single string counts as a list of one, as query strings send them).
    pub(crate) fn str_list(&self, key: &str) -> ApiResult<Vec<String>> {
        match self.present(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(wrong(key, other)),
                })
                .collect(),
            Some(v) => Err(wrong(key, v)),
        }
    }

    pub(crate) fn obj_list(&self, key: &str) -> ApiResult<Vec<Map<String, Value>>> {
        match self.present(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::Object(o) => Ok(o.clone()),
                    other => Err(wrong(key, other)),
                })
                .collect(),
            Some(v) => Err(wrong(key, v)),
        }
    }

    /// `max_results`, within `1..=limit`, or `default`.
    pub(crate) fn max_results(&self, default: usize, limit: usize) -> ApiResult<usize> {
        match self.opt_i64("max_results")? {
            None => Ok(default),
            Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= limit) => {
                Ok(usize::try_from(n).unwrap_or(default))
            }
            Some(n) => Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results' supplied. It must be at most {limit} and at least 1."
            ))),
        }
    }

    /// The offset encoded in `page_token` (tokens are opaque to clients).
    pub(crate) fn offset(&self) -> ApiResult<usize> {
        match self.opt_str("page_token")?.filter(|t| !t.is_empty()) {
            None => Ok(0),
            Some(t) => t
                .strip_prefix("o")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| ApiError::invalid(format!("Invalid page token '{t}'"))),
        }
    }
}

/// A page token for the next page.
pub(crate) fn page_token(next: Option<usize>) -> Option<String> {
    next.map(|n| format!("o{n}"))
}

/// A number, or MLflow's spellings of the non-finite values.
pub(crate) fn value_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.trim().parse().ok(),
        },
        _ => None,
    }
}

/// A metric value as MLflow's JSON writes it: non-finite values as strings.
pub(crate) fn f64_json(v: f64) -> Value {
    if v.is_nan() {
        Value::String("NaN".into())
    } else if v == f64::INFINITY {
        Value::String("Infinity".into())
    } else if v == f64::NEG_INFINITY {
        Value::String("-Infinity".into())
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::RawParams;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Pair {
        a: String,
        b: i64,
    }

    fn raw(query: &str, body: &str) -> RawParams {
        RawParams {
            query: query.to_owned(),
            get: false,
            body: axum::body::Bytes::from(body.to_owned()),
        }
    }

    /// Only a JSON object body without a query string is read typed; an array (which serde
    /// would read into a struct too) and anything with query parameters are not.
    #[test]
    fn only_an_object_body_alone_is_read_typed() {
        let want = Pair {
            a: "x".into(),
            b: 1,
        };
        assert_eq!(
            raw("", r#" {"a": "x", "b": 1}"#).typed::<Pair>(),
            Some(want)
        );
        assert_eq!(raw("", r#"["x", 1]"#).typed::<Pair>(), None);
        assert_eq!(raw("b=2", r#"{"a": "x", "b": 1}"#).typed::<Pair>(), None);
        assert!(
            raw("", r#"["x", 1]"#).params().is_err(),
            "refused as a whole"
        );
    }
}
