-- d365audit PostgreSQL archive, schema version 7: repeated strings and tenants as integer ids.
--
-- Applied like every migration (src/schema.rs). Never edit a released migration: add the next.
--
-- Users, operations, organizations, entity names, messages, client IPs, primary values, result
-- statuses and field names repeat from record to record: each distinct text is stored once in
-- `names` and the rows hold its 4-byte id (an `_ref` column) instead of the text. The Id of a
-- record is packed in `records` as in `record_keys` (src/keys.rs). The field-value index holds
-- one 64-bit key per row, the field name's id in the high 32 bits and a 32-bit hash of the value
-- in the low ones: one expression whose statistics PostgreSQL gathers, so a frequent (name,
-- value) pair is estimated as frequent (the product of a name's and a value's selectivities was
-- 60 times too low for ('statecode', '1')), and a field name alone is a range of keys.
--
-- Tenants get a 2-byte id in `tenants` (`tenant_ref`), which replaces the 16-byte tenant id in
-- the rows and keys of `record_keys`, `records`, `record_blocks`, `field_values` and the report
-- counts (variants, system users and the blob queue keep the tenant id). The time index of
-- `records` is no longer a primary key: a seq is unique on its own (record_keys makes sure), so
-- the index is (event_time, seq), 16 bytes less per entry.
--
-- `record_keys`, `records`, `field_values` and the report counts are copied into new tables and
-- the old ones dropped, so they keep no dead rows. `record_blocks` is updated in place instead
-- (it holds the verbatim bytes, which are not copied): each block row leaves a dead version
-- behind, which autovacuum (or `VACUUM d365audit.record_blocks`) makes reusable. It locks the
-- record tables while it runs: stop the collectors first. Verbatim bytes, keys and seals are untouched,
-- so `verify` finds the records exactly as before.

CREATE SEQUENCE d365audit.tenant_refs AS smallint MINVALUE 1 START WITH 1;
CREATE TABLE d365audit.tenants (
    tenant_ref smallint PRIMARY KEY DEFAULT nextval('d365audit.tenant_refs'),
    tenant_id uuid NOT NULL UNIQUE
);
ALTER SEQUENCE d365audit.tenant_refs OWNED BY d365audit.tenants.tenant_ref;
INSERT INTO d365audit.tenants (tenant_id)
    SELECT DISTINCT tenant_id FROM d365audit.record_keys ORDER BY tenant_id;

-- record_keys: the same keys with the tenant's ref.
ALTER TABLE d365audit.record_keys RENAME TO record_keys_6;
ALTER INDEX d365audit.record_keys_pkey RENAME TO record_keys_6_pkey;
CREATE TABLE d365audit.record_keys (
    record_key bytea NOT NULL,
    tenant_ref smallint NOT NULL,
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL
);
INSERT INTO d365audit.record_keys (record_key, tenant_ref, event_time, seq)
    SELECT k.record_key, t.tenant_ref, k.event_time, k.seq
    FROM d365audit.record_keys_6 k JOIN d365audit.tenants t ON t.tenant_id = k.tenant_id
    ORDER BY k.record_key, t.tenant_ref;
DROP TABLE d365audit.record_keys_6;
ALTER TABLE d365audit.record_keys ADD PRIMARY KEY (record_key, tenant_ref);

-- record_blocks: a column added and one dropped, not copied (one row per block: the rows are
-- few, their bytes stay where they are).
ALTER TABLE d365audit.record_blocks ADD COLUMN tenant_ref smallint;
UPDATE d365audit.record_blocks b SET tenant_ref = t.tenant_ref
    FROM d365audit.tenants t WHERE t.tenant_id = b.tenant_id;
ALTER TABLE d365audit.record_blocks ALTER COLUMN tenant_ref SET NOT NULL;
ALTER TABLE d365audit.record_blocks DROP COLUMN tenant_id;

CREATE SEQUENCE d365audit.name_ids AS integer MINVALUE 1 START WITH 1;
CREATE TABLE d365audit.names (
    id integer PRIMARY KEY DEFAULT nextval('d365audit.name_ids'),
    name text COLLATE "C" NOT NULL
);
ALTER SEQUENCE d365audit.name_ids OWNED BY d365audit.names.id;
-- Indexed by digest, not by the text itself: a B-tree entry holds at most about 2.7 KB, and a
-- primary value or a message may be longer. A text whose digest another text already has gets
-- no id, and its batch fails with an error that says so (src/names.rs), never another's id.
-- SHA-256, not MD5: the texts come from the audited tenant, and two texts with the same MD5
-- can be made on purpose, which would stop their batch from being stored. convert_to is only
-- STABLE (conversions could change), but to UTF-8 in a database whose encoding never changes
-- it always gives the same bytes, so the wrapper may say IMMUTABLE and be indexed.
CREATE FUNCTION d365audit.name_digest(text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(convert_to($1, 'UTF8')) $$;
CREATE UNIQUE INDEX names_digest ON d365audit.names (d365audit.name_digest(name));
-- Filters compare ASCII-folded text (src/names.rs resolves them to ids through this index).
CREATE INDEX names_folded ON d365audit.names (d365audit.name_digest(
    translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')));

-- Every text already stored, once. Field names are stored folded (queries compare them so).
INSERT INTO d365audit.names (name)
    SELECT DISTINCT s FROM (
        SELECT unnest(ARRAY[workload COLLATE "C", operation COLLATE "C", user_name,
            organization COLLATE "C", entity COLLATE "C", message COLLATE "C",
            client_ip COLLATE "C", primary_value COLLATE "C", result_status COLLATE "C"]) AS s
        FROM d365audit.records
        UNION ALL
        SELECT DISTINCT translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
        FROM d365audit.field_values
    ) t
    WHERE s IS NOT NULL ORDER BY s;

-- records: the old table and its partitions step aside (renamed, indexes dropped), the new one
-- gets partitions with the same names and bounds, and the rows are copied over.
DROP INDEX d365audit.records_user, d365audit.records_entity, d365audit.records_seq,
    d365audit.records_listed;
ALTER TABLE d365audit.records DROP CONSTRAINT records_pkey;
ALTER TABLE d365audit.records RENAME TO records_6;
DROP INDEX d365audit.field_values_value;
ALTER TABLE d365audit.field_values RENAME TO field_values_6;

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
    tenant_ref smallint NOT NULL,
    record_type smallint NOT NULL,
    access smallint NOT NULL,
    -- The Id, packed as in record_keys.
    record_key bytea NOT NULL,
    system_user_id uuid,
    entity_id uuid,
    correlation_id uuid,
    listed uuid[]
) PARTITION BY RANGE (event_time);

CREATE TABLE d365audit.field_values (
    event_time timestamptz NOT NULL,
    seq bigint NOT NULL,
    -- The ASCII-folded field name.
    name_ref integer NOT NULL,
    tenant_ref smallint NOT NULL,
    value text NOT NULL
) PARTITION BY RANGE (event_time);

DO $partitions$
DECLARE
    part record;
    old_name text;
BEGIN
    FOR part IN
        SELECT c.relname, p.relname AS parent, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        WHERE i.inhparent IN ('d365audit.records_6'::regclass,
                              'd365audit.field_values_6'::regclass)
    LOOP
        old_name := part.relname || '_6';
        EXECUTE format('ALTER TABLE d365audit.%I RENAME TO %I', part.relname, old_name);
        EXECUTE format('CREATE TABLE d365audit.%I PARTITION OF d365audit.%I %s',
            part.relname, replace(part.parent, '_6', ''), part.bound);
    END LOOP;
END
$partitions$;

INSERT INTO d365audit.records (event_time, seq, user_ref, workload_ref, operation_ref,
        categories, organization_ref, entity_ref, message_ref, client_ip_ref, primary_value_ref,
        result_status_ref, tenant_ref, record_type, access, record_key, system_user_id, entity_id,
        correlation_id, listed)
    SELECT r.event_time, r.seq, u.id, w.id, o.id, r.categories, org.id, e.id, m.id, ip.id, pv.id,
        -- 16 bits, as ingest stores them (`as i16`; the views read them back with & 65535).
        rs.id, t.tenant_ref, (((r.record_type & 65535) # 32768) - 32768)::smallint, r.access,
        CASE WHEN r.record_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN decode(replace(r.record_id, '-', ''), 'hex')
             WHEN octet_length(r.record_id) = 16 THEN convert_to(r.record_id, 'UTF8') || '\xff'::bytea
             ELSE convert_to(r.record_id, 'UTF8') END,
        r.system_user_id, r.entity_id, r.correlation_id, r.listed
    FROM d365audit.records_6 r
    JOIN d365audit.tenants t ON t.tenant_id = r.tenant_id
    JOIN d365audit.names u ON u.name = r.user_name
    JOIN d365audit.names w ON w.name = r.workload COLLATE "C"
    JOIN d365audit.names o ON o.name = r.operation COLLATE "C"
    LEFT JOIN d365audit.names org ON org.name = r.organization COLLATE "C"
    LEFT JOIN d365audit.names e ON e.name = r.entity COLLATE "C"
    LEFT JOIN d365audit.names m ON m.name = r.message COLLATE "C"
    LEFT JOIN d365audit.names ip ON ip.name = r.client_ip COLLATE "C"
    LEFT JOIN d365audit.names pv ON pv.name = r.primary_value COLLATE "C"
    LEFT JOIN d365audit.names rs ON rs.name = r.result_status COLLATE "C"
    -- In seq order, as ingest appends them: the BRIN index on seq (below) relies on it.
    ORDER BY r.seq;
DROP TABLE d365audit.records_6;

INSERT INTO d365audit.field_values (tenant_ref, event_time, seq, name_ref, value)
    SELECT t.tenant_ref, f.event_time, f.seq, n.id, f.value
    FROM d365audit.field_values_6 f
    JOIN d365audit.tenants t ON t.tenant_id = f.tenant_id
    JOIN d365audit.names n ON n.name =
        translate(f.name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
    ORDER BY f.event_time, f.seq;
DROP TABLE d365audit.field_values_6;

-- The time index, users and seq ranges. The Dataverse rows a record is about (entity_id) or
-- listed share one GIN index: a row id is stored once with a compressed list of the records
-- that name it, instead of a B-tree entry of about 44 bytes per record with an entity id (a
-- record timeline reads the matching records and sorts them, as it did for the listing ones).
CREATE INDEX records_time ON d365audit.records (event_time, seq);
CREATE INDEX records_user ON d365audit.records (user_ref, event_time, seq);
-- Seq ranges (verification) through a BRIN index: records are appended in about seq order, so
-- the smallest and largest seq of every 32 pages find a range's rows, for almost no space
-- (a B-tree took 22 bytes per record). Ranges filled since the last summary are summarized as
-- they fill (autosummarize) and by verification before it reads (src/verification.rs).
CREATE INDEX records_seq ON d365audit.records USING brin (seq)
    WITH (pages_per_range = 32, autosummarize = on);
CREATE INDEX records_dataverse_rows ON d365audit.records
    USING gin ((array_append(listed, entity_id)));
CREATE INDEX field_values_key ON d365audit.field_values
    (((name_ref::bigint << 32) | (hashtext(value)::bigint & 4294967295)), event_time, seq);

-- Report counts: the same keys with ids, 0 where a record has no value.
ALTER TABLE d365audit.daily_counts RENAME TO daily_counts_6;
ALTER INDEX d365audit.daily_counts_pkey RENAME TO daily_counts_6_pkey;
CREATE TABLE d365audit.daily_counts (
    day date NOT NULL,
    organization_ref integer NOT NULL,
    user_ref integer NOT NULL,
    entity_ref integer NOT NULL,
    message_ref integer NOT NULL,
    workload_ref integer NOT NULL,
    categories integer NOT NULL,
    tenant_ref smallint NOT NULL,
    access smallint NOT NULL,
    records bigint NOT NULL,
    PRIMARY KEY (tenant_ref, day, organization_ref, user_ref, entity_ref, message_ref, access,
        categories, workload_ref)
);
INSERT INTO d365audit.daily_counts (day, organization_ref, user_ref, entity_ref, message_ref,
        workload_ref, categories, tenant_ref, access, records)
    SELECT c.day, coalesce(org.id, 0), u.id, coalesce(e.id, 0), coalesce(m.id, 0), w.id,
        c.categories, t.tenant_ref, c.access, sum(c.records)
    FROM d365audit.daily_counts_6 c
    JOIN d365audit.tenants t ON t.tenant_id = c.tenant_id
    JOIN d365audit.names u ON u.name = c.user_name
    JOIN d365audit.names w ON w.name = c.workload
    LEFT JOIN d365audit.names org ON org.name = c.organization AND c.organization <> ''
    LEFT JOIN d365audit.names e ON e.name = c.entity AND c.entity <> ''
    LEFT JOIN d365audit.names m ON m.name = c.message AND c.message <> ''
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
DROP TABLE d365audit.daily_counts_6;

ALTER TABLE d365audit.hourly_counts RENAME TO hourly_counts_6;
ALTER INDEX d365audit.hourly_counts_pkey RENAME TO hourly_counts_6_pkey;
CREATE TABLE d365audit.hourly_counts (
    day date NOT NULL,
    hour integer NOT NULL,
    organization_ref integer NOT NULL,
    tenant_ref smallint NOT NULL,
    records bigint NOT NULL,
    PRIMARY KEY (tenant_ref, day, hour, organization_ref)
);
INSERT INTO d365audit.hourly_counts (day, hour, organization_ref, tenant_ref, records)
    SELECT c.day, c.hour, coalesce(org.id, 0), t.tenant_ref, sum(c.records)
    FROM d365audit.hourly_counts_6 c
    JOIN d365audit.tenants t ON t.tenant_id = c.tenant_id
    LEFT JOIN d365audit.names org ON org.name = c.organization AND c.organization <> ''
    GROUP BY 1, 2, 3, 4;
DROP TABLE d365audit.hourly_counts_6;

-- For the SQL console and ad hoc queries: the records and field values with their texts, as
-- schema 6 stored them.
CREATE VIEW d365audit.records_named AS
    SELECT t.tenant_id, r.event_time, r.seq,
        CASE WHEN octet_length(r.record_key) = 16 THEN encode(r.record_key, 'hex')::uuid::text
             WHEN octet_length(r.record_key) = 17 AND get_byte(r.record_key, 16) = 255
                THEN convert_from(substring(r.record_key FROM 1 FOR 16), 'UTF8')
             ELSE convert_from(r.record_key, 'UTF8') END AS record_id,
        r.record_type::integer & 65535 AS record_type, w.name AS workload, o.name AS operation,
        u.name AS user_name, r.system_user_id, org.name AS organization, e.name AS entity,
        r.entity_id, m.name AS message, r.access, r.categories, ip.name AS client_ip,
        pv.name AS primary_value, r.correlation_id, rs.name AS result_status, r.listed
    FROM d365audit.records r
    LEFT JOIN d365audit.tenants t ON t.tenant_ref = r.tenant_ref
    LEFT JOIN d365audit.names u ON u.id = r.user_ref
    LEFT JOIN d365audit.names w ON w.id = r.workload_ref
    LEFT JOIN d365audit.names o ON o.id = r.operation_ref
    LEFT JOIN d365audit.names org ON org.id = r.organization_ref
    LEFT JOIN d365audit.names e ON e.id = r.entity_ref
    LEFT JOIN d365audit.names m ON m.id = r.message_ref
    LEFT JOIN d365audit.names ip ON ip.id = r.client_ip_ref
    LEFT JOIN d365audit.names pv ON pv.id = r.primary_value_ref
    LEFT JOIN d365audit.names rs ON rs.id = r.result_status_ref;
CREATE VIEW d365audit.field_values_named AS
    SELECT t.tenant_id, n.name, f.value, f.event_time, f.seq
    FROM d365audit.field_values f LEFT JOIN d365audit.names n ON n.id = f.name_ref
    LEFT JOIN d365audit.tenants t ON t.tenant_ref = f.tenant_ref;

ANALYZE d365audit.tenants, d365audit.record_keys, d365audit.record_blocks, d365audit.names,
    d365audit.records, d365audit.field_values, d365audit.daily_counts, d365audit.hourly_counts;
