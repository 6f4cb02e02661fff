//! The client alone: paging, details, organization settings, pacing, refusals, and the token
//! pinned to the environment.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dataverse::{AuditQuery, DataverseError, Operation};
use emulator::demo;
use o365::{Credential, SecretString};
use uuid::Uuid;

use crate::support::*;

fn everything(page_size: u32) -> AuditQuery {
    AuditQuery { since: None, until: None, page_size }
}

#[tokio::test]
async fn pages_follow_the_next_link_verbatim_in_createdon_order() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let truth = ground_truth(&emu);
    let first = client.audits(&everything(100)).await.unwrap();
    let split = first.split().unwrap();
    assert_eq!(split.rows.len(), 100);
    let link = split.next_link.clone().unwrap();
    assert!(link.starts_with(client.api_root().as_str()), "{link}");
    let second = client.next_audits(&link, 100).await.unwrap();
    assert_eq!(second.url.as_str(), link, "the link is sent as received");
    let rows: Vec<_> = [&first, &second]
        .iter()
        .flat_map(|page| {
            page.split()
                .unwrap()
                .rows
                .iter()
                .map(|r| record::parse_audit_row(r.get().as_bytes()).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let ids: Vec<Uuid> = rows.iter().map(|c| c.audit_id).collect();
    let want: Vec<Uuid> = truth.iter().take(200).map(|r| r.audit_id).collect();
    assert_eq!(ids, want);
    // Annotations were asked for: the user's name is formatted.
    assert!(rows.iter().all(|c| c.user_name.is_some()));
}

#[tokio::test]
async fn details_and_missing_details() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let row = ground_truth(&emu)
        .into_iter()
        .find(|r| r.action == 2 && !r.attribute_mask.is_empty())
        .unwrap();
    let details = client.audit_details(row.audit_id).await.unwrap().unwrap();
    assert!(details.raw.starts_with(b"{"));
    assert!(matches!(details.detail, Ok(record::ChangeDetail::Attributes { .. })));
    assert!(client.audit_details(Uuid::new_v4()).await.unwrap().is_none(), "404 is no detail");
}

#[tokio::test]
async fn organization_settings_are_read() {
    let emu = emulator_with(1, |config| {
        config.dataverse.retention_days = 90;
        config.dataverse.user_access_interval_hours = 6;
    })
    .await;
    let settings = client(&emu).organization_settings().await.unwrap();
    assert_eq!(settings.audit_enabled, Some(true));
    assert!(settings.retention_days.is_some());
    assert_eq!(settings.user_access_interval_hours, Some(6));
    let history = emu.dataverse_history().unwrap();
    assert_eq!(settings.organization_id, Some(history.environment().organization_id));
    assert_eq!(
        settings.retention_days.map(i64::from),
        Some(history.retention_days_at(fixed_now()))
    );
}

#[tokio::test]
async fn requests_are_paced() {
    let emu = emulator(1).await;
    let client = client_with(&emu, |s| {
        s.pacing.requests_per_minute = 600;
        s.pacing.burst = 5;
    });
    let started = Instant::now();
    for _ in 0..20 {
        client.organization_settings().await.unwrap();
    }
    // 5 at once, then one every 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(1_400), "{:?}", started.elapsed());
    assert_eq!(emu.stats().dataverse.organizations, 20);
}

/// A listener that counts connections and never answers.
async fn trap() -> (url::Url, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let connections = Arc::new(AtomicU64::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (url, connections)
}

#[tokio::test]
async fn a_foreign_next_link_is_refused_without_sending_anything() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let (trap_url, connections) = trap().await;
    let first = client.audits(&everything(50)).await.unwrap();
    let link = first.split().unwrap().next_link.unwrap();
    // The same link, on another origin (another loopback port, https, a look-alike host).
    let on_trap = link.replace(
        client.api_root().origin().ascii_serialization().as_str(),
        trap_url.as_str().trim_end_matches('/'),
    );
    assert_ne!(on_trap, link);
    let tokens_before = client.tokens().fetch_count();
    let requests_before = emu.stats().dataverse.requests;
    for foreign in [
        on_trap.as_str(),
        &link.replacen("http://", "https://", 1),
        "http://127.0.0.1.nip.io/api/data/v9.2/audits?$skiptoken=x",
        "//evil.example/api/data/v9.2/audits",
    ] {
        let error = client.next_audits(foreign, 50).await.unwrap_err();
        assert!(matches!(error, DataverseError::ForeignLink { .. }), "{foreign}: {error}");
        assert!(error.to_string().contains("nothing was sent"), "{error}");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "no connection to the foreign origin");
    assert_eq!(emu.stats().dataverse.requests, requests_before);
    assert_eq!(client.tokens().fetch_count(), tokens_before);
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused_with_advice() {
    let emu = emulator(1).await;
    // The token is for the Management Activity API, not for the environment.
    let client = client_with(&emu, |s| s.resource = Some(emu.api_base().to_string()));
    let error = client.organization_settings().await.unwrap_err();
    assert!(
        matches!(
            error,
            DataverseError::Unauthorized { operation: Operation::OrganizationSettings, .. }
        ),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("application user"), "{text}");
    assert!(text.contains("audience"), "the service's message is kept: {text}");
    assert!(!text.contains(demo::SECRET_VALUE));
    // One refresh, then the refusal.
    assert_eq!(client.tokens().fetch_count(), 2);
    assert_eq!(emu.stats().dataverse.unauthorized, 2);
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_wrong_secret_is_a_token_error_that_names_the_fix() {
    let emu = emulator(1).await;
    let client = client_with(&emu, |s| {
        s.credential = Credential::secret(SecretString::from(demo::SECRET_ID.to_string()));
    });
    let error = client.audits(&everything(10)).await.unwrap_err();
    assert!(matches!(error, DataverseError::Token(_)), "{error}");
    let text = error.to_string();
    assert!(text.contains("secret"), "{text}");
    assert!(!text.contains(&demo::SECRET_ID.to_string()), "{text}");
    assert_eq!(emu.stats().dataverse.requests, 0, "nothing reached the environment");
}

#[tokio::test]
async fn an_edited_next_link_is_a_refusal_with_the_service_message() {
    let emu = emulator(1).await;
    let client = client(&emu);
    let first = client.audits(&everything(50)).await.unwrap();
    let link = first.split().unwrap().next_link.unwrap();
    let edited = link.replace("skiptoken=", "skiptoken=x");
    let error = client.next_audits(&edited, 50).await.unwrap_err();
    match &error {
        DataverseError::Refused { status: 400, service, .. } => {
            assert!(service.code.is_some(), "{service:?}");
        }
        other => panic!("{other}"),
    }
}
