-- d365audit PostgreSQL archive, schema version 2: the durable blob queue (archive::BlobQueue),
-- and who may use the archive (archive::AccessStore): accounts, sessions, API tokens and the
-- access log.
--
-- Applied like every migration (src/schema.rs). Never edit a released migration: add the next.
--
-- Citus (sql/citus.sql): blob_queue and blob_streams are distributed by tenant_id, co-located
-- with record_keys, so a tenant's queue rows sit beside its records. The access tables are archive-wide, not per
-- tenant, small, and never joined with record tables: they stay plain local tables on the
-- coordinator, where the server replicas connect.

-- Content blobs announced by listings and webhook notifications, one row per (tenant, contentId)
-- for good: a blob announced again is left as it is, whatever its state. A row is claimed by a
-- worker (state 'leased', a random lease_token, a deadline) with FOR UPDATE SKIP LOCKED, and
-- settled in the transaction that stores its records, only while lease_token is still the
-- worker's.
CREATE TABLE d365audit.blob_queue (
    tenant_id uuid NOT NULL,
    content_id text COLLATE "C" NOT NULL,
    content_type text COLLATE "C" NOT NULL,
    content_uri text NOT NULL,
    content_created timestamptz NOT NULL,
    content_expiration timestamptz NOT NULL,
    -- How the blob was learnt about: 'poll' (with the listing window's start) or 'webhook'.
    discovered_by text NOT NULL CHECK (discovered_by IN ('poll', 'webhook')),
    window_start timestamptz,
    announced_at timestamptz NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'leased', 'done', 'expired', 'quarantined', 'failed')),
    -- Settled attempts (done, retry or gap); a lease that runs out is not one.
    attempts integer NOT NULL DEFAULT 0,
    -- A pending blob is claimable from then on.
    next_attempt timestamptz NOT NULL DEFAULT '-infinity',
    lease_token uuid,
    leased_until timestamptz,
    -- Records this blob stored for the first time (IngestReceipt::inserted), counted on settle.
    records bigint NOT NULL DEFAULT 0,
    last_error text,
    -- When the blob was last settled (for a gap: when it became one).
    settled_at timestamptz,
    PRIMARY KEY (tenant_id, content_id),
    CHECK ((state = 'leased') = (lease_token IS NOT NULL AND leased_until IS NOT NULL)),
    CHECK ((discovered_by = 'poll') = (window_start IS NOT NULL))
);
-- Claims: waiting blobs, oldest contentCreated first.
CREATE INDEX blob_queue_waiting ON d365audit.blob_queue (content_created, tenant_id, content_id)
    WHERE state IN ('pending', 'leased');
-- Status per tenant and content type of the blobs not done (waiting ones and gaps: a small
-- part of the queue); the done ones are counted in blob_streams.
CREATE INDEX blob_queue_unsettled ON d365audit.blob_queue
    (tenant_id, content_type, state, content_created) WHERE state <> 'done';
-- The newest error of each tenant and content type.
CREATE INDEX blob_queue_errors ON d365audit.blob_queue (tenant_id, content_type, settled_at)
    WHERE last_error IS NOT NULL;
-- Gaps, newest first.
CREATE INDEX blob_queue_gaps ON d365audit.blob_queue (settled_at DESC, tenant_id, content_id)
    WHERE state IN ('expired', 'quarantined', 'failed');

-- Running totals per tenant and content type, so that the status does not count the ever
-- growing done blobs: how many are done, and the records their settles stored for the first
-- time. Updated by the settle's transaction after the sealing lock, so it adds no wait.
CREATE TABLE d365audit.blob_streams (
    tenant_id uuid NOT NULL,
    content_type text COLLATE "C" NOT NULL,
    done bigint NOT NULL DEFAULT 0,
    records bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, content_type)
);

-- Local accounts. Usernames are unique without case: username_folded is the username in lower
-- case (Unicode, folded by d365audit, not by the server's collation), and what lookups compare.
CREATE TABLE d365audit.accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL,
    username_folded text COLLATE "C" NOT NULL UNIQUE,
    display_name text NOT NULL,
    role text NOT NULL CHECK (role IN ('viewer', 'auditor', 'admin')),
    -- argon2 PHC string, made by the server.
    password_hash text NOT NULL,
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);

-- Signed-in browser sessions, by the SHA-256/BLAKE3 digest of the cookie value (never the value).
CREATE TABLE d365audit.sessions (
    digest bytea PRIMARY KEY CHECK (length(digest) = 32),
    account_id bigint NOT NULL REFERENCES d365audit.accounts (id) ON DELETE CASCADE,
    csrf_digest bytea NOT NULL CHECK (length(csrf_digest) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_account ON d365audit.sessions (account_id, expires_at);

-- API tokens for scripts, by the digest of the token (never the token).
CREATE TABLE d365audit.api_tokens (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES d365audit.accounts (id) ON DELETE CASCADE,
    name text NOT NULL,
    digest bytea NOT NULL UNIQUE CHECK (length(digest) = 32),
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    last_used_at timestamptz,
    revoked boolean NOT NULL DEFAULT false
);
CREATE INDEX api_tokens_account ON d365audit.api_tokens (account_id);

-- The archive's own audit trail: every search, timeline, export, SQL statement and sign-in.
CREATE TABLE d365audit.access_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    username text NOT NULL,
    action text NOT NULL,
    detail text NOT NULL,
    rows bigint,
    client_ip text,
    channel text NOT NULL
);
CREATE INDEX access_log_at ON d365audit.access_log (at DESC, id DESC);
