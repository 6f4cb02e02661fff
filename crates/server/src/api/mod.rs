//! The REST API under `/api/v1`: JSON, the same query model as the UI and the CLI (a one-line
//! query `q` and one parameter per filter), keyset pagination (`next` -> `after`), bearer
//! token or session authentication, the roles of the UI, every use written to the access log,
//! and every error as `{"error":{"code":...,"message":...}}`. `GET /api/v1/openapi.json`
//! describes it all.

pub mod dto;
pub mod openapi;

use archive::{Dimension, Order, Role};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::access_log::{self, Channel, Use};
use crate::accounts::{self, AccountError};
use crate::error::{ApiError, ErrorCode, Failure};
use crate::exports::{self, ExportFormat};
use crate::principal::{ApiUser, Credential, Principal};
use crate::query_input::{FilterParams, PageParams, parse_guid};
use crate::reports::{self, REPORTS, ScopeParams};
use crate::state::ServerState;
use crate::ui::admin::{account_failure, actor};
use crate::ui::search::search_detail;
use dto::*;

type ApiResult<T> = Result<T, ApiError>;

/// `Query<T>` whose rejection is the API's JSON error.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError(Failure::bad_request(e.body_text())))
    }
}

/// `Path<T>` whose rejection is the API's JSON error.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError(Failure::bad_request(e.body_text())))
    }
}

/// `Json<T>` whose rejection is the API's JSON error.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state).await.map(|j| ApiJson(j.0)).map_err(
            |e: JsonRejection| {
                let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorCode::PayloadTooLarge
                } else {
                    ErrorCode::BadRequest
                };
                ApiError(Failure::new(code, e.body_text()))
            },
        )
    }
}

async fn log(state: &ServerState, principal: &Principal, usage: Use<'_>) -> ApiResult<()> {
    Ok(access_log::record(state, principal, Channel::Api, usage).await?)
}

fn require(principal: &Principal, role: Role, doing: &str) -> ApiResult<()> {
    Ok(principal.require(role, doing)?)
}

/// The API's routes, under `/api/v1`.
pub fn routes() -> Router<ServerState> {
    let v1 = Router::new()
        .route("/", get(index))
        .route("/openapi.json", get(openapi::document))
        .route("/me", get(me))
        .route("/records", get(search))
        .route("/records/count", get(count))
        .route("/records/{id}", get(record))
        .route("/records/{id}/raw", get(record_raw))
        .route("/records/{id}/changes", get(record_changes))
        .route("/records/{id}/restore-plan", get(restore_plan))
        .route("/changes/{id}", get(change))
        .route("/search", post(search_json))
        .route("/timelines/record/{id}", get(record_timeline))
        .route("/timelines/user/{user}", get(user_timeline))
        .route("/aggregate", get(aggregate))
        .route("/reports", get(report_list))
        .route("/reports/{slug}", get(report))
        .route("/export", get(export))
        .route("/sql", post(sql))
        .route("/sql/schema", get(sql_schema))
        .route("/status", get(status))
        .route("/users", get(users).post(create_user))
        .route("/users/{username}", patch(change_user))
        .route("/access-log", get(access_log_entries))
        .route("/tokens", get(tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    Router::new().nest("/api/v1", v1)
}

async fn not_found() -> ApiError {
    ApiError(Failure::not_found("there is no such API endpoint; see /api/v1/openapi.json"))
}

async fn method_not_allowed() -> Response {
    let mut response = ApiError(Failure::bad_request(
        "this endpoint does not take that method; see /api/v1/openapi.json",
    ))
    .into_response();
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

async fn index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": "d365audit",
        "version": env!("CARGO_PKG_VERSION"),
        "openapi": "/api/v1/openapi.json",
    }))
}

async fn me(ApiUser(principal): ApiUser) -> Json<serde_json::Value> {
    let (auth, csrf) = match &principal.credential {
        Credential::Session { csrf_token, .. } => ("session", Some(csrf_token.clone())),
        Credential::ApiToken { .. } => ("token", None),
    };
    Json(serde_json::json!({
        "account": AccountDto::from(&principal.account),
        "auth": auth,
        "csrf_token": csrf,
    }))
}

/// `GET /api/v1/records`.
async fn search(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiQuery(filters): ApiQuery<FilterParams>,
    ApiQuery(paging): ApiQuery<PageParams>,
) -> ApiResult<Json<RecordPage>> {
    let query = filters.to_query(state.now()).map_err(Failure::from)?;
    let page = paging.to_page(100, Order::NewestFirst).map_err(Failure::from)?;
    run_search(&state, &principal, "search", query, page).await
}

async fn run_search(
    state: &ServerState,
    principal: &Principal,
    action: &str,
    query: archive::RecordQuery,
    page: archive::PageRequest,
) -> ApiResult<Json<RecordPage>> {
    let found = state
        .backend()
        .search(&query, &page)
        .await
        .map_err(|e| Failure::archive("searching", e))?;
    state.shared.counters.searches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    log(
        state,
        principal,
        Use {
            action,
            detail: search_detail(&query, page.after.is_some()),
            rows: Some(found.rows.len() as u64),
        },
    )
    .await?;
    Ok(Json(RecordPage { rows: rows(&found.rows), next: found.next.map(|n| n.encode()) }))
}

/// `POST /api/v1/search`.
async fn search_json(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiJson(request): ApiJson<SearchRequest>,
) -> ApiResult<Json<RecordPage>> {
    let mut filters = request.filters;
    filters.q = format!("{} {}", request.q, filters.q).trim().to_string();
    let query = filters.to_query(state.now()).map_err(Failure::from)?;
    let paging = PageParams {
        after: request.after.unwrap_or_default(),
        limit: request.limit.map(|l| l.to_string()).unwrap_or_default(),
        order: request.order.unwrap_or_default(),
    };
    let page = paging.to_page(100, Order::NewestFirst).map_err(Failure::from)?;
    run_search(&state, &principal, "search", query, page).await
}

/// `GET /api/v1/records/count`: counts can be slow on large archives without filters.
async fn count(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiQuery(filters): ApiQuery<FilterParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let query = filters.to_query(state.now()).map_err(Failure::from)?;
    let count = state.backend().count(&query).await.map_err(|e| Failure::archive("counting", e))?;
    log(
        &state,
        &principal,
        Use { action: "count", detail: search_detail(&query, false), rows: Some(count) },
    )
    .await?;
    Ok(Json(serde_json::json!({ "count": count })))
}

async fn stored(state: &ServerState, id: &str) -> ApiResult<archive::StoredRecord> {
    Ok(state
        .backend()
        .record(id)
        .await
        .map_err(|e| Failure::archive("reading a record", e))?
        .ok_or_else(|| Failure::not_found(format!("there is no record with Id {id}")))?)
}

/// `GET /api/v1/records/{id}`.
async fn record(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RecordDetail>> {
    let record = stored(&state, &id).await?;
    log(&state, &principal, Use { action: "record_view", detail: id, rows: Some(1) }).await?;
    Ok(Json(RecordDetail::from(&record)))
}

/// `GET /api/v1/records/{id}/raw`: the exact bytes as received.
async fn record_raw(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let record = stored(&state, &id).await?;
    log(
        &state,
        &principal,
        Use { action: "record_view", detail: format!("{id} (raw)"), rows: Some(1) },
    )
    .await?;
    let mut response = record.raw.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = axum::http::HeaderValue::from_str(&record.hash) {
        response.headers_mut().insert("x-d365audit-blake3", value);
    }
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FieldParam {
    field: String,
}

/// `GET /api/v1/records/{id}/changes?field=`: the record's field history, oldest first.
async fn record_changes(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<FieldParam>,
) -> ApiResult<Json<ChangeList>> {
    let record_id = parse_guid("record", &id).map_err(Failure::from)?;
    let field = Some(params.field.trim()).filter(|f| !f.is_empty());
    let found = crate::changes::record_changes(&state, record_id, field).await?;
    let mut detail = format!("record:{record_id}");
    if let Some(field) = field {
        detail.push_str(&format!(" field:{field}"));
    }
    log(
        &state,
        &principal,
        Use { action: "record_changes", detail, rows: Some(found.len() as u64) },
    )
    .await?;
    Ok(Json(ChangeList {
        record_id,
        field: field.map(str::to_string),
        changes: found.iter().map(ChangeDto::from).collect(),
    }))
}

/// `GET /api/v1/changes/{auditid}`: one change with its bytes as received.
async fn change(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChangeDetailDto>> {
    let audit_id = parse_guid("auditid", &id).map_err(Failure::from)?;
    let stored = crate::changes::one_change(&state, audit_id).await?;
    log(
        &state,
        &principal,
        Use { action: "change_view", detail: audit_id.to_string(), rows: Some(1) },
    )
    .await?;
    Ok(Json(ChangeDetailDto::from(&stored)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RestoreParams {
    at: String,
    entity_set: String,
}

/// `GET /api/v1/records/{id}/restore-plan?at=&entity_set=`: auditors. Never sent.
async fn restore_plan(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<RestoreParams>,
) -> ApiResult<Json<RestorePlanDto>> {
    require(&principal, Role::Auditor, "Restore plans")?;
    let record_id = parse_guid("record", &id).map_err(Failure::from)?;
    let at = crate::changes::parse_at(&params.at, state.now())?;
    let entity_set = crate::changes::parse_entity_set(&params.entity_set)?;
    let plan = crate::changes::plan(&state, record_id, at, entity_set).await?;
    log(
        &state,
        &principal,
        Use {
            action: "restore_plan",
            detail: crate::changes::plan_detail(record_id, at, entity_set),
            rows: Some(plan.fields.len() as u64),
        },
    )
    .await?;
    let mut dto = RestorePlanDto::from(&plan);
    for warning in &mut dto.warnings {
        *warning = warning.replace("pass --entity-set", "pass entity_set=");
    }
    Ok(Json(dto))
}

/// `GET /api/v1/timelines/record/{id}`: oldest first by default.
async fn record_timeline(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(filters): ApiQuery<FilterParams>,
    ApiQuery(paging): ApiQuery<PageParams>,
) -> ApiResult<Json<RecordPage>> {
    let mut query = filters.to_query(state.now()).map_err(Failure::from)?;
    query.record_id = Some(parse_guid("record", &id).map_err(Failure::from)?);
    let page = paging.to_page(500, Order::OldestFirst).map_err(Failure::from)?;
    run_search(&state, &principal, "record_timeline", query, page).await
}

/// `GET /api/v1/timelines/user/{user}`: newest first by default.
async fn user_timeline(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(user): ApiPath<String>,
    ApiQuery(filters): ApiQuery<FilterParams>,
    ApiQuery(paging): ApiQuery<PageParams>,
) -> ApiResult<Json<RecordPage>> {
    let mut query = filters.to_query(state.now()).map_err(Failure::from)?;
    query.users = vec![user];
    let page = paging.to_page(100, Order::NewestFirst).map_err(Failure::from)?;
    run_search(&state, &principal, "user_timeline", query, page).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AggregateParams {
    by: String,
    limit: String,
}

fn dimension(text: &str) -> Result<Dimension, Failure> {
    serde_json::from_value(serde_json::Value::String(text.trim().into())).map_err(|_| {
        Failure::bad_request(format!(
            "`by={text}` is not a dimension; use day, hour_of_day, weekday, user, organization, \
             entity, message, access or category"
        ))
    })
}

/// `GET /api/v1/aggregate?by=...`.
async fn aggregate(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiQuery(filters): ApiQuery<FilterParams>,
    ApiQuery(params): ApiQuery<AggregateParams>,
) -> ApiResult<Json<Aggregation>> {
    let by = dimension(&params.by)?;
    let limit = match params.limit.trim() {
        "" => 100,
        text => text
            .parse::<u32>()
            .map_err(|_| Failure::bad_request("limit is a number of buckets"))?
            .clamp(1, 10_000),
    };
    let query = filters.to_query(state.now()).map_err(Failure::from)?;
    let found = state
        .backend()
        .aggregate(&query, by, limit)
        .await
        .map_err(|e| Failure::archive("aggregating", e))?;
    log(
        &state,
        &principal,
        Use {
            action: "report",
            detail: format!("by {} of {}", params.by.trim(), search_detail(&query, false)),
            rows: Some(found.len() as u64),
        },
    )
    .await?;
    Ok(Json(Aggregation { by: params.by.trim().to_string(), buckets: buckets(&found) }))
}

async fn report_list(ApiUser(_): ApiUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "reports": REPORTS }))
}

/// `GET /api/v1/reports/{slug}`.
async fn report(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(scope): ApiQuery<ScopeParams>,
) -> ApiResult<Json<ReportDto>> {
    let scope = scope.to_scope(state.now(), state.settings().default_report_days)?;
    let report = reports::run(&state, &slug, scope).await?;
    let rows = report.sections.iter().map(|s| s.buckets.len() as u64).sum();
    log(
        &state,
        &principal,
        Use {
            action: "report",
            detail: format!(
                "{} from {} to {}",
                report.slug,
                crate::query_input::time_text(report.scope.from),
                crate::query_input::time_text(report.scope.to)
            ),
            rows: Some(rows),
        },
    )
    .await?;
    Ok(Json(ReportDto::from(&report)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FormatParam {
    format: String,
}

/// `GET /api/v1/export?format=csv|jsonl|raw`: auditors; streamed.
async fn export(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiQuery(filters): ApiQuery<FilterParams>,
    ApiQuery(format): ApiQuery<FormatParam>,
) -> ApiResult<Response> {
    require(&principal, Role::Auditor, "Exporting")?;
    let format = ExportFormat::parse(&format.format)?;
    let query = filters.to_query(state.now()).map_err(Failure::from)?;
    Ok(exports::export_response(&state, &principal, Channel::Api, query, format, "export").await?)
}

/// `POST /api/v1/sql`: auditors.
async fn sql(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiJson(request): ApiJson<SqlRequest>,
) -> ApiResult<Json<SqlAnswer>> {
    require(&principal, Role::Auditor, "The SQL console")?;
    let (result, elapsed_ms) =
        crate::ui::sql::run_logged(&state, &principal, Channel::Api, &request.statement).await?;
    Ok(Json(SqlAnswer {
        columns: result.columns,
        rows: result.rows,
        truncated: result.truncated,
        elapsed_ms,
    }))
}

/// `GET /api/v1/sql/schema`: auditors.
async fn sql_schema(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
) -> ApiResult<Json<serde_json::Value>> {
    require(&principal, Role::Auditor, "The SQL console")?;
    let tables = state
        .backend()
        .sql_schema()
        .await
        .map_err(|e| Failure::archive("listing the tables", e))?;
    let tables: Vec<serde_json::Value> = tables
        .into_iter()
        .map(|(name, columns)| serde_json::json!({ "name": name, "columns": columns }))
        .collect();
    Ok(Json(serde_json::json!({ "tables": tables })))
}

/// `GET /api/v1/status`.
async fn status(State(state): State<ServerState>, ApiUser(_): ApiUser) -> Json<StatusDto> {
    Json(StatusDto::from(&crate::status::collect(&state).await))
}

/// `GET /api/v1/users`: admins.
async fn users(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
) -> ApiResult<Json<Vec<AccountDto>>> {
    require(&principal, Role::Admin, "Managing accounts")?;
    let accounts =
        state.backend().accounts().await.map_err(|e| Failure::archive("listing accounts", e))?;
    Ok(Json(accounts.iter().map(AccountDto::from).collect()))
}

fn role_of(text: &str) -> Result<Role, Failure> {
    Role::parse(text).ok_or_else(|| {
        Failure::bad_request(format!("`{text}` is not a role: use viewer, auditor or admin"))
    })
}

/// `POST /api/v1/users`: admins.
async fn create_user(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiJson(input): ApiJson<NewUser>,
) -> ApiResult<Response> {
    require(&principal, Role::Admin, "Managing accounts")?;
    let role = role_of(&input.role)?;
    let account = accounts::add_account(
        state.backend(),
        &actor(&principal, Channel::Api),
        input.username.trim(),
        &input.display_name,
        role,
        input.password,
        state.now(),
    )
    .await
    .map_err(account_failure)?;
    Ok((StatusCode::CREATED, Json(AccountDto::from(&account))).into_response())
}

/// `PATCH /api/v1/users/{username}`: admins.
async fn change_user(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(username): ApiPath<String>,
    ApiJson(change): ApiJson<UserChange>,
) -> ApiResult<Json<AccountDto>> {
    require(&principal, Role::Admin, "Managing accounts")?;
    let store = state.backend();
    let actor = actor(&principal, Channel::Api);
    let now = state.now();
    let apply = async {
        accounts::find(store, &username).await?;
        if let Some(name) = &change.display_name {
            accounts::set_display_name(store, &actor, &username, name, now).await?;
        }
        if let Some(role) = &change.role {
            let role = Role::parse(role).ok_or(AccountError::InvalidUsername {
                username: role.clone(),
                reason: "is not a role: use viewer, auditor or admin",
            })?;
            accounts::set_role(store, &actor, &username, role, now).await?;
        }
        if let Some(disabled) = change.disabled {
            accounts::set_disabled(store, &actor, &username, disabled, now).await?;
        }
        if let Some(password) = change.password {
            accounts::set_password(store, &actor, &username, password, now).await?;
        }
        accounts::find(store, &username).await
    };
    let account = apply.await.map_err(account_failure)?;
    Ok(Json(AccountDto::from(&account)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AccessLogParams {
    limit: String,
    before: String,
}

/// `GET /api/v1/access-log`: admins.
async fn access_log_entries(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiQuery(params): ApiQuery<AccessLogParams>,
) -> ApiResult<Json<AccessLogPage>> {
    require(&principal, Role::Admin, "Reading the access log")?;
    let limit = match params.limit.trim() {
        "" => 100,
        text => text
            .parse::<u32>()
            .map_err(|_| Failure::bad_request("limit is a number"))?
            .clamp(1, 1_000),
    };
    let before: Option<DateTime<Utc>> = match params.before.trim() {
        "" => None,
        text => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    Failure::bad_request("`before` is an RFC 3339 time, e.g. 2026-06-01T10:00:00Z")
                })?
                .with_timezone(&Utc),
        ),
    };
    let entries = state
        .backend()
        .access_log(limit, before)
        .await
        .map_err(|e| Failure::archive("reading the access log", e))?;
    log(
        &state,
        &principal,
        Use {
            action: "access_log",
            detail: before
                .map(|b| format!("before {}", crate::query_input::time_text(b)))
                .unwrap_or_default(),
            rows: Some(entries.len() as u64),
        },
    )
    .await?;
    let next_before =
        if entries.len() as u32 == limit { entries.last().map(|e| e.at) } else { None };
    Ok(Json(AccessLogPage {
        entries: entries.iter().map(AccessEntryDto::from).collect(),
        next_before,
    }))
}

/// `GET /api/v1/tokens`: the caller's own tokens.
async fn tokens(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
) -> ApiResult<Json<Vec<TokenDto>>> {
    let tokens = state
        .backend()
        .api_tokens_of(principal.account.id)
        .await
        .map_err(|e| Failure::archive("listing API tokens", e))?;
    Ok(Json(tokens.iter().map(TokenDto::from).collect()))
}

/// `POST /api/v1/tokens`: a token for the caller, shown once.
async fn create_token(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiJson(input): ApiJson<NewToken>,
) -> ApiResult<Response> {
    let now = state.now();
    let expires_at = match input.expires_in_days {
        None => None,
        Some(days) if (1..=3650).contains(&days) => Some(now + Duration::days(days)),
        Some(_) => return Err(Failure::bad_request("expires_in_days is 1 to 3650").into()),
    };
    let (token, secret) = accounts::create_api_token(
        state.backend(),
        &actor(&principal, Channel::Api),
        &principal.account.username,
        &input.name,
        expires_at,
        now,
    )
    .await
    .map_err(account_failure)?;
    let body =
        NewTokenDto { token: TokenDto::from(&token), token_text: secret.expose().to_string() };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{id}`: one of the caller's own tokens.
async fn revoke_token(
    State(state): State<ServerState>,
    ApiUser(principal): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    accounts::revoke_api_token(
        state.backend(),
        &actor(&principal, Channel::Api),
        &principal.account.username,
        id,
        state.now(),
    )
    .await
    .map_err(account_failure)?;
    Ok(StatusCode::NO_CONTENT)
}
