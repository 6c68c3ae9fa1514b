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
