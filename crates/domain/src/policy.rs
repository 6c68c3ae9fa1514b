//! The one place that decides who may do what. Handlers name an [`Action`]; [`authorize`]
//! checks the caller's workspace role and, for API tokens, the token's scope. Rows of other
//! workspaces never reach this point: every store query is scoped to the caller's workspace,
//! so they are simply not found (404), which keeps their existence invisible.

use crate::auth::ApiScope;
use crate::ids::{PersonId, TokenId, WorkspaceId};
use crate::workspace::WorkspaceRole;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Browser session (cookie); carries the person's full role.
    Session,
    /// API token; limited to its scope.
    Token { id: TokenId, scope: ApiScope },
}

/// An authenticated caller inside one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub workspace_id: WorkspaceId,
    pub person_id: PersonId,
    pub role: WorkspaceRole,
    pub method: AuthMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ReadSelf,
    UpdateSelf,
    ManageOwnTokens,
    ReadWorkspace,
    UpdateWorkspace,
    ReadPeople,
    ManagePeople,
    ReadDirectory,
    WriteDirectory,
    ReadTasks,
    ManageTasks,
    ReadAudit,
    ReadAutomationAccounts,
    ManageAutomationAccounts,
    /// See a stored secret in plain text (always audited).
    RevealSecrets,
    ReadAccounts,
    ReadApps,
    ManageApps,
    /// Local partners: any signed-in person may ask; the services show and allow only what
    /// their role in each partner permits (`local_partners`).
    ReadLocalPartners,
    ManageLocalPartners,
    /// SCIM tokens: credentials that write the directory, so Admins and an admin-scoped token.
    ManageScimTokens,
    /// Who the IdP may sign in: Owners only, since an issuer an Admin controlled could sign
    /// anyone in the directory in, Owners included. Admins read it.
    ConfigureSignIn,
    ReadSignIn,
}

impl Action {
    /// (lowest workspace role allowed, scope an API token needs).
    pub fn requirement(self) -> (WorkspaceRole, ApiScope) {
        use ApiScope as S;
        use WorkspaceRole as R;
        match self {
            Self::ReadSelf => (R::Guest, S::Read),
            Self::UpdateSelf => (R::Guest, S::Write),
            // Minting tokens with a token needs an admin-scoped token: a leaked read token must
            // not be able to mint a stronger one.
            Self::ManageOwnTokens => (R::Member, S::Admin),
            Self::ReadWorkspace => (R::Guest, S::Read),
            Self::UpdateWorkspace => (R::Owner, S::Admin),
            Self::ReadPeople => (R::Admin, S::Read),
            Self::ManagePeople => (R::Admin, S::Admin),
            // Names and e-mails of everyone: Admins and Owners only (the design brief).
            Self::ReadDirectory => (R::Admin, S::Read),
            Self::WriteDirectory => (R::Admin, S::Write),
            Self::ReadTasks => (R::Admin, S::Read),
            Self::ManageTasks => (R::Admin, S::Write),
            Self::ReadAudit => (R::Admin, S::Read),
            Self::ReadAutomationAccounts => (R::Admin, S::Read),
            Self::ManageAutomationAccounts => (R::Admin, S::Write),
            Self::RevealSecrets => (R::Owner, S::Admin),
            Self::ReadAccounts => (R::Admin, S::Read),
            Self::ReadApps => (R::Admin, S::Read),
            Self::ManageApps => (R::Admin, S::Write),
            Self::ReadLocalPartners => (R::Guest, S::Read),
            Self::ManageLocalPartners => (R::Guest, S::Write),
            Self::ManageScimTokens => (R::Admin, S::Admin),
            Self::ConfigureSignIn => (R::Owner, S::Admin),
            Self::ReadSignIn => (R::Admin, S::Read),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The person's workspace role is too low.
    Role { needed: WorkspaceRole },
    /// The API token's scope is too narrow.
    Scope { needed: ApiScope },
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Role { needed } => {
                write!(f, "this needs the {needed} workspace role or higher")
            }
            Denied::Scope { needed } => write!(f, "this API token needs the {needed} scope"),
        }
    }
}

pub fn authorize(p: &Principal, action: Action) -> Result<(), Denied> {
    let (role, scope) = action.requirement();
    if p.role < role {
        return Err(Denied::Role { needed: role });
    }
    if let AuthMethod::Token { scope: have, .. } = p.method
        && have < scope
    {
        return Err(Denied::Scope { needed: scope });
    }
    Ok(())
}

/// May `actor` give `target_role` to someone (or change someone who holds `current`)?
/// Only Owners create or touch Owners; Admins manage everyone below Owner.
pub fn may_assign_role(
    actor: WorkspaceRole,
    current: Option<WorkspaceRole>,
    target_role: WorkspaceRole,
) -> bool {
    if actor == WorkspaceRole::Owner {
        return true;
    }
    actor >= WorkspaceRole::Admin
        && target_role < WorkspaceRole::Owner
        && current.is_none_or(|c| c < WorkspaceRole::Owner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn p(role: WorkspaceRole, method: AuthMethod) -> Principal {
        Principal {
            workspace_id: WorkspaceId(Uuid::nil()),
            person_id: PersonId(Uuid::nil()),
            role,
            method,
        }
    }

    #[test]
    fn roles_and_scopes() {
        let s = AuthMethod::Session;
        assert!(authorize(&p(WorkspaceRole::Admin, s), Action::ReadAudit).is_ok());
        assert_eq!(
            authorize(&p(WorkspaceRole::Member, s), Action::ReadAudit),
            Err(Denied::Role {
                needed: WorkspaceRole::Admin
            })
        );
        let read_token = AuthMethod::Token {
            id: TokenId(Uuid::nil()),
            scope: ApiScope::Read,
        };
        assert!(authorize(&p(WorkspaceRole::Owner, read_token), Action::ReadDirectory).is_ok());
        assert_eq!(
            authorize(&p(WorkspaceRole::Owner, read_token), Action::WriteDirectory),
            Err(Denied::Scope {
                needed: ApiScope::Write
            })
        );
    }

    #[test]
    fn role_assignment() {
        use WorkspaceRole::*;
        assert!(may_assign_role(Owner, Some(Owner), Member));
        assert!(may_assign_role(Admin, None, Admin));
        assert!(!may_assign_role(Admin, None, Owner));
        assert!(!may_assign_role(Admin, Some(Owner), Member));
        assert!(!may_assign_role(Member, None, Guest));
    }
}
