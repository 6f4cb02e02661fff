//! Unit tests of loading, overriding and validating the configuration.

use std::collections::BTreeMap;
use std::path::Path;

use o365::ExposeSecret;

use super::*;
use crate::env::{COLLECTOR_KEYS, DATAVERSE_KEYS, Kind, TENANT_KEYS, TOP_KEYS, WEBHOOK_KEYS};

const SECRET: &str = "s3cr3t~Value_that-must-never-show";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn load(text: &str, pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::from_toml_str(text, Path::new("/etc/d365audit"), &env(pairs))
}

const MINIMAL: &str = r#"
version = 1
[tenants.contoso]
tenant_id = "41463f53-8812-40f4-890f-865bf6e35190"
client_id = "a6099727-6b7b-482c-b509-1df309acc563"
client_secret_env = "CONTOSO_SECRET"
"#;

#[track_caller]
fn error_of(text: &str, pairs: &[(&str, &str)]) -> SettingsError {
    match load(text, pairs) {
        Ok(settings) => panic!("accepted: {settings:?}"),
        Err(e) => e,
    }
}

#[test]
fn the_example_loads_and_holds_the_defaults() {
    let settings = load(example(), &[("CONTOSO_CLIENT_SECRET", SECRET)]).unwrap();
    assert_eq!(settings.collector, CollectorSettings::default());
    assert_eq!(settings.archive.as_deref(), Some("sqlite://d365audit.db"));
    assert_eq!(settings.webhook.listen, WebhookSettings::default().listen);
    assert_eq!(settings.webhook.max_body_bytes, WebhookSettings::default().max_body_bytes);
    assert!(settings.webhook.public_address.is_none());
    let tenant = &settings.tenants[0];
    assert_eq!(tenant.name, "contoso");
    assert_eq!(tenant.content_types, vec![ContentType::General]);
    assert_eq!(tenant.scope, RecordScope::Workloads(vec!["CRM".into()]));
    assert_eq!(tenant.publisher_id, tenant.tenant_id);
    assert_eq!(tenant.token_endpoint, TokenEndpoint::V2);
    assert_eq!(tenant.pacing, Pacing::default());
    assert_eq!(tenant.endpoints, Endpoints::cloud(Cloud::Commercial));
}

#[test]
fn the_example_mentions_every_setting() {
    let sections: [(&str, &[(&str, Kind)]); 5] = [
        ("", TOP_KEYS),
        ("[collector]", COLLECTOR_KEYS),
        ("[webhook]", WEBHOOK_KEYS),
        ("[tenants.contoso]", TENANT_KEYS),
        ("[dataverse.sales]", DATAVERSE_KEYS),
    ];
    for (section, keys) in sections {
        let start = if section.is_empty() { 0 } else { example().find(section).unwrap() };
        let body = &example()[start..];
        for (key, _) in keys {
            let written =
                body.contains(&format!("\n{key} = ")) || body.contains(&format!("\n# {key} = "));
            assert!(written, "{section} {key} is not in the example");
        }
    }
}

#[test]
fn every_overridable_key_is_a_setting_of_the_file() {
    // A file setting every key the environment can override must load: the tables and the
    // file layout agree.
    let value = |key: &str, kind: Kind| match (key, kind) {
        (_, Kind::Integer) if key == "max_body_bytes" => "4096".to_owned(),
        (_, Kind::Integer) if key == "requests_per_minute" => "600".to_owned(),
        (_, Kind::Integer) => "3".to_owned(),
        (_, Kind::List) => "[\"Audit.General\"]".to_owned(),
        (_, Kind::AllOrList) => "\"all\"".to_owned(),
        _ => "\"x\"".to_owned(),
    };
    let mut doc = String::from("version = 1\n");
    for (key, kind) in TOP_KEYS {
        doc += &format!("{key} = {}\n", value(key, *kind));
    }
    for (section, keys) in [("collector", COLLECTOR_KEYS), ("webhook", WEBHOOK_KEYS)] {
        doc += &format!("[{section}]\n");
        for (key, kind) in keys {
            doc += &format!("{key} = {}\n", value(key, *kind));
        }
    }
    doc += "[tenants.t]\n";
    for (key, kind) in TENANT_KEYS {
        doc += &format!("{key} = {}\n", value(key, *kind));
    }
    doc += "[dataverse.d]\n";
    for (key, kind) in DATAVERSE_KEYS {
        doc += &format!("{key} = {}\n", value(key, *kind));
    }
    let raw: Result<crate::raw::RawFile, _> = toml::from_str(&doc);
    assert!(raw.is_ok(), "{:?}", raw.err());
}

#[test]
fn environment_variables_override_the_file() {
    let settings = load(
        MINIMAL,
        &[
            ("D365AUDIT_ARCHIVE", "sqlite:///var/lib/d365audit/audit.db"),
            ("D365AUDIT_COLLECTOR__WORKERS", "8"),
            ("D365AUDIT_COLLECTOR__OVERLAP", "3h"),
            ("D365AUDIT_WEBHOOK__PUBLIC_ADDRESS", "https://audit.example.com/webhook"),
            ("D365AUDIT_WEBHOOK__AUTH_ID", "hook-secret"),
            ("D365AUDIT_TENANTS__CONTOSO__CONTENT_TYPES", "audit.general, DLP.All"),
            ("D365AUDIT_TENANTS__CONTOSO__WORKLOADS", "CRM,PowerApps"),
            ("D365AUDIT_TENANTS__CONTOSO__CLIENT_SECRET", SECRET),
            ("D365AUDIT_LOG", "debug"),
            ("D365AUDIT_CONFIG", "/etc/d365audit.toml"),
            ("UNRELATED", "1"),
        ],
    )
    .unwrap();
    assert_eq!(settings.archive.as_deref(), Some("sqlite:///var/lib/d365audit/audit.db"));
    assert_eq!(settings.collector.workers, 8);
    assert_eq!(settings.collector.overlap, Duration::hours(3));
    let tenant = settings.tenant("CONTOSO").unwrap();
    assert_eq!(tenant.content_types, vec![ContentType::General, ContentType::DlpAll]);
    assert!(tenant.scope.includes("powerapps") && tenant.scope.includes("CRM"));
    assert!(!tenant.scope.includes("Exchange"));
    // The variable's secret wins over client_secret_env (which is not even set).
    let Credential::Secret(secret) = tenant.credential().unwrap() else { panic!() };
    assert_eq!(secret.expose_secret(), SECRET);
    let hook = settings.webhook.registration(None).unwrap().unwrap();
    assert_eq!(hook.address.as_str(), "https://audit.example.com/webhook");
    assert_eq!(hook.auth_id.unwrap().expose_secret(), "hook-secret");
    let debug = format!("{settings:?}");
    assert!(!debug.contains(SECRET) && !debug.contains("hook-secret"), "{debug}");
}

#[test]
fn secrets_come_from_variables_and_files_and_never_show() {
    let settings = load(MINIMAL, &[("CONTOSO_SECRET", SECRET)]).unwrap();
    let Credential::Secret(secret) = settings.tenants[0].credential().unwrap() else { panic!() };
    assert_eq!(secret.expose_secret(), SECRET);
    assert!(!format!("{settings:?}").contains(SECRET));

    // Not set: the error names the setting and the variable, and says what to do.
    let settings = load(MINIMAL, &[]).unwrap();
    let err = settings.tenants[0].credential().unwrap_err();
    assert_eq!(err.setting(), Some("tenants.contoso.client_secret_env"));
    assert!(err.to_string().contains("CONTOSO_SECRET is not set"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), format!("{SECRET}\n")).unwrap();
    let text = MINIMAL
        .replace("client_secret_env = \"CONTOSO_SECRET\"", "client_secret_file = \"secret.txt\"");
    let settings = Settings::from_toml_str(&text, dir.path(), &BTreeMap::new()).unwrap();
    let Credential::Secret(secret) = settings.tenants[0].credential().unwrap() else { panic!() };
    assert_eq!(secret.expose_secret(), SECRET, "relative to the file's folder, newline trimmed");

    std::fs::write(dir.path().join("secret.txt"), "\n").unwrap();
    let err = settings.tenants[0].credential().unwrap_err();
    assert_eq!(err.setting(), Some("tenants.contoso.client_secret_file"));
}

#[test]
fn certificates_are_read_from_pem_files() {
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/../emulator/testdata");
    let text = MINIMAL.replace(
        "client_secret_env = \"CONTOSO_SECRET\"",
        "certificate_file = \"app-cert.pem\"\nprivate_key_file = \"app-key.pem\"\ncertificate_assertion = \"rs256\"",
    );
    let settings = Settings::from_toml_str(&text, Path::new(testdata), &BTreeMap::new()).unwrap();
    let Credential::Certificate(cert) = settings.tenants[0].credential().unwrap() else { panic!() };
    assert_eq!(cert.style(), AssertionStyle::Rs256Sha1Thumbprint);
    let mismatched = text.replace("app-key.pem", "other-key.pem");
    let settings =
        Settings::from_toml_str(&mismatched, Path::new(testdata), &BTreeMap::new()).unwrap();
    let err = settings.tenants[0].credential().unwrap_err();
    assert_eq!(err.setting(), Some("tenants.contoso.certificate_file"));
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn inline_secrets_are_refused_without_repeating_them() {
    let text = MINIMAL.replace(
        "client_secret_env = \"CONTOSO_SECRET\"",
        &format!("client_secret = \"{SECRET}\""),
    );
    let err = error_of(&text, &[]);
    assert_eq!(err.setting(), Some("tenants.contoso.client_secret"));
    let message = err.to_string();
    assert!(!message.contains(SECRET), "{message}");
    assert!(message.contains("client_secret_env"), "{message}");
    assert!(message.contains("D365AUDIT_TENANTS__CONTOSO__CLIENT_SECRET"), "{message}");

    let err = error_of(&format!("{MINIMAL}\n[webhook]\nauth_id = \"{SECRET}\"\n"), &[]);
    assert_eq!(err.setting(), Some("webhook.auth_id"));
    assert!(!err.to_string().contains(SECRET));

    // A syntax error near a secret does not quote the line.
    let err = error_of(&format!("version = 1\nclient_secret = \"{SECRET}\n"), &[]);
    assert!(matches!(err, SettingsError::Syntax { .. }), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(err.to_string().contains("line 2"), "{err}");
}

#[test]
fn mistakes_name_the_setting_and_the_fix() {
    /// File text, environment, the setting named, a piece of the fix.
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (MINIMAL.replace("version = 1", ""), vec![], "version", "version = 1"),
        (MINIMAL.replace("version = 1", "version = 2"), vec![], "version", "upgrade"),
        (
            format!("{MINIMAL}[collector]\nworkrs = 3\n"),
            vec![],
            "collector.workrs",
            "unknown field",
        ),
        (
            format!("{MINIMAL}[collector]\nworkers = 0\n"),
            vec![],
            "collector.workers",
            "from 1 to 64",
        ),
        (
            format!("{MINIMAL}[collector]\nworkers = \"four\"\n"),
            vec![],
            "collector.workers",
            "type",
        ),
        (
            format!("{MINIMAL}[collector]\noverlap = \"2 hours\"\n"),
            vec![],
            "collector.overlap",
            "\"2h\"",
        ),
        (
            format!("{MINIMAL}[collector]\nbacklog_warning_age = \"8d\"\n"),
            vec![],
            "collector.backlog_warning_age",
            "from",
        ),
        (
            format!("{MINIMAL}[collector]\nlease = \"30s\"\nrequest_timeout = \"1m\"\n"),
            vec![],
            "collector.lease",
            "longer",
        ),
        (
            MINIMAL.replace("41463f53-8812-40f4-890f-865bf6e35190", "contoso.onmicrosoft.com"),
            vec![],
            "tenants.contoso.tenant_id",
            "GUID",
        ),
        (
            MINIMAL.replace("client_id = \"a6099727-6b7b-482c-b509-1df309acc563\"", ""),
            vec![],
            "tenants.contoso.client_id",
            "Application (client) ID",
        ),
        (
            MINIMAL.replace("client_secret_env = \"CONTOSO_SECRET\"", ""),
            vec![],
            "tenants.contoso.client_secret_env",
            "client secret's",
        ),
        (
            MINIMAL.replace("CONTOSO_SECRET", "abc def"),
            vec![],
            "tenants.contoso.client_secret_env",
            "NAME",
        ),
        (format!("{MINIMAL}cloud = \"mars\"\n"), vec![], "tenants.contoso.cloud", "gcchigh"),
        (
            format!("{MINIMAL}cloud = \"gcc\"\napi_base = \"https://x.example\"\n"),
            vec![],
            "tenants.contoso.cloud",
            "not both",
        ),
        (
            format!("{MINIMAL}api_base = \"https://x.example\"\n"),
            vec![],
            "tenants.contoso.api_base",
            "both",
        ),
        (
            format!(
                "{MINIMAL}login_base = \"http://login.example\"\napi_base = \"https://x.example\"\n"
            ),
            vec![],
            "tenants.contoso.api_base",
            "https",
        ),
        (
            format!("{MINIMAL}content_types = [\"Audit.Crm\"]\n"),
            vec![],
            "tenants.contoso.content_types",
            "Audit.General",
        ),
        (format!("{MINIMAL}workloads = []\n"), vec![], "tenants.contoso.workloads", "all"),
        (
            format!("{MINIMAL}token_endpoint = \"v3\"\n"),
            vec![],
            "tenants.contoso.token_endpoint",
            "v1",
        ),
        (
            format!("{MINIMAL}client_secret_file = \"x\"\n"),
            vec![],
            "tenants.contoso.client_secret_env",
            "exactly one",
        ),
        (
            format!("{MINIMAL}[webhook]\npublic_address = \"http://audit.example.com/hook\"\n"),
            vec![],
            "webhook.public_address",
            "https",
        ),
        (
            format!("{MINIMAL}[webhook]\nlisten = \"everywhere\"\n"),
            vec![],
            "webhook.listen",
            "0.0.0.0:8443",
        ),
        (
            MINIMAL.replace("[tenants.contoso]", "[tenants.\"con toso\"]"),
            vec![],
            "tenants.con toso",
            "letters",
        ),
        (
            format!(
                "{MINIMAL}[tenants.other]\ntenant_id = \"41463f53-8812-40f4-890f-865bf6e35190\"\nclient_id = \"a6099727-6b7b-482c-b509-1df309acc563\"\nclient_secret_env = \"X\"\n"
            ),
            vec![],
            "tenants.other.tenant_id",
            "once",
        ),
        (
            MINIMAL.to_owned(),
            vec![("D365AUDIT_COLLECTOR__WORKERS", "many")],
            "collector.workers",
            "whole number",
        ),
        (
            MINIMAL.to_owned(),
            vec![("D365AUDIT_COLLECTOR__WORKRS", "2")],
            "collector",
            "D365AUDIT_COLLECTOR__{",
        ),
        (
            MINIMAL.to_owned(),
            vec![("D365AUDIT_TENANTS__FABRIKAM__CLIENT_ID", "x")],
            "tenants.fabrikam",
            "[tenants.fabrikam]",
        ),
        (
            MINIMAL.to_owned(),
            vec![("D365AUDIT_TENANTS__CONTOSO__SECRET", "x")],
            "tenants.contoso",
            "CLIENT_SECRET",
        ),
        (
            MINIMAL.to_owned(),
            vec![("D365AUDIT_TENANTS__CONTOSO__TENANT_ID", "nope")],
            "tenants.contoso.tenant_id",
            "GUID",
        ),
    ];
    for (text, pairs, setting, fix) in cases {
        let err = error_of(&text, &pairs);
        let message = err.to_string();
        assert_eq!(err.setting(), Some(setting), "{message}");
        assert!(message.contains(fix), "{setting}: {message:?} does not contain {fix:?}");
        if let Some((variable, _)) = pairs.first() {
            assert!(message.contains(variable), "{message}");
        }
    }
}

#[test]
fn explicit_urls_point_at_the_emulator() {
    let text = format!(
        "{MINIMAL}login_base = \"http://127.0.0.1:4000\"\napi_base = \"http://127.0.0.1:4001\"\n\
         publisher_id = \"46b472a7-c68e-4adf-8ade-3db49497518e\"\ntoken_endpoint = \"v1\"\n\
         requests_per_minute = 60000\nworkloads = \"all\"\n"
    );
    let settings = load(&text, &[("CONTOSO_SECRET", SECRET)]).unwrap();
    let tenant = &settings.tenants[0];
    assert_eq!(tenant.cloud, None);
    assert_eq!(tenant.endpoints.api_base.as_str(), "http://127.0.0.1:4001/");
    assert_eq!(tenant.endpoints.resource, "http://127.0.0.1:4001");
    assert_eq!(tenant.scope, RecordScope::All);
    let client = tenant.activity_settings(&settings.collector).unwrap();
    assert_eq!(client.token_endpoint, TokenEndpoint::V1);
    assert_eq!(client.pacing.requests_per_minute, 60_000);
    assert_eq!(
        client.publisher_identifier.unwrap().to_string(),
        "46b472a7-c68e-4adf-8ade-3db49497518e"
    );
}

#[test]
fn files_and_tenant_selection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d365audit.toml");
    std::fs::write(&path, MINIMAL).unwrap();
    let settings = Settings::load_with_env(Some(&path), &BTreeMap::new()).unwrap();
    assert_eq!(settings.file.as_deref(), Some(path.as_path()));
    assert_eq!(settings.select_tenants(&[]).unwrap().len(), 1);
    let err = settings.select_tenants(&["fabrikam".into()]).unwrap_err();
    assert!(err.to_string().contains("contoso"), "{err}");

    let err = Settings::load_with_env(Some(&dir.path().join("missing.toml")), &BTreeMap::new())
        .unwrap_err();
    assert!(err.to_string().contains("config init"), "{err}");

    std::fs::write(&path, "version = [").unwrap();
    let err = Settings::load_with_env(Some(&path), &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("d365audit.toml"), "{err}");

    // Without a file: defaults, and a clear message when tenants are needed.
    let settings =
        Settings::load_with_env(None, &env(&[("D365AUDIT_ARCHIVE", "sqlite://a.db")])).unwrap();
    assert_eq!(settings.archive.as_deref(), Some("sqlite://a.db"));
    let err = settings.select_tenants(&[]).unwrap_err();
    assert!(err.to_string().contains("config init"), "{err}");
}

#[test]
fn dataverse_environments_borrow_a_tenant_and_have_defaults() {
    let text = format!(
        "{MINIMAL}content_types = []\n[dataverse.sales]\nurl = \"https://contoso.crm4.dynamics.com\"\n\
         tenant = \"contoso\"\nsince = \"2024-01-31\"\n"
    );
    let settings = load(&text, &[("D365AUDIT_DATAVERSE__SALES__PAGE_SIZE", "500")]).unwrap();
    assert!(settings.tenants[0].content_types.is_empty(), "credentials-only tenant");
    let sales = &settings.dataverse[0];
    assert_eq!(sales.name, "sales");
    assert_eq!(sales.url.as_str(), "https://contoso.crm4.dynamics.com/");
    assert_eq!(sales.tenant, "contoso");
    assert_eq!(sales.page_size, 500, "overridden by the environment");
    assert_eq!(sales.detail_concurrency, 8);
    assert_eq!(sales.interval, StdDuration::from_secs(900));
    assert_eq!(sales.overlap, Duration::minutes(15));
    assert_eq!(sales.since.unwrap().to_rfc3339(), "2024-01-31T00:00:00+00:00");
    assert_eq!(settings.select_dataverse(&[]).unwrap().len(), 1);
    assert!(settings.select_dataverse(&["hr".to_owned()]).is_err());
}

#[test]
fn dataverse_mistakes_name_the_setting_and_the_fix() {
    let cases = [
        (
            "url = \"https://x.crm.dynamics.com\"\ntenant = \"fabrikam\"",
            "dataverse.sales.tenant",
            "known: contoso",
        ),
        ("tenant = \"contoso\"", "dataverse.sales.url", "environment URL"),
        (
            "url = \"http://x.crm.dynamics.com\"\ntenant = \"contoso\"",
            "dataverse.sales.url",
            "https",
        ),
        (
            "url = \"https://x.crm.dynamics.com/api/data/v9.2\"\ntenant = \"contoso\"",
            "dataverse.sales.url",
            "without /api/data",
        ),
        (
            "url = \"https://x.crm.dynamics.com\"\ntenant = \"contoso\"\npage_size = 9000",
            "dataverse.sales.page_size",
            "1 to 5000",
        ),
        (
            "url = \"https://x.crm.dynamics.com\"\ntenant = \"contoso\"\nsince = \"last year\"",
            "dataverse.sales.since",
            "2024-01-31",
        ),
    ];
    for (table, setting, fix) in cases {
        let text = format!("{MINIMAL}[dataverse.sales]\n{table}\n");
        let error = error_of(&text, &[]);
        let message = error.to_string();
        assert!(message.contains(setting), "{setting}: {message}");
        assert!(message.contains(fix), "{fix}: {message}");
    }
}
