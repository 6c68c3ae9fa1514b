//! Checks that keep the repository honest: the codemap names every crate, and the committed
//! OpenAPI document matches the code (regenerate with `UPDATE_OPENAPI=1 cargo test -p castellan --test tidy`).

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_crate_is_in_the_architecture_codemap() {
    let arch =
        std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        let entry = entry.unwrap();
        if entry.path().join("Cargo.toml").exists() {
            let name = entry.file_name().to_string_lossy().to_string();
            if !arch.contains(&format!("crates/{name}")) {
                missing.push(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "crates missing from the ARCHITECTURE.md codemap: {missing:?}"
    );
}

#[test]
fn committed_openapi_document_is_current() {
    let path = root().join("openapi.json");
    let current = serde_json::to_string_pretty(&castellan_server::openapi()).unwrap() + "\n";
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&path, &current).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "openapi.json is out of date; run `UPDATE_OPENAPI=1 cargo test -p castellan --test tidy` and commit it"
    );
}
