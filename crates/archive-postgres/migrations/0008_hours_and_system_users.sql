-- d365audit PostgreSQL archive, schema version 8: indexes that hold a list of rows per key,
-- system user ids as names, record keys without their seq, a smaller index of folded names.
--
-- Applied like every migration (src/schema.rs). Never edit a released migration: add the next.
--
-- A B-tree entry costs about 12 bytes of header and line pointer plus its key, and the user
-- index, which every batch inserts into at a hundred places (one per user), had its pages about
-- half full: 72 bytes per record. PostgreSQL (13 and later) stores the entries of equal keys
-- once, with the list of their rows (6 bytes each): "deduplication". So the user and field-value
-- indexes are keyed by the hour of the event instead of its exact time and seq, and the time
-- index by the time alone. Measured at 1M records inserted in ingest order: user index 72 -> 14
-- bytes per record, field values 35 -> 23, time 33 -> 20.
--
-- Queries keep their order: rows come out of the index ordered by hour, and PostgreSQL sorts
-- each hour's few rows by (event_time, seq) as it goes ("incremental sort"), stopping after a
-- page; the planner sees the hour as an expression of the time, so src/plan.rs orders by
-- (hour, event_time, seq), which is the same order, and bounds the hour wherever it bounds the
-- time.
--
-- The Dataverse system user id of a record (a GUID, 16 bytes in three records of four) repeats
-- like the user: it is stored once in `names` as text (lower case, with hyphens) and `records`
-- holds its 4-byte id (`system_user_ref`).
--
-- `records` is copied into a new table (like migration 7: its partitions keep their names and
-- bounds) and `record_keys` too, so that no dropped column keeps its bytes in the rows; about
-- 30 seconds per million records. It locks the record tables while it runs: stop the
-- collectors first. Verbatim bytes and seals are untouched: `verify` finds the records as
-- before.

-- The hour since the Unix epoch of a time, rounded down, as src/plan.rs computes it. Written
-- with immutable parts only (a timestamptz minus another is an interval, and the epoch of an
-- interval depends on no time zone), so that PostgreSQL inlines it wherever it is used (a call
-- per row would cost four times as much) and may index it. The seconds are rounded down before
-- the division, so that the quotient of two integers never rounds up into the next hour (a
-- numeric quotient keeps a limited number of digits); exact for every time d365audit stores
-- (chrono's, up to the year 262,143), on PostgreSQL 14 and later (where the epoch is numeric).
CREATE FUNCTION d365audit.hour_of(timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT floor(floor(extract(epoch FROM ($1 - 'epoch'::timestamptz))) / 3600)::bigint $$;

-- The system user ids as names.
INSERT INTO d365audit.names (name)
    SELECT s FROM (SELECT DISTINCT system_user_id::text AS s FROM d365audit.records
                   WHERE system_user_id IS NOT NULL) u
    WHERE NOT EXISTS (SELECT 1 FROM d365audit.names x
                      WHERE d365audit.name_digest(x.name) = d365audit.name_digest(u.s))
    ORDER BY s;

-- records: the old table and its partitions step aside, the new one gets partitions with the
-- same names and bounds, and the rows are copied over in seq order (the BRIN index on seq
-- relies on it).
DROP VIEW d365audit.records_named;
DROP INDEX d365audit.records_user, d365audit.records_time, d365audit.records_seq,
    d365audit.records_dataverse_rows;
ALTER TABLE d365audit.records RENAME TO records_7;

-- Columns ordered so that alignment wastes nothing: 8-byte, 4-byte, 2-byte, then the rest.
CREATE TABLE d365audit.records (
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL,
    user_ref integer NOT NULL,
    workload_ref integer NOT NULL,
    operation_ref integer NOT NULL,
    categories integer NOT NULL,
    organization_ref integer,
    entity_ref integer,
    message_ref integer,
    client_ip_ref integer,
    primary_value_ref integer,
    result_status_ref integer,
    system_user_ref integer,
    tenant_ref smallint NOT NULL,
    record_type smallint NOT NULL,
    access smallint NOT NULL,
    -- The Id, packed as in record_keys.
    record_key bytea NOT NULL,
    entity_id uuid,
    correlation_id uuid,
    listed uuid[]
) PARTITION BY RANGE (event_time);

DO $partitions$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'd365audit.records_7'::regclass
    LOOP
        EXECUTE format('ALTER TABLE d365audit.%I RENAME TO %I', part.relname, part.relname || '_7');
        EXECUTE format('CREATE TABLE d365audit.%I PARTITION OF d365audit.records %s',
            part.relname, part.bound);
    END LOOP;
END
$partitions$;

INSERT INTO d365audit.records (event_time, seq, user_ref, workload_ref, operation_ref,
        categories, organization_ref, entity_ref, message_ref, client_ip_ref, primary_value_ref,
        result_status_ref, system_user_ref, tenant_ref, record_type, access, record_key,
        entity_id, correlation_id, listed)
    SELECT r.event_time, r.seq, r.user_ref, r.workload_ref, r.operation_ref, r.categories,
        r.organization_ref, r.entity_ref, r.message_ref, r.client_ip_ref, r.primary_value_ref,
        r.result_status_ref, su.id, r.tenant_ref, r.record_type, r.access, r.record_key,
        r.entity_id, r.correlation_id, r.listed
    FROM d365audit.records_7 r
    LEFT JOIN d365audit.names su
        ON d365audit.name_digest(su.name) = d365audit.name_digest(r.system_user_id::text)
       AND su.name = r.system_user_id::text
    ORDER BY r.seq;
DROP TABLE d365audit.records_7;

CREATE INDEX records_time ON d365audit.records (event_time);
CREATE INDEX records_user ON d365audit.records (user_ref, d365audit.hour_of(event_time));
CREATE INDEX records_seq ON d365audit.records USING brin (seq)
    WITH (pages_per_range = 32, autosummarize = on);
-- The GIN index keeps new entries in a pending list until it holds gin_pending_list_limit
-- (4 MB by default), and every query reads that list whole: 930 pages and 19 ms for a record
-- timeline right after a bulk ingest, 0.13 ms once the list was merged. 128 kB bounds the read
-- to 16 pages; ingest merges more often.
CREATE INDEX records_dataverse_rows ON d365audit.records
    USING gin ((array_append(listed, entity_id))) WITH (gin_pending_list_limit = 128);

DROP INDEX d365audit.field_values_key;
CREATE INDEX field_values_key ON d365audit.field_values
    (((name_ref::bigint << 32) | (hashtext(value)::bigint & 4294967295)),
     d365audit.hour_of(event_time));

-- Filters find names by their folded text through a 64-bit hash of it (8 bytes an entry
-- instead of a 32-byte SHA-256): a lookup compares the texts themselves too, so two texts with
-- the same hash only cost a second row read, never a wrong id.
DROP INDEX d365audit.names_folded;
CREATE INDEX names_folded ON d365audit.names (hashtextextended(
    translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 0));

-- record_keys without the seq: the key's time finds the record through the time index, whose
-- rows of that time are then told apart by their Id, so the seq was redundant: 8 bytes a key
-- less. CreationTime has whole seconds, so a lookup reads every record of its second; they were
-- stored together, mostly in one or two heap pages.
ALTER TABLE d365audit.record_keys RENAME TO record_keys_7;
ALTER INDEX d365audit.record_keys_pkey RENAME TO record_keys_7_pkey;
CREATE TABLE d365audit.record_keys (
    record_key bytea NOT NULL,
    tenant_ref smallint NOT NULL,
    event_time timestamptz NOT NULL
);
INSERT INTO d365audit.record_keys (record_key, tenant_ref, event_time)
    SELECT record_key, tenant_ref, event_time FROM d365audit.record_keys_7
    ORDER BY record_key, tenant_ref;
DROP TABLE d365audit.record_keys_7;
ALTER TABLE d365audit.record_keys ADD PRIMARY KEY (record_key, tenant_ref);

-- Report counts are added to by every batch (INSERT ... ON CONFLICT DO UPDATE): room left in
-- each page lets the new version of a count stay on its page, without a new index entry.
ALTER TABLE d365audit.daily_counts SET (fillfactor = 90);
ALTER TABLE d365audit.hourly_counts SET (fillfactor = 90);

-- For the SQL console: the records with their texts, as schema 6 stored them.
CREATE VIEW d365audit.records_named AS
    SELECT t.tenant_id, r.event_time, r.seq,
        CASE WHEN octet_length(r.record_key) = 16 THEN encode(r.record_key, 'hex')::uuid::text
             WHEN octet_length(r.record_key) = 17 AND get_byte(r.record_key, 16) = 255
                THEN convert_from(substring(r.record_key FROM 1 FOR 16), 'UTF8')
             ELSE convert_from(r.record_key, 'UTF8') END AS record_id,
        r.record_type::integer & 65535 AS record_type, w.name AS workload, o.name AS operation,
        u.name AS user_name, su.name::uuid AS system_user_id, org.name AS organization,
        e.name AS entity, r.entity_id, m.name AS message, r.access, r.categories,
        ip.name AS client_ip, pv.name AS primary_value, r.correlation_id,
        rs.name AS result_status, r.listed
    FROM d365audit.records r
    LEFT JOIN d365audit.tenants t ON t.tenant_ref = r.tenant_ref
    LEFT JOIN d365audit.names u ON u.id = r.user_ref
    LEFT JOIN d365audit.names su ON su.id = r.system_user_ref
    LEFT JOIN d365audit.names w ON w.id = r.workload_ref
    LEFT JOIN d365audit.names o ON o.id = r.operation_ref
    LEFT JOIN d365audit.names org ON org.id = r.organization_ref
    LEFT JOIN d365audit.names e ON e.id = r.entity_ref
    LEFT JOIN d365audit.names m ON m.id = r.message_ref
    LEFT JOIN d365audit.names ip ON ip.id = r.client_ip_ref
    LEFT JOIN d365audit.names pv ON pv.id = r.primary_value_ref
    LEFT JOIN d365audit.names rs ON rs.id = r.result_status_ref;

ANALYZE d365audit.names, d365audit.record_keys, d365audit.records, d365audit.field_values;
