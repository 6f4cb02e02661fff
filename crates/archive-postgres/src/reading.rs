//! The read side: searches, counts, aggregations, one record in full, verbatim pages for exports,
//! quarantine, cursors and the summary. Planned queries are planned for their values each time
//! (see [`run`]), so PostgreSQL prunes month partitions outside a time filter and estimates a
//! filtered value by its own frequency.

use std::collections::HashMap;

use archive::columns::{CATEGORIES, access_name, category_names, from_activity};
use archive::query::MAX_PAGE;
use archive::{
    ArchiveError, ArchiveSummary, Bucket, Dimension, Order, Page, PageCursor, PageRequest,
    Quarantined, RawRecord, RecordQuery, RecordSummary, StoredRecord,
};
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::ClientWrapper;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::blocks::{BLOCK_COLUMNS, StoredBlock, block_of};
use crate::failure::failed;
use crate::keys;
use crate::names::{self, Names};
use crate::plan::{
    NO_VIA, Params, Plan, Resolved, SUMMARY_WIDTH, field_name, fold, folded_texts, free_text,
    key_columns, parse_guid, record_windows, summary_columns, via_of,
};
use crate::verbatim::{DictionaryCache, Unpacker};

/// Runs planned SQL as an unnamed statement: parsed, planned for these very values and run in
/// one round trip. A cached prepared statement would soon get a generic plan, which estimates
/// every value as average: a frequent field value or a busy record then read and sorted
/// thousands of rows instead of walking an index in order for one page (the field = value p99
/// of 100 ms at 1M records before schema 7). Planning takes a fraction of a millisecond.
async fn run(
    client: &ClientWrapper,
    sql: &str,
    params: &Params,
    doing: &'static str,
) -> Result<Vec<Row>, ArchiveError> {
    client.query_typed(sql, &params.typed()).await.map_err(failed(doing))
}

/// Plans `query`, first looking up which UPNs its system user ids acted as and the ids of the
/// names its filters match.
async fn plan(client: &ClientWrapper, query: &RecordQuery) -> Result<Option<Plan>, ArchiveError> {
    let (acted_as, resolved) = resolution(client, query).await?;
    Plan::new(query, &acted_as, &resolved)
}

/// The rows of one page of `query` in page order, from the SQL `sql_of` makes of its plan:
/// at least `limit + 1` of them where that many match. A page of a record's timeline is read
/// window by window (see [`record_windows`]) until one fills it.
async fn page_rows(
    client: &ClientWrapper,
    query: &RecordQuery,
    page: &PageRequest,
    limit: u32,
    sql_of: impl Fn(Plan) -> (String, Params),
    doing: &'static str,
) -> Result<Vec<Row>, ArchiveError> {
    let (acted_as, resolved) = resolution(client, query).await?;
    // Where a record query's page starts: its cursor, else the query's bound on that side, else
    // the archive's first record in page order.
    let start = match query.record_id {
        None => None,
        Some(_) => {
            let cursor = page.after.and_then(|c| DateTime::from_timestamp_micros(c.time_micros));
            let bound = match page.order {
                Order::OldestFirst => query.from,
                Order::NewestFirst => query.to,
            };
            match cursor.or(bound) {
                Some(start) => Some(start),
                None => archive_edge(client, page.order).await?,
            }
        }
    };
    let Some(start) = start else {
        return match Plan::new(query, &acted_as, &resolved)? {
            Some(plan) => {
                let (sql, params) = sql_of(plan);
                run(client, &sql, &params, doing).await
            }
            None => Ok(Vec::new()),
        };
    };
    let mut rows = Vec::new();
    for (from, to) in record_windows(page.order, start) {
        let window = RecordQuery {
            from: from.into_iter().chain(query.from).max(),
            to: to.into_iter().chain(query.to).min(),
            ..query.clone()
        };
        let Some(plan) = Plan::new(&window, &acted_as, &resolved)? else { continue };
        let (sql, params) = sql_of(plan);
        rows.extend(run(client, &sql, &params, doing).await?);
        if rows.len() > limit as usize {
            break;
        }
    }
    Ok(rows)
}

/// The time of the archive's first record in `order` (`None`: no record).
async fn archive_edge(
    client: &ClientWrapper,
    order: Order,
) -> Result<Option<DateTime<Utc>>, ArchiveError> {
    let edge = match order {
        Order::OldestFirst => "min",
        Order::NewestFirst => "max",
    };
    let fail = failed("reading the archive's time span");
    let statement = client
        .prepare_cached(&format!("SELECT {edge}(event_time) FROM d365audit.records"))
        .await
        .map_err(&fail)?;
    Ok(client.query_one(&statement, &[]).await.map_err(&fail)?.get(0))
}

/// Which UPNs the system user ids of `query` acted as, and the ids of the names its filters
/// match.
async fn resolution(
    client: &ClientWrapper,
    query: &RecordQuery,
) -> Result<(Vec<(Uuid, String)>, Resolved), ArchiveError> {
    let ids = system_user_ids(query);
    let mut acted_as = Vec::new();
    if !ids.is_empty() {
        let fail = failed("resolving system user ids");
        let sql = format!(
            "SELECT DISTINCT system_user_id, {} FROM d365audit.system_users \
             WHERE system_user_id = ANY ($1)",
            fold("user_name")
        );
        let statement = client.prepare_cached(&sql).await.map_err(&fail)?;
        for row in client.query(&statement, &[&ids]).await.map_err(&fail)? {
            acted_as.push((row.get(0), row.get(1)));
        }
    }
    let resolved = resolve(client, query, &ids, &acted_as).await?;
    Ok((acted_as, resolved))
}

/// The users of `query` that are system user ids.
fn system_user_ids(query: &RecordQuery) -> Vec<Uuid> {
    query.users.iter().filter_map(|u| parse_guid(u)).collect()
}

/// The ids of the names `query`'s text filters match (see `plan::Resolved`); `system_users` are
/// its users that are system user ids.
async fn resolve(
    client: &ClientWrapper,
    query: &RecordQuery,
    system_users: &[Uuid],
    acted_as: &[(Uuid, String)],
) -> Result<Resolved, ArchiveError> {
    let mut resolved = Resolved {
        folded: names::folded_ids(client, &folded_texts(query, acted_as)).await?,
        ..Resolved::default()
    };
    if let Some(name) = field_name(query) {
        resolved.field_name = names::exact_ids(client, &name).await?.first().copied();
    }
    for id in system_users {
        if !resolved.system_users.contains_key(id)
            && let Some(name) = names::exact_ids(client, &id.to_string()).await?.first()
        {
            resolved.system_users.insert(*id, *name);
        }
    }
    if let Some(ip) = &query.client_ip {
        resolved.client_ip = names::exact_ids(client, ip.trim()).await?;
    }
    if let Some(text) = free_text(query) {
        resolved.text = names::containing_ids(client, &text).await?;
    }
    Ok(resolved)
}

/// The summaries of rows of [`summary_columns`], their names read through `names`.
async fn summaries(
    client: &ClientWrapper,
    names: &Names,
    rows: &[Row],
) -> Result<Vec<RecordSummary>, ArchiveError> {
    let ids = rows.iter().flat_map(|row| {
        [4, 5, 6, 7, 8, 9, 11, 14, 15, 17].map(|at| row.get::<_, Option<i32>>(at).unwrap_or(0))
    });
    let texts = names.texts(client, ids).await?;
    Ok(rows.iter().map(|row| summary_of_row(row, &texts)).collect())
}

fn summary_of_row(row: &Row, texts: &HashMap<i32, std::sync::Arc<str>>) -> RecordSummary {
    let record_type: i16 = row.get(3);
    let access: i16 = row.get(12);
    let categories: i32 = row.get(13);
    let text = |at: usize| -> Option<String> {
        row.get::<_, Option<i32>>(at).and_then(|id| texts.get(&id)).map(|t| t.to_string())
    };
    RecordSummary {
        seq: row.get(0),
        id: keys::id_of_key(row.get(1)),
        time: row.get(2),
        // Stored as the i16 with the same bits.
        record_type: record_type as u16,
        workload: text(4).unwrap_or_default(),
        operation: text(5).unwrap_or_default(),
        user: text(6).unwrap_or_default(),
        system_user_id: text(7).and_then(|id| Uuid::try_parse(&id).ok()),
        organization: text(8),
        entity: text(9),
        entity_id: row.get(10),
        message: text(11),
        access: access_name(i64::from(access)).to_string(),
        categories: category_names(categories as u32),
        client_ip: text(14),
        primary_field_value: text(15),
        correlation_id: row.get(16),
        result_status: text(17),
        item_url: None,
        via: via_of(row.get(18)),
    }
}

/// Where the next page starts, when more rows than `limit` came back (the extra one is
/// dropped).
fn cut<T>(
    rows: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> (DateTime<Utc>, i64),
) -> Option<PageCursor> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|row| {
        let (time, seq) = key(row);
        PageCursor { time_micros: time.timestamp_micros(), seq }
    })
}

pub(crate) async fn search(
    client: &ClientWrapper,
    names: &Names,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<Page<RecordSummary>, ArchiveError> {
    let limit = page.limit.clamp(1, MAX_PAGE);
    let sql_of = |plan: Plan| plan.page(summary_columns, page.order, page.after, limit);
    let rows = page_rows(client, query, page, limit, sql_of, "searching").await?;
    let mut rows = summaries(client, names, &rows).await?;
    let next = cut(&mut rows, limit, |r| (r.time, r.seq));
    Ok(Page { rows, next })
}

pub(crate) async fn count(
    client: &ClientWrapper,
    query: &RecordQuery,
) -> Result<u64, ArchiveError> {
    let Some(plan) = plan(client, query).await? else {
        return Ok(0);
    };
    let fail = failed("counting records");
    if plan.is_everything() {
        let statement = client
            .prepare_cached("SELECT records FROM d365audit.totals WHERE id = 1")
            .await
            .map_err(&fail)?;
        let records: i64 = client.query_one(&statement, &[]).await.map_err(&fail)?.get(0);
        return Ok(records as u64);
    }
    let (sql, params) = plan.count();
    let rows = run(client, &sql, &params, "counting records").await?;
    Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0)) as u64)
}

const WEEKDAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// The grouping key of `by` over a records row `a`.
fn record_key(by: Dimension) -> &'static str {
    match by {
        Dimension::Day => "(a.event_time AT TIME ZONE 'UTC')::date",
        Dimension::HourOfDay => "extract(hour FROM a.event_time AT TIME ZONE 'UTC')::integer",
        Dimension::Weekday => "extract(isodow FROM a.event_time AT TIME ZONE 'UTC')::integer",
        Dimension::User => "a.user_ref",
        Dimension::Organization => "a.organization_ref",
        Dimension::Entity => "a.entity_ref",
        Dimension::Message => "a.message_ref",
        Dimension::Access => "a.access",
        Dimension::Category => "a.categories",
    }
}

pub(crate) async fn aggregate(
    client: &ClientWrapper,
    names: &Names,
    query: &RecordQuery,
    by: Dimension,
    limit: u32,
) -> Result<Vec<Bucket>, ArchiveError> {
    let counted = match crate::plan::counted(query, by, &Resolved::default())? {
        // Answerable from the report counts (so no system user ids among its users): resolve
        // the names it filters on.
        Some(_) => crate::plan::counted(query, by, &resolve(client, query, &[], &[]).await?)?,
        None => None,
    };
    let (sql, params) = match counted {
        Some(counted) => counted,
        None => {
            let Some(plan) = plan(client, query).await? else {
                return Ok(Vec::new());
            };
            plan.grouped(record_key(by))
        }
    };
    let rows = run(client, &sql, &params, "running a report").await?;
    let count = |row: &Row| row.get::<_, i64>(1) as u64;
    // (order for time dimensions, bucket)
    let mut buckets: Vec<(i64, Bucket)> = Vec::with_capacity(rows.len());
    match by {
        Dimension::Day => {
            for row in &rows {
                let day: NaiveDate = row.get(0);
                let order = day.signed_duration_since(NaiveDate::default()).num_days();
                buckets.push((
                    order,
                    Bucket { key: day.format("%Y-%m-%d").to_string(), count: count(row) },
                ));
            }
        }
        Dimension::HourOfDay => {
            for row in &rows {
                let hour: i32 = row.get(0);
                buckets.push((
                    i64::from(hour),
                    Bucket { key: format!("{hour:02}"), count: count(row) },
                ));
            }
        }
        Dimension::Weekday => {
            for row in &rows {
                // ISO: 1 is Monday.
                let day: i32 = row.get(0);
                let index = usize::try_from(day - 1).unwrap_or_default() % 7;
                buckets.push((
                    i64::from(day),
                    Bucket { key: WEEKDAYS[index].to_string(), count: count(row) },
                ));
            }
        }
        Dimension::Access => {
            for row in &rows {
                let code: i16 = row.get(0);
                buckets.push((
                    0,
                    Bucket { key: access_name(i64::from(code)).to_string(), count: count(row) },
                ));
            }
        }
        Dimension::Category => {
            let mut per_category = vec![0u64; CATEGORIES.len()];
            for row in &rows {
                let bits: i32 = row.get(0);
                for (i, total) in per_category.iter_mut().enumerate() {
                    if bits & (1 << i) != 0 {
                        *total += count(row);
                    }
                }
            }
            buckets = CATEGORIES
                .iter()
                .zip(per_category)
                .filter(|(_, count)| *count > 0)
                .map(|(name, count)| (0, Bucket { key: (*name).to_string(), count }))
                .collect();
        }
        Dimension::User | Dimension::Organization | Dimension::Entity | Dimension::Message => {
            // Name ids (0 or NULL: no value).
            let ids: Vec<i32> =
                rows.iter().filter_map(|row| row.get::<_, Option<i32>>(0)).collect();
            let texts = names.texts(client, ids).await?;
            for row in &rows {
                let key = row.get::<_, Option<i32>>(0).and_then(|id| texts.get(&id));
                buckets.push((
                    0,
                    Bucket {
                        key: key.map(|k| k.to_string()).unwrap_or_default(),
                        count: count(row),
                    },
                ));
            }
        }
    }
    if matches!(by, Dimension::Day | Dimension::HourOfDay | Dimension::Weekday) {
        buckets.sort_by_key(|(order, _)| *order);
    } else {
        // NULL and "" both read as "": merge them.
        let mut merged: HashMap<String, u64> = HashMap::new();
        for (_, bucket) in buckets {
            *merged.entry(bucket.key).or_default() += bucket.count;
        }
        buckets = merged.into_iter().map(|(key, count)| (0, Bucket { key, count })).collect();
        buckets.sort_by(|(_, a), (_, b)| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    }
    Ok(buckets.into_iter().take(limit as usize).map(|(_, bucket)| bucket).collect())
}

/// The stored form of an `Id` to look up: a GUID written with hyphens (any case, optionally in
/// braces) is stored lower-case; anything else exactly as written (trimmed).
fn lookup_id(id: &str) -> String {
    let id = id.trim().trim_matches(|c| c == '{' || c == '}');
    match Uuid::try_parse(id) {
        Ok(guid) if guid.hyphenated().to_string().eq_ignore_ascii_case(id) => {
            guid.hyphenated().to_string()
        }
        _ => id.to_string(),
    }
}

pub(crate) async fn record(
    client: &ClientWrapper,
    names: &Names,
    dictionaries: &DictionaryCache,
    id: &str,
) -> Result<Option<StoredRecord>, ArchiveError> {
    let fail = failed("reading a record");
    let sql = format!(
        "SELECT {}, s.seq, s.committed_at, b.* \
         FROM d365audit.record_keys k \
         JOIN d365audit.records a \
           ON a.tenant_ref = k.tenant_ref AND a.event_time = k.event_time \
             AND a.record_key = k.record_key \
         {} \
         LEFT JOIN LATERAL (SELECT seq, committed_at FROM d365audit.seals \
           WHERE first_seq <= a.seq AND last_seq >= a.seq ORDER BY first_seq DESC LIMIT 1) s \
           ON true \
         WHERE k.record_key = $1 ORDER BY a.seq LIMIT 1",
        summary_columns("a", NO_VIA),
        block_of("a", BLOCK_COLUMNS),
    );
    let statement = client.prepare_cached(&sql).await.map_err(&fail)?;
    let Some(row) =
        client.query_opt(&statement, &[&keys::record_key(&lookup_id(id))]).await.map_err(&fail)?
    else {
        return Ok(None);
    };
    let mut summary = summaries(client, names, std::slice::from_ref(&row)).await?.remove(0);
    let w = SUMMARY_WIDTH;
    let batch: Option<i64> = row.get(w);
    let ingested_at: Option<DateTime<Utc>> = row.get(w + 1);
    let lost = || ArchiveError::Corrupt {
        message: format!(
            "record {} has lost its verbatim bytes; run `verify` to see what else changed",
            summary.id
        ),
    };
    let block = StoredBlock::from_row(&row, w + 2).ok_or_else(lost)?;
    let index = block.index_of(summary.seq).ok_or_else(lost)?;
    dictionaries.load(client, [block.dictionary]).await?;
    let raw = block
        .unpack(&mut Unpacker::new(dictionaries))
        .map_err(|e| e.into_archive_error(&format!("record {}", summary.id)))?
        .swap_remove(index);
    let parsed = record::parse_record(&raw).ok();
    let dynamics = parsed.as_ref().and_then(|p| p.dynamics.as_ref());
    summary.item_url = dynamics.and_then(|d| d.item_url.clone());
    Ok(Some(StoredRecord {
        fields: parsed.as_ref().map(|p| from_activity(p).fields).unwrap_or_default(),
        query: dynamics.and_then(|d| d.query.clone()),
        query_results: dynamics.map(|d| d.query_result_ids.clone()).unwrap_or_default(),
        user_agent: dynamics.and_then(|d| d.user_agent.clone()),
        ingested_at: ingested_at.unwrap_or_default(),
        batch: batch.unwrap_or_default() as u64,
        hash: archive::evidence::record_hash(&raw).to_hex(),
        raw,
        summary,
    }))
}

pub(crate) async fn raw_page(
    client: &ClientWrapper,
    dictionaries: &DictionaryCache,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<Page<RawRecord>, ArchiveError> {
    let limit = page.limit.clamp(1, MAX_PAGE);
    let direction = match page.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    let sql_of = |plan: Plan| {
        let (hits, params) = plan.page(key_columns, page.order, page.after, limit);
        let sql = format!(
            "SELECT h.record_key, h.event_time, h.seq, b.first_seq \
             FROM ({hits}) h {} \
             ORDER BY h.event_time {direction}, h.seq {direction}",
            block_of("h", "x.first_seq")
        );
        (sql, params)
    };
    let rows = page_rows(client, query, page, limit, sql_of, "reading verbatim records").await?;
    // Each block once, however many of the page's records it holds.
    let mut wanted: Vec<i64> = rows.iter().filter_map(|row| row.get::<_, Option<i64>>(3)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let fail = failed("reading verbatim records");
    let statement = client
        .prepare_cached(&format!(
            "SELECT {BLOCK_COLUMNS} FROM d365audit.record_blocks x WHERE x.first_seq = ANY ($1)"
        ))
        .await
        .map_err(&fail)?;
    let blocks: Vec<StoredBlock> = client
        .query(&statement, &[&wanted])
        .await
        .map_err(&fail)?
        .iter()
        .filter_map(|row| StoredBlock::from_row(row, 0))
        .collect();
    dictionaries.load(client, blocks.iter().map(|b| b.dictionary)).await?;
    let mut unpacker = Unpacker::new(dictionaries);
    let mut unpacked: HashMap<i64, (StoredBlock, Vec<Vec<u8>>)> = HashMap::new();
    for block in blocks {
        let first_seq = block.first_seq;
        let raws = block
            .unpack(&mut unpacker)
            .map_err(|e| e.into_archive_error(&format!("the records from #{first_seq}")))?;
        unpacked.insert(first_seq, (block, raws));
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut seqs = Vec::with_capacity(rows.len());
    for row in &rows {
        let id = keys::id_of_key(row.get(0));
        let seq: i64 = row.get(2);
        let raw = row
            .get::<_, Option<i64>>(3)
            .and_then(|first| unpacked.get(&first))
            .and_then(|(block, raws)| block.index_of(seq).and_then(|i| raws.get(i)))
            .ok_or_else(|| ArchiveError::Corrupt {
                message: format!(
                    "record {id} has lost its verbatim bytes; run `verify` to see what else \
                     changed"
                ),
            })?;
        seqs.push(seq);
        out.push(RawRecord { id, time: row.get(1), raw: raw.clone() });
    }
    let mut keyed: Vec<(RawRecord, i64)> = out.into_iter().zip(seqs).collect();
    let next = cut(&mut keyed, limit, |(r, seq)| (r.time, *seq));
    Ok(Page { rows: keyed.into_iter().map(|(r, _)| r).collect(), next })
}

pub(crate) async fn quarantined(
    client: &ClientWrapper,
    limit: u32,
) -> Result<Vec<Quarantined>, ArchiveError> {
    let fail = failed("reading quarantined input");
    let statement = client
        .prepare_cached(
            "SELECT source, reason, raw FROM d365audit.quarantine ORDER BY id DESC LIMIT $1",
        )
        .await
        .map_err(&fail)?;
    let rows = client.query(&statement, &[&i64::from(limit.min(MAX_PAGE))]).await.map_err(&fail)?;
    Ok(rows
        .iter()
        .map(|row| Quarantined { source: row.get(0), reason: row.get(1), raw: row.get(2) })
        .collect())
}

pub(crate) async fn cursor(
    client: &ClientWrapper,
    name: &str,
) -> Result<Option<String>, ArchiveError> {
    let fail = failed("reading a cursor");
    let statement = client
        .prepare_cached("SELECT value FROM d365audit.cursors WHERE name = $1")
        .await
        .map_err(&fail)?;
    Ok(client.query_opt(&statement, &[&name]).await.map_err(&fail)?.map(|row| row.get(0)))
}

pub(crate) async fn summary(client: &ClientWrapper) -> Result<ArchiveSummary, ArchiveError> {
    let fail = failed("summarizing the archive");
    let statement = client
        .prepare_cached(
            "SELECT t.records, t.raw_bytes, t.quarantined, \
               (SELECT coalesce(max(seq), 0) FROM d365audit.seals), \
               (SELECT min(event_time) FROM d365audit.records), \
               (SELECT max(event_time) FROM d365audit.records), \
               (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint \
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                  WHERE n.nspname = 'd365audit' AND c.relkind IN ('r', 'm')) \
             FROM d365audit.totals t WHERE t.id = 1",
        )
        .await
        .map_err(&fail)?;
    let row = client.query_one(&statement, &[]).await.map_err(&fail)?;
    Ok(ArchiveSummary {
        records: row.get::<_, i64>(0) as u64,
        raw_bytes: row.get::<_, i64>(1) as u64,
        quarantined: row.get::<_, i64>(2) as u64,
        batches: row.get::<_, i64>(3) as u64,
        earliest: row.get(4),
        latest: row.get(5),
        stored_bytes: row.get::<_, i64>(6) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_looked_up_as_stored() {
        let guid = "6f1d2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(lookup_id(&guid.to_uppercase()), guid);
        assert_eq!(lookup_id(&format!(" {{{guid}}} ")), guid);
        assert_eq!(lookup_id("sanitized-0012"), "sanitized-0012");
        // Not the hyphenated form: kept as written, like the SQLite archive.
        assert_eq!(
            lookup_id("6f1d2a3b0c4d4e5f8a9b0c1d2e3f4a5b"),
            "6f1d2a3b0c4d4e5f8a9b0c1d2e3f4a5b"
        );
    }
}
