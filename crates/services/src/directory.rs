//! Directory import from CSV, for the API, the web app and the CLI alike: every row is checked
//! first, and a file with a bad row changes nothing unless the caller asks to skip bad rows.

use castellan_domain::WorkspaceId;
use castellan_domain::audit::Actor;
use castellan_domain::directory::{RowError, plan_csv_import};
use castellan_store::{ImportSummary, Store, StoreError};

/// What an import came to.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// Data rows in the file.
    pub rows: u64,
    pub valid_rows: u64,
    /// Every problem, by line (line 1 is the header).
    pub errors: Vec<RowError>,
    /// What was written; `None` when nothing was (refused, or a dry run).
    pub written: Option<ImportSummary>,
    /// The file was refused: a broken header, or bad rows without `skip_invalid`.
    pub refused: bool,
}

pub async fn import_csv(
    store: &Store,
    ws: WorkspaceId,
    actor: &Actor,
    data: &[u8],
    source: &str,
    skip_invalid: bool,
    dry_run: bool,
) -> Result<ImportOutcome, StoreError> {
    let plan = plan_csv_import(data);
    let header_broken = plan.errors.iter().any(|e| e.line == 1);
    let bad_lines = plan
        .errors
        .iter()
        .map(|e| e.line)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let mut out = ImportOutcome {
        rows: plan.rows.len() as u64 + bad_lines,
        valid_rows: plan.rows.len() as u64,
        errors: plan.errors.clone(),
        written: None,
        refused: header_broken || (!plan.errors.is_empty() && !skip_invalid && !dry_run),
    };
    if out.refused || dry_run {
        return Ok(out);
    }
    out.written = Some(
        store
            .ws(ws)
            .import_identities(actor, &plan.rows, plan.groups_column, source)
            .await?,
    );
    Ok(out)
}

/// Where a directory change comes from, as recorded on the identity (`api`, `csv`, and `scim`
/// to come).
pub type Source<'a> = &'a str;

/// Adds an identity checked by `IdentityInput::validate`.
pub async fn create_identity(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    input: &castellan_domain::directory::IdentityInput,
    source: Source<'_>,
) -> Result<castellan_store::Identity, crate::ServiceError> {
    Ok(svc
        .store
        .ws(ws)
        .create_identity(actor, input, source)
        .await?)
}

/// Replaces every field of an identity; `active: false` deactivates it (the leaver signal).
pub async fn replace_identity(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: castellan_domain::IdentityId,
    input: &castellan_domain::directory::IdentityInput,
) -> Result<castellan_store::Identity, crate::ServiceError> {
    Ok(svc.store.ws(ws).update_identity(actor, id, input).await?)
}

/// Deactivates (the leaver signal; its time recorded) or reactivates an identity. Nothing is
/// deleted: its seats await removal in the next report.
pub async fn set_identity_active(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: castellan_domain::IdentityId,
    active: bool,
) -> Result<castellan_store::Identity, crate::ServiceError> {
    Ok(svc
        .store
        .ws(ws)
        .set_identity_active(actor, id, active)
        .await?)
}

/// Creates a group: a name of 1 to 256 characters and its members.
pub async fn create_group(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    display_name: &str,
    external_id: Option<&str>,
    members: &[castellan_domain::IdentityId],
) -> Result<castellan_store::Group, crate::ServiceError> {
    let name = castellan_domain::values::required_text("display_name", display_name, 256)?;
    let g = svc
        .store
        .ws(ws)
        .create_group(actor, &name, external_id, members)
        .await?;
    crate::group_mappings::nudge(svc, ws, actor).await;
    Ok(g)
}

/// Renames a group or replaces its members (each when given).
pub async fn update_group(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: castellan_domain::GroupId,
    display_name: Option<&str>,
    members: Option<&[castellan_domain::IdentityId]>,
) -> Result<castellan_store::Group, crate::ServiceError> {
    let name = display_name
        .map(|n| castellan_domain::values::required_text("display_name", n, 256))
        .transpose()?;
    let g = svc
        .store
        .ws(ws)
        .update_group(actor, id, name.as_deref(), members)
        .await?;
    crate::group_mappings::nudge(svc, ws, actor).await;
    Ok(g)
}

/// Deletes a group (its members stay).
pub async fn delete_group(
    svc: &crate::Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: castellan_domain::GroupId,
) -> Result<(), crate::ServiceError> {
    svc.store.ws(ws).delete_group(actor, id).await?;
    crate::group_mappings::nudge(svc, ws, actor).await;
    Ok(())
}
