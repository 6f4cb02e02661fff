-- d365audit PostgreSQL archive, schema version 6: the same records in fewer bytes.
--
-- Applied like every migration (src/schema.rs). Never edit a released migration: add the next.
--
-- PostgreSQL spends about 28 bytes on every heap tuple and 12 or more on every index entry, so
-- what costs is the number of rows and index entries per record and the width of their keys.
-- record_keys is rewritten once (ALTER TABLE ... TYPE rewrites the table and rebuilds its key),
-- record_bytes is copied into record_blocks and dropped, and the other changes drop and build
-- indexes, so the upgrade leaves no dead rows behind and needs no VACUUM. It locks the record
-- tables while it runs (about 30 seconds per million records): stop the collectors first.
-- Records stored before keep their bytes as they were, compressed alone (a block of one
-- record each); records stored afterwards are compressed in blocks.

-- record_keys: the Id in its compact form (src/keys.rs: the 16 bytes of a GUID, the UTF-8 text
-- otherwise, a 16-byte text followed by 0xFF), and no hash: the hash of a record stays beside
-- its bytes in record_blocks (below), where ingest reads it only for an Id already stored.
ALTER TABLE d365audit.record_keys
    DROP COLUMN hash,
    ALTER COLUMN record_id TYPE bytea USING
        CASE WHEN record_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN decode(replace(record_id, '-', ''), 'hex')
             WHEN octet_length(record_id) = 16 THEN convert_to(record_id, 'UTF8') || '\xff'::bytea
             ELSE convert_to(record_id, 'UTF8') END;
ALTER TABLE d365audit.record_keys RENAME COLUMN record_id TO record_key;

-- records: no index on correlation ids (the parts of a split record are found by their time,
-- like in the SQLite archive: a correlation filter without a time range scans the records).
-- The user index holds a 64-bit hash of the folded UPN instead of the text (8 bytes instead of
-- about 27, and the pages of an index that every batch inserts into at a hundred places are
-- about half full); queries compare the hash through the index and the UPN itself on the row
-- (src/plan.rs).
DROP INDEX d365audit.records_correlation;
DROP INDEX d365audit.records_user;
CREATE INDEX records_user ON d365audit.records
    (hashtextextended(translate(user_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 0),
     event_time, seq);

-- field_values: the index holds 64-bit hashes of the folded name and of the value instead of
-- the name and the value's md5 (16 bytes instead of about 29); queries compare the name and
-- value themselves on the row.
DROP INDEX d365audit.field_values_value;
CREATE INDEX field_values_value ON d365audit.field_values
    (hashtextextended(translate(name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'), 0),
     hashtextextended(value, 0), event_time, seq);

-- record_blocks replaces record_bytes: the verbatim bytes of up to 256 records of one ingest
-- batch, tenant and UTC month, compressed together (src/blocks.rs), with each record's seq
-- (as an offset from first_seq), raw length and BLAKE3 hash (32 bytes each, in order).
-- event_time is the earliest of its records' times; a record's block is the block of its
-- tenant and month with the greatest first_seq at or below its seq. A block of one record at
-- first_seq has no seq_offsets: each record already stored becomes such a block, its bytes as
-- they were (compressed alone).
CREATE TABLE d365audit.record_blocks (
    tenant_id uuid NOT NULL,
    event_time timestamptz NOT NULL,
    first_seq bigint NOT NULL,
    last_seq bigint NOT NULL,
    dictionary integer,
    seq_offsets integer[],
    raw_lens integer[] NOT NULL,
    hashes bytea NOT NULL,
    bytes bytea NOT NULL
) PARTITION BY RANGE (event_time);
-- Already compressed or random: TOAST must not try to compress them again.
ALTER TABLE d365audit.record_blocks ALTER COLUMN bytes SET STORAGE EXTERNAL;
ALTER TABLE d365audit.record_blocks ALTER COLUMN hashes SET STORAGE EXTERNAL;
-- One partition per partition of record_bytes, with the same bounds and the name the ingest
-- path gives a month's partition (src/partitions.rs).
DO $blocks$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'd365audit.record_bytes'::regclass
    LOOP
        EXECUTE format('CREATE TABLE d365audit.%I PARTITION OF d365audit.record_blocks %s',
            replace(part.relname, 'record_bytes', 'record_blocks'), part.bound);
    END LOOP;
END
$blocks$;
INSERT INTO d365audit.record_blocks (tenant_id, event_time, first_seq, last_seq, dictionary,
        seq_offsets, raw_lens, hashes, bytes)
    SELECT tenant_id, event_time, seq, seq, dictionary, NULL, ARRAY[raw_len], hash, bytes
    FROM d365audit.record_bytes;
DROP TABLE d365audit.record_bytes;
-- Verification reads blocks by seq range, and a record's block is found from its seq.
CREATE INDEX record_blocks_seq ON d365audit.record_blocks (first_seq);

-- Statistics for the rewritten key, the new hash indexes and the blocks, so that the planner
-- chooses well from the first query on.
ANALYZE d365audit.record_keys, d365audit.records, d365audit.field_values, d365audit.record_blocks;
