//! `scim2-tester` (PyPI, through `scim2-cli`'s `scim2 test`), an independent RFC 7643/7644
//! checker, run against the server on loopback: every check it makes passes. `.ci/run`
//! installs it; elsewhere the test says it was skipped unless `CASTELLAN_REQUIRE_SCIM2` asks.

use castellan_domain::auth::ApiScope;
use castellan_testkit::TestApp;
use serde_json::{Value, json};

fn scim2() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("CASTELLAN_SCIM2") {
        return Some(p.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("scim2"))
            .find(|p| p.is_file())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_every_check() {
    let Some(bin) = scim2() else {
        assert!(
            std::env::var("CASTELLAN_REQUIRE_SCIM2").is_err(),
            "CASTELLAN_REQUIRE_SCIM2 is set but scim2 (scim2-cli with scim2-tester) is not installed"
        );
        eprintln!("skipped: scim2 (pip install scim2-cli 'scim2-tester<0.6') is not installed");
        return;
    };
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("scim2").await;
    let admin = app.token(ws, owner, ApiScope::Admin).await;
    let made: Value = app
        .post(&admin, "/api/v1/scim/tokens")
        .json(&json!({"name": "scim2-tester"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = made["secret"].as_str().unwrap().to_string();
    let url = app.url("/scim/v2");
    let out = tokio::process::Command::new(&bin)
        .arg("--url")
        .arg(&url)
        .arg("test")
        .arg("--verbose")
        .env(
            "SCIM_CLI_HEADERS",
            format!("Authorization: Bearer {secret}"),
        )
        .output()
        .await
        .expect("scim2 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    let failed: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("CRITICAL") || l.contains("FAIL"))
        .collect();
    let passed = text.lines().filter(|l| l.contains("SUCCESS")).count();
    assert!(
        out.status.success(),
        "scim2 test exited with {}:\n{text}",
        out.status
    );
    assert!(
        failed.is_empty(),
        "scim2-tester failures:\n{}",
        failed.join("\n")
    );
    assert!(passed > 10, "scim2-tester ran its checks:\n{text}");
    println!("scim2-tester: {passed} checks passed, 0 failed");
}
