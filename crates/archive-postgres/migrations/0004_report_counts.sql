-- Report counts: the records per UTC day and combination of the dimensions reports filter and
-- group by ('' where a record has no value), and per UTC day, hour and organization. Ingest adds
-- each batch's counts in the batch's transaction; aggregations over whole UTC days read these
-- instead of every record. The counts of the records already stored are computed here, once.
CREATE TABLE d365audit.daily_counts (
    tenant_id uuid NOT NULL,
    day date NOT NULL,
    organization text COLLATE "C" NOT NULL,
    user_name text COLLATE "C" NOT NULL,
    entity text COLLATE "C" NOT NULL,
    message text COLLATE "C" NOT NULL,
    access smallint NOT NULL,
    categories integer NOT NULL,
    workload text COLLATE "C" NOT NULL,
    records bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, organization, user_name, entity, message, access, categories,
        workload)
);
INSERT INTO d365audit.daily_counts
    SELECT tenant_id, (event_time AT TIME ZONE 'UTC')::date, coalesce(organization, ''),
        user_name, coalesce(entity, ''), coalesce(message, ''), access, categories, workload,
        count(*)
    FROM d365audit.records GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

CREATE TABLE d365audit.hourly_counts (
    tenant_id uuid NOT NULL,
    day date NOT NULL,
    hour integer NOT NULL,
    organization text COLLATE "C" NOT NULL,
    records bigint NOT NULL,
    PRIMARY KEY (tenant_id, day, hour, organization)
);
INSERT INTO d365audit.hourly_counts
    SELECT tenant_id, (event_time AT TIME ZONE 'UTC')::date,
        extract(hour FROM event_time AT TIME ZONE 'UTC')::integer, coalesce(organization, ''),
        count(*)
    FROM d365audit.records GROUP BY 1, 2, 3, 4;
