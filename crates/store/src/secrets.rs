//! Sealed secrets as the store keeps them: the one writer of a record's sealed secrets and of a
//! row owned by a card or account, the one reader, and re-wrapping after a master-key
//! rotation. Plaintext never reaches the store.

use crate::{Result, Scoped, Store, get_id, ms};
use castellan_domain::{SecretId, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// A secret sealed by the vault, bound to (workspace, `id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub id: SecretId,
    /// What it is for its owner: `password`, `access_token`, `refresh_token`, …
    pub name: String,
    pub sealed: String,
    pub key_version: i64,
}

/// A stored secret with its place, for key rotation.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub id: SecretId,
    pub workspace_id: WorkspaceId,
    pub sealed: String,
    pub key_version: i64,
}

/// A `vault_secrets` row (`id, name, sealed, key_version`) as a sealed secret.
pub(crate) fn sealed_from_row(r: &AnyRow) -> Result<SealedSecret> {
    Ok(SealedSecret {
        id: get_id(r, "id")?,
        name: r.try_get("name")?,
        sealed: r.try_get("sealed")?,
        key_version: r.try_get("key_version")?,
    })
}

pub(crate) async fn put_owned_secret(
    conn: &mut AnyConnection,
    s: &Scoped<'_>,
    owner_kind: &str,
    owner_id: &str,
    secret: &SealedSecret,
) -> Result<()> {
    let now = ms(s.store.env.now());
    sqlx::query(
        "INSERT INTO vault_secrets (id, workspace_id, owner_kind, owner_id, name, sealed, key_version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(secret.id.to_string())
    .bind(s.ws_str())
    .bind(owner_kind)
    .bind(owner_id)
    .bind(&secret.name)
    .bind(&secret.sealed)
    .bind(secret.key_version)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Secrets of every workspace sealed with a key version other than `current`, oldest
    /// first, for re-wrapping after a key rotation.
    pub async fn secrets_to_rewrap(&self, current: i64, limit: i64) -> Result<Vec<StoredSecret>> {
        let rows = sqlx::query("SELECT id, workspace_id, sealed, key_version FROM vault_secrets WHERE key_version <> $1 ORDER BY id LIMIT $2")
            .bind(current)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredSecret {
                    id: get_id(r, "id")?,
                    workspace_id: get_id(r, "workspace_id")?,
                    sealed: r.try_get("sealed")?,
                    key_version: r.try_get("key_version")?,
                })
            })
            .collect()
    }

    /// Replaces a secret's sealed form if it is still the one that was read (so a concurrent
    /// change is never overwritten); returns whether it was replaced.
    pub async fn replace_sealed(
        &self,
        s: &StoredSecret,
        sealed: &str,
        key_version: i64,
    ) -> Result<bool> {
        let n = sqlx::query("UPDATE vault_secrets SET sealed = $3, key_version = $4, updated_at = $5 WHERE id = $1 AND sealed = $2")
            .bind(s.id.to_string())
            .bind(&s.sealed)
            .bind(sealed)
            .bind(key_version)
            .bind(ms(self.env.now()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }
}
