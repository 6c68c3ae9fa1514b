//! The connectors against the emulators: a full picture of each demo business, the same
//! picture under injected 5xx and 429, token refresh, and the connectivity check.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use castellan_connectors::{
    HttpConfig, PinterestConfig, PinterestConnector, TiktokConfig, TiktokConnector,
};
use castellan_domain::platform::{
    Batch, BoxFuture, Connector, FetchStats, Holder, PartnerRelation, SeatKind, SnapshotSink,
};
use castellan_emulators::{Faults, Running, ScenarioSource, World, scenario as sc};
use serde_json::{Value, json};

#[derive(Default)]
struct Collect {
    seats: BTreeSet<(String, Vec<String>, String)>,
    assets: BTreeSet<(String, String)>,
    grants: BTreeSet<(Holder, String, Vec<String>)>,
    partners: BTreeSet<(String, String)>,
    kept: Vec<castellan_domain::coverage::Kept>,
}

impl SnapshotSink for Collect {
    fn accept(
        &mut self,
        batch: Batch,
    ) -> BoxFuture<'_, Result<(), castellan_domain::platform::SinkError>> {
        match batch {
            Batch::Seats(s) => self.seats.extend(
                s.into_iter()
                    .map(|x| (x.user_id, x.roles, format!("{:?}", x.kind))),
            ),
            Batch::Assets(a) => self.assets.extend(a.into_iter().map(|x| (x.id, x.kind))),
            Batch::Grants(g) => self.grants.extend(g.into_iter().map(|x| {
                let mut p = x.permissions;
                p.sort();
                (x.holder, x.asset_id, p)
            })),
            Batch::Partners(p) => self
                .partners
                .extend(p.into_iter().map(|x| (x.id, format!("{:?}", x.relation)))),
            Batch::Kept(k) => self.kept.extend(k),
        }
        Box::pin(async { Ok(()) })
    }
}

fn fast_http() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(5),
        max_retries: 12,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(200),
        rate_per_sec: 0.0,
        concurrency: 4,
        seed: 7,
    }
}

async fn emulator() -> Running {
    castellan_emulators::start(
        "127.0.0.1:0",
        World::new(ScenarioSource::Demo, 11, Faults::default()).unwrap(),
    )
    .await
    .unwrap()
}

fn pinterest(emu: &Running, token: &str, refresh: Option<&str>) -> PinterestConnector {
    PinterestConnector::new(PinterestConfig {
        base_url: emu.pinterest_url(),
        business_id: sc::PINTEREST_BRAND.to_string(),
        access_token: token.into(),
        refresh_token: refresh.map(str::to_string),
        app: Some((
            sc::PINTEREST_CLIENT_ID.into(),
            sc::PINTEREST_CLIENT_SECRET.into(),
        )),
        http: fast_http(),
        on_refresh: None,
    })
    .unwrap()
}

fn bad_config(emu: &Running) -> PinterestConfig {
    PinterestConfig {
        base_url: emu.pinterest_url(),
        business_id: sc::PINTEREST_BRAND.to_string(),
        access_token: "not-a-token".into(),
        refresh_token: None,
        app: None,
        http: fast_http(),
        on_refresh: None,
    }
}

fn tiktok(emu: &Running) -> TiktokConnector {
    TiktokConnector::new(TiktokConfig {
        base_url: emu.tiktok_url(),
        bc_id: sc::TIKTOK_BRAND.to_string(),
        access_token: sc::TIKTOK_AUTOMATION_TOKEN.into(),
        http: fast_http(),
        per_member_limit: 5000,
    })
    .unwrap()
}

async fn state(emu: &Running, path: &str) -> Value {
    reqwest::get(format!("{}/_emulator{path}", emu.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn fetch(c: &dyn Connector) -> (Collect, FetchStats) {
    let mut sink = Collect::default();
    let stats = c.fetch(&Default::default(), &mut sink).await.unwrap();
    (sink, stats)
}

#[tokio::test]
async fn pinterest_fetch_gives_the_whole_business() {
    let emu = emulator().await;
    let c = pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None);
    let (got, stats) = fetch(&c).await;
    let st = state(
        &emu,
        &format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
    )
    .await;
    // Every member (and system user) with its role, plus the pending invite.
    let members = st["members"].as_array().unwrap();
    let want: BTreeSet<(String, Vec<String>, String)> = members
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_str().unwrap().to_string(),
                vec![m["role"].as_str().unwrap().to_string()],
                if m["system_user"] == true {
                    "SystemUser".into()
                } else {
                    "Member".into()
                },
            )
        })
        .collect();
    let got_members: BTreeSet<_> = got
        .seats
        .iter()
        .filter(|s| s.2 != "Invite")
        .cloned()
        .collect();
    assert_eq!(got_members, want);
    assert_eq!(got.seats.iter().filter(|s| s.2 == "Invite").count(), 1);
    // Every permission of every member on every asset type (summary + per-asset calls).
    let want_grants: BTreeSet<(Holder, String, Vec<String>)> = members
        .iter()
        .flat_map(|m| {
            let u = m["user"]["id"].as_str().unwrap().to_string();
            m["assets"].as_array().unwrap().iter().map(move |a| {
                let mut p: Vec<String> = a["permissions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect();
                p.sort();
                (
                    Holder::Member(u.clone()),
                    a["asset_id"].as_str().unwrap().to_string(),
                    p,
                )
            })
        })
        .collect();
    let got_member_grants: BTreeSet<_> = got
        .grants
        .iter()
        .filter(|g| matches!(g.0, Holder::Member(_)))
        .cloned()
        .collect();
    assert_eq!(got_member_grants, want_grants);
    assert_eq!(got.assets.len(), st["assets"].as_array().unwrap().len());
    assert_eq!(got.partners.len(), 2);
    assert!(
        got.partners
            .iter()
            .all(|p| p.1 == format!("{:?}", PartnerRelation::UsesOurAssets))
    );
    assert!(got.grants.iter().any(|g| matches!(g.0, Holder::Partner(_))));
    // The request count matches what the emulator served.
    let counts = state(&emu, "/requests").await;
    assert_eq!(stats.requests, counts["total"].as_u64().unwrap());
    assert_eq!(stats.retries, 0);
    assert_eq!(stats.seats, got.seats.len() as u64);
    let seats = got.seats.len() as f64;
    eprintln!(
        "pinterest demo: {} requests for {} seats ({:.1} per 1,000 seats)",
        stats.requests,
        seats,
        stats.requests as f64 * 1000.0 / seats
    );
}

/// In a coverage window the connector reads the holders of the assets read longest ago (and
/// never of those left out), sends the others as kept, after the seats, and asks for less.
#[tokio::test]
async fn tiktok_fetch_in_a_coverage_window_reads_a_share_and_keeps_the_rest() {
    use castellan_domain::coverage::{FetchScope, Kept};
    let emu = emulator().await;
    let (full, full_stats) = fetch(&tiktok(&emu)).await;
    let per_asset = full_stats.holders_read;
    assert!(per_asset >= 3);
    assert!(full.kept.is_empty());
    // Every asset and partner read before.
    let mut assets: Vec<String> = full.assets.iter().map(|(id, _)| id.clone()).collect();
    assets.sort();
    let partners: Vec<String> = full.partners.iter().map(|(id, _)| id.clone()).collect();
    let scope = FetchScope {
        full: false,
        window: 3,
        min_per_check: 1,
        holders_read: assets
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), 1000 + i as i64))
            .collect(),
        shares_read: partners.iter().map(|p| (p.clone(), 5)).collect(),
    };
    let c = tiktok(&emu);
    let mut got = Collect::default();
    let stats = c.fetch(&scope, &mut got).await.unwrap();
    let read = per_asset.div_ceil(3);
    assert_eq!(stats.holders_read, read);
    assert_eq!(stats.holders_kept, per_asset - read);
    assert!(
        stats.requests < full_stats.requests,
        "{stats:?} {full_stats:?}"
    );
    let kept: Vec<&String> = got
        .kept
        .iter()
        .filter_map(|k| match k {
            Kept::Holders(a) => Some(a),
            Kept::Shares(_) => None,
        })
        .collect();
    assert_eq!(kept.len() as u64, per_asset - read);
    // No grant of a member on a kept asset was read; the seats are all there.
    assert!(
        got.grants
            .iter()
            .all(|(h, a, _)| { !matches!(h, Holder::Member(_)) || !kept.contains(&a) })
    );
    assert_eq!(got.seats, full.seats);
    assert_eq!(
        got.kept
            .iter()
            .filter(|k| matches!(k, Kept::Shares(_)))
            .count() as u64,
        stats.shares_kept
    );
    assert_eq!(
        stats.shares_kept as usize,
        partners.len() - partners.len().div_ceil(3)
    );
    // A full scope reads it all again.
    let mut again = Collect::default();
    let s = c
        .fetch(
            &FetchScope {
                full: true,
                ..scope
            },
            &mut again,
        )
        .await
        .unwrap();
    assert_eq!((s.holders_read, s.holders_kept), (per_asset, 0));
    assert_eq!(again.grants, full.grants);
}

#[tokio::test]
async fn tiktok_fetch_gives_the_whole_business() {
    let emu = emulator().await;
    let c = tiktok(&emu);
    let (got, stats) = fetch(&c).await;
    let st = state(&emu, &format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND)).await;
    let members = st["members"].as_array().unwrap();
    let want: BTreeSet<(String, Vec<String>, String)> = members
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_str().unwrap().to_string(),
                vec![m["role"].as_str().unwrap().to_string()],
                "Member".into(),
            )
        })
        .collect();
    let got_members: BTreeSet<_> = got
        .seats
        .iter()
        .filter(|s| s.2 == format!("{:?}", SeatKind::Member))
        .cloned()
        .collect();
    assert_eq!(got_members, want);
    assert_eq!(
        got.seats.iter().filter(|s| s.2 == "Invite").count(),
        st["pending"].as_array().unwrap().len()
    );
    let want_grants: BTreeSet<(Holder, String, Vec<String>)> = members
        .iter()
        .flat_map(|m| {
            let u = m["user"]["id"].as_str().unwrap().to_string();
            m["assets"].as_array().unwrap().iter().map(move |a| {
                let mut p: Vec<String> = a["role"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .collect();
                p.sort();
                (
                    Holder::Member(u.clone()),
                    a["asset_id"].as_str().unwrap().to_string(),
                    p,
                )
            })
        })
        .collect();
    let got_member_grants: BTreeSet<_> = got
        .grants
        .iter()
        .filter(|g| matches!(g.0, Holder::Member(_)))
        .cloned()
        .collect();
    assert_eq!(got_member_grants, want_grants);
    assert_eq!(got.assets.len(), st["assets"].as_array().unwrap().len());
    assert_eq!(got.partners.len(), 2);
    assert_eq!(
        stats.requests,
        state(&emu, "/requests").await["total"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn fetches_converge_under_injected_5xx_and_429() {
    let emu = emulator().await;
    let (clean_p, _) = fetch(&pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None)).await;
    let (clean_t, _) = fetch(&tiktok(&emu)).await;
    let r = reqwest::Client::new()
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(&json!({ "error_rate": 0.1, "pinterest_ads_read_per_sec": 5.0, "pinterest_org_per_sec": 5.0, "tiktok_qps": 20.0 }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let (p, ps) = fetch(&pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None)).await;
    let (t, ts) = fetch(&tiktok(&emu)).await;
    assert!(
        ps.retries > 0 && ts.retries > 0,
        "faults were hit: {ps:?} {ts:?}"
    );
    assert_eq!(
        (p.seats, p.assets, p.grants, p.partners),
        (
            clean_p.seats,
            clean_p.assets,
            clean_p.grants,
            clean_p.partners
        )
    );
    assert_eq!(
        (t.seats, t.assets, t.grants, t.partners),
        (
            clean_t.seats,
            clean_t.assets,
            clean_t.grants,
            clean_t.partners
        )
    );
}

#[tokio::test]
async fn pinterest_refreshes_an_expired_token_once() {
    let emu = emulator().await;
    reqwest::Client::new()
        .post(format!(
            "{}/_emulator/pinterest/tokens/expire",
            emu.base_url()
        ))
        .send()
        .await
        .unwrap();
    let refreshed: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = refreshed.clone();
    let mut cfg = PinterestConfig {
        base_url: emu.pinterest_url(),
        business_id: sc::PINTEREST_BRAND.to_string(),
        access_token: sc::PINTEREST_AUTOMATION_TOKEN.into(),
        refresh_token: Some("pinr_demo_automation_refresh".into()),
        app: Some((
            sc::PINTEREST_CLIENT_ID.into(),
            sc::PINTEREST_CLIENT_SECRET.into(),
        )),
        http: fast_http(),
        on_refresh: None,
    };
    cfg.on_refresh = Some(Arc::new(move |access: &str, _refresh: &str, _exp: i64| {
        seen.lock().unwrap().push(access.to_string())
    }));
    let c = PinterestConnector::new(cfg.clone()).unwrap();
    let (got, _) = fetch(&c).await;
    assert!(got.seats.len() > 30);
    assert_eq!(
        refreshed.lock().unwrap().len(),
        1,
        "one refresh serves the whole fetch"
    );
    // Without a refresh token the 401 is final and says so.
    cfg.refresh_token = None;
    cfg.on_refresh = None;
    let err = PinterestConnector::new(cfg)
        .unwrap()
        .fetch(&Default::default(), &mut Collect::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            castellan_domain::platform::ConnectorError::Unauthorized(_)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn connectivity_check_reports_role_and_reach() {
    let emu = emulator().await;
    let ok = pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None)
        .check()
        .await
        .unwrap();
    assert!(ok.admin && ok.missing_scopes.is_empty());
    let t = tiktok(&emu).check().await.unwrap();
    assert!(t.admin);
    // A refused token with nothing to refresh it is final and says so.
    let bad = PinterestConnector::new(bad_config(&emu)).unwrap();
    assert!(matches!(
        bad.check().await,
        Err(castellan_domain::platform::ConnectorError::Unauthorized(_))
    ));
    let wrong_bc = TiktokConnector::new(TiktokConfig {
        base_url: emu.tiktok_url(),
        bc_id: "123".into(),
        access_token: sc::TIKTOK_AUTOMATION_TOKEN.into(),
        http: fast_http(),
        per_member_limit: 10,
    })
    .unwrap();
    assert!(matches!(
        wrong_bc.check().await,
        Err(castellan_domain::platform::ConnectorError::NotFound(_))
    ));
}

/// Each write against both emulators: its effect in the emulator's state, what the connector
/// reads back, and that running it again makes no call.
#[tokio::test]
async fn writes_take_effect_once_and_read_back() {
    use castellan_domain::changes::Change;
    for platform in ["pinterest", "tiktok"] {
        let emu = emulator().await;
        let (c, path, employee, admin): (Box<dyn Connector>, String, &str, &str) =
            if platform == "pinterest" {
                (
                    Box::new(pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None)),
                    format!("/pinterest/businesses/{}", sc::PINTEREST_BRAND),
                    "EMPLOYEE",
                    "BIZ_ADMIN",
                )
            } else {
                (
                    Box::new(tiktok(&emu)),
                    format!("/tiktok/bcs/{}", sc::TIKTOK_BRAND),
                    "STANDARD",
                    "ADMIN",
                )
            };
        let st = state(&emu, &path).await;
        let member = st["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == employee && m["system_user"] != true)
            .unwrap()
            .clone();
        let user = member["user"]["id"].as_str().unwrap().to_string();
        let email = member["user"]["email"].as_str().map(str::to_string);
        let (kind, perms) = if platform == "pinterest" {
            ("AD_ACCOUNT", vec!["ANALYST".to_string()])
        } else {
            ("ADVERTISER", vec!["OPERATOR".to_string()])
        };
        let asset = st["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["type"] == kind)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let member_now = |st: &Value| {
            st["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["user"]["id"] == user.as_str())
                .cloned()
        };
        let run = |change: Change| {
            let c = &c;
            async move {
                let first = c.apply(&change).await.unwrap();
                assert!(!first.already, "{platform}: {change:?}");
                let again = c.apply(&change).await.unwrap();
                assert!(again.already, "{platform}: {change:?} ran twice");
                assert!(!c.describe(&change).is_empty());
                first
            }
        };
        // Permissions on an asset.
        let g = run(Change::Grant {
            user_id: user.clone(),
            asset_id: asset.clone(),
            asset_kind: kind.into(),
            permissions: perms.clone(),
        })
        .await;
        assert_eq!(g.grant.unwrap().permissions, perms);
        let st = state(&emu, &path).await;
        let held = member_now(&st).unwrap()["assets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["asset_id"] == asset.as_str());
        assert!(held, "{platform}: grant not in the emulator");
        let r = run(Change::Revoke {
            user_id: user.clone(),
            asset_id: asset.clone(),
            asset_kind: kind.into(),
        })
        .await;
        assert!(r.grant.is_none());
        // The business role.
        let promoted = run(Change::SetRole {
            user_id: user.clone(),
            email: email.clone(),
            role: admin.into(),
        })
        .await;
        assert_eq!(promoted.seat.unwrap().roles, vec![admin.to_string()]);
        assert_eq!(
            member_now(&state(&emu, &path).await).unwrap()["role"],
            admin
        );
        // An invitation, then its cancellation.
        let invited = run(Change::Invite {
            email: "second.hire@acme.example.com".into(),
            role: employee.into(),
            assets: if platform == "pinterest" {
                vec![(asset.clone(), kind.into(), perms.clone())]
            } else {
                Vec::new()
            },
        })
        .await;
        let seat = invited.seat.unwrap();
        assert!(seat.user_id.starts_with("invite:"), "{seat:?}");
        run(Change::CancelInvite {
            seat: seat.user_id.clone(),
            email: Some("second.hire@acme.example.com".into()),
        })
        .await;
        // Removal.
        let removed = run(Change::RemoveMember {
            user_id: user.clone(),
            email: email.clone(),
        })
        .await;
        assert!(removed.seat.is_none());
        assert!(member_now(&state(&emu, &path).await).is_none());
    }
}

/// A list answer without its paging field is an error naming the endpoint and the field, not
/// a last page: a platform that renamed `page_info.total_page` would otherwise cut every
/// fetch to its first page without a word.
#[tokio::test]
async fn a_page_without_its_paging_field_fails_naming_endpoint_and_field() {
    use castellan_domain::platform::ConnectorError;
    let emu = emulator().await;
    for (suffix, field, conn, named) in [
        (
            "/bc/member/get/",
            "data.page_info.total_page",
            Box::new(tiktok(&emu)) as Box<dyn Connector>,
            ["/bc/member/get/", "page_info", "total_page"],
        ),
        (
            "/members",
            "items",
            Box::new(pinterest(&emu, sc::PINTEREST_AUTOMATION_TOKEN, None)),
            ["/members", "items", "missing field"],
        ),
    ] {
        let faults = json!({ "drop_field": { "path_suffix": suffix, "field": field } });
        let r = reqwest::Client::new()
            .put(format!("{}/_emulator/faults", emu.base_url()))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let mut sink = Collect::default();
        let err = conn
            .fetch(&Default::default(), &mut sink)
            .await
            .unwrap_err();
        assert!(matches!(err, ConnectorError::Protocol(_)), "{err}");
        assert!(!err.is_retryable());
        let text = err.to_string();
        for n in named {
            assert!(text.contains(n), "{n:?} in {text}");
        }
    }
}
