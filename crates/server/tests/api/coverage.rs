//! TikTok's coverage window against the emulator: a re-check reads a share of the assets'
//! holders and of the partners' shared assets and keeps the rest as read before (0 rows
//! written), each kept asset shows its age, a change on a kept asset is seen within the window,
//! a member who left loses every grant at once (read or kept), and a full check reads all.

use crate::support::setup_tuned;
use castellan_emulators::scenario as sc;
use castellan_services::{Coverage, CoverageWindow};
use serde_json::json;

const WINDOW: u64 = 3;

/// The app's assets: `(asset_id, holders_as_of, holders)` per asset.
async fn assets(
    s: &crate::support::Setup,
    app: &str,
) -> Vec<(String, Option<String>, Vec<String>)> {
    s.assets(app)
        .await
        .iter()
        .map(|a| {
            (
                a["asset_id"].as_str().unwrap().to_string(),
                a["holders_as_of"].as_str().map(str::to_string),
                a["holders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| h["holder"].as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

async fn story(backend: castellan_store::Backend) {
    let Some(s) = setup_tuned(
        backend,
        None,
        |_| Default::default(),
        |svc| {
            svc.coverage = Coverage {
                tiktok: CoverageWindow {
                    window: WINDOW as u32,
                    min_per_check: 1,
                },
            }
        },
    )
    .await
    else {
        return;
    };
    let app = s.connect("tiktok").await;
    // A first check reads everything.
    let first = s.check(&app).await;
    assert_eq!(first["status"], "completed", "{first}");
    let f = &first["result"]["fetch"];
    let per_asset = f["holders_read"].as_u64().unwrap();
    assert!(per_asset >= WINDOW, "{first}");
    assert_eq!(f["holders_kept"], 0, "{first}");
    let full_requests = f["requests"].as_u64().unwrap();
    assert!(assets(&s, &app).await.iter().all(|a| a.1.is_none()));

    // A re-check reads a third of the assets' holders, keeps the rest, and writes nothing.
    let second = s.check(&app).await;
    let f = &second["result"]["fetch"];
    let read = per_asset.div_ceil(WINDOW);
    assert_eq!(f["holders_read"].as_u64(), Some(read), "{second}");
    assert_eq!(
        f["holders_kept"].as_u64(),
        Some(per_asset - read),
        "{second}"
    );
    assert!(f["requests"].as_u64().unwrap() < full_requests, "{second}");
    assert!(f["oldest_kept_at"].is_i64(), "{second}");
    // The demo's business has two partners: one read, one kept with what it shares (nothing
    // vanished: 0 rows written below).
    assert_eq!(f["shares_kept"], 1, "{second}");
    assert_eq!(second["result"]["changes"]["rows_written"], 0, "{second}");
    let listed = assets(&s, &app).await;
    let kept: Vec<&(String, Option<String>, Vec<String>)> =
        listed.iter().filter(|a| a.1.is_some()).collect();
    assert_eq!(
        kept.len() as u64,
        per_asset - read,
        "each kept asset shows its age"
    );

    // A grant revoked on the platform on a kept asset: seen once the window reaches it.
    // The one the window reaches last (equal ages go in id order), so it is kept once more.
    let (asset, _, holders) = kept
        .iter()
        .filter(|a| !a.2.is_empty())
        .max_by(|a, b| a.0.cmp(&b.0))
        .copied()
        .expect("a kept asset with holders");
    let holder = holders[0].strip_prefix("member:").unwrap().to_string();
    let bc: u64 = sc::TIKTOK_BRAND;
    s.control(
        "DELETE",
        "/tiktok/grants",
        json!({ "bc": bc, "user": holder.parse::<u64>().unwrap(), "asset": asset.parse::<u64>().unwrap() }),
    )
    .await;
    let mut seen_after = None;
    let mut kept_again = 0;
    for n in 1..=WINDOW {
        let c = s.check(&app).await;
        assert_eq!(c["status"], "completed", "{c}");
        let now = assets(&s, &app).await;
        let a = now.iter().find(|a| &a.0 == asset).unwrap();
        let holds = a.2.contains(&format!("member:{holder}"));
        if a.1.is_some() {
            assert!(holds, "a kept asset keeps its holders as read before");
            kept_again += 1;
        } else {
            assert!(!holds, "read again, the revoked grant is gone");
            assert_eq!(c["result"]["changes"]["grants_vanished"], 1, "{c}");
            seen_after = Some(n);
            break;
        }
    }
    assert!(kept_again >= 1, "the change waited for the window");
    assert!(
        seen_after.is_some(),
        "every asset is read within {WINDOW} checks"
    );

    // A member who leaves loses every grant at once, on read and kept assets alike.
    let windowed = s.check(&app).await;
    assert!(
        windowed["result"]["fetch"]["holders_kept"]
            .as_u64()
            .unwrap()
            > 0
    );
    let listed = assets(&s, &app).await;
    let leaver = listed
        .iter()
        .filter(|a| a.1.is_some())
        .flat_map(|a| a.2.iter())
        .find(|h| h.starts_with("member:"))
        .expect("a holder of a kept asset")
        .clone();
    s.control(
        "DELETE",
        "/tiktok/members",
        json!({ "bc": bc, "user": leaver.strip_prefix("member:").unwrap().parse::<u64>().unwrap() }),
    )
    .await;
    let after = s.check(&app).await;
    assert_eq!(after["result"]["changes"]["seats_vanished"], 1, "{after}");
    assert!(
        assets(&s, &app)
            .await
            .iter()
            .all(|a| !a.2.contains(&leaver)),
        "the leaver holds nothing, kept assets included"
    );

    // A grant added on the platform to an asset the window keeps: a full check sees it now.
    let listed = assets(&s, &app).await;
    let (kept_asset, _, kept_holders) = listed
        .iter()
        .find(|a| a.1.is_some())
        .expect("a kept asset")
        .clone();
    let members = s.tab(&app, "onboarded").await;
    let newcomer = members
        .iter()
        .map(|m| m["user_id"].as_str().unwrap().to_string())
        .find(|u| !kept_holders.contains(&format!("member:{u}")))
        .unwrap();
    s.control(
        "POST",
        "/tiktok/grants",
        json!({ "bc": bc, "user": newcomer.parse::<u64>().unwrap(), "asset": kept_asset.parse::<u64>().unwrap(), "role": ["ANALYST"] }),
    )
    .await;
    let full = s.check_with(&app, "?full=true").await;
    assert_eq!(full["status"], "completed", "{full}");
    assert_eq!(full["result"]["fetch"]["holders_kept"], 0, "{full}");
    assert_eq!(full["result"]["changes"]["grants_new"], 1, "{full}");
    let listed = assets(&s, &app).await;
    assert!(listed.iter().all(|a| a.1.is_none()), "all read: none aged");
    assert!(
        listed
            .iter()
            .find(|a| a.0 == kept_asset)
            .unwrap()
            .2
            .contains(&format!("member:{newcomer}"))
    );
    // A bad value of `full` is refused, naming it.
    let r = s
        .app
        .post(&s.token, &format!("/api/v1/apps/{app}/check?full=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("full"));
}

#[tokio::test]
async fn tiktok_coverage_window_sqlite() {
    story(castellan_store::Backend::Sqlite).await;
}

#[tokio::test]
async fn tiktok_coverage_window_postgres() {
    story(castellan_store::Backend::Postgres).await;
}
