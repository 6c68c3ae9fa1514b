//! Workspaces and the people in them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// A person's role in a workspace. Ordered: a higher role can do everything a lower one can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    Guest,
    Member,
    Admin,
    Owner,
}

impl WorkspaceRole {
    pub const ALL: [WorkspaceRole; 4] = [Self::Guest, Self::Member, Self::Admin, Self::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guest => "guest",
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        raw.parse()
            .map_err(|_| FieldError::new(field, "must be one of owner, admin, member, guest"))
    }
}

impl fmt::Display for WorkspaceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkspaceRole {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "guest" => Ok(Self::Guest),
            "member" => Ok(Self::Member),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            _ => Err(()),
        }
    }
}

/// Workspace names are the handle used by the CLI (`--workspace NAME`): short, no spaces at
/// the ends, no control characters.
pub fn parse_workspace_name(raw: &str) -> Result<String, FieldError> {
    crate::values::required_text("workspace", raw, 100)
}

/// A workspace's settings, validated once when saved. Stored as JSON; a stored key this
/// version does not know is ignored on reading.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkspaceSettings {
    /// Alias domain → main domain, for matching e-mails (`acme.co.uk` → `acme.com`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub email_domain_aliases: std::collections::BTreeMap<String, String>,
    /// The share of a business's seats one change may remove without confirmation, above 0
    /// and at most 1 (0.2 when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_removal_share: Option<f64>,
    /// IdP group plans run by themselves when the directory or the mappings change (and after
    /// each check); unset or false, an Admin reviews and applies each plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_group_plans: Option<bool>,
}

impl WorkspaceSettings {
    /// Settings sent by a client: an object whose keys above have the right types and are
    /// valid (see [`WorkspaceSettings::validate`]); the error names the field. Other keys are
    /// the client's own and are kept as sent.
    pub fn parse(v: &serde_json::Value) -> Result<Self, crate::FieldError> {
        let Some(obj) = v.as_object() else {
            return Err(crate::FieldError::new(
                "settings",
                "settings must be a JSON object",
            ));
        };
        check_settings(v)?;
        if let Some(x) = obj.get("max_removal_share")
            && !x.is_f64()
            && !x.is_i64()
            && !x.is_u64()
        {
            return Err(crate::FieldError::new(
                "settings.max_removal_share",
                "must be a number above 0 and at most 1",
            ));
        }
        if let Some(x) = obj.get("apply_group_plans")
            && !x.is_boolean()
            && !x.is_null()
        {
            return Err(crate::FieldError::new(
                "settings.apply_group_plans",
                "must be true or false",
            ));
        }
        let parsed: Self = serde_json::from_value(v.clone())
            .map_err(|e| crate::FieldError::new("settings", e.to_string()))?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// What is stored, read leniently: a value that does not parse counts as unset.
    pub fn from_json(v: &serde_json::Value) -> Self {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// `stored` with this value's keys replaced (a client's own keys kept), after checking it.
    pub fn merged_into(
        &self,
        stored: &serde_json::Value,
    ) -> Result<serde_json::Value, crate::FieldError> {
        self.validate()?;
        let mut obj = stored.as_object().cloned().unwrap_or_default();
        obj.remove("email_domain_aliases");
        obj.remove("max_removal_share");
        obj.remove("apply_group_plans");
        if let serde_json::Value::Object(mine) =
            serde_json::to_value(self).expect("settings serialise")
        {
            obj.extend(mine);
        }
        Ok(serde_json::Value::Object(obj))
    }

    pub fn validate(&self) -> Result<(), crate::FieldError> {
        let domain = is_domain_name;
        for (alias, main) in &self.email_domain_aliases {
            if !(domain(alias.trim()) && domain(main.trim())) {
                return Err(crate::FieldError::new(
                    "settings.email_domain_aliases",
                    format!("{alias:?} must map to a domain name such as \"acme.com\""),
                ));
            }
        }
        if let Some(x) = self.max_removal_share
            && !(x > 0.0 && x <= 1.0)
        {
            return Err(crate::FieldError::new(
                "settings.max_removal_share",
                "must be a number above 0 and at most 1 (the share of a business's seats one change may remove without confirmation)",
            ));
        }
        Ok(())
    }
}

/// A domain name such as `acme.com`: dotted labels of letters, digits and dashes.
pub fn is_domain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.contains('.')
        && s.split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

pub fn check_settings(settings: &serde_json::Value) -> Result<(), FieldError> {
    let field = "settings.email_domain_aliases";
    let Some(v) = settings.get("email_domain_aliases") else {
        return Ok(());
    };
    let Some(map) = v.as_object() else {
        return Err(FieldError::new(
            field,
            "must be an object mapping alias domains to main domains",
        ));
    };
    let domain = is_domain_name;
    for (alias, main) in map {
        match main.as_str() {
            Some(m) if domain(alias.trim()) && domain(m.trim()) => {}
            _ => {
                return Err(FieldError::new(
                    field,
                    format!("{alias:?} must map to a domain name such as \"acme.com\""),
                ));
            }
        }
    }
    Ok(())
}
