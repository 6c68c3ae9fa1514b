//! SCIM on the wire: the bearer-token caller, request bodies read as JSON whatever their media
//! type (`application/scim+json` or `application/json`), answers as `application/scim+json`
//! with `ETag` and `Location`, SCIM error bodies (`status` as a string), list responses, and
//! `attributes`/`excludedAttributes`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use castellan_domain::scim::{ERROR, LIST_RESPONSE, ScimError, filter::get_ci};

const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
use castellan_services::scim::{ListPage, ListQuery, ScimCaller};
use serde_json::{Value, json};

use crate::state::AppState;

pub const MEDIA: &str = "application/scim+json";

/// A SCIM error as its body.
pub struct Failure(pub ScimError);

impl From<ScimError> for Failure {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let e = self.0;
        let mut body =
            json!({"schemas": [ERROR], "status": e.status.to_string(), "detail": e.detail});
        if let Some(t) = e.scim_type {
            body["scimType"] = json!(t);
        }
        let mut r = (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body.to_string(),
        )
            .into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA));
        if e.status == 401 {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        r
    }
}

pub type ScimResult = Result<Response, Failure>;

/// The caller, from `Authorization: Bearer …` (401 in SCIM's shape otherwise).
pub struct Scim(pub ScimCaller);

impl FromRequestParts<AppState> for Scim {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Failure> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        Ok(Self(
            castellan_services::scim::authenticate(&s.services, bearer).await?,
        ))
    }
}

/// The SCIM base URL as clients reach it.
pub fn base(s: &AppState) -> String {
    crate::api::scim_tokens::scim_base(s)
}

/// A request body as JSON (the media type is not checked: IdPs send several).
pub fn body(bytes: &Bytes) -> Result<Value, Failure> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        Failure(ScimError::invalid_syntax(format!(
            "the body is not JSON: {e}"
        )))
    })?;
    if !v.is_object() {
        return Err(Failure(ScimError::invalid_syntax(
            "the body must be a JSON object",
        )));
    }
    Ok(v)
}

pub fn if_match(h: &HeaderMap) -> Option<String> {
    h.get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The query string, its keys without regard to case.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// A SearchRequest body (POST `/.search`) as the query string it stands for.
    pub fn from_search(body: &Value) -> Result<Self, Failure> {
        let schema_ok = get_ci(body, "schemas")
            .and_then(Value::as_array)
            .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(SEARCH_REQUEST)));
        if !schema_ok {
            return Err(Failure(ScimError::invalid_syntax(format!(
                "schemas must hold {SEARCH_REQUEST}"
            ))));
        }
        let mut m = HashMap::new();
        for k in [
            "filter",
            "sortBy",
            "sortOrder",
            "startIndex",
            "count",
            "attributes",
            "excludedAttributes",
        ] {
            let text = match get_ci(body, k) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Some(other) => {
                    return Err(Failure(ScimError::invalid_value(format!(
                        "{k}: {other} is not a value here"
                    ))));
                }
            };
            m.insert(k.to_ascii_lowercase(), text);
        }
        Ok(Self(m))
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(&k.to_ascii_lowercase()).map(String::as_str)
    }

    fn int(&self, k: &str) -> Result<Option<i64>, Failure> {
        self.get(k)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    Failure(ScimError::invalid_value(format!("{k} must be an integer")))
                })
            })
            .transpose()
    }

    pub fn list(&self) -> Result<ListQuery, Failure> {
        let descending = match self
            .get("sortOrder")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(Failure(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                )));
            }
        };
        Ok(ListQuery {
            filter: self.get("filter").map(str::to_string),
            sort_by: self.get("sortBy").map(str::to_string),
            descending,
            start_index: self.int("startIndex")?,
            count: self.int("count")?,
            unpaged: false,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Failure> {
        let Query(raw): Query<Vec<(String, String)>> =
            Query::from_request_parts(parts, s).await.map_err(|_| {
                Failure(ScimError::invalid_syntax(
                    "the query string is not readable",
                ))
            })?;
        Ok(Self(
            raw.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ))
    }
}

fn names(list: Option<&str>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// Splits `urn:…:attr.sub` into the container key (a URN or none), the attribute and its
/// sub-attribute.
fn split(a: &str) -> (Option<String>, String, Option<String>) {
    match castellan_domain::scim::filter::parse_attr_path(a, 0) {
        Ok(p) => {
            let core = p.urn.as_deref().is_some_and(|u| {
                u.to_ascii_lowercase()
                    .starts_with("urn:ietf:params:scim:schemas:core:")
            });
            (if core { None } else { p.urn }, p.name, p.sub)
        }
        Err(_) => (None, a.to_string(), None),
    }
}

/// `attributes` (only these, with `id`, `schemas` and `meta`) or `excludedAttributes` (all but
/// these); a resource's `id` and `schemas` are always returned.
pub fn project(mut res: Value, p: &Params) -> Value {
    let keep = names(p.get("attributes"));
    let drop = names(p.get("excludedAttributes"));
    let Some(obj) = res.as_object_mut() else {
        return res;
    };
    if !keep.is_empty() {
        let wanted: Vec<(Option<String>, String, Option<String>)> =
            keep.iter().map(|a| split(a)).collect();
        let keys: Vec<String> = obj.keys().cloned().collect();
        for k in keys {
            let always = ["id", "schemas", "meta"]
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&k));
            if always {
                continue;
            }
            let is_urn = k.to_ascii_lowercase().starts_with("urn:");
            let hits: Vec<&(Option<String>, String, Option<String>)> = wanted
                .iter()
                .filter(|(u, n, _)| {
                    if is_urn {
                        u.as_deref().is_some_and(|u| u.eq_ignore_ascii_case(&k))
                            || n.eq_ignore_ascii_case(&k)
                    } else {
                        u.is_none() && n.eq_ignore_ascii_case(&k)
                    }
                })
                .collect();
            if hits.is_empty() {
                obj.remove(&k);
                continue;
            }
            // Only some sub-attributes (or some attributes of an extension) asked for.
            let whole = hits.iter().any(|(u, n, s)| {
                if is_urn {
                    u.is_none() && n.eq_ignore_ascii_case(&k)
                } else {
                    s.is_none()
                }
            });
            if !whole {
                let subs: Vec<String> = hits
                    .iter()
                    .map(|(_, n, s)| {
                        if is_urn {
                            n.clone()
                        } else {
                            s.clone().unwrap_or_default()
                        }
                    })
                    .collect();
                let trim = |v: &mut Value| {
                    if let Some(o) = v.as_object_mut() {
                        o.retain(|sk, _| subs.iter().any(|x| x.eq_ignore_ascii_case(sk)));
                    }
                };
                match obj.get_mut(&k) {
                    Some(Value::Array(a)) => a.iter_mut().for_each(trim),
                    Some(v) => trim(v),
                    None => {}
                }
            }
        }
    } else if !drop.is_empty() {
        for a in &drop {
            let (u, n, s) = split(a);
            if n.eq_ignore_ascii_case("id") || n.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let holder = match &u {
                None => Some(&mut *obj),
                Some(u) => {
                    let key = obj.keys().find(|k| k.eq_ignore_ascii_case(u)).cloned();
                    key.and_then(|k| obj.get_mut(&k))
                        .and_then(Value::as_object_mut)
                }
            };
            let Some(holder) = holder else { continue };
            let key = holder.keys().find(|k| k.eq_ignore_ascii_case(&n)).cloned();
            let Some(key) = key else { continue };
            match s {
                None => {
                    holder.remove(&key);
                }
                Some(s) => {
                    let strip = |v: &mut Value| {
                        if let Some(o) = v.as_object_mut() {
                            o.retain(|sk, _| !sk.eq_ignore_ascii_case(&s));
                        }
                    };
                    match holder.get_mut(&key) {
                        Some(Value::Array(a)) => a.iter_mut().for_each(strip),
                        Some(v) => strip(v),
                        None => {}
                    }
                }
            }
        }
    }
    res
}

/// One resource: its ETag, and `Location` when it was just made.
pub fn resource(status: StatusCode, res: &Value, p: &Params) -> Response {
    let etag = get_ci(res, "meta")
        .and_then(|m| get_ci(m, "version"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let location = get_ci(res, "meta")
        .and_then(|m| get_ci(m, "location"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut r = (status, project(res.clone(), p).to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA));
    if let Some(e) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, e);
    }
    if status == StatusCode::CREATED
        && let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        h.insert(header::LOCATION, l);
    }
    r
}

/// A GET of one resource: 304 when `If-None-Match` names its version.
pub fn fetched(res: &Value, p: &Params, headers: &HeaderMap) -> Response {
    let version = get_ci(res, "meta")
        .and_then(|m| get_ci(m, "version"))
        .and_then(Value::as_str);
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if let (Some(v), Some(inm)) = (version, inm)
        && inm.split(',').any(|x| x.trim() == v || x.trim() == "*")
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    resource(StatusCode::OK, res, p)
}

pub fn list(page: ListPage, p: &Params) -> Response {
    let resources: Vec<Value> = page.resources.into_iter().map(|r| project(r, p)).collect();
    let body = json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": page.total,
        "startIndex": page.start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    });
    json_response(StatusCode::OK, &body)
}

pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA));
    r
}
