//! Signing in: nothing without it, hardened cookies, the same answer for unknown users and
//! wrong passwords, throttling, login CSRF, CSRF on every form and session API call, disabled
//! accounts, expiry, and no open redirect.

use chrono::Duration;
use server::{Hooks, ServerSettings, SignInLimit};

use crate::support::{Browser, PASSWORD, TestServer, error_of, settings, with_token};

#[tokio::test]
async fn nothing_is_shown_without_signing_in() {
    let server = TestServer::start().await;
    for path in [
        "/search",
        "/reports",
        "/status",
        "/sql",
        "/admin/users",
        "/timeline/user?u=x",
        "/export?format=csv",
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = Browser::location(&response);
        assert!(location.starts_with("/sign-in"), "{path} -> {location}");
    }
    let response = server.http.get(server.url("/search?q=entity:contact")).send().await.unwrap();
    assert_eq!(Browser::location(&response), "/sign-in?next=%2Fsearch%3Fq%3Dentity%3Acontact");
    for path in ["/api/v1/records", "/api/v1/status", "/api/v1/export", "/api/v1/me"] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let (status, code, message) = error_of(response).await;
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{path}");
        assert!(message.contains("token create"), "{message}");
    }
    let forged = with_token(server.http.get(server.url("/api/v1/records")), "d365a_forged");
    assert_eq!(forged.send().await.unwrap().status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_the_session() {
    let server = TestServer::start().await;
    let mut browser = Browser {
        base: server.base.clone(),
        http: crate::support::client(),
        cookies: vec![],
        csrf: String::new(),
    };
    let html = browser.page("/sign-in").await;
    let form_token = crate::support::hidden_value(&html, "form_token").unwrap();
    let response = browser
        .post_form(
            "/sign-in",
            &[
                ("username", "Viewer"),
                ("password", PASSWORD),
                ("form_token", &form_token),
                ("next", "/reports"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(Browser::location(&response), "/reports", "back where the person wanted to go");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("d365audit="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http on loopback: {cookie}");
    let page = browser.page("/search").await;
    assert!(page.contains("viewer person"), "the page names who is signed in");
    let stolen = browser.clone();
    let html = browser.page("/account").await;
    browser.csrf = crate::support::hidden_value(&html, "csrf").unwrap();
    let response = browser.submit("/sign-out", &[]).await;
    assert_eq!(response.status(), 303);
    let mut stolen = stolen;
    let response = stolen.get("/search").await;
    assert_eq!(response.status(), 303, "a signed-out session cookie no longer works");
    server.stop().await;
}

#[tokio::test]
async fn cookies_are_secure_and_host_bound_when_not_on_loopback_http() {
    let settings = ServerSettings { secure_cookies: true, ..settings() };
    let server = TestServer::start_with(settings, Hooks::default()).await;
    let browser = server.sign_in("viewer").await;
    let (name, _) = browser
        .cookies
        .iter()
        .find(|(k, _)| k.starts_with("__Host-d365audit"))
        .expect("__Host- cookie")
        .clone();
    assert_eq!(name, "__Host-d365audit");
    let response = server.http.get(server.url("/sign-in")).send().await.unwrap();
    let set = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.starts_with("__Host-d365audit-signin=") && set.contains("; Secure"), "{set}");
    assert!(response.headers().get("strict-transport-security").is_some());
    server.stop().await;
}

#[tokio::test]
async fn wrong_passwords_and_unknown_users_get_the_same_answer_and_are_logged() {
    let server = TestServer::start().await;
    let wrong = server.try_sign_in("viewer", "not the password at all").await.unwrap_err();
    assert_eq!(wrong.status(), 401);
    let wrong_text = wrong.text().await.unwrap();
    let unknown = server.try_sign_in("nobody", "not the password at all").await.unwrap_err();
    assert_eq!(unknown.status(), 401);
    let unknown_text = unknown.text().await.unwrap();
    assert!(wrong_text.contains("Wrong username or password."));
    assert!(unknown_text.contains("Wrong username or password."));
    let log = server.access_log().await;
    let failed: Vec<_> = log.iter().filter(|e| e.action == "sign_in_failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .any(|e| e.username == "nobody" && e.client_ip.as_deref() == Some("127.0.0.1"))
    );
    assert!(
        !log.iter().any(|e| e.detail.contains("not the password")),
        "passwords are never logged"
    );
    server.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_even_for_the_right_password() {
    let settings = ServerSettings {
        sign_in_limit: SignInLimit {
            per_account: 3,
            per_address: 50,
            window: Duration::minutes(15),
        },
        ..settings()
    };
    let server = TestServer::start_with(settings, Hooks::default()).await;
    for _ in 0..3 {
        assert_eq!(
            server.try_sign_in("auditor", "wrong password 123").await.unwrap_err().status(),
            401
        );
    }
    let refused = server.try_sign_in("auditor", PASSWORD).await.unwrap_err();
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "900");
    assert!(refused.text().await.unwrap().contains("Too many failed sign-ins"));
    assert!(server.try_sign_in("viewer", PASSWORD).await.is_ok(), "other accounts still sign in");
    server.clock.advance(Duration::minutes(16));
    assert!(server.try_sign_in("auditor", PASSWORD).await.is_ok(), "the window passed");
    assert!(
        server
            .access_log()
            .await
            .iter()
            .any(|e| e.action == "sign_in_throttled" && e.username == "auditor")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_sign_in_form_only_works_with_its_own_cookie() {
    let server = TestServer::start().await;
    // A form posted from another site: no form cookie.
    let response = server
        .http
        .post(server.url("/sign-in"))
        .form(&[
            ("username", "viewer"),
            ("password", PASSWORD),
            ("form_token", "guessed"),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("d365audit="))
    );
    server.stop().await;
}

#[tokio::test]
async fn every_form_and_session_api_change_needs_the_csrf_token() {
    let server = TestServer::start().await;
    let mut admin = server.sign_in("admin").await;
    let mut other = server.sign_in("auditor").await;
    // No token, and another session's token.
    for token in ["", other.csrf.as_str()] {
        let response = admin.post_form("/sql", &[("statement", "SELECT 1"), ("csrf", token)]).await;
        assert_eq!(response.status(), 403, "token {token:?}");
        let response = admin
            .post_form(
                "/admin/users",
                &[
                    ("username", "mallory"),
                    ("role", "admin"),
                    ("password", PASSWORD),
                    ("csrf", token),
                ],
            )
            .await;
        assert_eq!(response.status(), 403);
        let response = admin.post_form("/sign-out", &[("csrf", token)]).await;
        assert_eq!(response.status(), 403);
    }
    assert!(server.archive_account("mallory").await.is_none(), "no account was created");
    // The session API needs the header; a bearer token needs none.
    let cookie =
        admin.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let api = |csrf: Option<&str>| {
        let request = server
            .http
            .post(server.url("/api/v1/sql"))
            .header("cookie", cookie.clone())
            .json(&serde_json::json!({ "statement": "SELECT 1 AS one" }));
        match csrf {
            Some(token) => request.header("x-csrf-token", token),
            None => request,
        }
    };
    let (status, code, _) = error_of(api(None).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "csrf_failed"));
    let (status, code, _) = error_of(api(Some(&other.csrf)).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "csrf_failed"));
    let response = api(Some(&admin.csrf)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let token = server.token("auditor").await;
    let response = with_token(server.http.post(server.url("/api/v1/sql")), &token)
        .json(&serde_json::json!({ "statement": "SELECT 1 AS one" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let _ = other.page("/search").await;
    server.stop().await;
}

#[tokio::test]
async fn disabled_accounts_lose_their_sessions_and_tokens() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    let token = server.token("viewer").await;
    let mut admin = server.sign_in("admin").await;
    let id = server.archive_account("viewer").await.unwrap().id;
    let response =
        admin.submit(&format!("/admin/users/{id}/disabled"), &[("disabled", "true")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(viewer.get("/search").await.status(), 303);
    let response =
        with_token(server.http.get(server.url("/api/v1/records")), &token).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let refused = server.try_sign_in("viewer", PASSWORD).await.unwrap_err();
    assert!(refused.text().await.unwrap().contains("disabled"));
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_after_their_lifetime() {
    let server = TestServer::start().await;
    let mut viewer = server.sign_in("viewer").await;
    server.clock.advance(Duration::hours(7));
    assert_eq!(viewer.get("/search").await.status(), 200);
    server.clock.advance(Duration::hours(2));
    assert_eq!(viewer.get("/search").await.status(), 303);
    server.stop().await;
}

#[tokio::test]
async fn sign_in_never_redirects_to_another_site() {
    let server = TestServer::start().await;
    for next in ["https://evil.example/", "//evil.example/x", "/\\evil.example"] {
        let mut browser = Browser {
            base: server.base.clone(),
            http: crate::support::client(),
            cookies: vec![],
            csrf: String::new(),
        };
        let html = browser.page("/sign-in").await;
        let form_token = crate::support::hidden_value(&html, "form_token").unwrap();
        let response = browser
            .post_form(
                "/sign-in",
                &[
                    ("username", "viewer"),
                    ("password", PASSWORD),
                    ("form_token", &form_token),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(Browser::location(&response), "/search", "{next}");
    }
    server.stop().await;
}

#[tokio::test]
async fn changing_the_password_needs_the_old_one_and_signs_out_everywhere() {
    let server = TestServer::start().await;
    let mut first = server.sign_in("auditor").await;
    let mut second = server.sign_in("auditor").await;
    let response = first
        .submit(
            "/account/password",
            &[("current", "wrong password!!"), ("new", "a brand new passphrase")],
        )
        .await;
    assert_eq!(response.status(), 403);
    let response =
        first.submit("/account/password", &[("current", PASSWORD), ("new", "short")]).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("12"));
    let response = first
        .submit("/account/password", &[("current", PASSWORD), ("new", "a brand new passphrase")])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(second.get("/search").await.status(), 303, "other sessions ended");
    assert!(server.try_sign_in("auditor", "a brand new passphrase").await.is_ok());
    assert!(server.try_sign_in("auditor", PASSWORD).await.is_err());
    server.stop().await;
}

impl TestServer {
    pub(crate) async fn archive_account(&self, username: &str) -> Option<archive::Account> {
        archive::AccessStore::account_by_username(&self.archive, username).await.unwrap()
    }
}
