//! SQL helpers shared by the modules that write in bulk: one JSON parameter carries many
//! rows, read back by `json_each` (SQLite) or `jsonb_array_elements` (PostgreSQL: parsed once
//! per row, where `json` parsed each row's text again for every `->>` column, ~30% of
//! writing grants).

use crate::Backend;

/// Rows per bulk statement (one JSON parameter each).
pub(crate) const CHUNK: usize = 2000;

/// The rows of a JSON array parameter `$n`, as a table `j` with one column `value`.
pub(crate) fn json_rows(backend: Backend, n: usize) -> String {
    json_rows_as(backend, n, "j")
}

/// `WITH j AS MATERIALIZED (…)`: the rows of the JSON array parameter `$n` as a table `j`
/// with one column `value`, read once. For `UPDATE … FROM j`: with `json_each` in the FROM,
/// SQLite puts the updated table outside and reads the whole JSON again for each of its rows
/// (a first check of 100,000 seats matching 5,000 of them spent minutes there); a
/// materialized table is scanned once and drives primary-key lookups.
pub(crate) fn json_cte(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("WITH j AS MATERIALIZED (SELECT value FROM json_each(${n}))"),
        Backend::Postgres => {
            format!("WITH j AS MATERIALIZED (SELECT value FROM jsonb_array_elements(${n}::jsonb))")
        }
    }
}

/// The same, named `alias`.
pub(crate) fn json_rows_as(backend: Backend, n: usize, alias: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${n}) AS {alias}"),
        Backend::Postgres => format!("jsonb_array_elements(${n}::jsonb) AS {alias}"),
    }
}

/// `col` names a partner (`partner:…`), in the form each database answers from an index: a
/// key range on SQLite (binary collation, the primary key (app_id, holder, …)), the LIKE of
/// the partial index `app_grants_partners` on PostgreSQL (whose collation may not order
/// bytes; migration 0025).
pub(crate) fn partner_holders(backend: Backend, col: &str) -> String {
    match backend {
        Backend::Sqlite => format!("{col} >= 'partner:' AND {col} < 'partner;'"),
        Backend::Postgres => format!("{col} LIKE 'partner:%'"),
    }
}

pub(crate) fn encode(rows: &[Vec<Option<&str>>]) -> String {
    serde_json::to_string(rows).expect("strings serialise")
}

pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::to_string(s).expect("strings serialise"));
    }
}

pub(crate) fn as_refs(v: &[Vec<Option<String>>]) -> Vec<Vec<Option<&str>>> {
    v.iter()
        .map(|r| r.iter().map(|c| c.as_deref()).collect())
        .collect()
}
