-- d365audit PostgreSQL archive, schema version 1.
--
-- Applied by the archive itself (src/schema.rs) in one transaction, under an advisory lock, and
-- recorded in d365audit.schema_migrations. Never edit a released migration: add the next one.
--
-- Record-bearing tables carry tenant_id (the record's OrganizationId, the nil UUID when it has
-- none) in every unique constraint, so that Citus can distribute them by tenant (sql/citus.sql).
-- The big ones are partitioned by month on event time; their monthly partitions are created on
-- demand by the ingest path (src/partitions.rs), so this file creates no partition.
--
-- Case-insensitive filters compare ASCII-folded text, exactly like the SQLite archive (whose
-- NOCASE folds ASCII only): translate(x, 'A..Z', 'a..z') is written out in the indexes below and
-- in the queries of src/plan.rs, which must stay the same expression for the indexes to be used.

-- Dedupe authority: one row per record Id and tenant, whatever its event time, and where the
-- record lives (event_time and seq locate its partition and row). Not partitioned, so a
-- duplicate whose CreationTime differs is still caught. Ids compare byte-wise (COLLATE "C").
CREATE TABLE d365audit.record_keys (
    record_id text COLLATE "C" NOT NULL,
    tenant_id uuid NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL,
    -- BLAKE3 of the verbatim bytes, to tell an identical duplicate from a variant.
    hash bytea NOT NULL,
    PRIMARY KEY (record_id, tenant_id)
);

-- Archive sequence numbers. Each ingest transaction takes one value and owns the block of
-- 2^24 numbers that starts there: its records get block start + position in the batch, so a
-- batch's records form one seq range (what its seal covers) without any lock, whatever other
-- replicas do at the same time. seq orders records by insertion; it is not dense.
CREATE SEQUENCE d365audit.record_seq AS bigint INCREMENT BY 16777216 MINVALUE 1 START WITH 1;

-- The normalized, indexed columns of every record (archive::columns::RecordColumns). seq is the
-- archive-wide insertion order, the tie-breaker of every timeline, and what seals cover.
CREATE TABLE d365audit.records (
    tenant_id uuid NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    record_type integer NOT NULL,
    workload text NOT NULL,
    operation text NOT NULL,
    user_name text COLLATE "C" NOT NULL,
    system_user_id uuid,
    organization text,
    entity text,
    entity_id uuid,
    message text,
    access smallint NOT NULL,
    categories integer NOT NULL,
    client_ip text,
    primary_value text,
    correlation_id uuid,
    result_status text,
    -- Also the time index: time scans, keyset pages, aggregations over a period.
    PRIMARY KEY (event_time, seq, tenant_id)
) PARTITION BY RANGE (event_time);
-- User timelines by UPN (ASCII case folded); a system user id is first resolved to its UPNs
-- through system_users, then read from this index too.
CREATE INDEX records_user ON d365audit.records
    (translate(user_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), event_time, seq);
-- Record timelines: events about a Dataverse record.
CREATE INDEX records_entity ON d365audit.records (entity_id, event_time, seq)
    WHERE entity_id IS NOT NULL;
-- The parts of a split record.
CREATE INDEX records_correlation ON d365audit.records (correlation_id)
    WHERE correlation_id IS NOT NULL;
-- Verification reads seq ranges (appended at the right edge, so cheap to keep).
CREATE INDEX records_seq ON d365audit.records (seq);

-- Which UPNs each Dataverse system user id acted as (a few rows per person and organization).
CREATE TABLE d365audit.system_users (
    system_user_id uuid NOT NULL,
    user_name text COLLATE "C" NOT NULL,
    tenant_id uuid NOT NULL,
    PRIMARY KEY (system_user_id, user_name, tenant_id)
);

-- The verbatim bytes, zstd-compressed (with a trained dictionary once one exists), their length
-- and hash; same key as records. Kept apart so that scans of records stay narrow.
CREATE TABLE d365audit.record_bytes (
    tenant_id uuid NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL,
    dictionary integer,
    raw_len integer NOT NULL,
    hash bytea NOT NULL,
    bytes bytea NOT NULL,
    -- seq first: verification reads the archive in seq order.
    PRIMARY KEY (seq, event_time, tenant_id)
) PARTITION BY RANGE (event_time);
-- Already compressed: TOAST must not try to compress it again.
ALTER TABLE d365audit.record_bytes ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- Records listed in a RetrieveMultiple / export's QueryResults: a Dataverse record's timeline
-- includes every result set that showed it.
CREATE TABLE d365audit.listed_records (
    tenant_id uuid NOT NULL,
    entity_id uuid NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL
) PARTITION BY RANGE (event_time);
CREATE INDEX listed_records_entity ON d365audit.listed_records (entity_id, event_time, seq);

-- Field values created or updated. Values can be long, so the index holds their md5 (as a
-- 16-byte uuid).
CREATE TABLE d365audit.field_values (
    tenant_id uuid NOT NULL,
    name text COLLATE "C" NOT NULL,
    value text NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL
) PARTITION BY RANGE (event_time);
CREATE INDEX field_values_value ON d365audit.field_values
    (translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), (md5(value)::uuid),
     event_time, seq);

-- The hash chain: one seal per committed batch that inserted records, covering the seq range
-- [first_seq, last_seq] (the batch's block). Written under the totals row lock, so the chain
-- stays linear however many replicas ingest.
CREATE TABLE d365audit.seals (
    seq bigint PRIMARY KEY,
    scheme integer NOT NULL,
    committed_at timestamptz NOT NULL,
    record_count bigint NOT NULL,
    digest bytea NOT NULL,
    link bytea NOT NULL,
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL
);
CREATE INDEX seals_first ON d365audit.seals (first_seq);

-- A record whose Id was already stored, with different bytes: kept verbatim as evidence.
CREATE TABLE d365audit.variants (
    tenant_id uuid NOT NULL,
    record_id text COLLATE "C" NOT NULL,
    hash bytea NOT NULL,
    first_seq bigint NOT NULL,
    received_at timestamptz NOT NULL,
    dictionary integer,
    raw_len integer NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (tenant_id, record_id, hash)
);

-- Input that could not be parsed, verbatim.
CREATE TABLE d365audit.quarantine (
    id bigserial PRIMARY KEY,
    tenant_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    received_at timestamptz NOT NULL,
    source text NOT NULL,
    reason text NOT NULL,
    raw bytea NOT NULL
);

-- Named positions (listing cursors, import offsets) that advance with the records they cover.
CREATE TABLE d365audit.cursors (
    name text PRIMARY KEY,
    value text NOT NULL,
    updated_at timestamptz NOT NULL
);

-- zstd dictionaries trained on the archive's own first records.
CREATE TABLE d365audit.dictionaries (
    id integer PRIMARY KEY,
    created_at timestamptz NOT NULL,
    sample_count integer NOT NULL,
    bytes bytea NOT NULL
);

-- Running totals, and the sealing lock: every ingest transaction ends with SELECT ... FOR UPDATE
-- on this row, then writes its seal after the newest one, so seals of concurrent replicas form
-- one linear chain.
CREATE TABLE d365audit.totals (
    id smallint PRIMARY KEY CHECK (id = 1),
    records bigint NOT NULL,
    raw_bytes bigint NOT NULL,
    quarantined bigint NOT NULL,
    variants bigint NOT NULL
);
INSERT INTO d365audit.totals (id, records, raw_bytes, quarantined, variants) VALUES (1, 0, 0, 0, 0);
