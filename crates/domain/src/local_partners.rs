//! Local partners: organizations of guest users inside the workspace (an agency, a contractor),
//! each with Host Admins (people of the workspace who manage the partnership), Guest Admins
//! (the partner's people who invite and manage its guest users) and Guest Users. The rules of
//! who may manage a partner's people, and the e-mail domains a partner is known by.

use crate::FieldError;
use crate::named_enum;
use crate::workspace::WorkspaceRole;

named_enum! {
    /// A person's role in a local partner.
    pub enum PartnerRole {
        /// A person of the workspace who manages the partnership.
        HostAdmin = "host_admin",
        /// The partner's person who invites and manages its guest users.
        GuestAdmin = "guest_admin",
        GuestUser = "guest_user",
    }
}

impl PartnerRole {
    /// What people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::HostAdmin => "Host Admin",
            Self::GuestAdmin => "Guest Admin",
            Self::GuestUser => "Guest User",
        }
    }

    /// The roles a partner's own people hold (a Host Admin is of the workspace).
    pub fn is_guest(self) -> bool {
        !matches!(self, Self::HostAdmin)
    }
}

/// Whether a person may manage a partner's people (invite, change a role, resend, revoke):
/// the workspace's Admins and Owners, and the partner's Host Admins and Guest Admins (a Guest
/// Admin only within their own partner — `in_partner` is the person's role in *this* one).
pub fn may_manage_partner(ws_role: WorkspaceRole, in_partner: Option<PartnerRole>) -> bool {
    ws_role >= WorkspaceRole::Admin
        || matches!(
            in_partner,
            Some(PartnerRole::HostAdmin | PartnerRole::GuestAdmin)
        )
}

/// Whether a person may see a partner (its people and what is shared with it): those who
/// manage it, and its own guest users.
pub fn may_see_partner(ws_role: WorkspaceRole, in_partner: Option<PartnerRole>) -> bool {
    ws_role >= WorkspaceRole::Admin || in_partner.is_some()
}

/// The roles a manager may give within a partner: a Guest Admin or User to a guest; Host
/// Admin is named by the workspace's Admins only, and only to people of the workspace.
pub fn may_give(ws_role: WorkspaceRole, giving: PartnerRole) -> bool {
    match giving {
        PartnerRole::HostAdmin => ws_role >= WorkspaceRole::Admin,
        _ => true,
    }
}

/// A partner's e-mail domains, as typed (comma- or space-separated): lower-cased, each a
/// plausible domain, at most 20.
pub fn parse_domains(field: &'static str, raw: &str) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for d in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|d| !d.is_empty())
    {
        let d = d.trim_start_matches('@').to_lowercase();
        let ok = d.contains('.')
            && d.len() <= 253
            && d.split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !ok {
            return Err(FieldError::new(
                field,
                format!("{d} is not an e-mail domain (like agency.example)"),
            ));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.len() > 20 {
        return Err(FieldError::new(field, "at most 20 domains"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_manages_a_partner() {
        use WorkspaceRole::*;
        assert!(may_manage_partner(Admin, None));
        assert!(may_manage_partner(Member, Some(PartnerRole::HostAdmin)));
        assert!(may_manage_partner(Guest, Some(PartnerRole::GuestAdmin)));
        assert!(!may_manage_partner(Guest, Some(PartnerRole::GuestUser)));
        assert!(
            !may_manage_partner(Guest, None),
            "a guest of another partner"
        );
        assert!(!may_manage_partner(Member, None));
        assert!(may_see_partner(Guest, Some(PartnerRole::GuestUser)));
        assert!(!may_see_partner(Guest, None));
        assert!(!may_give(Guest, PartnerRole::HostAdmin));
        assert!(may_give(Guest, PartnerRole::GuestUser));
    }

    #[test]
    fn domains_are_checked_and_tidied() {
        assert_eq!(
            parse_domains("domains", "Brightwave.example.net, @bw.example  bw.example").unwrap(),
            vec!["brightwave.example.net", "bw.example"]
        );
        assert_eq!(parse_domains("domains", "").unwrap(), Vec::<String>::new());
        let e = parse_domains("domains", "not a domain!").unwrap_err();
        assert_eq!(e.field, "domains");
    }
}
