-- Distribution of the d365audit archive over a Citus cluster (self-hosted Citus, or Azure Cosmos
-- DB for PostgreSQL), by tenant.
--
-- The archive applies this file after its migrations, under the same advisory lock, ONLY when
-- the citus extension is installed in the database (SELECT 1 FROM pg_extension WHERE
-- extname = 'citus'). Every statement is idempotent (it acts only on a table Citus does not know
-- yet), so the file runs again harmlessly on every start and picks up tables a later migration
-- adds. On a plain PostgreSQL server it is never run and nothing here is needed.
--
-- Layout:
-- - Record-bearing tables are distributed by the tenant's 2-byte ref (tenant_ref, schema 7) and
--   co-located with record_keys, so that a tenant's keys, records, verbatim bytes, field values
--   and report counts sit on the same node and every join between them (always on tenant_ref,
--   event_time, seq) runs on one shard. Monthly partitions created later are distributed
--   automatically with their parent.
-- - The blob queue (blob_queue, and its totals blob_streams), the variants and the system users
--   carry the tenant id itself and are distributed by it, co-located with blob_queue. A claim
--   first reads the oldest waiting blobs across tenants without locking, then locks them tenant
--   by tenant (each a single-shard UPDATE ... FOR UPDATE SKIP LOCKED, which Citus routes to one
--   shard). Settling a blob writes to both groups in one (distributed) transaction.
-- - The archive-wide control tables (the hash chain, totals and its ingest lock, cursors,
--   compression dictionaries, quarantine) and the tenants and names rows refer to by id are
--   small and become reference tables: one copy on every node, so the chain stays one linear
--   chain for the whole archive.
-- - The access tables (accounts, sessions, API tokens, the access log) are archive-wide, small,
--   written by the server replicas, which connect to the coordinator, and never joined with a
--   distributed table: they stay plain local tables on the coordinator (one copy, plain
--   single-node writes, no two-phase commit per sign-in or logged search). Listed here so that
--   nothing is forgotten:
--   local: 'd365audit.accounts' 'd365audit.sessions' 'd365audit.api_tokens' 'd365audit.access_log'
--   If server replicas ever query through worker nodes instead, make them reference tables.
--
-- Distributing an archive that already holds records copies them to the workers: stop the
-- collectors first and expect it to take a while on a large archive.

SELECT create_reference_table('d365audit.totals')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.totals'::regclass);
SELECT create_reference_table('d365audit.seals')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.seals'::regclass);
SELECT create_reference_table('d365audit.cursors')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.cursors'::regclass);
SELECT create_reference_table('d365audit.dictionaries')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.dictionaries'::regclass);
SELECT create_reference_table('d365audit.quarantine')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.quarantine'::regclass);
SELECT create_reference_table('d365audit.tenants')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.tenants'::regclass);
SELECT create_reference_table('d365audit.names')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.names'::regclass);
SELECT create_reference_table('d365audit.change_totals')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.change_totals'::regclass);

SELECT create_distributed_table('d365audit.record_keys', 'tenant_ref')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.record_keys'::regclass);
SELECT create_distributed_table('d365audit.records', 'tenant_ref', colocate_with => 'd365audit.record_keys')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.records'::regclass);
SELECT create_distributed_table('d365audit.record_blocks', 'tenant_ref', colocate_with => 'd365audit.record_keys')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.record_blocks'::regclass);
SELECT create_distributed_table('d365audit.field_values', 'tenant_ref', colocate_with => 'd365audit.record_keys')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.field_values'::regclass);
SELECT create_distributed_table('d365audit.blob_queue', 'tenant_id')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.blob_queue'::regclass);
SELECT create_distributed_table('d365audit.variants', 'tenant_id', colocate_with => 'd365audit.blob_queue')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.variants'::regclass);
SELECT create_distributed_table('d365audit.system_users', 'tenant_id', colocate_with => 'd365audit.blob_queue')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.system_users'::regclass);
SELECT create_distributed_table('d365audit.blob_streams', 'tenant_id', colocate_with => 'd365audit.blob_queue')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.blob_streams'::regclass);
SELECT create_distributed_table('d365audit.daily_counts', 'tenant_ref', colocate_with => 'd365audit.record_keys')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.daily_counts'::regclass);
SELECT create_distributed_table('d365audit.hourly_counts', 'tenant_ref', colocate_with => 'd365audit.record_keys')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.hourly_counts'::regclass);
-- Dataverse audit changes: by auditid, their dedupe key (they carry no tenant id).
SELECT create_distributed_table('d365audit.changes', 'audit_id')
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'd365audit.changes'::regclass);
