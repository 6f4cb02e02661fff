//! The read side: searches, counts, aggregations, one record in full, verbatim pages for exports,
//! quarantine, cursors and the summary. Every function runs on a read-only connection inside a
//! blocking task.

use rustc_hash::FxHashMap as HashMap;

use archive::columns::{CATEGORIES, access_name, category_names};
use archive::query::MAX_PAGE;
use archive::{
    ArchiveError, ArchiveSummary, Bucket, Dimension, Page, PageCursor, PageRequest, Quarantined,
    RawRecord, RecordQuery, RecordSummary, StoredRecord, Via,
};
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};

use crate::encoding::{RecordKey, failed, guid_of, time_of};
use crate::plan::{KeyColumn, Plan, via_of};
use crate::verbatim::{DictionaryCache, Unpacker};

/// One matching row of a page, before its columns are read.
#[derive(Debug, Clone, Copy)]
struct Hit {
    seq: i64,
    time: i64,
    via: Option<Via>,
}

const SUMMARY_COLUMNS: &str = "a.seq, a.record_key, a.time, a.record_type, wl.value, op.value, \
    us.value, su.guid, org.value, en.value, eg.guid, me.value, a.access, a.categories, \
    ip.value, pv.value, a.correlation_id, rs.value";

/// The number of columns in [`SUMMARY_COLUMNS`].
const SUMMARY_WIDTH: usize = 18;

const SUMMARY_JOINS: &str = "LEFT JOIN names wl ON wl.id = a.workload \
    LEFT JOIN names op ON op.id = a.operation \
    LEFT JOIN names us ON us.id = a.user \
    LEFT JOIN system_users su ON su.id = a.system_user \
    LEFT JOIN names org ON org.id = a.organization \
    LEFT JOIN names en ON en.id = a.entity \
    LEFT JOIN guids eg ON eg.id = a.entity_ref \
    LEFT JOIN names me ON me.id = a.message \
    LEFT JOIN names ip ON ip.id = a.client_ip \
    LEFT JOIN names pv ON pv.id = a.primary_value \
    LEFT JOIN names rs ON rs.id = a.result_status";

fn summary_of_row(row: &Row<'_>, via: Option<Via>) -> rusqlite::Result<RecordSummary> {
    Ok(RecordSummary {
        seq: row.get(0)?,
        id: RecordKey::id_of(row.get_ref(1)?),
        time: time_of(row.get(2)?),
        record_type: row.get(3)?,
        workload: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        operation: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
        user: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
        system_user_id: guid_of(row.get(7)?),
        organization: row.get(8)?,
        entity: row.get(9)?,
        entity_id: guid_of(row.get(10)?),
        message: row.get(11)?,
        access: access_name(row.get(12)?).to_string(),
        categories: category_names(row.get(13)?),
        client_ip: row.get(14)?,
        primary_field_value: row.get(15)?,
        correlation_id: guid_of(row.get(16)?),
        result_status: row.get(17)?,
        item_url: None,
        via,
    })
}

/// Runs `read` in one read transaction: a query's plan (which reads the list of index runs) and
/// its rows then see the same state of the archive, whatever the writer merges meanwhile. Every
/// read that plans a query goes through it (`SqliteArchive::read_snapshot`).
pub(crate) fn snapshot<T>(
    conn: &Connection,
    read: impl FnOnce() -> Result<T, ArchiveError>,
) -> Result<T, ArchiveError> {
    let transaction = conn.unchecked_transaction().map_err(failed("starting a read"))?;
    let result = read();
    // Nothing was written: ending the read by rolling back costs nothing.
    drop(transaction);
    result
}

/// The rows of one page in order, and where the next page starts.
fn hits(
    conn: &Connection,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<(Vec<Hit>, Option<PageCursor>), ArchiveError> {
    let Some(plan) = Plan::new(conn, query)? else {
        return Ok((Vec::new(), None));
    };
    let limit = page.limit.clamp(1, MAX_PAGE);
    let (sql, params) = plan.page(page.order, page.after, limit);
    let mut statement = conn.prepare(&sql).map_err(failed("planning a search"))?;
    let mut hits = statement
        .query_map(params_from_iter(params), |row| {
            Ok(Hit { seq: row.get(0)?, time: row.get(1)?, via: via_of(row.get(2)?) })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(failed("searching"))?;
    let mut next = None;
    if hits.len() > limit as usize {
        hits.truncate(limit as usize);
        next = hits.last().map(|h| PageCursor { time_micros: h.time, seq: h.seq });
    }
    Ok((hits, next))
}

pub(crate) fn search(
    conn: &Connection,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<Page<RecordSummary>, ArchiveError> {
    let (hits, next) = hits(conn, query, page)?;
    let mut statement = conn
        .prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM activity a {SUMMARY_JOINS} WHERE a.seq = ?1"
        ))
        .map_err(failed("reading search results"))?;
    let mut rows = Vec::with_capacity(hits.len());
    for hit in hits {
        if let Some(summary) = statement
            .query_row([hit.seq], |row| summary_of_row(row, hit.via))
            .optional()
            .map_err(failed("reading search results"))?
        {
            rows.push(summary);
        }
    }
    Ok(Page { rows, next })
}

pub(crate) fn count(conn: &Connection, query: &RecordQuery) -> Result<u64, ArchiveError> {
    let Some(plan) = Plan::new(conn, query)? else {
        return Ok(0);
    };
    if plan.is_everything() {
        return conn
            .query_row("SELECT records FROM totals WHERE id = 1", [], |row| row.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(failed("counting records"));
    }
    let (sql, params) = plan.count();
    conn.prepare(&sql)
        .and_then(|mut s| s.query_row(params_from_iter(params), |row| row.get::<_, i64>(0)))
        .map(|n| n as u64)
        .map_err(failed("counting records"))
}

const WEEKDAYS: [&str; 7] =
    ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Bucket keys of the time dimensions, shared by every backend through the behaviour suite:
/// `2026-06-01` (day, UTC), `00`..`23` (hour of day, UTC), `Monday`..`Sunday` (weekday, UTC).
fn time_key(column: KeyColumn, value: i64) -> String {
    match column {
        KeyColumn::Hour => format!("{value:02}"),
        KeyColumn::Weekday => WEEKDAYS[value.rem_euclid(7) as usize].to_string(),
        _ => chrono::DateTime::from_timestamp(value.saturating_mul(86_400), 0)
            .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
    }
}

/// Counts matching records per value of `by`; `report_counts`: from the counts kept per day
/// when the query allows (see [`Plan::counted`]), else by reading every matching row.
pub(crate) fn aggregate(
    conn: &Connection,
    query: &RecordQuery,
    by: Dimension,
    limit: u32,
    report_counts: bool,
) -> Result<Vec<Bucket>, ArchiveError> {
    let Some(plan) = Plan::new(conn, query)? else {
        return Ok(Vec::new());
    };
    let column = match by {
        Dimension::Day => KeyColumn::Day,
        Dimension::HourOfDay => KeyColumn::Hour,
        Dimension::Weekday => KeyColumn::Weekday,
        Dimension::User => KeyColumn::User,
        Dimension::Organization => KeyColumn::Organization,
        Dimension::Entity => KeyColumn::Entity,
        Dimension::Message => KeyColumn::Message,
        Dimension::Access => KeyColumn::Access,
        Dimension::Category => KeyColumn::Categories,
    };
    let counted = if report_counts { plan.counted(column) } else { None };
    let summed = counted.is_some();
    let (sql, params) = counted.unwrap_or_else(|| plan.keys(column));
    let mut statement = conn.prepare(&sql).map_err(failed("planning a report"))?;
    let mut rows = statement.query(params_from_iter(params)).map_err(failed("running a report"))?;
    let mut counts: HashMap<Option<i64>, u64> = HashMap::default();
    while let Some(row) = rows.next().map_err(failed("running a report"))? {
        let key: Option<i64> = row.get(0).map_err(failed("running a report"))?;
        let records = if summed {
            row.get::<_, i64>(1).map_err(failed("running a report"))? as u64
        } else {
            1
        };
        *counts.entry(key).or_default() += records;
    }
    let limit = limit as usize;
    let mut buckets: Vec<(i64, Bucket)> = Vec::new();
    match column {
        KeyColumn::Day | KeyColumn::Hour | KeyColumn::Weekday => {
            buckets = counts
                .into_iter()
                .map(|(value, count)| {
                    let value = value.unwrap_or_default();
                    (value, Bucket { key: time_key(column, value), count })
                })
                .collect();
            buckets.sort_by_key(|(order, _)| *order);
        }
        KeyColumn::Categories => {
            let mut per_category = vec![0u64; CATEGORIES.len()];
            for (bits, count) in counts {
                let bits = bits.unwrap_or_default();
                for (i, total) in per_category.iter_mut().enumerate() {
                    if bits & (1 << i) != 0 {
                        *total += count;
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
        KeyColumn::Access => {
            buckets = counts
                .into_iter()
                .map(|(code, count)| {
                    (0, Bucket { key: access_name(code.unwrap_or_default()).to_string(), count })
                })
                .collect();
        }
        _ => {
            let mut name = conn
                .prepare_cached("SELECT value FROM names WHERE id = ?1")
                .map_err(failed("naming report buckets"))?;
            for (id, count) in counts {
                let key = match id {
                    Some(id) => name
                        .query_row([id], |row| row.get::<_, String>(0))
                        .optional()
                        .map_err(failed("naming report buckets"))?
                        .unwrap_or_default(),
                    None => String::new(),
                };
                buckets.push((0, Bucket { key, count }));
            }
        }
    }
    if !matches!(column, KeyColumn::Day | KeyColumn::Hour | KeyColumn::Weekday) {
        buckets.sort_by(|(_, a), (_, b)| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    }
    Ok(buckets.into_iter().take(limit).map(|(_, bucket)| bucket).collect())
}

pub(crate) fn record(
    conn: &Connection,
    dictionaries: &DictionaryCache,
    id: &str,
) -> Result<Option<StoredRecord>, ArchiveError> {
    let key = RecordKey::of(id.trim().trim_matches(|c| c == '{' || c == '}'));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, r.dictionary, r.raw_len, r.hash, r.bytes FROM activity a \
         {SUMMARY_JOINS} LEFT JOIN raw r ON r.seq = a.seq WHERE a.seq = \
         (SELECT seq FROM record_keys WHERE run IN (SELECT run FROM key_runs) \
              AND record_key = ?1 \
          UNION ALL SELECT seq FROM record_keys_staged WHERE record_key = ?1 LIMIT 1)"
    );
    type Stored = (RecordSummary, Option<i64>, Option<i64>, Option<Vec<u8>>, Option<Vec<u8>>);
    let found: Option<Stored> = conn
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row([&key], |row| {
                Ok((
                    summary_of_row(row, None)?,
                    row.get(SUMMARY_WIDTH)?,
                    row.get(SUMMARY_WIDTH + 1)?,
                    row.get(SUMMARY_WIDTH + 2)?,
                    row.get(SUMMARY_WIDTH + 3)?,
                ))
            })
            .optional()
        })
        .map_err(failed("reading a record"))?;
    let Some((mut summary, dictionary, raw_len, hash, packed)) = found else {
        return Ok(None);
    };
    let (Some(raw_len), Some(hash), Some(packed)) = (raw_len, hash, packed) else {
        return Err(ArchiveError::Corrupt {
            message: format!(
                "record {} has lost its verbatim bytes; run `verify` to see what else changed",
                summary.id
            ),
        });
    };
    let raw = Unpacker::new(dictionaries)
        .unpack(conn, dictionary, &packed, raw_len as usize)
        .map_err(|e| e.into_archive_error(&format!("record {}", summary.id)))?;
    let seal: Option<(i64, i64)> = conn
        .prepare_cached(
            "SELECT seq, committed_at FROM seals WHERE first_seq <= ?1 AND last_seq >= ?1 \
             ORDER BY first_seq DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row([summary.seq], |row| Ok((row.get(0)?, row.get(1)?))).optional()
        })
        .map_err(failed("reading a record's seal"))?;
    let (batch, ingested_at) = seal.unwrap_or_default();
    let parsed = record::parse_record(&raw).ok();
    let dynamics = parsed.as_ref().and_then(|p| p.dynamics.as_ref());
    summary.item_url = dynamics.and_then(|d| d.item_url.clone());
    Ok(Some(StoredRecord {
        fields: parsed
            .as_ref()
            .map(|p| archive::columns::from_activity(p).fields)
            .unwrap_or_default(),
        query: dynamics.and_then(|d| d.query.clone()),
        query_results: dynamics.map(|d| d.query_result_ids.clone()).unwrap_or_default(),
        user_agent: dynamics.and_then(|d| d.user_agent.clone()),
        ingested_at: time_of(ingested_at),
        batch: batch as u64,
        hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
        raw,
        summary,
    }))
}

/// `Id`, time, dictionary, length and compressed bytes of a stored record.
type StoredRaw = (String, i64, Option<i64>, i64, Vec<u8>);

pub(crate) fn raw_page(
    conn: &Connection,
    dictionaries: &DictionaryCache,
    query: &RecordQuery,
    page: &PageRequest,
) -> Result<Page<RawRecord>, ArchiveError> {
    let (hits, next) = hits(conn, query, page)?;
    let mut statement = conn
        .prepare_cached(
            "SELECT a.record_key, a.time, r.dictionary, r.raw_len, r.bytes FROM activity a \
             JOIN raw r ON r.seq = a.seq WHERE a.seq = ?1",
        )
        .map_err(failed("reading verbatim records"))?;
    let mut unpacker = Unpacker::new(dictionaries);
    let mut rows = Vec::with_capacity(hits.len());
    for hit in hits {
        let found: Option<StoredRaw> = statement
            .query_row([hit.seq], |row| {
                Ok((
                    RecordKey::id_of(row.get_ref(0)?),
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .optional()
            .map_err(failed("reading verbatim records"))?;
        let Some((id, time, dictionary, raw_len, packed)) = found else {
            return Err(ArchiveError::Corrupt {
                message: format!(
                    "the record at position {} has lost its verbatim bytes; run `verify` to see \
                     what else changed",
                    hit.seq
                ),
            });
        };
        let raw = unpacker
            .unpack(conn, dictionary, &packed, raw_len as usize)
            .map_err(|e| e.into_archive_error(&format!("record {id}")))?;
        rows.push(RawRecord { id, time: time_of(time), raw });
    }
    Ok(Page { rows, next })
}

pub(crate) fn quarantined(conn: &Connection, limit: u32) -> Result<Vec<Quarantined>, ArchiveError> {
    conn.prepare_cached("SELECT source, reason, raw FROM quarantine ORDER BY id DESC LIMIT ?1")
        .and_then(|mut s| {
            s.query_map([i64::from(limit.min(MAX_PAGE))], |row| {
                Ok(Quarantined { source: row.get(0)?, reason: row.get(1)?, raw: row.get(2)? })
            })?
            .collect()
        })
        .map_err(failed("reading quarantined input"))
}

pub(crate) fn cursor(conn: &Connection, name: &str) -> Result<Option<String>, ArchiveError> {
    conn.prepare_cached("SELECT value FROM cursors WHERE name = ?1")
        .and_then(|mut s| s.query_row([name], |row| row.get(0)).optional())
        .map_err(failed("reading a cursor"))
}

pub(crate) fn summary(conn: &Connection) -> Result<ArchiveSummary, ArchiveError> {
    let fail = failed("summarizing the archive");
    let (records, raw_bytes, quarantined): (i64, i64, i64) = conn
        .query_row("SELECT records, raw_bytes, quarantined FROM totals WHERE id = 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .map_err(&fail)?;
    let batches: i64 = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM seals", [], |row| row.get(0))
        .map_err(&fail)?;
    // Separate statements: SQLite answers a lone min() or max() from the index.
    let earliest: Option<i64> =
        conn.query_row("SELECT min(time) FROM activity", [], |row| row.get(0)).map_err(&fail)?;
    let latest: Option<i64> =
        conn.query_row("SELECT max(time) FROM activity", [], |row| row.get(0)).map_err(&fail)?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0)).map_err(&fail)?;
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0)).map_err(&fail)?;
    Ok(ArchiveSummary {
        records: records as u64,
        quarantined: quarantined as u64,
        batches: batches as u64,
        earliest: earliest.map(time_of),
        latest: latest.map(time_of),
        raw_bytes: raw_bytes as u64,
        stored_bytes: (pages * page_size) as u64,
    })
}
