//! Vault operations that span the keyring and the database: sealing a named secret for a
//! record and opening it again, and rotating the master key (re-wrapping every stored data key).

use std::path::Path;

use castellan_domain::{Env, SecretId, WorkspaceId};
use castellan_store::{SealedSecret, Store};
use castellan_vault::{Binding, Keyring, Sealed, Secret, SharedKeyring, VaultError};

/// Seals `value` as the secret `name` under a fresh record id, bound to the workspace and that
/// id, so a sealed value copied to another row or workspace does not open.
pub fn seal_named(
    env: &Env,
    vault: &SharedKeyring,
    ws: WorkspaceId,
    name: &str,
    value: &Secret,
) -> SealedSecret {
    let id = SecretId::new(env);
    let (w, rec) = (ws.to_string(), id.to_string());
    let (sealed, version) = env.with_rng(|r| {
        vault.seal(
            r,
            Binding {
                workspace: &w,
                record: &rec,
            },
            value,
        )
    });
    SealedSecret {
        id,
        name: name.into(),
        sealed,
        key_version: i64::from(version),
    }
}

/// Opens a secret sealed by [`seal_named`].
pub fn open_sealed(
    vault: &SharedKeyring,
    ws: WorkspaceId,
    id: SecretId,
    sealed: &str,
) -> Result<Secret, VaultError> {
    let (w, rec) = (ws.to_string(), id.to_string());
    vault.open(
        sealed,
        Binding {
            workspace: &w,
            record: &rec,
        },
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    pub new_version: u32,
    pub rewrapped: u64,
    pub retired_previous: bool,
}

/// Why a master-key rotation stopped. What was re-wrapped before stays re-wrapped: running it
/// again finishes the job.
#[derive(Debug, thiserror::Error)]
pub enum KeyRotationError {
    /// The key file could not be read or written.
    #[error("key file: {0}")]
    KeyFile(#[source] VaultError),
    /// A stored secret did not open with the keys held.
    #[error("secret {id}: {source}")]
    Secret {
        id: castellan_domain::SecretId,
        #[source]
        source: VaultError,
    },
    #[error(transparent)]
    Store(#[from] castellan_store::StoreError),
    /// Other writers kept changing the secrets while they were re-wrapped.
    #[error("secrets keep changing during rotation; run it again")]
    Unsettled,
}

/// Rotates the master key kept in `key_file`: writes a new current key (keeping the old ones,
/// so running servers can still open everything), re-wraps every stored secret's data key
/// under it, and — when `retire` is set and no secret still needs an old key — drops the old
/// keys from the file. Servers keep working throughout: they re-read the file when they meet
/// a key version they do not hold.
pub async fn rotate_master_key(
    store: &Store,
    key_file: &Path,
    retire: bool,
) -> Result<RotationReport, KeyRotationError> {
    let mut ring = Keyring::load(key_file).map_err(KeyRotationError::KeyFile)?;
    let new_version = store.env().with_rng(|r| ring.rotate(r));
    ring.save(key_file).map_err(KeyRotationError::KeyFile)?;
    let rewrapped = rewrap_all(store, &ring).await?;
    let mut retired = false;
    if retire
        && store
            .secrets_to_rewrap(i64::from(new_version), 1)
            .await?
            .is_empty()
    {
        ring.retire_previous();
        ring.save(key_file).map_err(KeyRotationError::KeyFile)?;
        retired = true;
    }
    Ok(RotationReport {
        new_version,
        rewrapped,
        retired_previous: retired,
    })
}

/// Re-wraps, in pages, every secret not sealed with the ring's current key.
pub async fn rewrap_all(store: &Store, ring: &Keyring) -> Result<u64, KeyRotationError> {
    let current = i64::from(ring.current_version());
    let mut done = 0u64;
    loop {
        let batch = store.secrets_to_rewrap(current, 500).await?;
        if batch.is_empty() {
            return Ok(done);
        }
        let mut progressed = false;
        for s in batch {
            let ws = s.workspace_id.to_string();
            let rec = s.id.to_string();
            let binding = Binding {
                workspace: &ws,
                record: &rec,
            };
            let secret = |source| KeyRotationError::Secret { id: s.id, source };
            let sealed = Sealed::decode(&s.sealed).map_err(secret)?;
            let new = store
                .env()
                .with_rng(|r| ring.rewrap(r, &sealed, binding))
                .map_err(secret)?;
            if store.replace_sealed(&s, &new.encode(), current).await? {
                done += 1;
                progressed = true;
            }
        }
        if !progressed {
            return Err(KeyRotationError::Unsettled);
        }
    }
}
