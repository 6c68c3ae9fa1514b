//! The corporate directory as Castellan sees it: identities (from the IdP by SCIM, or CSV) and
//! groups. Deactivating an identity is the leaver signal later flows act on.
//!
//! CSV import is validated here in full before anything is written: every bad row is reported
//! with its line number and the column at fault.

use std::collections::HashMap;

use crate::error::{FieldError, ValidationErrors};
use crate::values::{Email, optional_text, parse_bool, required_text};

/// What a caller supplies to create or replace an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInput {
    pub user_name: String,
    pub primary_email: Email,
    pub other_emails: Vec<Email>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub external_id: Option<String>,
    pub department: Option<String>,
    /// userName or e-mail of the manager, as the IdP sends it.
    pub manager: Option<String>,
}

/// Unvalidated text fields, as they arrive from JSON or CSV.
#[derive(Debug, Clone, Default)]
pub struct RawIdentity<'a> {
    pub user_name: &'a str,
    pub primary_email: &'a str,
    pub other_emails: Vec<&'a str>,
    pub given_name: &'a str,
    pub family_name: &'a str,
    pub display_name: &'a str,
    pub active: bool,
    pub external_id: &'a str,
    pub department: &'a str,
    pub manager: &'a str,
}

/// Field names used in errors; `names` maps each logical field to how the caller spelled it.
pub struct FieldNames {
    pub user_name: &'static str,
    pub primary_email: &'static str,
    pub other_emails: &'static str,
    pub given_name: &'static str,
    pub family_name: &'static str,
    pub display_name: &'static str,
    pub external_id: &'static str,
    pub department: &'static str,
    pub manager: &'static str,
}

pub const JSON_FIELDS: FieldNames = FieldNames {
    user_name: "user_name",
    primary_email: "primary_email",
    other_emails: "other_emails",
    given_name: "given_name",
    family_name: "family_name",
    display_name: "display_name",
    external_id: "external_id",
    department: "department",
    manager: "manager",
};

pub const CSV_FIELDS: FieldNames = FieldNames {
    user_name: "userName",
    primary_email: "email",
    other_emails: "otherEmails",
    given_name: "givenName",
    family_name: "familyName",
    display_name: "displayName",
    external_id: "externalId",
    department: "department",
    manager: "manager",
};

impl IdentityInput {
    pub fn validate(raw: &RawIdentity<'_>, names: &FieldNames) -> Result<Self, ValidationErrors> {
        let mut errs = ValidationErrors::default();
        let mut take = |r: Result<Option<String>, FieldError>| match r {
            Ok(v) => v,
            Err(e) => {
                errs.0.push(e);
                None
            }
        };
        let user_name = take(required_text(names.user_name, raw.user_name, 256).map(Some));
        let given_name = take(optional_text(names.given_name, raw.given_name, 256));
        let family_name = take(optional_text(names.family_name, raw.family_name, 256));
        let display_name = take(optional_text(names.display_name, raw.display_name, 256));
        let external_id = take(optional_text(names.external_id, raw.external_id, 256));
        let department = take(optional_text(names.department, raw.department, 256));
        let manager = take(optional_text(names.manager, raw.manager, 256));
        let primary_email = match Email::parse(names.primary_email, raw.primary_email) {
            Ok(e) => Some(e),
            Err(e) => {
                errs.0.push(e);
                None
            }
        };
        let mut other_emails = Vec::new();
        for o in raw.other_emails.iter().filter(|o| !o.trim().is_empty()) {
            match Email::parse(names.other_emails, o) {
                Ok(e) => other_emails.push(e),
                Err(e) => errs.0.push(e),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Self {
            user_name: user_name.unwrap_or_default(),
            primary_email: primary_email.expect("checked above"),
            other_emails,
            given_name,
            family_name,
            display_name,
            active: raw.active,
            external_id,
            department,
            manager,
        })
    }

    /// A display name for lists: the given one, else given + family, else the userName.
    pub fn best_display_name(&self) -> String {
        if let Some(d) = &self.display_name {
            return d.clone();
        }
        match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => format!("{g} {f}"),
            (Some(g), None) => g.clone(),
            (None, Some(f)) => f.clone(),
            (None, None) => self.user_name.clone(),
        }
    }
}

/// One valid CSV row ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub identity: IdentityInput,
    /// Display names of the groups the identity belongs to (created when missing).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub field: String,
    pub message: String,
}

/// The outcome of validating a CSV file: the rows that can be written and every problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
    /// Whether the file has a `groups` column: only then are memberships replaced.
    pub groups_column: bool,
}

const KNOWN_COLUMNS: &[(&str, &str)] = &[
    ("username", "userName"),
    ("email", "email"),
    ("otheremails", "otherEmails"),
    ("givenname", "givenName"),
    ("familyname", "familyName"),
    ("displayname", "displayName"),
    ("active", "active"),
    ("externalid", "externalId"),
    ("department", "department"),
    ("manager", "manager"),
    ("groups", "groups"),
];

fn column_key(header: &str) -> String {
    header
        .trim()
        .trim_start_matches('\u{feff}')
        .replace(['_', '-', ' '], "")
        .to_ascii_lowercase()
}

/// Parses and validates a directory CSV. The header row names the columns (`userName` and
/// `email` are required; the others are optional; lists are separated by `;`). Duplicate
/// userNames, e-mails or externalIds inside the file are errors too. Line numbers count the
/// header as line 1.
pub fn plan_csv_import(data: &[u8]) -> ImportPlan {
    let mut plan = ImportPlan::default();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::None)
        .from_reader(data);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            plan.errors.push(RowError {
                line: 1,
                field: "header".into(),
                message: format!("cannot read header: {e}"),
            });
            return plan;
        }
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let key = column_key(h);
        match KNOWN_COLUMNS.iter().find(|(k, _)| *k == key) {
            Some((_, canonical)) => {
                if index.insert(canonical, i).is_some() {
                    plan.errors.push(RowError {
                        line: 1,
                        field: h.to_string(),
                        message: "column appears twice".into(),
                    });
                }
            }
            None => plan.errors.push(RowError {
                line: 1,
                field: h.to_string(),
                message: format!(
                    "unknown column; known columns are {}",
                    KNOWN_COLUMNS
                        .iter()
                        .map(|(_, c)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    plan.groups_column = index.contains_key("groups");
    for required in ["userName", "email"] {
        if !index.contains_key(required) {
            plan.errors.push(RowError {
                line: 1,
                field: required.into(),
                message: "required column is missing".into(),
            });
        }
    }
    if !plan.errors.is_empty() {
        return plan;
    }

    let mut seen_user: HashMap<String, u64> = HashMap::new();
    let mut seen_email: HashMap<String, u64> = HashMap::new();
    let mut seen_ext: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                plan.errors.push(RowError {
                    line,
                    field: "row".into(),
                    message: format!("malformed CSV: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let get = |c: &str| index.get(c).and_then(|i| record.get(*i)).unwrap_or("");
        let mut row_errors: Vec<FieldError> = Vec::new();
        let active = match get("active").trim() {
            "" => true,
            s => parse_bool("active", s).unwrap_or_else(|e| {
                row_errors.push(e);
                true
            }),
        };
        let raw = RawIdentity {
            user_name: get("userName"),
            primary_email: get("email"),
            other_emails: get("otherEmails").split(';').collect(),
            given_name: get("givenName"),
            family_name: get("familyName"),
            display_name: get("displayName"),
            active,
            external_id: get("externalId"),
            department: get("department"),
            manager: get("manager"),
        };
        let groups: Vec<String> = get("groups")
            .split(';')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        for g in &groups {
            if g.chars().count() > 256 {
                row_errors.push(FieldError::new(
                    "groups",
                    "a group name is longer than 256 characters",
                ));
            }
        }
        match IdentityInput::validate(&raw, &CSV_FIELDS) {
            Ok(identity) => {
                let mut dup = |map: &mut HashMap<String, u64>, key: String, field: &str| {
                    if let Some(first) = map.get(&key) {
                        row_errors.push(FieldError::new(field, format!("duplicates line {first}")));
                    } else {
                        map.insert(key, line);
                    }
                };
                dup(
                    &mut seen_user,
                    identity.user_name.to_lowercase(),
                    "userName",
                );
                dup(&mut seen_email, identity.primary_email.canonical(), "email");
                if let Some(ext) = &identity.external_id {
                    dup(&mut seen_ext, ext.clone(), "externalId");
                }
                if row_errors.is_empty() {
                    plan.rows.push(ImportRow {
                        line,
                        identity,
                        groups,
                    });
                }
            }
            Err(errs) => row_errors.extend(errs.0),
        }
        plan.errors.extend(row_errors.into_iter().map(|e| RowError {
            line,
            field: e.field,
            message: e.message,
        }));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_file() {
        let csv = "userName,email,givenName,familyName,active,groups,otherEmails\n\
                   alice,alice@example.com,Alice,Smith,true,Marketing;Ads,alice@old.example.com\n\
                   bob,bob@example.com,Bob,,false,,\n";
        let plan = plan_csv_import(csv.as_bytes());
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(plan.rows[0].line, 2);
        assert_eq!(plan.rows[0].groups, vec!["Marketing", "Ads"]);
        assert_eq!(plan.rows[0].identity.other_emails.len(), 1);
        assert!(!plan.rows[1].identity.active);
        assert_eq!(plan.rows[0].identity.best_display_name(), "Alice Smith");
    }

    #[test]
    fn bad_rows_are_reported_with_line_and_field() {
        let csv = "userName,email,active\n\
                   a,a@example.com,true\n\
                   ,b@example.com,true\n\
                   c,not-an-email,true\n\
                   d,d@example.com,perhaps\n\
                   A,e@example.com,true\n";
        let plan = plan_csv_import(csv.as_bytes());
        let got: Vec<(u64, &str)> = plan
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, "userName"),
                (4, "email"),
                (5, "active"),
                (6, "userName")
            ]
        );
        assert_eq!(plan.rows.len(), 1);
    }

    #[test]
    fn header_problems() {
        let plan = plan_csv_import(b"user,mail\nx,y\n");
        assert!(
            plan.errors
                .iter()
                .any(|e| e.field == "user" && e.message.contains("unknown column"))
        );
        assert!(
            plan.errors
                .iter()
                .any(|e| e.field == "userName" && e.message.contains("missing"))
        );
        assert!(plan.rows.is_empty());
    }
}
