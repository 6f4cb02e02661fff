-- The role the read-only SQL console runs its statements as (archive::SqlConsole; see
-- src/console.rs): d365audit_console, a NOLOGIN role that may read the archive's record, queue
-- and evidence tables, and nothing else: not the accounts, sessions, API tokens or access log,
-- no superuser function, no write (it owns nothing and is granted SELECT only).
--
-- The archive applies this file after its migrations on every start, under the migration lock.
-- Every statement is idempotent, so tables added by later migrations are granted too. Roles
-- belong to the whole server: several archives (databases) on one server share the role, each
-- granting its own tables. Creating the role needs CREATEROLE (or a superuser); an archive user
-- without it is left as it is, and the console then runs as the archive user itself (still in
-- a read-only transaction), which an administrator can fix once with:
--   CREATE ROLE d365audit_console NOLOGIN; GRANT d365audit_console TO <archive user>;
DO $console$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'd365audit_console')
       AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        BEGIN
            CREATE ROLE d365audit_console NOLOGIN NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- another archive on this server created it at the same moment
        END;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'd365audit_console') THEN
        RETURN;
    END IF;
    GRANT USAGE ON SCHEMA d365audit TO d365audit_console;
    GRANT SELECT ON ALL TABLES IN SCHEMA d365audit TO d365audit_console;
    REVOKE ALL ON d365audit.accounts, d365audit.sessions, d365audit.api_tokens,
        d365audit.access_log FROM d365audit_console;
    IF NOT pg_has_role(current_user, 'd365audit_console', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT d365audit_console TO %I', current_user);
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'the SQL console runs as %: % ', current_user, SQLERRM;
        END;
    END IF;
END
$console$;
