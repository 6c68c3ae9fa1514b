//! An app's native partners through the API, read back against the emulated business: each
//! partner with the assets it uses of ours and its permissions on them.

use crate::support::{P, PINTEREST, TIKTOK, schema_errors, setup};

async fn partners_as_the_platform_has_them(p: &P) {
    let Some(s) = setup(castellan_store::Backend::Sqlite).await else {
        return;
    };
    let app = s.connect(p.name).await;
    // Before a check nothing is known.
    let none = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    assert_eq!(none, serde_json::json!([]));
    assert_eq!(s.check(&app).await["status"], "completed");
    let v = s.get_json(&format!("/api/v1/apps/{app}/partners")).await;
    for item in v.as_array().unwrap() {
        assert_eq!(schema_errors("PartnerBody", item), Vec::<String>::new());
    }
    let mut shared: Vec<(usize, Vec<String>)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            assert_eq!(x["status"], "pending_onboarding", "{x}");
            assert_eq!(x["relation"], "uses_our_assets", "{x}");
            let perms: Vec<String> = x["uses_our_assets"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| a["permissions"].as_array().unwrap().clone())
                .map(|p| p.as_str().unwrap().to_string())
                .collect();
            (x["uses_our_assets"].as_array().unwrap().len(), perms)
        })
        .collect();
    shared.sort();
    // The demo's two agencies: one uses one of our ad accounts, the other two.
    assert_eq!(
        shared.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![1, 2],
        "{v}"
    );
    let expected = if p.name == "pinterest" {
        "CAMPAIGN_MANAGER"
    } else {
        "OPERATOR"
    };
    assert!(
        shared
            .iter()
            .all(|(_, perms)| perms.iter().any(|x| x == expected)),
        "{v}"
    );
}

#[tokio::test]
async fn pinterest_partners_as_the_platform_has_them() {
    partners_as_the_platform_has_them(&PINTEREST).await;
}

#[tokio::test]
async fn tiktok_partners_as_the_platform_has_them() {
    partners_as_the_platform_has_them(&TIKTOK).await;
}
