//! The commented example configuration `d365audit config init` writes: every setting, its
//! default, and what it is for.

/// A complete, commented configuration file. It loads as is once `CONTOSO_CLIENT_SECRET` is
/// set (its tenant and app ids are placeholders to replace).
pub fn example() -> &'static str {
    EXAMPLE
}

const EXAMPLE: &str = r#"# d365audit configuration.
#
# Every setting can be overridden by an environment variable named D365AUDIT_ + its path in
# upper case, levels joined by two underscores, e.g.
#   archive                      -> D365AUDIT_ARCHIVE
#   collector.workers            -> D365AUDIT_COLLECTOR__WORKERS
#   tenants.contoso.client_id    -> D365AUDIT_TENANTS__CONTOSO__CLIENT_ID
# Lists are comma-separated in variables: D365AUDIT_TENANTS__CONTOSO__CONTENT_TYPES=Audit.General,DLP.All
#
# Secrets are never written here and never given on the command line: a client secret comes
# from the environment variable named by client_secret_env, from the file named by
# client_secret_file, or from D365AUDIT_TENANTS__<NAME>__CLIENT_SECRET; the webhook authId from
# auth_id_env, auth_id_file or D365AUDIT_WEBHOOK__AUTH_ID. Relative file paths start at the
# folder of this file. Durations are written "250ms", "30s", "5m", "2h", "5d".

# The version of this file's layout. Required.
version = 1

# Where the archive is: sqlite://PATH (one file, the default) or postgres://USER@HOST/DB.
# The command line's --archive (or D365AUDIT_ARCHIVE) wins over this. Keep database passwords
# out of this file: use ~/.pgpass or D365AUDIT_ARCHIVE.
archive = "sqlite://d365audit.db"

[collector]
# Time between two listing rounds of `d365audit serve` (the webhook, when set up, is faster).
poll_interval = "5m"
# Each round lists this much before where the previous one ended again: blobs can become
# listable late, and already known blobs are skipped.
overlap = "2h"
# How far back the first listing starts (at most 7 days: Microsoft keeps content 7 days).
backfill = "7d"
# Blobs fetched at the same time, across tenants.
workers = 4
# How long a worker holds a blob; a crashed collector's blobs are taken up again after it.
# Must be longer than request_timeout.
lease = "5m"
# A blob still waiting after this long is a backlog warning in the log and in `status`
# (blobs expire 7 days after they became available; expired blobs are recorded as gaps).
backlog_warning_age = "5d"
# Attempts at a blob that keeps failing (throttling, server errors) before it is recorded as
# a "failed" gap. Configuration errors (permissions, sign-in) wait for the fix instead.
max_attempts = 8
# Wait before retrying a failed blob; doubles with each attempt, up to retry_delay_max.
retry_delay = "1m"
retry_delay_max = "1h"
# How long a stopping collector lets blobs in progress finish (unfinished ones are redone
# later, never lost).
shutdown_grace = "30s"
# Attempts of one HTTP request on throttling (AF429), server errors (AF50000) and timeouts,
# with exponential backoff from request_backoff up to request_backoff_max.
request_attempts = 6
request_backoff = "500ms"
request_backoff_max = "60s"
# Limit of one HTTP request (a large blob must fit in it).
request_timeout = "2m"

[webhook]
# The public https address Microsoft posts notifications to (served by `d365audit serve`).
# Without it, subscriptions are polled only (Microsoft recommends polling anyway).
# public_address = "https://audit.example.com/webhook"
# The shared secret Microsoft sends back in the Webhook-AuthID header: the NAME of the
# environment variable holding it, or a file holding it (or set D365AUDIT_WEBHOOK__AUTH_ID).
# auth_id_env = "D365AUDIT_WEBHOOK_AUTH_ID"
# auth_id_file = "/run/secrets/d365audit-webhook-auth-id"
# Where `d365audit serve` listens.
listen = "127.0.0.1:8080"
# Largest notification body accepted, in bytes.
max_body_bytes = 1048576

# One table per Microsoft 365 tenant; the name after "tenants." is what --tenant takes.
[tenants.contoso]
# Directory (tenant) ID, from the Entra ID overview page. REPLACE.
tenant_id = "00000000-0000-0000-0000-000000000000"
# commercial (default), gcc, gcchigh, dod or china.
cloud = "commercial"
# Or, instead of cloud, explicit base URLs (a proxy, or `d365audit emulator`):
# login_base = "https://login.microsoftonline.com"
# api_base = "https://manage.office.com"
# The token audience when it differs from api_base (default: api_base's origin).
# resource = "https://manage.office.com"
# Application (client) ID of the app registration that has the ActivityFeed.Read application
# permission of "Office 365 Management APIs", with admin consent. REPLACE.
client_id = "00000000-0000-0000-0000-000000000000"
# The credential, exactly one of:
# - the NAME of the environment variable that holds the client secret's VALUE (not its ID):
client_secret_env = "CONTOSO_CLIENT_SECRET"
# - a file that holds only the client secret's value:
# client_secret_file = "/run/secrets/contoso-client-secret"
# - a certificate uploaded to the app registration and its unencrypted RSA private key (PEM):
# certificate_file = "contoso-app-cert.pem"
# private_key_file = "contoso-app-key.pem"
# How certificate assertions are signed: "ps256" (current Entra ID docs) or "rs256".
# certificate_assertion = "ps256"
# Entra ID token endpoint: "v2" (scope, default) or "v1" (resource).
token_endpoint = "v2"
# Sent as PublisherIdentifier on every request, so throttling counts against your own quota.
# Default: tenant_id (right for an in-house collector; a software vendor sets its own tenant).
# publisher_id = "00000000-0000-0000-0000-000000000000"
# Content types to collect. Dynamics 365 / Dataverse activity is in Audit.General. Others:
# Audit.AzureActiveDirectory, Audit.Exchange, Audit.SharePoint, DLP.All.
content_types = ["Audit.General"]
# Which records to keep, by Workload: ["CRM"] is Dynamics 365 / Dataverse. Add e.g.
# "PowerApps", "MicrosoftFlow", "PowerBI", or write workloads = "all" to keep everything.
# Records outside are counted, not stored.
workloads = ["CRM"]
# Requests per minute to this tenant's API (Microsoft's quota is about 2,000 per tenant,
# shared with every other tool that reads it).
requests_per_minute = 1200
# How many requests may go out back to back after a quiet period (then the rate applies).
request_burst = 20

# One table per Dataverse environment whose classic audit (old and new values of changed
# columns, sharing, role changes, user access) is synced by `d365audit dataverse sync` and
# continuously by `d365audit serve`. The name after "dataverse." is what --environment takes.
# Commented out: remove the # signs to sync an environment.
# [dataverse.sales]
# The environment URL from the Power Platform admin center (also the token audience).
# url = "https://contoso.crm4.dynamics.com"
# The [tenants.<name>] table whose app registration signs in. The app must be an application
# user of the environment with a role granting prvReadAuditSummary and
# prvReadRecordAuditHistory. (A tenant table with content_types = [] only lends credentials.)
# tenant = "contoso"
# Time between two syncs inside `d365audit serve`.
# interval = "15m"
# Each sync reads again this much before the newest stored change: Dataverse shows audit rows
# late. Known rows are skipped.
# overlap = "15m"
# Audit rows per page (Prefer: odata.maxpagesize; at most 5000).
# page_size = 1000
# RetrieveAuditDetails calls at the same time (Dataverse allows 52 per user).
# detail_concurrency = 8
# Where the first sync starts, a date or UTC time. Default: everything the environment keeps.
# since = "2024-01-01"
"#;
