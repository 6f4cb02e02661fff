-- QueryResults memberships move into the records' rows: `listed` holds the Dataverse row ids a
-- RetrieveMultiple or export listed (NULL when none), indexed with GIN. One row per membership
-- cost about 150 bytes with its tuple header and index entry; an array element costs 16, and
-- the GIN index stores each row id once with a compressed list of the records that name it.
-- The memberships of the records already stored are moved here, once (this rewrites the rows of
-- records that listed something; VACUUM afterwards returns the space).
ALTER TABLE d365audit.records ADD COLUMN listed uuid[];
UPDATE d365audit.records r SET listed = m.ids
    FROM (SELECT tenant_id, event_time, seq, array_agg(entity_id ORDER BY entity_id) AS ids
          FROM d365audit.listed_records GROUP BY tenant_id, event_time, seq) m
    WHERE r.tenant_id = m.tenant_id AND r.event_time = m.event_time AND r.seq = m.seq;
CREATE INDEX records_listed ON d365audit.records USING gin (listed);
DROP TABLE d365audit.listed_records;
