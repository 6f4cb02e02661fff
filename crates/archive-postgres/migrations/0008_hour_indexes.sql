-- d365audit PostgreSQL archive, schema version 8: indexes that hold a list of rows per key,
-- and record keys without their seq.
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
-- Dropping and building indexes rewrites no record table, and record_keys is copied: the
-- upgrade takes seconds per million records and leaves no dead rows. It locks the record
-- tables while it runs: stop the collectors first.

-- The hour since the Unix epoch of a time. Written with immutable parts only (a timestamptz
-- minus another is an interval, and the epoch of an interval depends on no time zone), so that
-- PostgreSQL inlines it wherever it is used (a call per row would cost four times as much) and
-- may index it. Exact for every time d365audit stores (chrono's, up to the year 262,143); past
-- the year 292,277 the interval itself would overflow.
CREATE FUNCTION d365audit.hour_of(timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM ($1 - 'epoch'::timestamptz)) / 3600)::bigint $$;

DROP INDEX d365audit.records_user, d365audit.records_time, d365audit.field_values_key;
CREATE INDEX records_time ON d365audit.records (event_time);
CREATE INDEX records_user ON d365audit.records (user_ref, d365audit.hour_of(event_time));
CREATE INDEX field_values_key ON d365audit.field_values
    (((name_ref::bigint << 32) | (hashtext(value)::bigint & 4294967295)),
     d365audit.hour_of(event_time));

-- The GIN index on the Dataverse rows a record is about or listed keeps new entries in a
-- pending list until it holds gin_pending_list_limit (4 MB by default), and every query reads
-- that list whole: 930 pages and 19 ms for a record timeline right after a bulk ingest, 0.13 ms
-- once the list was merged. 128 kB bounds the read to 16 pages; ingest merges more often.
DROP INDEX d365audit.records_dataverse_rows;
CREATE INDEX records_dataverse_rows ON d365audit.records
    USING gin ((array_append(listed, entity_id))) WITH (gin_pending_list_limit = 128);

-- record_keys without the seq: the key's time finds the record through the time index, whose
-- rows are then told apart by their Id (two records rarely share a microsecond), so the seq
-- was redundant: 8 bytes a key less. Copied into a new table so that no dropped column keeps
-- its bytes in the rows.
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

ANALYZE d365audit.record_keys, d365audit.records, d365audit.field_values;
