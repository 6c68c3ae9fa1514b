//! SCIM PATCH (RFC 7644 §3.5.2), as Okta and Entra ID send it: the body read leniently (`op`
//! in any case, a path-less value object whose keys are paths — dotted, or with a schema URN —,
//! `members[value eq "…"]` removals, removals by a value array, a filtered add that creates
//! the element it names, `"True"`/`"False"` for booleans), then applied to the resource's JSON.
//! Read-only attributes (`id`, `meta`, `groups`, `schemas`, and the never-stored `password`)
//! are ignored, as Okta sends `id` with every group rename.

use serde_json::{Map, Value};

use super::filter::{self, AttrPath, CompValue, CompareOp, Filter, get_ci};
use super::{ENTERPRISE_USER, PATCH_OP, ScimError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

/// `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, with an optional schema URN.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub op: OpKind,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

const READ_ONLY: [&str; 5] = ["id", "meta", "groups", "schemas", "password"];

/// Parses a PATCH path.
pub fn parse_path(raw: &str) -> Result<PatchPath, ScimError> {
    let bad = |e: filter::FilterError| ScimError::invalid_path(format!("path {raw:?}: {e}"));
    // An extension's URN alone names its whole object.
    if is_extension_urn(raw.trim()) {
        return Ok(PatchPath {
            attr: AttrPath {
                urn: None,
                name: raw.trim().to_string(),
                sub: None,
            },
            filter: None,
        });
    }
    let Some(open) = raw.find('[') else {
        return Ok(PatchPath {
            attr: filter::parse_attr_path(raw.trim(), 0).map_err(bad)?,
            filter: None,
        });
    };
    let close = raw
        .rfind(']')
        .filter(|c| *c > open)
        .ok_or_else(|| ScimError::invalid_path(format!("path {raw:?}: '[' is not closed")))?;
    let mut attr = filter::parse_attr_path(raw[..open].trim(), 0).map_err(bad)?;
    if attr.sub.is_some() {
        return Err(ScimError::invalid_path(format!(
            "path {raw:?}: a value filter follows an attribute"
        )));
    }
    let inner = filter::parse(&raw[open + 1..close]).map_err(bad)?;
    let rest = raw[close + 1..].trim();
    if let Some(sub) = rest.strip_prefix('.') {
        attr.sub = Some(sub.to_string());
    } else if !rest.is_empty() {
        return Err(ScimError::invalid_path(format!(
            "path {raw:?}: unexpected {rest:?} after ']'"
        )));
    }
    Ok(PatchPath {
        attr,
        filter: Some(inner),
    })
}

/// Reads a PatchOp body.
pub fn parse(body: &Value) -> Result<Vec<PatchOp>, ScimError> {
    let schemas_ok = get_ci(body, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|x| x.as_str() == Some(PATCH_OP)));
    if !schemas_ok {
        return Err(ScimError::invalid_syntax(format!(
            "schemas must hold {PATCH_OP}"
        )));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a list"))?;
    ops.iter()
        .enumerate()
        .map(|(i, o)| {
            let op = match get_ci(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
            {
                Some(s) if s == "add" => OpKind::Add,
                Some(s) if s == "remove" => OpKind::Remove,
                Some(s) if s == "replace" => OpKind::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "Operations[{i}].op must be add, remove or replace"
                    )));
                }
            };
            let path = match get_ci(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if !p.trim().is_empty() => Some(parse_path(p)?),
                Some(_) => {
                    return Err(ScimError::invalid_path(format!(
                        "Operations[{i}].path must be a string"
                    )));
                }
            };
            let value = get_ci(o, "value").cloned();
            if path.is_none() && op == OpKind::Remove {
                return Err(ScimError::no_target(format!(
                    "Operations[{i}]: remove needs a path"
                )));
            }
            if path.is_none() && !matches!(value, Some(Value::Object(_))) {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{i}]: without a path, the value must be an object of attributes"
                )));
            }
            Ok(PatchOp { op, path, value })
        })
        .collect()
}

/// The known extension schemas: a path-less value's key naming one holds its attributes.
fn is_extension_urn(k: &str) -> bool {
    k.eq_ignore_ascii_case(ENTERPRISE_USER)
}

/// A path-less add or replace, one op per key of the value.
fn expand(op: &PatchOp) -> Result<Vec<PatchOp>, ScimError> {
    let Some(Value::Object(m)) = &op.value else {
        return Ok(vec![op.clone()]);
    };
    let mut out = Vec::new();
    for (k, v) in m {
        if is_extension_urn(k)
            && let Value::Object(inner) = v
        {
            for (k2, v2) in inner {
                out.push(PatchOp {
                    op: op.op,
                    path: Some(parse_path(&format!("{k}:{k2}"))?),
                    value: Some(v2.clone()),
                });
            }
            continue;
        }
        out.push(PatchOp {
            op: op.op,
            path: Some(parse_path(k)?),
            value: Some(v.clone()),
        });
    }
    Ok(out)
}

/// The object an attribute lives in (the resource, or its extension's object, made if need be).
fn container<'a>(doc: &'a mut Value, urn: Option<&str>) -> &'a mut Map<String, Value> {
    let core = urn.is_none_or(|u| {
        u.to_ascii_lowercase()
            .starts_with("urn:ietf:params:scim:schemas:core:")
    });
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let root = doc.as_object_mut().expect("an object");
    if core {
        return root;
    }
    let urn = urn.unwrap_or_default();
    let key = key_in(root, urn);
    let slot = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("an object")
}

/// The existing key matching `name` without regard to case, or `name`.
fn key_in(m: &Map<String, Value>, name: &str) -> String {
    m.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

/// `"True"`/`"false"` to booleans for the boolean attributes IdPs send as strings.
fn coerce(name: &str, v: Value) -> Value {
    let boolean = name.eq_ignore_ascii_case("active") || name.eq_ignore_ascii_case("primary");
    match v {
        Value::String(s) if boolean && s.eq_ignore_ascii_case("true") => Value::Bool(true),
        Value::String(s) if boolean && s.eq_ignore_ascii_case("false") => Value::Bool(false),
        v => v,
    }
}

/// The `value` of a multi-valued element (or the element itself), for matching removals.
fn element_value(e: &Value) -> Value {
    get_ci(e, "value").cloned().unwrap_or_else(|| e.clone())
}

/// The attributes an `eq` filter pins, to build the element a filtered add creates.
fn pinned(f: &Filter, out: &mut Map<String, Value>) -> bool {
    match f {
        Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub.is_none() => {
            let v = match v {
                CompValue::Str(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => {
                    serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
                }
                CompValue::Null => Value::Null,
            };
            out.insert(p.name.clone(), v);
            true
        }
        Filter::And(a, b) => pinned(a, out) && pinned(b, out),
        _ => false,
    }
}

fn set_or_remove(m: &mut Map<String, Value>, name: &str, v: Value) {
    let key = key_in(m, name);
    if v.is_null() {
        m.remove(&key);
    } else {
        let v = coerce(name, v);
        m.insert(key, v);
    }
}

fn apply_one(doc: &mut Value, op: &PatchOp) -> Result<(), ScimError> {
    let Some(path) = &op.path else {
        for o in expand(op)? {
            apply_one(doc, &o)?;
        }
        return Ok(());
    };
    let attr = &path.attr;
    if path.attr.urn.is_none() && READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(&attr.name)) {
        return Ok(());
    }
    let value = op.value.clone().unwrap_or(Value::Null);
    let m = container(doc, attr.urn.as_deref());
    let key = key_in(m, &attr.name);
    match (&path.filter, &attr.sub) {
        // `name.givenName`
        (None, Some(sub)) => {
            let slot = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            let inner = slot.as_object_mut().expect("an object");
            match op.op {
                OpKind::Remove => {
                    let k = key_in(inner, sub);
                    inner.remove(&k);
                }
                _ => set_or_remove(inner, sub, value),
            }
        }
        (None, None) => match op.op {
            OpKind::Remove => match (m.get_mut(&key), &value) {
                // Entra: `{"op":"Remove","path":"members","value":[{"value":"…"}]}`.
                (Some(Value::Array(have)), Value::Array(gone)) => {
                    let gone: Vec<Value> = gone.iter().map(element_value).collect();
                    have.retain(|e| !gone.contains(&element_value(e)));
                }
                _ => {
                    m.remove(&key);
                }
            },
            OpKind::Add => match (m.get_mut(&key), value) {
                (Some(Value::Array(have)), v) => {
                    let more = match v {
                        Value::Array(a) => a,
                        Value::Null => Vec::new(),
                        v => vec![v],
                    };
                    for e in more {
                        if !have.iter().any(|h| element_value(h) == element_value(&e)) {
                            have.push(e);
                        }
                    }
                }
                (_, v) => set_or_remove(m, &attr.name, v),
            },
            OpKind::Replace => set_or_remove(m, &attr.name, value),
        },
        // `emails[type eq "work"]` or `emails[type eq "work"].value`
        (Some(f), sub) => {
            let slot = m.entry(key).or_insert_with(|| Value::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Value::Array(vec![slot.take()]);
            }
            let items = slot.as_array_mut().expect("an array");
            if op.op == OpKind::Remove {
                match sub {
                    None => items.retain(|e| !f.matches(e)),
                    Some(s) => {
                        for e in items.iter_mut().filter(|e| f.matches(e)) {
                            if let Some(o) = e.as_object_mut() {
                                let k = key_in(o, s);
                                o.remove(&k);
                            }
                        }
                    }
                }
                return Ok(());
            }
            let mut hit = false;
            for e in items.iter_mut().filter(|e| f.matches(e)) {
                hit = true;
                match (sub, e.as_object_mut(), &value) {
                    (Some(s), Some(o), v) => set_or_remove(o, s, v.clone()),
                    (None, Some(o), Value::Object(v)) => {
                        for (k, x) in v {
                            set_or_remove(o, k, x.clone());
                        }
                    }
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "{attr}: the value must be an object of sub-attributes"
                        )));
                    }
                }
            }
            if !hit {
                // Entra sets a work address that may not exist yet: the element is made.
                let mut made = Map::new();
                if !pinned(f, &mut made) {
                    return Err(ScimError::no_target(format!(
                        "{attr}: no element matches the filter"
                    )));
                }
                match (sub, value) {
                    (Some(s), v) => set_or_remove(&mut made, s, v),
                    (None, Value::Object(v)) => {
                        for (k, x) in v {
                            set_or_remove(&mut made, &k, x);
                        }
                    }
                    (None, _) => {
                        return Err(ScimError::invalid_value(format!(
                            "{attr}: the value must be an object of sub-attributes"
                        )));
                    }
                }
                items.push(Value::Object(made));
            }
        }
    }
    Ok(())
}

/// Applies the operations in order to the resource's JSON; all or nothing (the caller keeps
/// the original until this returns).
pub fn apply(doc: &Value, ops: &[PatchOp]) -> Result<Value, ScimError> {
    let mut out = doc.clone();
    for op in ops {
        apply_one(&mut out, op)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, body: Value) -> Value {
        apply(&doc, &parse(&body).unwrap()).unwrap()
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": ops})
    }

    #[test]
    fn entra_and_okta_shapes() {
        let user = json!({"userName": "a", "active": true, "emails": [{"value": "a@x.com", "type": "work", "primary": true}]});
        // Entra, no flag: capitalised op, string boolean.
        let v = run(
            user.clone(),
            body(json!([{"op": "Replace", "path": "active", "value": "False"}])),
        );
        assert_eq!(v["active"], json!(false));
        // Okta: path-less replace.
        let v = run(
            user.clone(),
            body(json!([{"op": "replace", "value": {"active": false}}])),
        );
        assert_eq!(v["active"], json!(false));
        // Path-less with dotted and URN keys.
        let v = run(
            user.clone(),
            body(
                json!([{"op": "replace", "value": {"name.givenName": "Ann", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops"}}]),
            ),
        );
        assert_eq!(v["name"]["givenName"], "Ann");
        assert_eq!(v[ENTERPRISE_USER]["department"], "Ops");
        // A filtered add sets the existing element, or makes it.
        let v = run(
            user.clone(),
            body(
                json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "b@x.com"}]),
            ),
        );
        assert_eq!(v["emails"].as_array().unwrap().len(), 1);
        assert_eq!(v["emails"][0]["value"], "b@x.com");
        let v = run(
            json!({"userName": "a"}),
            body(
                json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "b@x.com"}]),
            ),
        );
        assert_eq!(v["emails"], json!([{"type": "work", "value": "b@x.com"}]));
    }

    #[test]
    fn group_members() {
        let g = json!({"displayName": "G", "members": [{"value": "1"}, {"value": "2"}, {"value": "3"}]});
        // Entra, no flag: removal by a value array.
        let v = run(
            g.clone(),
            body(
                json!([{"op": "Remove", "path": "members", "value": [{"value": "2", "$ref": null}]}]),
            ),
        );
        assert_eq!(v["members"], json!([{"value": "1"}, {"value": "3"}]));
        // Okta: remove by filter and add, in one request, with a rename carrying the id.
        let v = run(
            g.clone(),
            body(json!([
                {"op": "replace", "value": {"id": "ignored", "displayName": "G2"}},
                {"op": "remove", "path": "members[value eq \"1\"]"},
                {"op": "add", "path": "members", "value": [{"value": "4", "display": "d"}, {"value": "3"}]}
            ])),
        );
        assert_eq!(v["displayName"], "G2");
        assert!(v.get("id").is_none());
        assert_eq!(
            v["members"],
            json!([{"value": "2"}, {"value": "3"}, {"value": "4", "display": "d"}])
        );
        // Replace with [] empties the group.
        let v = run(
            g,
            body(json!([{"op": "replace", "path": "members", "value": []}])),
        );
        assert_eq!(v["members"], json!([]));
    }

    #[test]
    fn bad_bodies_are_refused() {
        assert!(parse(&json!({"Operations": []})).is_err());
        assert!(parse(&body(json!([{"op": "move", "path": "a"}]))).is_err());
        assert!(parse(&body(json!([{"op": "remove"}]))).is_err());
        assert!(parse(&body(json!([{"op": "add", "value": 3}]))).is_err());
        assert!(
            parse(&body(
                json!([{"op": "add", "path": "emails[type eq", "value": 3}])
            ))
            .is_err()
        );
    }
}
