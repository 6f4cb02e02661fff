//! Roles: every API endpoint (walked from the OpenAPI table) answers its success status to the
//! roles it allows and `403 forbidden` to every role below; every UI page does the same.

use archive::{Archive, Order, PageRequest, RecordQuery, Role};
use server::api::openapi::ENDPOINTS;

use crate::support::{PASSWORD, TestServer, error_of, with_token};

const ROLES: [Role; 3] = [Role::Viewer, Role::Auditor, Role::Admin];

/// A record id, and the GUID of a Dataverse record that has events.
async fn samples(server: &TestServer) -> (String, String) {
    let query = RecordQuery { entity: Some("contact".into()), ..RecordQuery::default() };
    let page = server
        .archive
        .search(&query, &PageRequest { limit: 50, after: None, order: Order::OldestFirst })
        .await
        .unwrap();
    let row = page.rows.iter().find(|r| r.entity_id.is_some()).expect("a contact event");
    (row.id.clone(), row.entity_id.unwrap().to_string())
}

#[tokio::test]
async fn every_api_endpoint_allows_its_roles_and_refuses_the_others() {
    let server = TestServer::start().await;
    let (record_id, record_guid) = samples(&server).await;
    let history = crate::changes::seed_history(&server).await;
    let mut tokens = Vec::new();
    for role in ROLES {
        tokens.push((role, server.token(role.as_str()).await));
    }
    let mut checked = 0;
    for endpoint in ENDPOINTS {
        for (role, token) in &tokens {
            // A token of this role to delete, distinct from the one used to call.
            let spare = server.token(role.as_str()).await;
            let spare_id = server.spare_token_id(role.as_str()).await;
            let _ = spare;
            let path = endpoint
                .path
                .replace("/records/{id}/changes", &format!("/records/{}/changes", history.record))
                .replace(
                    "/records/{id}/restore-plan",
                    &format!("/records/{}/restore-plan", history.record),
                )
                .replace("{auditid}", &history.share.to_string())
                .replace("/records/{id}", &format!("/records/{record_id}"))
                .replace("/timelines/record/{id}", &format!("/timelines/record/{record_guid}"))
                .replace("/tokens/{id}", &format!("/tokens/{spare_id}"))
                .replace("{user}", "someone@contoso.onmicrosoft.com")
                .replace("{slug}", "activity")
                .replace("{username}", "viewer");
            let url = match endpoint.path {
                "/api/v1/aggregate" => server.url(&format!("{path}?by=access")),
                "/api/v1/records/{id}/restore-plan" => {
                    server.url(&format!("{path}?at=2026-06-02T09:00:00Z"))
                }
                _ => server.url(&path),
            };
            let request = match endpoint.method {
                "get" => server.http.get(&url),
                "post" => server.http.post(&url),
                "patch" => server.http.patch(&url),
                "delete" => server.http.delete(&url),
                other => panic!("method {other}"),
            };
            let body = match (endpoint.method, endpoint.path) {
                ("post", "/api/v1/search") => {
                    Some(serde_json::json!({ "q": "entity:contact", "limit": 5 }))
                }
                ("post", "/api/v1/sql") => {
                    Some(serde_json::json!({ "statement": "SELECT 1 AS one" }))
                }
                ("post", "/api/v1/users") => Some(serde_json::json!({
                    "username": format!("new-{}", role.as_str()), "role": "viewer", "password": PASSWORD
                })),
                ("patch", _) => Some(serde_json::json!({ "display_name": "Vera Viewer" })),
                ("post", "/api/v1/tokens") => Some(serde_json::json!({ "name": "script" })),
                _ => None,
            };
            let request = match body {
                Some(body) => request.json(&body),
                None => request,
            };
            let response = with_token(request, token).send().await.unwrap();
            let what = format!("{} {} as {}", endpoint.method, path, role.as_str());
            match endpoint.role {
                Some(required) if *role < required => {
                    let (status, code, message) = error_of(response).await;
                    assert_eq!((status, code.as_str()), (403, "forbidden"), "{what}");
                    assert!(message.contains(required.as_str()), "{what}: {message}");
                }
                _ => {
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    assert_eq!(status, endpoint.ok.0, "{what}: {text}");
                }
            }
            checked += 1;
        }
        if endpoint.role.is_some() {
            let response = server.http.get(server.url(endpoint.path)).send().await.unwrap();
            assert!(
                [401, 405].contains(&response.status().as_u16()),
                "{} without credentials: {}",
                endpoint.path,
                response.status()
            );
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * 3);
    server.stop().await;
}

#[tokio::test]
async fn ui_pages_refuse_roles_below_their_own_and_hide_their_links() {
    let server = TestServer::start().await;
    let history = crate::changes::seed_history(&server).await;
    let restore = format!("/timeline/record/{}/restore?at=2026-06-02T09:00:00Z", history.record);
    let change = format!("/change/{}", history.share);
    let timeline = format!("/timeline/record/{}", history.record);
    let pages: &[(&str, Role)] = &[
        ("/search", Role::Viewer),
        (&timeline, Role::Viewer),
        (&change, Role::Viewer),
        (&restore, Role::Auditor),
        ("/reports", Role::Viewer),
        ("/reports/activity", Role::Viewer),
        ("/status", Role::Viewer),
        ("/timeline/user?u=someone", Role::Viewer),
        ("/account", Role::Viewer),
        ("/sql", Role::Auditor),
        ("/export?format=csv&entity=contact", Role::Auditor),
        ("/reports/activity/csv", Role::Auditor),
        ("/admin/users", Role::Admin),
        ("/admin/access-log", Role::Admin),
        ("/admin/settings", Role::Admin),
    ];
    for role in ROLES {
        let mut browser = server.sign_in(role.as_str()).await;
        for (path, required) in pages {
            let response = browser.get(path).await;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if role >= *required {
                assert_eq!(status, 200, "{path} as {}: {body}", role.as_str());
            } else {
                assert_eq!(status, 403, "{path} as {}", role.as_str());
                assert!(body.contains(&format!("needs the {} role", required.as_str())), "{body}");
            }
        }
        let search = browser.page("/search").await;
        assert_eq!(search.contains("href=\"/sql\""), role >= Role::Auditor, "{}", role.as_str());
        assert_eq!(search.contains("href=\"/admin/users\""), role >= Role::Admin);
        assert_eq!(search.contains("id=\"export-csv\""), role >= Role::Auditor);
        // Posting to what the role may not use is refused too.
        let response = browser.submit("/sql", &[("statement", "SELECT 1")]).await;
        assert_eq!(response.status().as_u16() == 403, role < Role::Auditor);
        let response = browser
            .submit(
                "/admin/users",
                &[("username", "x-user"), ("role", "admin"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status().as_u16() == 403, role < Role::Admin, "{}", role.as_str());
    }
    server.stop().await;
}

impl TestServer {
    /// The id of the newest token of `username`.
    pub(crate) async fn spare_token_id(&self, username: &str) -> i64 {
        let account = archive::AccessStore::account_by_username(&self.archive, username)
            .await
            .unwrap()
            .unwrap();
        let tokens = archive::AccessStore::api_tokens_of(&self.archive, account.id).await.unwrap();
        tokens.iter().filter(|t| !t.revoked).map(|t| t.id).max().unwrap()
    }
}
