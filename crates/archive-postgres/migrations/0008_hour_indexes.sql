-- d365audit PostgreSQL archive, schema version 8: indexes that hold a list of rows per key.
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
-- Dropping and building indexes rewrites no table: the upgrade takes a few seconds per million
-- records and leaves no dead rows. It locks the record tables while it runs.

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

ANALYZE d365audit.records, d365audit.field_values;
