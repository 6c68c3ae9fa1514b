//! Castellan's credential vault: envelope encryption of secrets (automation-account passwords,
//! platform tokens, people's credentials).
//!
//! Each secret gets its own random data key (DEK). The secret is sealed with the DEK using
//! XChaCha20-Poly1305 with the workspace and record id as associated data; the DEK is sealed
//! ("wrapped") with the master key under the same associated data plus the master key's
//! version. A sealed value therefore cannot be moved to another record or workspace, and
//! rotating the master key re-wraps only the small DEKs ([`Keyring::rewrap`]).
//!
//! Plaintext lives only in [`Secret`] (zeroized on drop, redacted in `Debug`) inside the call
//! that needs it. Randomness is passed in.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the secret cannot be decrypted (wrong key, wrong record, or tampered data)")]
    Decrypt,
    #[error("the secret was sealed with master key version {0}, which this keyring does not hold")]
    UnknownKeyVersion(u32),
    #[error("malformed sealed secret: {0}")]
    Malformed(String),
    #[error("master key: {0}")]
    Key(String),
}

/// A plaintext secret: zeroized when dropped, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    /// The plaintext, for the call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a sealed secret belongs; bound into the encryption so it cannot be replayed elsewhere.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub workspace: &'a str,
    pub record: &'a str,
}

impl Binding<'_> {
    fn data_aad(&self) -> Vec<u8> {
        format!(
            "castellan-vault/v1/data\0{}\0{}",
            self.workspace, self.record
        )
        .into_bytes()
    }
    fn key_aad(&self, version: u32) -> Vec<u8> {
        format!(
            "castellan-vault/v1/key\0{}\0{}\0{version}",
            self.workspace, self.record
        )
        .into_bytes()
    }
}

/// A sealed secret as stored: `v1.<key version>.<wrapped DEK>.<ciphertext>` (base64 parts,
/// each prefixed by its 24-byte nonce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_version: u32,
    wrapped_key: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Sealed {
    pub fn encode(&self) -> String {
        format!(
            "v1.{}.{}.{}",
            self.key_version,
            B64.encode(&self.wrapped_key),
            B64.encode(&self.ciphertext)
        )
    }

    pub fn decode(s: &str) -> Result<Self, VaultError> {
        let parts: Vec<&str> = s.split('.').collect();
        let [tag, version, key, data] = parts.as_slice() else {
            return Err(VaultError::Malformed(
                "expected four dot-separated parts".into(),
            ));
        };
        if *tag != "v1" {
            return Err(VaultError::Malformed(format!("unknown format {tag}")));
        }
        let key_version = version
            .parse()
            .map_err(|_| VaultError::Malformed("bad key version".into()))?;
        let wrapped_key = B64
            .decode(key)
            .map_err(|_| VaultError::Malformed("bad wrapped key".into()))?;
        let ciphertext = B64
            .decode(data)
            .map_err(|_| VaultError::Malformed("bad ciphertext".into()))?;
        Ok(Self {
            key_version,
            wrapped_key,
            ciphertext,
        })
    }
}

fn seal_with(key: &[u8; 32], rng: &mut dyn RngCore, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("encryption cannot fail");
    let mut out = nonce.to_vec();
    out.extend(ct);
    out
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    if sealed.len() < 24 + 16 {
        return Err(VaultError::Malformed("too short".into()));
    }
    let (nonce, ct) = sealed.split_at(24);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| VaultError::Decrypt)
}

/// One master key and its version.
#[derive(Clone)]
pub struct MasterKey {
    pub version: u32,
    key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(v{}, [redacted])", self.version)
    }
}

impl MasterKey {
    pub fn generate(version: u32, rng: &mut dyn RngCore) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(key.as_mut());
        Self { version, key }
    }

    /// From base64 text (as in `CASTELLAN_MASTER_KEY`).
    pub fn from_base64(version: u32, text: &str) -> Result<Self, VaultError> {
        let mut raw = B64
            .decode(text.trim())
            .map_err(|_| VaultError::Key("not valid base64".into()))?;
        if raw.len() != 32 {
            raw.zeroize();
            return Err(VaultError::Key(format!(
                "must be 32 bytes, got {}",
                raw.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&raw);
        raw.zeroize();
        Ok(Self { version, key })
    }

    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.key.as_ref()))
    }
}

/// The current master key and the older ones still needed to open secrets not yet re-wrapped.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    current: u32,
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize, Zeroize)]
struct KeyEntry {
    version: u32,
    key: String,
}

impl Keyring {
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    pub fn current_version(&self) -> u32 {
        self.current.version
    }

    fn key(&self, version: u32) -> Result<&MasterKey, VaultError> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.version == version)
            .ok_or(VaultError::UnknownKeyVersion(version))
    }

    /// Seals `plaintext` for `binding` under a fresh data key wrapped by the current master key.
    pub fn seal(&self, rng: &mut dyn RngCore, binding: Binding<'_>, plaintext: &[u8]) -> Sealed {
        let mut dek = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(dek.as_mut());
        let ciphertext = seal_with(&dek, rng, plaintext, &binding.data_aad());
        let wrapped_key = seal_with(
            &self.current.key,
            rng,
            dek.as_ref(),
            &binding.key_aad(self.current.version),
        );
        Sealed {
            key_version: self.current.version,
            wrapped_key,
            ciphertext,
        }
    }

    pub fn seal_str(&self, rng: &mut dyn RngCore, binding: Binding<'_>, secret: &Secret) -> String {
        self.seal(rng, binding, secret.expose().as_bytes()).encode()
    }

    fn unwrap_dek(
        &self,
        sealed: &Sealed,
        binding: Binding<'_>,
    ) -> Result<Zeroizing<[u8; 32]>, VaultError> {
        let master = self.key(sealed.key_version)?;
        let dek = open_with(
            &master.key,
            &sealed.wrapped_key,
            &binding.key_aad(sealed.key_version),
        )?;
        let mut out = Zeroizing::new([0u8; 32]);
        if dek.len() != 32 {
            return Err(VaultError::Decrypt);
        }
        out.copy_from_slice(&dek);
        Ok(out)
    }

    pub fn open(
        &self,
        sealed: &Sealed,
        binding: Binding<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let dek = self.unwrap_dek(sealed, binding)?;
        open_with(&dek, &sealed.ciphertext, &binding.data_aad())
    }

    pub fn open_str(&self, encoded: &str, binding: Binding<'_>) -> Result<Secret, VaultError> {
        let bytes = self.open(&Sealed::decode(encoded)?, binding)?;
        let s =
            std::str::from_utf8(&bytes).map_err(|_| VaultError::Malformed("not UTF-8".into()))?;
        Ok(Secret::new(s))
    }

    /// Re-wraps the data key under the current master key; the ciphertext is untouched.
    pub fn rewrap(
        &self,
        rng: &mut dyn RngCore,
        sealed: &Sealed,
        binding: Binding<'_>,
    ) -> Result<Sealed, VaultError> {
        if sealed.key_version == self.current.version {
            return Ok(sealed.clone());
        }
        let dek = self.unwrap_dek(sealed, binding)?;
        let wrapped_key = seal_with(
            &self.current.key,
            rng,
            dek.as_ref(),
            &binding.key_aad(self.current.version),
        );
        Ok(Sealed {
            key_version: self.current.version,
            wrapped_key,
            ciphertext: sealed.ciphertext.clone(),
        })
    }

    /// Makes a new current key; the old one stays for opening until every secret is re-wrapped.
    pub fn rotate(&mut self, rng: &mut dyn RngCore) -> u32 {
        let next = self
            .previous
            .iter()
            .map(|k| k.version)
            .chain([self.current.version])
            .max()
            .unwrap_or(0)
            + 1;
        let old = std::mem::replace(&mut self.current, MasterKey::generate(next, rng));
        self.previous.push(old);
        next
    }

    /// Forgets every key but the current one (after all secrets were re-wrapped).
    pub fn retire_previous(&mut self) {
        self.previous.clear();
    }

    /// Reads a keyring file (JSON with base64 keys).
    pub fn load(path: &Path) -> Result<Self, VaultError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| VaultError::Key(format!("{}: {e}", path.display())))?,
        );
        let mut file: KeyFile = serde_json::from_str(&text)
            .map_err(|e| VaultError::Key(format!("{}: {e}", path.display())))?;
        let mut keys = Vec::new();
        for k in &file.keys {
            keys.push(MasterKey::from_base64(k.version, &k.key)?);
        }
        file.keys.zeroize();
        let pos = keys
            .iter()
            .position(|k| k.version == file.current)
            .ok_or_else(|| {
                VaultError::Key(format!(
                    "{}: current key {} is missing",
                    path.display(),
                    file.current
                ))
            })?;
        let current = keys.remove(pos);
        Ok(Self {
            current,
            previous: keys,
        })
    }

    /// Writes the keyring file readable by its owner only (mode 0600), atomically.
    pub fn save(&self, path: &Path) -> Result<(), VaultError> {
        let mut file = KeyFile {
            current: self.current.version,
            keys: std::iter::once(&self.current)
                .chain(&self.previous)
                .map(|k| KeyEntry {
                    version: k.version,
                    key: k.to_base64().to_string(),
                })
                .collect(),
        };
        let text =
            Zeroizing::new(serde_json::to_string_pretty(&file).expect("key file serialises"));
        file.keys.zeroize();
        let tmp = std::path::PathBuf::from(format!("{}.tmp", path.display()));
        write_private(&tmp, text.as_bytes())
            .map_err(|e| VaultError::Key(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(|e| VaultError::Key(format!("{}: {e}", path.display())))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Where the master key comes from, in order: `CASTELLAN_MASTER_KEY` (base64 of 32 bytes, as
/// version 1), or the keyring file `master.key` in the data directory, created on first run.
/// Returns the keyring and whether it was just generated (the caller warns).
pub fn load_or_create(
    env_key: Option<&str>,
    data_dir: &Path,
    rng: &mut dyn RngCore,
) -> Result<(Keyring, bool), VaultError> {
    if let Some(k) = env_key {
        return Ok((Keyring::new(MasterKey::from_base64(1, k)?), false));
    }
    let path = data_dir.join("master.key");
    if path.exists() {
        return Ok((Keyring::load(&path)?, false));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| VaultError::Key(format!("{}: {e}", data_dir.display())))?;
    let ring = Keyring::new(MasterKey::generate(1, rng));
    // Several processes may start at once on a fresh data directory: each writes its own
    // temporary file and links it into place; linking fails if another won, and then that
    // key is the one everybody uses.
    let mut tag = [0u8; 8];
    rng.fill_bytes(&mut tag);
    let tmp = data_dir.join(format!(
        "master.key.{}.{:016x}",
        std::process::id(),
        u64::from_le_bytes(tag)
    ));
    ring.save(&tmp)?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((ring, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok((Keyring::load(&path)?, false))
        }
        Err(e) => Err(VaultError::Key(format!("{}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(42)
    }

    const B: Binding<'static> = Binding {
        workspace: "ws-1",
        record: "acct-1",
    };

    #[test]
    fn seal_and_open_round_trip_and_bind_to_the_record() {
        let mut r = rng();
        let ring = Keyring::new(MasterKey::generate(1, &mut r));
        let s = ring.seal_str(&mut r, B, &Secret::new("hunter2-long-password"));
        assert!(!s.contains("hunter2"));
        assert_eq!(
            ring.open_str(&s, B).unwrap().expose(),
            "hunter2-long-password"
        );
        // Another record, another workspace, or another key: refused.
        assert_eq!(
            ring.open_str(
                &s,
                Binding {
                    workspace: "ws-1",
                    record: "acct-2"
                }
            )
            .unwrap_err(),
            VaultError::Decrypt
        );
        assert_eq!(
            ring.open_str(
                &s,
                Binding {
                    workspace: "ws-2",
                    record: "acct-1"
                }
            )
            .unwrap_err(),
            VaultError::Decrypt
        );
        let other = Keyring::new(MasterKey::generate(1, &mut r));
        assert_eq!(other.open_str(&s, B).unwrap_err(), VaultError::Decrypt);
        // Two seals of the same secret differ (fresh data key and nonces).
        assert_ne!(
            s,
            ring.seal_str(&mut r, B, &Secret::new("hunter2-long-password"))
        );
    }

    #[test]
    fn tampering_is_detected() {
        let mut r = rng();
        let ring = Keyring::new(MasterKey::generate(1, &mut r));
        let mut sealed = ring.seal(&mut r, B, b"token");
        sealed.ciphertext[30] ^= 1;
        assert_eq!(ring.open(&sealed, B).unwrap_err(), VaultError::Decrypt);
        let mut sealed = ring.seal(&mut r, B, b"token");
        sealed.key_version = 7;
        assert_eq!(
            ring.open(&sealed, B).unwrap_err(),
            VaultError::UnknownKeyVersion(7)
        );
        assert!(matches!(
            Sealed::decode("v1.1.x"),
            Err(VaultError::Malformed(_))
        ));
    }

    #[test]
    fn rotation_rewraps_without_touching_ciphertext() {
        let mut r = rng();
        let mut ring = Keyring::new(MasterKey::generate(1, &mut r));
        let old = ring.seal(&mut r, B, b"refresh-token");
        assert_eq!(ring.rotate(&mut r), 2);
        // Still readable during rotation.
        assert_eq!(&ring.open(&old, B).unwrap()[..], b"refresh-token");
        let new = ring.rewrap(&mut r, &old, B).unwrap();
        assert_eq!(new.key_version, 2);
        assert_eq!(new.ciphertext, old.ciphertext);
        ring.retire_previous();
        assert_eq!(&ring.open(&new, B).unwrap()[..], b"refresh-token");
        assert_eq!(
            ring.open(&old, B).unwrap_err(),
            VaultError::UnknownKeyVersion(1)
        );
    }

    #[test]
    fn key_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = rng();
        let (ring, created) = load_or_create(None, dir.path(), &mut r).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = ring.seal_str(&mut r, B, &Secret::new("pw"));
        let (again, created) = load_or_create(None, dir.path(), &mut r).unwrap();
        assert!(!created);
        assert_eq!(again.open_str(&sealed, B).unwrap().expose(), "pw");
        let env = MasterKey::generate(1, &mut r).to_base64();
        let (from_env, _) = load_or_create(Some(&env), dir.path(), &mut r).unwrap();
        assert_eq!(
            from_env.open_str(&sealed, B).unwrap_err(),
            VaultError::Decrypt
        );
        assert!(load_or_create(Some("short"), dir.path(), &mut r).is_err());
    }

    #[test]
    fn concurrent_first_runs_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let mut r = rand::rngs::StdRng::seed_from_u64(i);
                    let (ring, _) = load_or_create(None, &d, &mut r).unwrap();
                    ring.seal_str(&mut r, B, &Secret::new("x"))
                })
            })
            .collect();
        let sealed: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let (ring, created) = load_or_create(None, dir.path(), &mut rng()).unwrap();
        assert!(!created);
        for s in sealed {
            assert_eq!(
                ring.open_str(&s, B).unwrap().expose(),
                "x",
                "every process used the same key"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary files left"
        );
    }

    #[test]
    fn debug_never_prints_plaintext() {
        let mut r = rng();
        let s = Secret::new("very-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret([redacted]) [redacted]");
        let k = MasterKey::generate(3, &mut r);
        assert!(!format!("{k:?}").contains(k.to_base64().as_str()));
    }
}

/// A keyring shared by a running server: sealing uses the current key; opening a secret sealed
/// with a version this process does not hold re-reads the key file once (another process may
/// have rotated the key), so rotation needs no restart.
#[derive(Debug)]
pub struct SharedKeyring {
    ring: std::sync::RwLock<Keyring>,
    file: Option<std::path::PathBuf>,
}

impl SharedKeyring {
    pub fn new(ring: Keyring, file: Option<std::path::PathBuf>) -> Self {
        Self {
            ring: std::sync::RwLock::new(ring),
            file,
        }
    }

    pub fn current_version(&self) -> u32 {
        self.ring.read().expect("keyring lock").current_version()
    }

    /// Seals a secret; returns the stored form and the key version used.
    pub fn seal(
        &self,
        rng: &mut dyn RngCore,
        binding: Binding<'_>,
        secret: &Secret,
    ) -> (String, u32) {
        let ring = self.ring.read().expect("keyring lock");
        (ring.seal_str(rng, binding, secret), ring.current_version())
    }

    pub fn open(&self, encoded: &str, binding: Binding<'_>) -> Result<Secret, VaultError> {
        let first = self
            .ring
            .read()
            .expect("keyring lock")
            .open_str(encoded, binding);
        match (first, &self.file) {
            (Err(VaultError::UnknownKeyVersion(_)), Some(path)) => {
                let fresh = Keyring::load(path)?;
                let out = fresh.open_str(encoded, binding);
                *self.ring.write().expect("keyring lock") = fresh;
                out
            }
            (other, _) => other,
        }
    }

    /// A copy of the keyring (for rotation tooling).
    pub fn snapshot(&self) -> Keyring {
        self.ring.read().expect("keyring lock").clone()
    }
}
