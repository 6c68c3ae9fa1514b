//! The web app's static files, embedded in the binary and served under content-hashed URLs
//! (`/static/app.3f2a….css`) with a year-long, immutable cache lifetime: a new build changes
//! the URL, so browsers never run a stale script against a new page.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// The name before hashing, as templates refer to it.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
    // htmx 2.0.11, BSD Zero-Clause (its licence is beside it in static/vendor).
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/vendor/htmx-2.0.11/htmx.min.js"),
    },
];

/// Each file's hashed URL path, computed once.
static URLS: LazyLock<Vec<(String, usize)>> = LazyLock::new(|| {
    FILES
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let digest = Sha256::digest(a.body);
            let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
            let (stem, ext) = a
                .name
                .rsplit_once('.')
                .expect("asset names have extensions");
            (format!("{stem}.{hash}.{ext}"), i)
        })
        .collect()
});

/// The URL of an asset by its plain name; panics on an unknown name (a template bug that
/// every page test would catch).
pub fn url(name: &str) -> String {
    let (hashed, _) = URLS
        .iter()
        .find(|(_, i)| FILES[*i].name == name)
        .unwrap_or_else(|| panic!("no static asset {name}"));
    format!("/static/{hashed}")
}

/// `GET /static/{file}`: only the current hashed names exist.
pub async fn serve(Path(file): Path<String>) -> Response {
    match URLS.iter().find(|(h, _)| *h == file) {
        Some((_, i)) => {
            let a = &FILES[*i];
            (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                a.body,
            )
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
