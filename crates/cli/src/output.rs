//! How results are printed: an aligned table for people, JSON for scripts, CSV for spreadsheets.

use std::io::Write;

use archive::RecordSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Csv,
}

const HEADERS: &[&str] = &[
    "time",
    "user",
    "message",
    "entity",
    "record",
    "name",
    "organization",
    "client_ip",
    "access",
    "via",
    "id",
];

fn cells(row: &RecordSummary) -> Vec<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        row.time.format("%Y-%m-%d %H:%M:%S").to_string(),
        row.user.clone(),
        row.message.clone().unwrap_or_else(|| row.operation.clone()),
        opt(&row.entity),
        row.entity_id.map(|id| id.to_string()).unwrap_or_default(),
        opt(&row.primary_field_value),
        opt(&row.organization),
        opt(&row.client_ip),
        row.access.clone(),
        match row.via {
            Some(archive::Via::Entity) => "record".into(),
            Some(archive::Via::QueryResults) => "listed".into(),
            None => String::new(),
        },
        row.id.clone(),
    ]
}

/// Writes rows in the chosen format. `header` is false for continuation pages of a stream.
pub(crate) fn write_rows(
    out: &mut impl Write,
    format: Format,
    rows: &[RecordSummary],
    header: bool,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for row in rows {
                serde_json::to_writer(&mut *out, row)?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            if header {
                writeln!(out, "{}", HEADERS.join(","))?;
            }
            for row in rows {
                let line: Vec<String> = cells(row).iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
        Format::Table => {
            let table: Vec<Vec<String>> = rows.iter().map(cells).collect();
            // The record id column is long and last; tables show the first ten columns.
            let shown = HEADERS.len() - 1;
            let mut widths: Vec<usize> = HEADERS[..shown].iter().map(|h| h.len()).collect();
            for row in &table {
                for (i, cell) in row.iter().take(shown).enumerate() {
                    widths[i] = widths[i].max(cell.chars().count().min(40));
                }
            }
            if header {
                let line: Vec<String> = HEADERS[..shown]
                    .iter()
                    .zip(&widths)
                    .map(|(h, w)| format!("{h:<w$}", w = *w))
                    .collect();
                writeln!(out, "{}", line.join("  ").trim_end())?;
            }
            for row in &table {
                let line: Vec<String> = row
                    .iter()
                    .take(shown)
                    .zip(&widths)
                    .map(|(cell, w)| format!("{:<w$}", truncate(cell, 40), w = *w))
                    .collect();
                writeln!(out, "{}", line.join("  ").trim_end())?;
            }
        }
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// Quotes a CSV cell when needed (RFC 4180). Cells that a spreadsheet would run as a formula
/// (`=`, `+`, `-`, `@` first) get a leading apostrophe.
pub(crate) fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) && text.len() > 1 {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// Prints the banner of a long-running command (`demo`, `emulator`). A closed standard output
/// (`d365audit demo | head -2`, a supervisor that stopped reading) must not stop the service,
/// so write errors are ignored here instead of panicking like `println!`.
pub(crate) fn banner(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("-"), "-");
    }
}
