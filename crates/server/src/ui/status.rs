//! The collection status page: archive totals, every tenant's feeds with lag, backlog, gaps
//! and last errors, the newest gaps, and quarantined input.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::charts::number;
use crate::principal::UiUser;
use crate::state::ServerState;
use crate::status;
use crate::ui::layout::{Nav, age, opt_time, page, time};

fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=999_999 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.2} GB", n as f64 / 1e9),
    }
}

/// `GET /status`.
pub async fn show(State(state): State<ServerState>, UiUser(principal): UiUser) -> Response {
    let report = status::collect(&state).await;
    let body = html! {
        h1 { "Collection status" }
        p.muted { "As of " (time(report.generated_at)) " UTC." }
        @for problem in &report.problems {
            div.notice.error.status-problem { "Could not read " (problem) }
        }
        @if let Some(summary) = &report.archive {
            div.panel.stats #archive-summary {
                div { div.value #records-total { (number(summary.records)) } div.muted { "records" } }
                div { div.value { (opt_time(summary.earliest)) } div.muted { "earliest (UTC)" } }
                div { div.value { (opt_time(summary.latest)) } div.muted { "latest (UTC)" } }
                div { div.value { (number(summary.batches)) } div.muted { "sealed batches" } }
                div { div.value { (number(summary.quarantined)) } div.muted { "quarantined inputs" } }
                div { div.value { (bytes(summary.stored_bytes)) } div.muted { "on disk (raw " (bytes(summary.raw_bytes)) ")" } }
            }
        }
        h2 { "Feeds" }
        @if report.feeds.is_empty() {
            div.notice #no-feeds { "No tenant is being collected into this archive yet (records may have been imported from files)." }
        } @else {
            div.table-scroll {
                table #feeds {
                    thead { tr {
                        th { "Tenant" } th { "Content type" } th { "Health" } th { "Listed until (UTC)" }
                        th.num { "Lag" } th.num { "Backlog" } th { "Oldest waiting (UTC)" } th.num { "Records" }
                        th.num { "Gaps" } th { "Last error / notice" }
                    } }
                    tbody {
                        @for feed in &report.feeds {
                            tr {
                                td { (feed.tenant) }
                                td { (feed.content_type) }
                                td { span class=(format!("badge health-{}", feed.health)) { (feed.health) } }
                                td.time { (opt_time(feed.listed_until)) }
                                td.num { (feed.lag_seconds.map(age).unwrap_or_else(|| "—".into())) }
                                td.num { (number(feed.backlog)) }
                                td.time { (opt_time(feed.oldest_waiting)) }
                                td.num { (number(feed.records)) }
                                td.num { (number(feed.gaps)) }
                                td.wrap.small { (feed.last_error.clone().or_else(|| feed.notice.clone()).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Gaps" }
        @if report.gaps.is_empty() {
            div.notice.ok #no-gaps { "No content blob was lost." }
        } @else {
            p.muted { "Content blobs that expired before they could be fetched, did not parse (their bytes are in quarantine), or kept failing. Newest first." }
            div.table-scroll {
                table #gaps {
                    thead { tr { th { "Tenant" } th { "Content type" } th { "Created (UTC)" } th { "State" } th.num { "Attempts" } th { "Error" } th { "At (UTC)" } } }
                    tbody {
                        @for gap in &report.gaps {
                            tr {
                                td.mono.small { (gap.tenant_id) }
                                td { (gap.content_type) }
                                td.time { (time(gap.content_created)) }
                                td { span.badge.health-gaps { (gap.state.as_str()) } }
                                td.num { (gap.attempts) }
                                td.wrap.small { (gap.error) }
                                td.time { (time(gap.at)) }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Quarantine" }
        @if report.quarantined.is_empty() {
            div.notice.ok { "Nothing is quarantined." }
        } @else {
            p.muted { "Input that could not be parsed, kept with its bytes (`d365audit quarantine --bytes` prints them)." }
            table #quarantine {
                thead { tr { th { "Source" } th { "Reason" } th.num { "Bytes" } } }
                tbody {
                    @for item in &report.quarantined {
                        tr { td.wrap.small { (item.source) } td.wrap { (item.reason) } td.num { (number(item.bytes)) } }
                    }
                }
            }
        }
    };
    page(&principal, Nav::Status, "Collection status", body).into_response()
}
