//! What the store returns.

use castellan_domain::auth::ApiScope;
use castellan_domain::tasks::{TaskKind, TaskStatus, TaskTrigger};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{
    AppId, GroupId, IdentityId, PersonId, SessionId, TaskId, Timestamp, TokenId, WorkspaceId,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub settings: serde_json::Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: PersonId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub display_name: Option<String>,
    pub role: WorkspaceRole,
    pub must_change_password: bool,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A person together with their password hash, for sign-in only.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub person: Person,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub workspace_id: WorkspaceId,
    pub person: Person,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: TokenId,
    pub workspace_id: WorkspaceId,
    pub person_id: PersonId,
    pub name: String,
    pub scope: ApiScope,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub id: IdentityId,
    pub workspace_id: WorkspaceId,
    pub user_name: String,
    pub primary_email: String,
    pub other_emails: Vec<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    pub deactivated_at: Option<Timestamp>,
    pub external_id: Option<String>,
    pub department: Option<String>,
    pub manager: Option<String>,
    pub source: String,
    /// The IdP deleted it over SCIM: kept (deactivated) for the audit trail and the seats
    /// matched to it, no longer served by SCIM.
    pub scim_deleted_at: Option<Timestamp>,
    /// The e-mail entries as the IdP last sent them over SCIM (with their type and primary).
    pub scim_emails: Option<serde_json::Value>,
    pub groups: Vec<GroupRef>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: GroupId,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: GroupId,
    pub workspace_id: WorkspaceId,
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_ids: Vec<IdentityId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub workspace_id: WorkspaceId,
    pub kind: TaskKind,
    pub payload: serde_json::Value,
    pub status: TaskStatus,
    pub trigger: TaskTrigger,
    pub created_by: Option<PersonId>,
    pub app_id: Option<AppId>,
    pub parent_id: Option<TaskId>,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    pub cancel_requested: bool,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    pub progress_message: Option<String>,
    pub result: Option<serde_json::Value>,
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskLogLine {
    pub at: Timestamp,
    pub level: castellan_domain::tasks::LogLevel,
    pub message: String,
}

/// One page of a list, and the cursor of the next one (None at the end).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// An IdP's user create waiting for the group commit (`scim_batch`), answered after it.
pub(crate) struct ScimCreateJob {
    pub(crate) ws: castellan_domain::WorkspaceId,
    pub(crate) actor: castellan_domain::audit::Actor,
    pub(crate) input: castellan_domain::directory::IdentityInput,
    pub(crate) emails: Option<String>,
    pub(crate) reply: tokio::sync::oneshot::Sender<crate::Result<Identity>>,
}

/// The sender to the group-commit task of an IdP's user creates, started when first needed.
pub(crate) type ScimCreates =
    std::sync::Arc<std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<ScimCreateJob>>>>;
