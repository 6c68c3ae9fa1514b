//! Paging as each platform does it. Pinterest: opaque bookmarks that encode the last key seen
//! (keyset paging, so rows that did not change are never skipped or repeated while others
//! change). TikTok: 1-based page numbers with `page_info`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn encode_bookmark(kind: &str, last: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{last}"))
}

/// The last key of the previous page, or None for a bookmark that is not ours.
pub fn decode_bookmark(kind: &str, bookmark: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(bookmark).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (k, n) = s.split_once(':')?;
    (k == kind).then(|| n.parse().ok()).flatten()
}

/// `page_info` for TikTok lists.
pub fn page_info(page: u64, page_size: u64, total: u64) -> serde_json::Value {
    let total_page = total.div_ceil(page_size.max(1));
    serde_json::json!({ "page": page, "page_size": page_size, "total_number": total, "total_page": total_page })
}

#[cfg(test)]
mod tests {
    #[test]
    fn bookmarks_round_trip() {
        let b = super::encode_bookmark("members", 42);
        assert_eq!(super::decode_bookmark("members", &b), Some(42));
        assert_eq!(super::decode_bookmark("assets", &b), None);
        assert_eq!(super::decode_bookmark("members", "garbage!"), None);
    }
}
