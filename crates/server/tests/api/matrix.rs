//! The authorization matrix: every `/api/v1` route, called as anonymous, Guest, Member, Admin,
//! Owner, and the Owner of another workspace, with the exact expected status. A route missing
//! from the table fails the test.

use std::collections::BTreeSet;

use castellan_domain::audit::Actor;
use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity};
use castellan_domain::tasks::{TaskKind, TaskTrigger};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{PersonId, WorkspaceId};
use castellan_store::NewTask;
use reqwest::Method;

use castellan_testkit::{TestApp, cli, unique};

/// Callers, in the order of each row's expectations.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Anonymous,
    Guest,
    Member,
    Admin,
    Owner,
    OtherOwner,
}

const WHO: [Who; 6] = [
    Who::Anonymous,
    Who::Guest,
    Who::Member,
    Who::Admin,
    Who::Owner,
    Who::OtherOwner,
];

/// Placeholders in paths and bodies, filled with fresh rows of workspace A per request.
enum Body {
    None,
    Json(fn() -> serde_json::Value),
    Csv(&'static str),
}

struct Row {
    method: Method,
    path: &'static str,
    body: Body,
    expect: [u16; 6],
}

fn rows() -> Vec<Row> {
    use Body::*;
    let r = |method: Method, path: &'static str, body: Body, expect: [u16; 6]| Row {
        method,
        path,
        body,
        expect,
    };
    let g = Method::GET;
    let p = Method::POST;
    vec![
        r(
            p.clone(),
            "/api/v1/auth/login",
            Json(
                || serde_json::json!({"email": "owner@matrix-a.example.com", "password": "matrix password 123"}),
            ),
            [200, 200, 200, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/auth/logout",
            None,
            [401, 204, 204, 204, 204, 204],
        ),
        r(
            g.clone(),
            "/api/v1/me",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/me/password",
            Json(
                || serde_json::json!({"current_password": "wrong", "new_password": "a long new password"}),
            ),
            [401, 403, 403, 403, 403, 403],
        ),
        r(
            g.clone(),
            "/api/v1/tokens",
            None,
            [401, 403, 200, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/tokens",
            Json(|| serde_json::json!({"name": "ci", "scope": "read"})),
            [401, 403, 201, 201, 201, 201],
        ),
        r(
            Method::DELETE,
            "/api/v1/tokens/{id}",
            None,
            [401, 403, 200, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/workspace",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        r(
            Method::PATCH,
            "/api/v1/workspace",
            Json(|| serde_json::json!({"settings": {"k": 1}})),
            [401, 403, 403, 403, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/people",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/people",
            Json(
                || serde_json::json!({"email": format!("new{}@matrix.example.com", unique()), "role": "member"}),
            ),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            g.clone(),
            "/api/v1/people/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::PATCH,
            "/api/v1/people/{id}",
            Json(|| serde_json::json!({"display_name": "Renamed"})),
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/directory/identities",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/directory/identities",
            Json(|| {
                let n = unique();
                serde_json::json!({"user_name": format!("m{n}"), "primary_email": format!("m{n}@matrix.example.com")})
            }),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            g.clone(),
            "/api/v1/directory/identities/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::PUT,
            "/api/v1/directory/identities/{id}",
            Json(|| {
                let n = unique();
                serde_json::json!({"user_name": format!("r{n}"), "primary_email": format!("r{n}@matrix.example.com")})
            }),
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/directory/identities/{id}/deactivate",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/directory/identities/{id}/reactivate",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/directory/import",
            Csv("userName,email\nimported,imported@matrix.example.com\n"),
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/directory/groups",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/directory/groups",
            Json(|| serde_json::json!({"display_name": format!("G{}", unique())})),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            g.clone(),
            "/api/v1/directory/groups/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::PATCH,
            "/api/v1/directory/groups/{id}",
            Json(|| serde_json::json!({"display_name": format!("H{}", unique())})),
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::DELETE,
            "/api/v1/directory/groups/{id}",
            None,
            [401, 403, 403, 204, 204, 404],
        ),
        r(
            g.clone(),
            "/api/v1/tasks",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/tasks/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/tasks/{id}/cancel",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/audit/events",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/audit/export",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/audit/verify",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/automation-accounts",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/automation-accounts",
            Json(
                || serde_json::json!({"platform": "pinterest", "label": format!("bot {}", unique()), "email": "bot@matrix.example.com", "password": "pw-long-enough"}),
            ),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            g.clone(),
            "/api/v1/automation-accounts/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/automation-accounts/{id}/reveal",
            Json(|| serde_json::json!({"secret": "password"})),
            [401, 403, 403, 403, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/accounts",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/me/accounts",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{id}/connect",
            Json(|| serde_json::json!({"login": "ann@acme.example.com", "password": "pw"})),
            [401, 404, 404, 404, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{id}/reveal",
            None,
            [401, 404, 404, 404, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/accounts/{id}/shares",
            None,
            [401, 404, 404, 404, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{id}/shares",
            Json(
                || serde_json::json!({"person_id": "00000000-0000-0000-0000-000000000000", "role": "collaborator"}),
            ),
            [401, 404, 404, 404, 403, 404],
        ),
        r(
            Method::DELETE,
            "/api/v1/accounts/{id}/shares/{share_id}",
            None,
            [401, 404, 404, 404, 404, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/apps",
            Json(
                || serde_json::json!({"platform": "pinterest", "label": format!("app {}", unique()), "business_id": "1", "login_method": "sso", "automation_account_id": "00000000-0000-0000-0000-000000000000"}),
            ),
            // A well-formed id that names no automation account: 404, naming the field.
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::DELETE,
            "/api/v1/apps/{id}",
            Json(|| serde_json::json!({"reason": "retired business"})),
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/check",
            None,
            [401, 403, 403, 202, 202, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/connect",
            None,
            [401, 403, 403, 202, 202, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}/members",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}/assets",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}/partners",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/local-partners",
            None,
            [401, 200, 200, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners",
            Json(
                || serde_json::json!({"name": format!("fx partner {}", unique()), "first_email": format!("fx{}@partner.example.com", unique())}),
            ),
            // Guests and Members may ask, and are refused by the partner rules.
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            g.clone(),
            "/api/v1/local-partners/{id}",
            None,
            // Nobody of the partner: only the workspace's Admins and Owners see it.
            [401, 404, 404, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{id}/people",
            Json(
                || serde_json::json!({"email": format!("fx{}@partner.example.com", unique()), "role": "guest_user"}),
            ),
            [401, 404, 404, 201, 201, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/members/{user_id}/invite-guest",
            Json(|| serde_json::json!({})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{id}/people/{person_id}",
            Json(|| serde_json::json!({"action": "resend"})),
            // Nobody of the partner is that person: 404 for those who may see it.
            [401, 404, 404, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{id}/end",
            None,
            [401, 404, 404, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/local-partners/{id}/native-partners",
            Json(|| serde_json::json!({"app_id": "nope", "partner_id": "1"})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/partners/{partner_id}/connect",
            Json(
                || serde_json::json!({"automation_account_id": "00000000-0000-0000-0000-000000000000"}),
            ),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/partners/{partner_id}/consent",
            Json(
                || serde_json::json!({"automation_account_id": "00000000-0000-0000-0000-000000000000"}),
            ),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/partners/{partner_id}/stop-sharing",
            Json(|| serde_json::json!({"dry_run": true})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/partners/{partner_id}/remove",
            Json(|| serde_json::json!({"dry_run": true})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/partners/{partner_id}/disconnect",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/changes",
            Json(|| serde_json::json!({"action": "remove", "seats": ["nope"]})),
            // A seat that is not live is a conflict with the app's state.
            [401, 403, 403, 409, 409, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/members/{user_id}/match",
            Json(
                || serde_json::json!({"identity_id": "01a20d10-5830-7a00-ad6a-b86daf799159", "role": "owner"}),
            ),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/members/{user_id}/unmatch",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/members/{user_id}/exempt",
            Json(|| serde_json::json!({"reason": "agency contract until March"})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/members/{user_id}/unexempt",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}/reports/{report_id}",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/reports/{report_id}/apply",
            Json(|| serde_json::json!({})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/reports/{report_id}/dismiss",
            Json(|| serde_json::json!({"reason": "kept on purpose"})),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            g.clone(),
            "/api/v1/outbox",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            g.clone(),
            "/api/v1/apps/{id}/reports",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::PUT,
            "/api/v1/platform-apps/{platform}",
            Json(
                || serde_json::json!({"client_id": "1", "client_secret": "s", "authorize_url": "https://example.com/oauth/", "token_url": "https://example.com/token"}),
            ),
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/automation-accounts/{id}/oauth/start",
            None,
            [401, 403, 403, 400, 400, 404],
        ),
        r(
            g.clone(),
            "/api/v1/guests",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/guests",
            Json(|| serde_json::json!({"email": format!("g{}@guests.example.com", unique())})),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            p.clone(),
            "/api/v1/guests/{id}/resend",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            Method::DELETE,
            "/api/v1/guests/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        // Public: the link's token is the credential; an unknown one is not found.
        r(
            p.clone(),
            "/api/v1/guest-links/accept",
            Json(|| serde_json::json!({"token": "cgl_nope", "password": "a long new password"})),
            [404, 404, 404, 404, 404, 404],
        ),
        r(
            p.clone(),
            "/api/v1/outbox/{id}/reveal",
            None,
            [401, 403, 403, 403, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/me/accounts",
            Json(|| serde_json::json!({"platform": "pinterest", "label": "My own account"})),
            [401, 201, 201, 201, 201, 201],
        ),
        r(
            p.clone(),
            "/api/v1/apps/{id}/access",
            Json(
                || serde_json::json!({"identity_ids": ["00000000-0000-0000-0000-000000000000"], "app_role": "collaborator", "business_role": "STANDARD"}),
            ),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            Method::PUT,
            "/api/v1/apps/{id}/rotation",
            Json(|| serde_json::json!({"policy": "schedule", "days": 30})),
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            p.clone(),
            "/api/v1/accounts/{id}/rotation/confirm",
            None,
            [401, 404, 404, 404, 403, 404],
        ),
        r(
            p.clone(),
            "/api/v1/passwords/generate",
            Json(|| serde_json::json!({"length": 20})),
            [401, 200, 200, 200, 200, 200],
        ),
        // SCIM tokens write the directory: Admins and Owners, admin-scoped.
        r(
            g.clone(),
            "/api/v1/scim/tokens",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/scim/tokens",
            Json(|| serde_json::json!({"name": "Okta"})),
            [401, 403, 403, 201, 201, 201],
        ),
        r(
            Method::DELETE,
            "/api/v1/scim/tokens/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        // OIDC sign-in: Admins read it, Owners set it (an IdP they controlled could sign
        // anyone in, Owners included). Nothing is set up before the PUT.
        r(
            g.clone(),
            "/api/v1/oidc",
            None,
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            Method::PUT,
            "/api/v1/oidc",
            Json(
                || serde_json::json!({"display_name": "Okta", "issuer": "https://acme.okta.example.com", "client_id": "castellan", "client_secret": "s3cret"}),
            ),
            [401, 403, 403, 403, 200, 200],
        ),
        r(
            Method::DELETE,
            "/api/v1/oidc",
            None,
            [401, 403, 403, 403, 204, 204],
        ),
        // Group mappings: the directory's Admins read them; mapping and plans change app
        // members, so Admins and Owners (write-scoped).
        r(
            g.clone(),
            "/api/v1/group-mappings",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/group-mappings",
            Json(
                || serde_json::json!({"group_id": "00000000-0000-0000-0000-000000000000", "app_id": "00000000-0000-0000-0000-000000000000", "app_role": "collaborator", "business_role": "STANDARD"}),
            ),
            [401, 403, 403, 404, 404, 404],
        ),
        r(
            Method::DELETE,
            "/api/v1/group-mappings/{id}",
            None,
            [401, 403, 403, 200, 200, 404],
        ),
        r(
            g.clone(),
            "/api/v1/group-mappings/plan",
            None,
            [401, 403, 403, 200, 200, 200],
        ),
        r(
            p.clone(),
            "/api/v1/group-mappings/apply",
            Json(|| serde_json::json!({"plan_hash": "not the plan's"})),
            [401, 403, 403, 409, 409, 409],
        ),
        // Public: the state in the query is the credential.
        r(
            g.clone(),
            "/api/v1/oauth/callback",
            None,
            [400, 400, 400, 400, 400, 400],
        ),
        // Public: the API description.
        r(
            g.clone(),
            "/api/v1/openapi.json",
            None,
            [200, 200, 200, 200, 200, 200],
        ),
    ]
}

/// Routes outside the OpenAPI document (it cannot describe itself).
const UNDOCUMENTED: &[&str] = &["GET /api/v1/openapi.json"];

struct Fixture {
    ws_a: WorkspaceId,
    owner_a: PersonId,
    tokens: [Option<(PersonId, WorkspaceId, String)>; 6],
}

async fn fixture(app: &TestApp) -> Fixture {
    let (ws_a, owner_a) = app.workspace("matrix-a").await;
    let (ws_b, owner_b) = app.workspace("matrix-b").await;
    let salt = [3u8; 16];
    let hash = castellan_server::auth::hash_password("matrix password 123".into(), salt)
        .await
        .unwrap();
    sqlx::query("UPDATE people SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(owner_a.to_string())
        .execute(app.store.pool())
        .await
        .unwrap();
    let mut tokens: [Option<(PersonId, WorkspaceId, String)>; 6] = Default::default();
    for (i, who) in WHO.iter().enumerate() {
        let (person, ws) = match who {
            Who::Anonymous => continue,
            Who::Guest => (app.person(ws_a, WorkspaceRole::Guest).await, ws_a),
            Who::Member => (app.person(ws_a, WorkspaceRole::Member).await, ws_a),
            Who::Admin => (app.person(ws_a, WorkspaceRole::Admin).await, ws_a),
            Who::Owner => (owner_a, ws_a),
            Who::OtherOwner => (owner_b, ws_b),
        };
        // Admin-scoped tokens, so the role alone decides.
        tokens[i] = Some((person, ws, app.token(ws, person, ApiScope::Admin).await));
    }
    Fixture {
        ws_a,
        owner_a,
        tokens,
    }
}

/// A fresh automation account of workspace A, made through the API (so its secret is sealed
/// by the server's vault), with its card.
async fn fixture_account(app: &TestApp, f: &Fixture) -> serde_json::Value {
    let owner = f.tokens[WHO.iter().position(|w| *w == Who::Owner).unwrap()]
        .as_ref()
        .unwrap()
        .2
        .clone();
    let body = serde_json::json!({"platform": "tiktok", "label": format!("fx bot {}", unique()), "email": "fx@matrix.example.com", "password": "fixture-password"});
    app.post(&owner, "/api/v1/automation-accounts")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Fills `{id}` with a fresh row of workspace A of the kind the path names (seats and
/// reports of a fresh app do not exist: those routes answer 404 past authorization).
async fn resolve(app: &TestApp, f: &Fixture, who: usize, path: &str) -> String {
    let path = &path
        .replace("{user_id}", "nope")
        .replace("{report_id}", "nope")
        .replace("{share_id}", "nope")
        .replace("{person_id}", "00000000-0000-0000-0000-000000000000");
    if path.contains("{platform}") {
        return path.replace("{platform}", "pinterest");
    }
    if !path.contains("{id}") {
        return path.to_string();
    }
    let a = app.store.ws(f.ws_a);
    let id = if path.starts_with("/api/v1/tokens/") {
        // The caller's own token; the other workspace's Owner gets one of A's (→ 404).
        let (person, ws) = match &f.tokens[who] {
            Some((p, w, _)) if WHO[who] != Who::OtherOwner => (*p, *w),
            _ => (f.owner_a, f.ws_a),
        };
        let secret = generate_secret(API_TOKEN_PREFIX, &mut rand::thread_rng());
        app.store
            .ws(ws)
            .create_token(
                &cli(),
                person,
                "spare",
                ApiScope::Read,
                &hash_secret(&secret),
            )
            .await
            .unwrap()
            .id
            .to_string()
    } else if path.starts_with("/api/v1/people/") {
        app.person(f.ws_a, WorkspaceRole::Member).await.to_string()
    } else if path.starts_with("/api/v1/directory/identities/") {
        let n = unique();
        let (u, e) = (format!("fx{n}"), format!("fx{n}@matrix.example.com"));
        let input = IdentityInput::validate(
            &RawIdentity {
                user_name: &u,
                primary_email: &e,
                active: true,
                ..Default::default()
            },
            &JSON_FIELDS,
        )
        .unwrap();
        a.create_identity(&cli(), &input, "api")
            .await
            .unwrap()
            .id
            .to_string()
    } else if path.starts_with("/api/v1/directory/groups/") {
        a.create_group(&cli(), &format!("fx{}", unique()), None, &[])
            .await
            .unwrap()
            .id
            .to_string()
    } else if path.starts_with("/api/v1/group-mappings/") {
        let g = a
            .create_group(&cli(), &format!("fx{}", unique()), None, &[])
            .await
            .unwrap();
        let v = fixture_account(app, f).await;
        let account = v["account"]["id"].as_str().unwrap().parse().unwrap();
        let new = castellan_store::NewApp {
            platform: castellan_domain::apps::Platform::Tiktok,
            label: format!("fx app {}", unique()),
            business_id: "7".into(),
            login_method: castellan_domain::apps::LoginMethod::Sso,
            automation_account_id: account,
            api_base_url: None,
            next_check_at: None,
        };
        let app_id = a.create_app(&cli(), &new).await.unwrap().id;
        a.create_group_mapping(
            &cli(),
            g.id,
            app_id,
            castellan_domain::apps::AppRole::Collaborator,
            "STANDARD",
            &[],
        )
        .await
        .unwrap()
        .id
        .to_string()
    } else if path.starts_with("/api/v1/apps/") {
        let v = fixture_account(app, f).await;
        let account = v["account"]["id"].as_str().unwrap().parse().unwrap();
        let new = castellan_store::NewApp {
            platform: castellan_domain::apps::Platform::Tiktok,
            label: format!("fx app {}", unique()),
            business_id: "7".into(),
            login_method: castellan_domain::apps::LoginMethod::Sso,
            automation_account_id: account,
            api_base_url: None,
            next_check_at: None,
        };
        a.create_app(&cli(), &new).await.unwrap().id.to_string()
    } else if path.starts_with("/api/v1/accounts/") {
        // An automation account's card: held by the workspace's Owners only (who may reveal
        // its password, audited, as they may the automation account's secrets), never shared
        // or changed through the card; everyone else gets 404 (a card is shown only to its
        // holders).
        let v = fixture_account(app, f).await;
        v["card"]["id"].as_str().unwrap().to_string()
    } else if path.starts_with("/api/v1/automation-accounts/") {
        // Through the API, so the secret is sealed by the server's vault.
        let v = fixture_account(app, f).await;
        v["account"]["id"].as_str().unwrap().to_string()
    } else if path.starts_with("/api/v1/guests/") {
        let email = format!("fx{}@guests.example.com", unique());
        castellan_services::guests::invite(&app.services(), f.ws_a, &cli(), &email, None)
            .await
            .unwrap()
            .0
            .id
            .to_string()
    } else if path.starts_with("/api/v1/local-partners/") {
        a.create_local_partner(&cli(), &format!("fx partner {}", unique()), &[], &[])
            .await
            .unwrap()
            .id
            .to_string()
    } else if path.starts_with("/api/v1/scim/tokens/") {
        a.create_scim_token(&cli(), "fx", &format!("fx-hash-{}", unique()))
            .await
            .unwrap()
            .id
            .to_string()
    } else if path.starts_with("/api/v1/outbox/") {
        a.put_email(
            &["fx@matrix.example.com".to_string()],
            "fx",
            "body",
            None,
            false,
        )
        .await
        .unwrap()
        .id
    } else if path.starts_with("/api/v1/tasks/") {
        let t = NewTask::new(
            TaskKind::from_static("system.noop"),
            serde_json::json!({}),
            TaskTrigger::Person,
        );
        a.enqueue(
            &Actor::Automation {
                name: "test".into(),
            },
            t,
        )
        .await
        .unwrap()
        .id
        .to_string()
    } else {
        panic!("no fixture for {path}")
    };
    path.replace("{id}", &id)
}

#[tokio::test]
async fn every_route_has_the_expected_outcome_for_every_caller() {
    let app = TestApp::spawn().await;
    let f = fixture(&app).await;
    let table = rows();

    // Coverage: the table and the OpenAPI document name the same routes.
    let doc = serde_json::to_value(castellan_server::openapi()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let tested: BTreeSet<String> = table
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let missing: Vec<_> = documented.difference(&tested).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the authorization matrix: {missing:?}"
    );
    let unknown: Vec<_> = tested
        .iter()
        .filter(|t| !documented.contains(*t) && !UNDOCUMENTED.contains(&t.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "matrix rows for routes that do not exist: {unknown:?}"
    );

    let mut failures = Vec::new();
    for row in &table {
        for (i, who) in WHO.iter().enumerate() {
            let path = resolve(&app, &f, i, row.path).await;
            let mut req = app.http.request(row.method.clone(), app.url(&path));
            if let Some((_, _, token)) = &f.tokens[i] {
                req = req.bearer_auth(token);
            }
            req = match &row.body {
                Body::None => req,
                Body::Json(make) => req.json(&make()),
                Body::Csv(text) => req.header("content-type", "text/csv").body(*text),
            };
            let resp = req.send().await.unwrap();
            let got = resp.status().as_u16();
            if got != row.expect[i] {
                let body = resp.text().await.unwrap_or_default();
                failures.push(format!(
                    "{} {} as {who:?}: expected {}, got {got} {body}",
                    row.method, row.path, row.expect[i]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn token_scope_limits_what_a_role_allows() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("scopes").await;
    let read = app.token(ws, owner, ApiScope::Read).await;
    let write = app.token(ws, owner, ApiScope::Write).await;
    assert_eq!(
        app.get(&read, "/api/v1/directory/identities")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let body = serde_json::json!({"user_name": "x", "primary_email": "x@scopes.example.com"});
    assert_eq!(
        app.post(&read, "/api/v1/directory/identities")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        app.post(&write, "/api/v1/directory/identities")
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        201
    );
    // Minting tokens needs the admin scope.
    let mint = serde_json::json!({"name": "t", "scope": "admin"});
    assert_eq!(
        app.post(&write, "/api/v1/tokens")
            .json(&mint)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}
