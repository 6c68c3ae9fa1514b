//! Sign-in with the identity provider in the browser, against a real OpenID provider (Node's
//! `oidc-provider` 9.x on loopback, its own login and consent pages): the Owner sets it up and
//! runs Test sign-in; a person of the directory signs in with PKCE and is linked to their
//! identity; a wrong state, a wrong nonce and a wrong PKCE verifier are refused; so are a person
//! the directory does not hold and an e-mail outside the allowed domains; with passwords for
//! Owners only, a Member's password is refused and the Owner's is not.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;
use serde_json::{Value, json};

use crate::harness::{Browser, NEW_PASSWORD, OWNER, Site, browser_available};

/// `oidc-provider` as a child process; killed on drop.
struct Provider {
    child: Child,
    issuer: String,
    /// Kept open: node would fail writing to a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `node_modules/oidc-provider` is: `CASTELLAN_OIDC_PROVIDER_DIR`, else `.ci/run`'s
/// `target/oidc-provider`. CI (`CASTELLAN_REQUIRE_OIDC=1`) fails when it is missing.
fn provider_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CASTELLAN_OIDC_PROVIDER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/oidc-provider")
        });
    let here = dir.join("node_modules/oidc-provider/package.json").exists()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !here {
        if std::env::var("CASTELLAN_REQUIRE_OIDC").as_deref() == Ok("1") {
            panic!(
                "CASTELLAN_REQUIRE_OIDC=1 but node or oidc-provider is missing at {} (npm install --prefix {0} oidc-provider@9)",
                dir.display()
            );
        }
        eprintln!(
            "skipping: npm install --prefix target/oidc-provider oidc-provider@9 to run the OIDC tests"
        );
        return None;
    }
    Some(dir)
}

impl Provider {
    fn start(dir: &std::path::Path, redirect_uri: &str) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(redirect_uri)
            .env("OIDC_PROVIDER_DIR", dir)
            .env(
                "OIDC_GROUPS",
                json!({"ava.johnson@acme.example.com": ["Paid Social", "Marketing"]}).to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).expect("the provider prints its issuer");
        Provider {
            child,
            issuer: v["issuer"].as_str().unwrap().to_string(),
            _stdout: stdout,
        }
    }
}

/// Signs in on the provider's own pages as `login` (any password) and gives consent.
async fn idp_login(b: &Browser, login: &str) {
    b.fill("input[name=login]", login).await;
    b.fill("input[name=password]", "any password").await;
    b.click("button[type=submit]").await;
    // Its consent page, unless this client was granted in this IdP session before.
    for _ in 0..100 {
        if let Ok(e) =
            b.c.find(Locator::XPath("//button[normalize-space(.)='Continue']"))
                .await
        {
            e.click().await.unwrap();
            return;
        }
        if b.text().await.contains("Castellan") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a sign-in with an HTTP client: the IdP's authorization address and the flow cookie
/// Castellan set.
async fn start_by_http(site: &Site) -> (String, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(site.url(&format!("/signin/oidc/{}", site.ws())))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("castellan_oidc=")
        .unwrap()
        .to_string();
    (location, value)
}

/// Starts a sign-in in the browser (which keeps its flow cookie), then reads that cookie from
/// a page under its path (WebDriver reads HttpOnly cookies): `[ws, purpose, state, nonce,
/// verifier, next]`.
async fn browser_flow(b: &Browser, site: &Site) -> Vec<String> {
    b.c.delete_all_cookies().await.unwrap();
    b.goto(&site.url(&format!("/signin/oidc/{}", site.ws())))
        .await;
    b.find("input[name=login]").await;
    b.goto(&site.url("/signin/oidc/none/here")).await;
    let c = b.c.get_named_cookie("castellan_oidc").await.unwrap();
    c.value().split('.').map(str::to_string).collect()
}

/// The authorization request of a flow with this state, nonce and PKCE verifier.
fn auth_url(idp: &Provider, site: &Site, state: &str, nonce: &str, verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let q: String = form_urlencoded_pairs(&[
        ("client_id", "castellan"),
        ("response_type", "code"),
        ("scope", "openid email profile"),
        ("redirect_uri", &site.url("/signin/oidc/callback")),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    format!("{}/auth?{q}", idp.issuer)
}

fn form_urlencoded_pairs(p: &[(&str, &str)]) -> String {
    reqwest::Url::parse_with_params("http://x/", p)
        .unwrap()
        .query()
        .unwrap()
        .to_string()
}

async fn story(dark: bool) {
    if !browser_available() {
        return;
    }
    let Some(dir) = provider_dir() else {
        return;
    };
    let tag = if dark { "dark" } else { "light" };
    let site = Site::start().await;
    let idp = Provider::start(&dir, &site.url("/signin/oidc/callback"));
    // Ava is in the directory (the demo CSV) and gets a Castellan account; Liam is a Member
    // with a password.
    for (email, role) in [
        ("ava.johnson@acme.example.com", "admin"),
        ("liam.smith@acme.example.com", "member"),
    ] {
        let r = site
            .app
            .post(&site.token, "/api/v1/people")
            .json(&json!({ "email": email, "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        if role == "member" {
            let body: Value = r.json().await.unwrap();
            let hash = castellan_server::auth::hash_password("liam-password-12345".into(), [5; 16])
                .await
                .unwrap();
            sqlx::query(
                "UPDATE people SET password_hash = $1, must_change_password = 0 WHERE id = $2",
            )
            .bind(hash)
            .bind(body["person"]["id"].as_str().unwrap())
            .execute(site.app.store.pool())
            .await
            .unwrap();
        }
    }

    // The Owner sets it up in Settings → Identity provider.
    let b = Browser::start(dark).await;
    site.sign_in(&b, true).await;
    b.goto(&site.url("/settings/identity-provider")).await;
    b.wait_text("Sign-in (OIDC)", false).await;
    let redirect = b.find("#oidc-redirect").await.text().await.unwrap();
    assert_eq!(redirect, site.url("/signin/oidc/callback"));
    // A plain-HTTP issuer off loopback is refused, naming the field; nothing is saved.
    b.fill("#oidc-name", "Acme IdP").await;
    b.fill("#oidc-issuer", "http://idp.example.com").await;
    b.fill("#oidc-client", "castellan").await;
    b.fill("#oidc-secret", "castellan-test-secret").await;
    b.click("form[action='/settings/identity-provider/oidc'] button[type=submit]")
        .await;
    let t = b.wait_text("Issuer must start with https://", false).await;
    assert!(!t.contains("Test sign-in"), "nothing saved: {t}");
    b.fill("#oidc-issuer", &idp.issuer).await;
    b.fill("#oidc-secret", "castellan-test-secret").await;
    b.fill("#oidc-domains", "acme.example.com").await;
    b.click("#oidc-owners-only").await;
    b.screenshot(&format!("62-{tag}-oidc-settings")).await;
    b.click("form[action='/settings/identity-provider/oidc'] button[type=submit]")
        .await;
    b.wait_text("Sign-in with Acme IdP is saved", false).await;
    b.assert_no_axe("Identity provider with OIDC").await;
    let cfg = site.api("/api/v1/oidc").await;
    assert_eq!(cfg["client_secret_set"], true);
    assert!(cfg.get("client_secret").is_none(), "{cfg}");
    assert_eq!(cfg["allowed_domains"], json!(["acme.example.com"]));
    assert_eq!(cfg["passwords_owners_only"], true);

    // Test sign-in: the provider's pages, then what Castellan would do; nobody signed in.
    b.click_text("Test sign-in").await;
    b.find("input[name=login]").await;
    b.screenshot(&format!("63-{tag}-idp-login")).await;
    idp_login(&b, "ava.johnson@acme.example.com").await;
    for _ in 0..100 {
        if b.text().await.contains("Test sign-in") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "after the test sign-in: {}",
        b.c.current_url().await.unwrap()
    );
    let t = b.wait_text("Test sign-in", false).await;
    assert!(
        t.contains("would be signed in as ava.johnson@acme.example.com (admin)"),
        "{t}"
    );
    assert!(
        t.contains("Paid Social, Marketing"),
        "the groups claim: {t}"
    );
    b.screenshot(&format!("64-{tag}-oidc-test")).await;
    b.assert_no_axe("Test sign-in").await;
    let ev = site
        .api("/api/v1/audit/events?action=directory.identity.oidc_link")
        .await;
    assert_eq!(
        ev["items"].as_array().unwrap().len(),
        0,
        "a test links no one"
    );

    // The authorization request carries PKCE (S256), a state and a nonce.
    let (sent, _) = start_by_http(&site).await;
    for p in [
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(sent.contains(p), "{p} in {sent}");
    }
    assert!(sent.starts_with(&idp.issuer), "{sent}");

    // An answer naming another issuer (RFC 9207 `iss`) is refused before any code exchange,
    // and so is one without `iss` from a provider that says it sends it.
    let state = reqwest::Url::parse(&sent)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let (_, flow) = start_by_http(&site).await;
    let flow_state = flow.split('.').nth(2).unwrap().to_string();
    assert_ne!(state, flow_state);
    for (iss, expect) in [
        (
            Some("http://evil.example.com"),
            "its iss parameter is http://evil.example.com",
        ),
        (None, "its iss parameter is missing"),
    ] {
        let mut url = reqwest::Url::parse(&site.url("/signin/oidc/callback")).unwrap();
        url.query_pairs_mut()
            .append_pair("code", "anything")
            .append_pair("state", &flow_state);
        if let Some(i) = iss {
            url.query_pairs_mut().append_pair("iss", i);
        }
        let r = reqwest::Client::new()
            .get(url)
            .header("cookie", format!("castellan_oidc={flow}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body = r.text().await.unwrap();
        assert!(body.contains(expect), "{body}");
    }

    // Ava signs in with the button.
    b.c.delete_all_cookies().await.unwrap();
    b.goto(&site.url("/signin")).await;
    b.wait_text("Sign in with Acme IdP", false).await;
    b.screenshot(&format!("65-{tag}-signin-with-idp")).await;
    b.assert_no_axe("sign-in with an IdP button").await;
    b.click_text("Sign in with Acme IdP").await;
    idp_login(&b, "ava.johnson@acme.example.com").await;
    b.wait_text("Apps", false).await;
    let me: Value =
        b.c.execute("return fetch('/api/v1/me').then(r => r.json());", vec![])
            .await
            .unwrap();
    assert_eq!(
        me["person"]["email"], "ava.johnson@acme.example.com",
        "{me}"
    );
    let ev = site
        .api("/api/v1/audit/events?action=directory.identity.oidc_link")
        .await;
    assert_eq!(ev["items"].as_array().unwrap().len(), 1, "{ev}");
    let ev = site.api("/api/v1/audit/events?action=session.oidc").await;
    assert!(
        ev.to_string().contains("Paid Social"),
        "groups recorded: {ev}"
    );

    // The same request made by hand (this browser's state, nonce and verifier) signs in;
    // then, each with one part changed, a wrong state, a wrong nonce and a wrong PKCE
    // verifier are refused.
    let f = browser_flow(&b, &site).await;
    b.goto(&auth_url(&idp, &site, &f[2], &f[3], &f[4])).await;
    idp_login(&b, "ava.johnson@acme.example.com").await;
    b.wait_text("Apps", false).await;
    let other = "0".repeat(64);
    for (case, expect) in [
        ("state", "its state differs"),
        ("nonce", "its nonce differs"),
        ("verifier", "could not be reached or answered wrongly"),
    ] {
        let f = browser_flow(&b, &site).await;
        let url = match case {
            "state" => auth_url(&idp, &site, &other, &f[3], &f[4]),
            "nonce" => auth_url(&idp, &site, &f[2], &other, &f[4]),
            _ => auth_url(&idp, &site, &f[2], &f[3], &other),
        };
        b.goto(&url).await;
        idp_login(&b, "ava.johnson@acme.example.com").await;
        let t = b.wait_text(expect, false).await;
        assert!(t.contains("Sign in to Castellan"), "{t}");
        assert!(
            b.path().await.starts_with("/signin/oidc/callback"),
            "{}",
            b.path().await
        );
        if case == "nonce" {
            b.screenshot(&format!("66-{tag}-oidc-wrong-nonce")).await;
        }
    }

    // Refused: nobody in the directory, and an address outside the allowed domains.
    for (login, expect) in [
        (
            "nobody@acme.example.com",
            "nobody@acme.example.com is not in this workspace's directory",
        ),
        (
            "someone@elsewhere.example",
            "someone@elsewhere.example is not in a domain this workspace admits",
        ),
    ] {
        b.c.delete_all_cookies().await.unwrap();
        b.goto(&site.url("/signin")).await;
        b.click_text("Sign in with Acme IdP").await;
        idp_login(&b, login).await;
        b.wait_text(expect, false).await;
        if login.starts_with("nobody") {
            b.screenshot(&format!("67-{tag}-oidc-not-in-directory"))
                .await;
            b.assert_no_axe("a refused IdP sign-in").await;
        }
    }

    // Passwords for Owners only: Liam (a Member) is sent to the IdP; the Owner still signs in.
    b.c.delete_all_cookies().await.unwrap();
    b.goto(&site.url("/signin")).await;
    b.fill("#email", "liam.smith@acme.example.com").await;
    b.fill("#password", "liam-password-12345").await;
    b.click("form[action='/signin'] button[type=submit]").await;
    b.wait_text("signs in with Acme IdP, not with passwords", false)
        .await;
    b.fill("#email", OWNER).await;
    b.fill("#password", NEW_PASSWORD).await;
    b.click("form[action='/signin'] button[type=submit]").await;
    b.wait_text("Apps", false).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_the_browser() {
    story(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_sign_in_in_the_dark() {
    story(true).await;
}
