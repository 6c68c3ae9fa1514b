//! SCIM tokens recently checked, so an IdP's requests do not each read the token's row.

use castellan_store::scim::ScimToken;

/// How long a checked token is trusted without reading it again. A revocation in this process
/// empties the cache at once; another process sharing the database sees it within this time.
const TOKEN_CACHE_MS: i64 = 5_000;

/// SCIM tokens recently checked, by hash (bounded: emptied when it grows past 1,000).
#[derive(Debug, Default)]
pub struct TokenCache(std::sync::Mutex<std::collections::HashMap<String, (ScimToken, i64)>>);

impl TokenCache {
    pub(crate) fn get(&self, hash: &str, now: i64) -> Option<ScimToken> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(hash)
            .filter(|(_, at)| now - at < TOKEN_CACHE_MS)
            .map(|(t, _)| t.clone())
    }
    pub(crate) fn put(&self, hash: String, t: ScimToken, now: i64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 1000 {
            m.clear();
        }
        m.insert(hash, (t, now));
    }
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
