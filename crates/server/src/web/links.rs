//! Where to go back to: the page asked for before signing in (kept to this site's paths),
//! a person's home page, and links that keep a page's query.

pub fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() < 2000
    {
        next.to_string()
    } else {
        "/".into()
    }
}

/// Page links: the cursor for the next page, kept with the other query parameters.
pub fn with_query(path: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            format!(
                "{k}={}",
                form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect();
    if q.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", q.join("&"))
    }
}
