//! Monthly partitions of the record tables, created on demand.
//!
//! Before a batch is written, every month its records fall in (UTC, on event time) must have a
//! partition in each partitioned table. A handle remembers the months it has seen; for a new
//! one it runs one short transaction, apart from the ingest transaction, that takes an advisory
//! lock (so two replicas never create the same partition at once), looks at what exists, and for
//! each missing partition creates a plain table shaped like its parent and attaches it.
//! `ATTACH PARTITION` needs only a SHARE UPDATE EXCLUSIVE lock on the parent, which does not
//! wait for running queries or ingests (`CREATE TABLE ... PARTITION OF` would take ACCESS
//! EXCLUSIVE and stall behind a long `verify`). A lock timeout bounds the wait anyway; the
//! failure is then transient and the batch is retried by its caller.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use archive::ArchiveError;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tokio_postgres::Client;

use crate::failure::failed;

/// The partitioned tables, each partitioned by month on `event_time`.
pub(crate) const PARTITIONED: [&str; 3] = ["records", "record_blocks", "field_values"];

/// Advisory lock key that serializes partition creation ("d365" and 2).
pub(crate) const PARTITION_LOCK: i64 = 0x6433_3635_0000_0002;

/// A calendar month in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Month {
    year: i32,
    /// 1..=12
    month: u32,
}

impl Month {
    pub(crate) fn of(time: DateTime<Utc>) -> Month {
        Month { year: time.year(), month: time.month() }
    }

    pub(crate) fn next(self) -> Month {
        if self.month == 12 {
            Month { year: self.year + 1, month: 1 }
        } else {
            Month { year: self.year, month: self.month + 1 }
        }
    }

    /// The partition of `table` for this month, e.g. `records_2026_06`.
    fn partition(self, table: &str) -> String {
        if self.year >= 1 {
            format!("{table}_{:04}_{:02}", self.year, self.month)
        } else {
            format!("{table}_bc{:04}_{:02}", 1 - self.year, self.month)
        }
    }

    /// The first instant of the month as a PostgreSQL timestamptz literal.
    fn start_literal(self) -> String {
        let date = NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default();
        if self.year >= 1 {
            format!("'{} 00:00:00+00'", date.format("%Y-%m-%d"))
        } else {
            // Year 0 is 1 BC in the proleptic calendar chrono uses.
            format!("'{:04}-{:02}-01 00:00:00+00 BC'", 1 - self.year, self.month)
        }
    }
}

/// The months a handle knows to have partitions.
#[derive(Debug, Default)]
pub(crate) struct MonthlyPartitions {
    known: Mutex<HashSet<Month>>,
}

impl MonthlyPartitions {
    /// Of `months`, those this handle has not seen partitioned yet.
    pub(crate) fn unknown(&self, months: impl IntoIterator<Item = Month>) -> Vec<Month> {
        let known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let mut missing: Vec<Month> = months.into_iter().filter(|m| !known.contains(m)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Forgets every month, so the next batch checks again (after a failed write, in case a
    /// partition was dropped behind this handle's back).
    pub(crate) fn forget(&self) {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Makes sure every table has a partition for each of `months`.
    pub(crate) async fn ensure(
        &self,
        client: &mut Client,
        months: &[Month],
        lock_timeout: Duration,
    ) -> Result<(), ArchiveError> {
        let months = self.unknown(months.iter().copied());
        if months.is_empty() {
            return Ok(());
        }
        let fail = failed("creating monthly partitions");
        let tx = client.transaction().await.map_err(&fail)?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = '{}ms'", lock_timeout.as_millis()))
            .await
            .map_err(&fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await.map_err(&fail)?;
        let existing: HashSet<String> = tx
            .query(
                "SELECT c.relname FROM pg_inherits i \
                 JOIN pg_class c ON c.oid = i.inhrelid \
                 JOIN pg_class p ON p.oid = i.inhparent \
                 JOIN pg_namespace n ON n.oid = p.relnamespace \
                 WHERE n.nspname = 'd365audit'",
                &[],
            )
            .await
            .map_err(&fail)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut created = 0;
        for month in &months {
            let end = month.next();
            for table in PARTITIONED {
                let partition = month.partition(table);
                if existing.contains(&partition) {
                    continue;
                }
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS d365audit.\"{partition}\" \
                       (LIKE d365audit.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
                        INCLUDING STORAGE); \
                     ALTER TABLE d365audit.{table} ATTACH PARTITION d365audit.\"{partition}\" \
                       FOR VALUES FROM ({}) TO ({});",
                    month.start_literal(),
                    end.start_literal(),
                ))
                .await
                .map_err(&fail)?;
                created += 1;
            }
        }
        tx.commit().await.map_err(&fail)?;
        if created > 0 {
            tracing::info!(?months, partitions = created, "monthly partitions created");
        }
        self.known.lock().unwrap_or_else(PoisonError::into_inner).extend(months);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn months_name_their_partitions_and_bounds() {
        let june = Month::of(Utc.with_ymd_and_hms(2026, 6, 30, 23, 59, 59).unwrap());
        assert_eq!(june.partition("records"), "records_2026_06");
        assert_eq!(june.start_literal(), "'2026-06-01 00:00:00+00'");
        let december = Month::of(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        assert_eq!(december.next().start_literal(), "'2027-01-01 00:00:00+00'");
        assert_eq!(december.next().partition("field_values"), "field_values_2027_01");
        let ancient = Month { year: 0, month: 3 };
        assert_eq!(ancient.partition("records"), "records_bc0001_03");
        assert_eq!(ancient.start_literal(), "'0001-03-01 00:00:00+00 BC'");
    }
}
