//! The OpenAPI 3.1 document of `/api/v1`, built from [`ENDPOINTS`], the one table that also
//! records the role each endpoint needs (the tests walk it to check every refusal).

use archive::Role;
use axum::Json;
use serde_json::{Map, Value, json};

/// One endpoint of the API.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub method: &'static str,
    /// With `{name}` path parameters, as axum routes it under `/api/v1`.
    pub path: &'static str,
    pub summary: &'static str,
    /// The least role that may call it; `None`: no sign-in needed.
    pub role: Option<Role>,
    /// Query parameters; `filters`, `paging` and `scope` stand for their groups.
    pub query: &'static [&'static str],
    /// Schema name of the JSON body, if any.
    pub body: Option<&'static str>,
    /// Status and schema name (or media type) of the success answer.
    pub ok: (u16, &'static str),
}

const fn ep(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    role: Option<Role>,
    query: &'static [&'static str],
    body: Option<&'static str>,
    ok: (u16, &'static str),
) -> Endpoint {
    Endpoint { method, path, summary, role, query, body, ok }
}

const V: Option<Role> = Some(Role::Viewer);
const AU: Option<Role> = Some(Role::Auditor);
const AD: Option<Role> = Some(Role::Admin);

/// Every endpoint of `/api/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    ep(
        "get",
        "/api/v1",
        "Names the API and links this document.",
        None,
        &[],
        None,
        (200, "object"),
    ),
    ep("get", "/api/v1/openapi.json", "This document.", None, &[], None, (200, "object")),
    ep(
        "get",
        "/api/v1/me",
        "The signed-in account (and, for sessions, the CSRF token).",
        V,
        &[],
        None,
        (200, "Me"),
    ),
    ep(
        "get",
        "/api/v1/records",
        "Search: one page of matching records, newest first by default.",
        V,
        &["filters", "paging"],
        None,
        (200, "RecordPage"),
    ),
    ep(
        "post",
        "/api/v1/search",
        "Search with the filters in a JSON body.",
        V,
        &[],
        Some("SearchRequest"),
        (200, "RecordPage"),
    ),
    ep(
        "get",
        "/api/v1/records/count",
        "How many records match (slow without filters on large archives).",
        V,
        &["filters"],
        None,
        (200, "Count"),
    ),
    ep(
        "get",
        "/api/v1/records/{id}",
        "One record in full, with the record as received embedded.",
        V,
        &[],
        None,
        (200, "RecordDetail"),
    ),
    ep(
        "get",
        "/api/v1/records/{id}/raw",
        "The exact bytes of a record as received (header x-d365audit-blake3: their hash).",
        V,
        &[],
        None,
        (200, "application/json"),
    ),
    ep(
        "get",
        "/api/v1/records/{id}/changes",
        "Field history of a Dataverse record (by its GUID): every audit change with old and new values, oldest first.",
        V,
        &["field"],
        None,
        (200, "ChangeList"),
    ),
    ep(
        "get",
        "/api/v1/changes/{auditid}",
        "One Dataverse audit change by its auditid, with the audit row and its detail as received and their hash.",
        V,
        &[],
        None,
        (200, "ChangeDetail"),
    ),
    ep(
        "get",
        "/api/v1/records/{id}/restore-plan",
        "The Web API request (PATCH or POST) that would put a Dataverse record's audited columns back as they were at a time. Never sent by d365audit.",
        AU,
        &["at", "entity_set"],
        None,
        (200, "RestorePlan"),
    ),
    ep(
        "get",
        "/api/v1/timelines/record/{id}",
        "Record timeline: every event about a Dataverse record and every result listing it, oldest first.",
        V,
        &["filters", "paging"],
        None,
        (200, "RecordPage"),
    ),
    ep(
        "get",
        "/api/v1/timelines/user/{user}",
        "User timeline: what one user (UPN or system user id) did, newest first.",
        V,
        &["filters", "paging"],
        None,
        (200, "RecordPage"),
    ),
    ep(
        "get",
        "/api/v1/aggregate",
        "Counts of matching records by a dimension.",
        V,
        &["by", "limit", "filters"],
        None,
        (200, "Aggregation"),
    ),
    ep("get", "/api/v1/reports", "The reports offered.", V, &[], None, (200, "ReportList")),
    ep(
        "get",
        "/api/v1/reports/{slug}",
        "One report for a period and organization.",
        V,
        &["scope"],
        None,
        (200, "Report"),
    ),
    ep(
        "get",
        "/api/v1/export",
        "Every matching record, streamed: csv (Excel), jsonl (normalized) or raw (as received).",
        AU,
        &["format", "filters"],
        None,
        (200, "text/csv"),
    ),
    ep(
        "post",
        "/api/v1/sql",
        "Runs one read-only SQL statement within the time and row limits.",
        AU,
        &[],
        Some("SqlRequest"),
        (200, "SqlAnswer"),
    ),
    ep(
        "get",
        "/api/v1/sql/schema",
        "Tables and columns the SQL console can read.",
        AU,
        &[],
        None,
        (200, "SqlSchema"),
    ),
    ep(
        "get",
        "/api/v1/status",
        "Collection status: archive totals, feeds, gaps, quarantine.",
        V,
        &[],
        None,
        (200, "Status"),
    ),
    ep("get", "/api/v1/users", "Accounts.", AD, &[], None, (200, "AccountList")),
    ep("post", "/api/v1/users", "Creates an account.", AD, &[], Some("NewUser"), (201, "Account")),
    ep(
        "patch",
        "/api/v1/users/{username}",
        "Changes an account's name, role, state or password.",
        AD,
        &[],
        Some("UserChange"),
        (200, "Account"),
    ),
    ep(
        "get",
        "/api/v1/access-log",
        "The access log, newest first.",
        AD,
        &["limit", "before"],
        None,
        (200, "AccessLogPage"),
    ),
    ep("get", "/api/v1/tokens", "The caller's API tokens.", V, &[], None, (200, "TokenList")),
    ep(
        "post",
        "/api/v1/tokens",
        "Creates an API token for the caller; its text is shown once.",
        V,
        &[],
        Some("NewToken"),
        (201, "CreatedToken"),
    ),
    ep(
        "delete",
        "/api/v1/tokens/{id}",
        "Revokes one of the caller's API tokens.",
        V,
        &[],
        None,
        (204, ""),
    ),
];

fn string_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" }, "description": description })
}

fn query_parameters(group: &str) -> Vec<Value> {
    match group {
        "filters" => vec![
            string_param(
                "q",
                "One-line query, e.g. `user:alice@contoso.com entity:contact from:-30d \"Fabrikam\"`.",
            ),
            string_param("user", "UPN or Dataverse system user id; commas for several."),
            string_param("org", "Organization unique name or instance host."),
            string_param("entity", "Table logical name, e.g. contact."),
            string_param("record", "Dataverse record GUID: its events and the results listing it."),
            string_param("message", "SDK message, e.g. ExportToExcel; commas for several."),
            string_param(
                "access",
                "read, read_multiple, create, update, delete, other; commas for several.",
            ),
            string_param("category", "Purview report category, e.g. bulk_actions."),
            string_param("field", "Changed field: name, or name=value."),
            string_param("ip", "Client IP address."),
            string_param("correlation", "Correlation id of a split record."),
            string_param("workload", "CRM, PowerApps, ...; commas for several."),
            string_param(
                "from",
                "Inclusive start (UTC): 2026-06-01, 2026-06-01T10:00, RFC 3339, or -7d / -12h.",
            ),
            string_param("to", "Exclusive end (UTC), same forms."),
            string_param("text", "Free text over user, entity, message, record name and URL."),
        ],
        "paging" => vec![
            string_param("limit", "Rows per page (1 to 10000)."),
            string_param("after", "The `next` token of the previous page."),
            string_param("order", "newest_first or oldest_first."),
        ],
        "scope" => vec![
            string_param(
                "from",
                "First day (UTC) or time; default: the server's report period (7 days) before `to`.",
            ),
            string_param("to", "Day after the last (UTC) or time; default: the end of today."),
            string_param("org", "One organization; default: all."),
        ],
        "by" => vec![string_param(
            "by",
            "day, hour_of_day, weekday, user, organization, entity, message, access or category.",
        )],
        "limit" => vec![string_param("limit", "At most this many rows.")],
        "before" => vec![string_param(
            "before",
            "Older than this RFC 3339 time (the previous page's `next_before`).",
        )],
        "format" => vec![string_param("format", "csv (default), jsonl or raw.")],
        "field" => vec![string_param(
            "field",
            "Only changes of this column (logical name, e.g. telephone1; case-insensitive).",
        )],
        "at" => vec![
            json!({ "name": "at", "in": "query", "required": true, "schema": { "type": "string" },
            "description": "The point in time to go back to (UTC): 2026-06-01T10:00:00Z, 2026-06-01, 2026-06-01T10:00 or -7d." }),
        ],
        "entity_set" => vec![string_param(
            "entity_set",
            "The table's EntitySetName when it is not the usual plural (e.g. new_surveies); default: guessed.",
        )],
        _ => Vec::new(),
    }
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect()
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": reference("Error") } } })
}

fn operation(endpoint: &Endpoint) -> Value {
    let mut parameters = path_parameters(endpoint.path);
    for group in endpoint.query {
        parameters.extend(query_parameters(group));
    }
    let (status, schema) = endpoint.ok;
    let success = match schema {
        "" => json!({ "description": "Done." }),
        "object" => {
            json!({ "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } })
        }
        media if media.contains('/') => json!({
            "description": "OK",
            "content": { media: { "schema": { "type": "string" } }, "application/x-ndjson": { "schema": { "type": "string" } } }
        }),
        name => {
            json!({ "description": "OK", "content": { "application/json": { "schema": reference(name) } } })
        }
    };
    let mut responses = Map::new();
    responses.insert(status.to_string(), success);
    responses.insert(
        "400".into(),
        error_response(
            "The request or its filters are malformed (codes bad_request, invalid_query).",
        ),
    );
    let mut op = json!({
        "summary": endpoint.summary,
        "operationId": format!("{}{}", endpoint.method, endpoint.path.replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": parameters,
    });
    match endpoint.role {
        None => {
            op["security"] = json!([]);
        }
        Some(role) => {
            op["x-required-role"] = json!(role.as_str());
            responses.insert(
                "401".into(),
                error_response("No valid token or session (code unauthorized)."),
            );
            responses.insert("403".into(), error_response("The role does not allow it, or a session request lacks X-CSRF-Token (codes forbidden, csrf_failed)."));
            responses.insert(
                "503".into(),
                error_response("The archive or the access log is unavailable (code unavailable)."),
            );
        }
    }
    if endpoint.path.contains('{') {
        responses.insert("404".into(), error_response("Not found (code not_found)."));
    }
    if let Some(body) = endpoint.body {
        op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": reference(body) } } });
    }
    op["responses"] = Value::Object(responses);
    op
}

fn schemas() -> Value {
    let string = json!({ "type": "string" });
    let nullable_string = json!({ "type": ["string", "null"] });
    let time = json!({ "type": "string", "format": "date-time" });
    let nullable_time = json!({ "type": ["string", "null"], "format": "date-time" });
    let uuid = json!({ "type": ["string", "null"], "format": "uuid" });
    let count = json!({ "type": "integer", "minimum": 0 });
    let mut m = Map::new();
    m.insert("Error".into(), json!({
            "type": "object", "required": ["error"],
            "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                "code": { "type": "string", "enum": ["unauthorized", "forbidden", "csrf_failed", "not_found", "invalid_query", "bad_request", "conflict", "payload_too_large", "rate_limited", "timeout", "unavailable", "internal"] },
                "message": { "type": "string", "description": "What happened and what to do." }
            } } }
        }));
    m.insert("RecordRow".into(), json!({ "type": "object", "properties": {
            "id": string, "time": time, "user": string, "system_user_id": uuid, "operation": string,
            "message": nullable_string, "access": string, "entity": nullable_string, "record_id": uuid,
            "record_name": nullable_string, "organization": nullable_string, "client_ip": nullable_string,
            "categories": { "type": "array", "items": string }, "correlation_id": uuid, "result": nullable_string,
            "item_url": nullable_string, "workload": string, "record_type": count,
            "via": { "type": "string", "enum": ["record", "query_results"], "description": "Only with a record filter." }
        } }));
    m.insert("RecordPage".into(), json!({ "type": "object", "properties": {
            "rows": { "type": "array", "items": reference("RecordRow") },
            "next": { "type": ["string", "null"], "description": "Pass as `after` for the next page; null on the last page." }
        } }));
    m.insert("RecordDetail".into(), json!({ "allOf": [reference("RecordRow"), { "type": "object", "properties": {
            "fields": { "type": "array", "items": { "type": "object", "properties": { "name": string, "value": string } } },
            "query": nullable_string, "query_results": { "type": "array", "items": string }, "user_agent": nullable_string,
            "stored_at": time, "sealed_batch": count, "blake3": string,
            "raw": { "description": "The record as received, verbatim (null when the bytes are not JSON)." }
        } }] }));
    m.insert("Count".into(), json!({ "type": "object", "properties": { "count": count } }));
    m.insert("Aggregation".into(), json!({ "type": "object", "properties": { "by": string, "buckets": { "type": "array", "items": { "type": "object", "properties": { "key": string, "count": count } } } } }));
    m.insert("ReportList".into(), json!({ "type": "object", "properties": { "reports": { "type": "array", "items": { "type": "object", "properties": { "slug": string, "title": string, "description": string } } } } }));
    m.insert("Report".into(), json!({ "type": "object", "properties": {
            "slug": string, "title": string, "from": time, "to": time, "organization": nullable_string,
            "notes": { "type": "array", "items": string }, "computed_at": time,
            "sections": { "type": "array", "items": { "type": "object", "properties": {
                "title": string, "by": string, "chart": { "type": "string", "enum": ["columns", "ranking"] }, "query": string,
                "rows": { "type": "array", "items": { "type": "object", "properties": { "key": string, "label": string, "count": count, "highlight": { "type": "boolean" } } } },
                "events": { "type": "array", "items": reference("RecordRow") }
            } } }
        } }));
    m.insert("SearchRequest".into(), json!({ "type": "object", "properties": {
            "q": string, "filters": { "type": "object", "description": "The filter parameters of GET /api/v1/records, as strings." },
            "limit": count, "after": string, "order": { "type": "string", "enum": ["newest_first", "oldest_first"] }
        } }));
    m.insert("SqlRequest".into(), json!({ "type": "object", "required": ["statement"], "properties": { "statement": string } }));
    m.insert("SqlAnswer".into(), json!({ "type": "object", "properties": {
            "columns": { "type": "array", "items": string }, "rows": { "type": "array", "items": { "type": "array" } },
            "truncated": { "type": "boolean" }, "elapsed_ms": count
        } }));
    m.insert("SqlSchema".into(), json!({ "type": "object", "properties": { "tables": { "type": "array", "items": { "type": "object", "properties": { "name": string, "columns": { "type": "array", "items": string } } } } } }));
    m.insert("Status".into(), json!({ "type": "object", "properties": {
            "generated_at": time, "archive": { "type": ["object", "null"] },
            "feeds": { "type": "array", "items": { "type": "object", "properties": {
                "tenant": string, "tenant_id": uuid, "content_type": string, "health": string, "listed_until": nullable_time,
                "lag_seconds": { "type": ["integer", "null"] }, "backlog": count, "oldest_waiting": nullable_time,
                "records": count, "gaps": count, "last_error": nullable_string, "notice": nullable_string
            } } },
            "gaps": { "type": "array", "items": { "type": "object" } },
            "quarantined": { "type": "array", "items": { "type": "object" } },
            "problems": { "type": "array", "items": string }
        } }));
    m.insert("Account".into(), json!({ "type": "object", "properties": {
            "id": count, "username": string, "display_name": string,
            "role": { "type": "string", "enum": ["viewer", "auditor", "admin"] }, "disabled": { "type": "boolean" }, "created_at": time
        } }));
    m.insert("AccountList".into(), json!({ "type": "array", "items": reference("Account") }));
    m.insert("Me".into(), json!({ "type": "object", "properties": { "account": reference("Account"), "auth": { "type": "string", "enum": ["session", "token"] }, "csrf_token": nullable_string } }));
    m.insert("NewUser".into(), json!({ "type": "object", "required": ["username", "role", "password"], "properties": { "username": string, "display_name": string, "role": string, "password": { "type": "string", "minLength": 12 } } }));
    m.insert("UserChange".into(), json!({ "type": "object", "properties": { "display_name": string, "role": string, "disabled": { "type": "boolean" }, "password": string } }));
    m.insert("Token".into(), json!({ "type": "object", "properties": { "id": count, "name": string, "created_at": time, "expires_at": nullable_time, "last_used_at": nullable_time, "revoked": { "type": "boolean" } } }));
    m.insert("TokenList".into(), json!({ "type": "array", "items": reference("Token") }));
    m.insert("NewToken".into(), json!({ "type": "object", "properties": { "name": string, "expires_in_days": { "type": ["integer", "null"] } } }));
    m.insert("CreatedToken".into(), json!({ "allOf": [reference("Token"), { "type": "object", "properties": { "token_text": { "type": "string", "description": "Shown once; send as Authorization: Bearer." } } }] }));
    m.insert("AccessLogPage".into(), json!({ "type": "object", "properties": {
            "entries": { "type": "array", "items": { "type": "object", "properties": {
                "at": time, "username": string, "action": string, "detail": string, "rows": { "type": ["integer", "null"] },
                "client_ip": nullable_string, "channel": { "type": "string", "enum": ["ui", "api", "cli"] }
            } } },
            "next_before": nullable_time
        } }));
    let value = json!({ "type": ["object", "null"], "properties": {
            "value": { "description": "As sent: string, number or boolean (a lookup's GUID as a string, an option set's number)." },
            "formatted": nullable_string, "lookup_table": nullable_string,
            "display": { "type": "string", "description": "What a person reads." }
        }, "description": "null: empty." });
    let field_change =
        json!({ "type": "object", "properties": { "field": string, "old": value, "new": value } });
    let entity_ref = json!({ "type": "object", "properties": { "table": string, "id": uuid, "name": nullable_string } });
    let choice = json!({ "type": "object", "properties": { "value": { "type": "integer" }, "label": string } });
    let privilege = json!({ "type": "object", "properties": { "privilege_id": uuid, "depth": string, "business_unit_id": uuid } });
    m.insert("Change".into(), json!({ "type": "object", "properties": {
            "audit_id": uuid, "time": time, "action": choice, "operation": choice,
            "category": { "type": "string", "enum": ["row_event", "sharing", "relationship", "user_access", "metadata", "audit_settings", "security_role", "other"] },
            "table": string, "object_id": uuid, "object_name": nullable_string,
            "user": { "type": "object", "properties": { "id": uuid, "name": nullable_string } },
            "calling_user_id": uuid, "transaction_id": uuid,
            "attribute_mask": { "type": "array", "items": { "type": "integer" } },
            "detail_kind": { "type": "string", "enum": ["none", "attributes", "share", "relationship", "role_privileges", "user_access", "other"] },
            "fields": { "type": "array", "items": field_change, "description": "Attribute changes: each column's old and new value." },
            "deleted_fields": { "type": "array", "items": field_change },
            "invalid_new_fields": { "type": "array", "items": string },
            "share": { "type": ["object", "null"], "properties": { "principal": entity_ref, "old_privileges": nullable_string, "new_privileges": nullable_string } },
            "relationship": { "type": ["object", "null"], "properties": { "name": string, "targets": { "type": "array", "items": entity_ref } } },
            "role_privileges": { "type": ["object", "null"], "properties": { "old": { "type": "array", "items": privilege }, "new": { "type": "array", "items": privilege }, "invalid_new": { "type": "array", "items": uuid } } },
            "user_access": { "type": ["object", "null"], "properties": { "access_time": nullable_time, "interval_hours": { "type": ["integer", "null"] } } },
            "other_detail_type": nullable_string,
            "summary": { "type": "string", "description": "The detail in words." },
            "source": { "type": "object", "properties": { "kind": { "type": "string", "enum": ["dataverse", "audit_base"] }, "environment": nullable_string, "file": nullable_string, "line": { "type": ["integer", "null"] } } },
            "stored_at": time,
            "hash": { "type": "string", "description": "BLAKE3 of the row's bytes followed by the detail's bytes, hex." }
        } }));
    m.insert("ChangeList".into(), json!({ "type": "object", "properties": {
            "record_id": uuid, "field": nullable_string, "changes": { "type": "array", "items": reference("Change") }
        } }));
    m.insert(
        "ChangeDetail".into(),
        json!({ "allOf": [reference("Change"), { "type": "object", "properties": {
            "raw_row": { "type": "string", "description": "The audit row as received, as text." },
            "raw_row_utf8": { "type": "boolean" },
            "raw_row_base64": { "type": "string", "description": "The row's exact bytes." },
            "raw_detail": nullable_string, "raw_detail_base64": nullable_string,
            "hash_matches": { "type": "boolean" }
        } }] }),
    );
    m.insert("RestorePlan".into(), json!({ "type": "object", "properties": {
            "record_id": uuid, "table": string, "at": time,
            "verdict": { "type": "string", "enum": ["patch", "recreate", "already_as_it_was", "did_not_exist", "no_history"] },
            "verdict_text": string,
            "request": { "type": ["object", "null"], "properties": {
                "method": { "type": "string", "enum": ["PATCH", "POST"] },
                "path": { "type": "string", "description": "Relative to {environment}/api/data/v9.2/." },
                "body": { "type": "object" }
            } },
            "fields": { "type": "array", "items": { "type": "object", "properties": {
                "field": string, "restored": value, "current": value, "first_changed_by": nullable_string, "first_changed_on": time
            } } },
            "warnings": { "type": "array", "items": string },
            "sent": { "type": "boolean", "const": false },
            "note": string
        } }));
    Value::Object(m)
}

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for endpoint in ENDPOINTS {
        let item = paths.entry(endpoint.path.to_string()).or_insert_with(|| json!({}));
        item[endpoint.method] = operation(endpoint);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "d365audit",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The Dynamics 365 audit archive. Authenticate with `Authorization: Bearer <token>` (create one with `d365audit token create` or POST /api/v1/tokens) or a browser session (then send X-CSRF-Token on requests that change something). Roles: viewer (search, timelines, Dataverse field history, reports, status), auditor (also exports, restore plans and the SQL console), admin (also accounts and the access log). Every search, timeline, field history, report, export, restore plan and SQL statement is recorded in the access log. Errors: {\"error\":{\"code\",\"message\"}}."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "An API token (d365a_...)." },
                "session": { "type": "apiKey", "in": "cookie", "name": "__Host-d365audit", "description": "The browser session (named d365audit over plain http on loopback)." }
            },
            "schemas": schemas()
        }
    })
}

/// `GET /api/v1/openapi.json` (no sign-in: it describes the API, it holds no data).
pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referenced_schema_exists() {
        let doc = build();
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| c.is_alphanumeric()).collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        assert_eq!(doc["paths"]["/api/v1/export"]["get"]["x-required-role"], "auditor");
    }
}
