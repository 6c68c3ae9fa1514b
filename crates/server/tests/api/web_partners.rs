//! The web app's partner routes for the partner roles (a Member outside the partner, its Host
//! Admin, Guest Admin and Guest User, another partner's Guest Admin), each cell in a fresh
//! world as in `matrix_partners.rs`; the workspace roles are the columns of `web.rs`. Pages
//! answered 200 to those outside the partner must not name it.

use castellan_domain::auth::ApiScope;
use castellan_services::sessions::SignedIn;
use reqwest::redirect::Policy;

use castellan_testkit::{TestApp, unique};

use crate::matrix_partners::{WHO, Who, fixture_app, world};

struct Row {
    post: bool,
    /// `{P}`, `{GU}`, `{card}`, `{share}`, `{app}` as in the API's partner matrix.
    path: &'static str,
    form: fn() -> Vec<(&'static str, String)>,
    expect: [u16; 5],
}

fn rows() -> Vec<Row> {
    let g = |path, expect| Row {
        post: false,
        path,
        form: Vec::new,
        expect,
    };
    let p = |path, form, expect| Row {
        post: true,
        path,
        form,
        expect,
    };
    let none: fn() -> Vec<(&'static str, String)> = Vec::new;
    vec![
        g("/partners", [200; 5]),
        g("/partners/add", [403; 5]),
        p(
            "/partners/add",
            || {
                vec![
                    ("name", format!("new {}", unique())),
                    ("first_email", format!("n{}@new.example.net", unique())),
                ]
            },
            [403; 5],
        ),
        g("/partners/{P}", [404, 200, 200, 200, 404]),
        g("/partners/{P}/invite", [404, 200, 200, 403, 404]),
        p(
            "/partners/{P}/invite",
            || {
                vec![
                    ("email", format!("g{}@p.example.net", unique())),
                    ("role", "guest_user".into()),
                ]
            },
            [404, 303, 303, 403, 404],
        ),
        p(
            "/partners/{P}/people/{GU}/resend",
            none,
            [404, 303, 303, 403, 404],
        ),
        p(
            "/partners/{P}/people/{GU}/revoke",
            none,
            [404, 303, 303, 403, 404],
        ),
        p(
            "/partners/link",
            || {
                vec![
                    ("local_partner_id", "{P}".into()),
                    ("app_id", "nope".into()),
                    ("partner_id", "1".into()),
                ]
            },
            [403; 5],
        ),
        g("/partners/{P}/end", [404, 200, 403, 403, 404]),
        p("/partners/{P}/end", none, [404, 303, 403, 403, 404]),
        g("/apps/{app}/members/nope/guest", [403; 5]),
        g("/accounts/{card}", [404, 404, 200, 200, 404]),
        p("/accounts/{card}/reveal", none, [404, 404, 200, 200, 404]),
        g("/accounts/{card}/share", [404, 404, 200, 403, 404]),
        p(
            "/accounts/{card}/share",
            || {
                vec![
                    ("with", "person:{GU}".into()),
                    ("role", "collaborator".into()),
                ]
            },
            [404, 404, 303, 403, 404],
        ),
        g("/accounts/{card}/connect", [404, 404, 403, 403, 404]),
        p(
            "/accounts/{card}/shares/{share}/remove",
            none,
            [404, 404, 403, 403, 404],
        ),
    ]
}

#[tokio::test]
async fn partner_pages_for_every_partner_role() {
    let app = TestApp::spawn().await;
    let (ws, owner) = app.workspace("partners-web").await;
    let owner = app.token(ws, owner, ApiScope::Admin).await;
    let app_id = fixture_app(&app, ws, &owner).await;
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let svc = app.services();

    let mut failures = Vec::new();
    for row in rows() {
        for (i, who) in WHO.iter().enumerate() {
            let w = world(&app, ws, &owner).await;
            let fill = |x: &str| {
                x.replace("{P}", &w.partner)
                    .replace("{GU}", &w.guest_user)
                    .replace("{card}", &w.card)
                    .replace("{share}", &w.partner_share)
                    .replace("{app}", &app_id)
            };
            let person = app.store.ws(ws).person(w.people[i]).await.unwrap();
            let SignedIn { token, csrf, .. } = castellan_services::sessions::start_session(
                &svc,
                chrono::Duration::hours(1),
                person,
            )
            .await
            .unwrap();
            let cookie = format!("castellan_session={token}; castellan_csrf={csrf}");
            let url = app.url(&fill(row.path));
            let req = if row.post {
                let mut form: Vec<(&str, String)> = (row.form)()
                    .into_iter()
                    .map(|(k, v)| (k, fill(&v)))
                    .collect();
                form.push(("csrf_token", csrf.clone()));
                http.post(&url).header("origin", &app.base).form(&form)
            } else {
                http.get(&url)
            };
            let r = req.header("cookie", cookie).send().await.unwrap();
            let got = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            if got != row.expect[i] {
                let tail = text
                    .split("<title>")
                    .nth(1)
                    .and_then(|t| t.split("</title>").next())
                    .unwrap_or(&text);
                failures.push(format!(
                    "{} {} as {who:?}: expected {}, got {got} {tail}",
                    if row.post { "POST" } else { "GET" },
                    row.path,
                    row.expect[i]
                ));
            }
            if matches!(who, Who::Member | Who::OtherGuest)
                && (text.contains(&w.partner_name) || text.contains(&w.card))
            {
                failures.push(format!(
                    "{} as {who:?}: the page names the partner or its card",
                    row.path
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "partner web authorization mismatches:\n{}",
        failures.join("\n")
    );
}
