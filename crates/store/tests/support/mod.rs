//! What the store's test binaries share: a fixed clock, the test actor, a workspace with its
//! Owner, directory identities, an app to check and a business to check it against, and the
//! `conformance!` macro that runs each case on SQLite and PostgreSQL.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use castellan_domain::audit::Actor;
use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity};
use castellan_domain::values::Email;
use castellan_domain::{FixedClock, PersonId};
use castellan_store::Store;

pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(castellan_domain::clock::from_millis(
        1_800_000_000_000,
    )))
}

pub fn cli() -> Actor {
    Actor::Automation {
        name: "test".into(),
    }
}

pub fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

pub async fn workspace(store: &Store, name: &str) -> (castellan_domain::WorkspaceId, PersonId) {
    let (w, p) = store
        .create_workspace_with_owner(
            name,
            &email(&format!("owner@{name}.example.com")),
            "hash",
            &cli(),
        )
        .await
        .unwrap();
    (w.id, p.id)
}

pub fn identity(user: &str, mail: &str, active: bool) -> IdentityInput {
    IdentityInput::validate(
        &RawIdentity {
            user_name: user,
            primary_email: mail,
            active,
            given_name: "Given",
            ..Default::default()
        },
        &JSON_FIELDS,
    )
    .unwrap()
}

#[macro_export]
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = castellan_testkit::TestDb::sqlite();
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let Some(db) = castellan_testkit::TestDb::postgres().await else { return };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

pub mod world {
    use castellan_domain::platform::*;

    pub fn seat(id: &str, email: &str, role: &str) -> SeatRecord {
        SeatRecord {
            user_id: id.into(),
            username: Some(format!("user{id}")),
            email: Some(email.into()),
            display_name: None,
            roles: vec![role.into()],
            kind: SeatKind::Member,
        }
    }

    pub fn grant(holder: &str, asset: &str, perm: &str) -> GrantRecord {
        GrantRecord {
            holder: Holder::Member(holder.into()),
            asset_id: asset.into(),
            permissions: vec![perm.into()],
        }
    }

    /// A business of `n` members, each holding two of 20 assets, and two partners.
    pub fn business(
        n: usize,
    ) -> (
        Vec<SeatRecord>,
        Vec<AssetRecord>,
        Vec<GrantRecord>,
        Vec<PartnerRecord>,
    ) {
        let seats = (0..n)
            .map(|i| {
                seat(
                    &format!("{}", 1000 + i),
                    &format!("person{i}@acme.example.com"),
                    "EMPLOYEE",
                )
            })
            .collect();
        let assets = (0..20)
            .map(|a| AssetRecord {
                id: format!("A{a}"),
                kind: "AD_ACCOUNT".into(),
                name: Some(format!("Account {a}")),
                owner_id: None,
            })
            .collect();
        let grants = (0..n)
            .flat_map(|i| {
                let m = format!("{}", 1000 + i);
                [
                    grant(&m, &format!("A{}", i % 20), "ADMIN"),
                    grant(&m, &format!("A{}", (i + 7) % 20), "ANALYST"),
                ]
            })
            .collect();
        let partners = ["P1", "P2"]
            .iter()
            .map(|p| PartnerRecord {
                id: p.to_string(),
                name: Some(format!("Agency {p}")),
                relation: PartnerRelation::UsesOurAssets,
            })
            .collect();
        (seats, assets, grants, partners)
    }

    /// The business as batches of at most 7 items (so a check sees many batches).
    pub fn batches(
        b: &(
            Vec<SeatRecord>,
            Vec<AssetRecord>,
            Vec<GrantRecord>,
            Vec<PartnerRecord>,
        ),
    ) -> Vec<Batch> {
        let mut out: Vec<Batch> = b.0.chunks(7).map(|c| Batch::Seats(c.to_vec())).collect();
        out.extend(b.1.chunks(7).map(|c| Batch::Assets(c.to_vec())));
        out.extend(b.2.chunks(7).map(|c| Batch::Grants(c.to_vec())));
        out.push(Batch::Partners(b.3.clone()));
        out
    }
}

pub async fn app_for_checks(
    store: &Store,
    ws: castellan_domain::WorkspaceId,
) -> castellan_domain::AppId {
    use castellan_domain::apps::Platform;
    let (acct, _) = store
        .ws(ws)
        .create_automation_account(
            &cli(),
            &castellan_store::NewAutomationAccount {
                platform: Platform::Pinterest,
                label: "bot".into(),
                email: "bot@acme.example.com".into(),
                phone: None,
                token_scopes: None,
                token_expires_at: None,
                secrets: Vec::new(),
            },
        )
        .await
        .unwrap();
    store
        .ws(ws)
        .create_app(
            &cli(),
            &castellan_store::NewApp {
                platform: Platform::Pinterest,
                label: "Acme".into(),
                business_id: "549755900001".into(),
                login_method: castellan_domain::apps::LoginMethod::Sso,
                automation_account_id: acct.id,
                api_base_url: None,
                next_check_at: None,
            },
        )
        .await
        .unwrap()
        .id
}

pub async fn run_check(
    store: &Store,
    ws: castellan_domain::WorkspaceId,
    app: castellan_domain::AppId,
    batches: &[castellan_domain::platform::Batch],
) -> castellan_store::CheckSummary {
    run_check_in_passes(store, ws, app, batches, 50_000).await
}

/// [`run_check`] diffing at most about `pass_rows` rows at once.
pub async fn run_check_in_passes(
    store: &Store,
    ws: castellan_domain::WorkspaceId,
    app: castellan_domain::AppId,
    batches: &[castellan_domain::platform::Batch],
    pass_rows: u64,
) -> castellan_store::CheckSummary {
    run_check_as(store, ws, app, batches, |run| run.pass_rows(pass_rows)).await
}

/// [`run_check`] with the run set up by `tune` (diffing in passes, keeping lists).
pub async fn run_check_as(
    store: &Store,
    ws: castellan_domain::WorkspaceId,
    app: castellan_domain::AppId,
    batches: &[castellan_domain::platform::Batch],
    tune: impl FnOnce(castellan_store::CheckRun) -> castellan_store::CheckRun,
) -> castellan_store::CheckSummary {
    let task = castellan_domain::TaskId::new(store.env());
    let mut run = tune(store.ws(ws).begin_check(app, task).await.unwrap());
    for b in batches {
        run.accept(b.clone()).await.unwrap();
    }
    run.finish(&cli(), Default::default()).await.unwrap()
}

pub async fn counts(
    store: &Store,
    ws: castellan_domain::WorkspaceId,
    app: castellan_domain::AppId,
) -> HashMap<String, i64> {
    let counted: HashMap<String, i64> = store
        .ws(ws)
        .seat_counts(app)
        .await
        .unwrap()
        .into_iter()
        .collect();
    // The counters the triggers keep (what pages show) agree with a count of the seats.
    let kept: HashMap<String, i64> = store
        .ws(ws)
        .app_counts(&[app])
        .await
        .unwrap()
        .remove(&app)
        .unwrap_or_default()
        .tabs
        .into_iter()
        .filter(|(t, _)| t != "removed")
        .collect();
    assert_eq!(kept, counted, "the seat counters drifted from the seats");
    counted
}
