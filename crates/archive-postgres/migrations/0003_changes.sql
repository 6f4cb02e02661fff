-- d365audit PostgreSQL archive, schema version 3: Dataverse audit changes (archive::ChangeStore),
-- field-level history from the Dataverse Web API and on-premises AuditBase exports.
--
-- Applied like every migration (src/schema.rs). Never edit a released migration: add the next.
--
-- Citus (sql/citus.sql): changes is distributed by audit_id (its dedupe key, so the unique
-- constraint holds per shard); a record's history fans out to every shard, which Citus runs in
-- parallel. change_totals is a reference table like totals.

-- One row per audited event (auditid). The decoded detail, attribute mask and source are JSON
-- text, readable in the SQL console (cast to jsonb there to look inside). The verbatim row and
-- detail are zstd-compressed like records' bytes (dictionary: the record dictionary they were
-- compressed with, if any), with their lengths and hash = BLAKE3(raw row || raw detail).
-- fields: the lower-case names of the columns the detail names (archive::changes::
-- changed_fields), for the column filter of a record's history.
CREATE TABLE d365audit.changes (
    audit_id uuid NOT NULL,
    created_on timestamptz NOT NULL,
    action integer NOT NULL,
    operation integer NOT NULL,
    table_name text NOT NULL,
    object_id uuid,
    object_name text,
    user_id uuid,
    user_name text,
    calling_user_id uuid,
    transaction_id uuid,
    attribute_mask integer[] NOT NULL,
    source text NOT NULL,
    detail text NOT NULL,
    fields text[] NOT NULL,
    ingested_at timestamptz NOT NULL,
    hash bytea NOT NULL,
    dictionary integer,
    row_len integer NOT NULL,
    row_bytes bytea NOT NULL,
    detail_len integer,
    detail_bytes bytea,
    PRIMARY KEY (audit_id)
);
-- Already compressed: TOAST must not try to compress them again.
ALTER TABLE d365audit.changes ALTER COLUMN row_bytes SET STORAGE EXTERNAL;
ALTER TABLE d365audit.changes ALTER COLUMN detail_bytes SET STORAGE EXTERNAL;
-- A record's history, oldest first (the column filter reads the same rows).
CREATE INDEX changes_object ON d365audit.changes (object_id, created_on, audit_id)
    WHERE object_id IS NOT NULL;
-- What one user changed in a period.
CREATE INDEX changes_user ON d365audit.changes (user_id, created_on, audit_id)
    WHERE user_id IS NOT NULL;
-- The earliest and latest change.
CREATE INDEX changes_created ON d365audit.changes (created_on);

-- The number of changes, kept by every change-ingest transaction (a row of its own, so that
-- change ingest never waits for the records' sealing lock on totals).
CREATE TABLE d365audit.change_totals (
    id smallint PRIMARY KEY CHECK (id = 1),
    changes bigint NOT NULL
);
INSERT INTO d365audit.change_totals (id, changes) VALUES (1, 0);
