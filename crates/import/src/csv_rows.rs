//! Splits a CSV stream (RFC 4180 as Excel, Purview and SQL Server write it) into rows without
//! loading the file: each row keeps its exact bytes and the line it starts on, so a malformed
//! one can be quarantined as it was and pointed at by line number.
//!
//! Accepted: a UTF-8 byte-order mark at the start, CRLF or LF line ends, quoted fields with `""`
//! escapes and embedded line breaks. Tolerated (and reported as a problem of the row, never
//! silently repaired): characters after a closing quote. A quoted field still open at the end
//! of the file makes the rest of the file one malformed row; a row longer than
//! [`CsvRows::max_row_bytes`] stops the reading with an error (it is almost certainly an
//! unbalanced quote, and the file needs fixing).

use std::io::{self, BufRead, Read};

/// One row: its fields (unquoted), its exact bytes and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// The fields, quotes removed and `""` turned into `"`.
    pub fields: Vec<Vec<u8>>,
    /// The row's bytes exactly as in the file, without its line end (`\n` or `\r\n`).
    pub raw: Vec<u8>,
    /// 1-based line where the row starts.
    pub line: u64,
    /// Why the row is not well-formed CSV, if it is not.
    pub problem: Option<String>,
}

impl CsvRow {
    /// A field as text (lossy for bytes that are not UTF-8), `""` when the row has no such field.
    pub fn text(&self, index: usize) -> std::borrow::Cow<'_, str> {
        match self.fields.get(index) {
            Some(field) => String::from_utf8_lossy(field),
            None => std::borrow::Cow::Borrowed(""),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// In a field that did not start with a quote.
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Just after a quote inside quotes: an escaped quote follows, or the field closed.
    QuoteInQuoted,
}

/// Iterator over the rows of a CSV stream. Reads with `BufRead`, so memory holds one row.
#[derive(Debug)]
pub struct CsvRows<R> {
    reader: R,
    /// The line the next row starts on.
    line: u64,
    bytes_read: u64,
    at_start: bool,
    /// Rows longer than this stop the reading with an error (64 MiB by default).
    pub max_row_bytes: usize,
}

impl<R: BufRead> CsvRows<R> {
    pub fn new(reader: R) -> Self {
        CsvRows { reader, line: 1, bytes_read: 0, at_start: true, max_row_bytes: 64 << 20 }
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next row; `None` at the end of the stream. Blank lines are skipped.
    pub fn next_row(&mut self) -> io::Result<Option<CsvRow>> {
        loop {
            let start_line = self.line;
            let mut raw = Vec::new();
            let mut fields = Vec::new();
            let mut field = Vec::new();
            let mut state = State::FieldStart;
            let mut problem: Option<String> = None;
            let mut ended = false;
            let mut scanned = 0;
            loop {
                // Never more than the limit in memory, even for a file without line ends.
                let room = (self.max_row_bytes + 1).saturating_sub(raw.len()) as u64;
                let read = (&mut self.reader).take(room.max(1)).read_until(b'\n', &mut raw)?;
                if self.at_start {
                    self.at_start = false;
                    if raw.starts_with(b"\xEF\xBB\xBF") {
                        raw.drain(..3);
                    }
                }
                if read == 0 {
                    break;
                }
                self.bytes_read += read as u64;
                if raw.ends_with(b"\n") {
                    self.line += 1;
                }
                let bytes = &raw[scanned..];
                let mut index = 0;
                while index < bytes.len() {
                    let byte = bytes[index];
                    let line_end =
                        byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) == Some(&b'\n'));
                    match state {
                        State::Quoted => {
                            if byte == b'"' {
                                state = State::QuoteInQuoted;
                            } else {
                                field.push(byte);
                            }
                        }
                        _ if line_end => {
                            ended = true;
                            break;
                        }
                        State::FieldStart | State::Unquoted | State::QuoteInQuoted
                            if byte == b',' =>
                        {
                            fields.push(std::mem::take(&mut field));
                            state = State::FieldStart;
                        }
                        State::FieldStart if byte == b'"' => state = State::Quoted,
                        State::QuoteInQuoted if byte == b'"' => {
                            field.push(b'"');
                            state = State::Quoted;
                        }
                        State::QuoteInQuoted => {
                            problem.get_or_insert_with(|| {
                                format!(
                                    "field {} has characters after its closing quote",
                                    fields.len() + 1
                                )
                            });
                            field.push(byte);
                            state = State::Unquoted;
                        }
                        State::FieldStart | State::Unquoted => {
                            field.push(byte);
                            state = State::Unquoted;
                        }
                    }
                    index += 1;
                }
                scanned = raw.len();
                if ended {
                    break;
                }
                if raw.len() > self.max_row_bytes {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the row starting on line {start_line} is longer than {} MiB, which \
                             usually means a quote that is never closed; fix the file and import \
                             it again",
                            self.max_row_bytes >> 20
                        ),
                    ));
                }
            }
            if raw.is_empty() {
                return Ok(None);
            }
            if state == State::Quoted {
                problem = Some(format!(
                    "field {} opens a quote that is not closed before the end of the file",
                    fields.len() + 1
                ));
            }
            // The row's bytes without its line end.
            if raw.ends_with(b"\n") {
                raw.pop();
                if raw.ends_with(b"\r") {
                    raw.pop();
                }
            }
            if raw.is_empty() {
                // A blank line.
                continue;
            }
            fields.push(field);
            return Ok(Some(CsvRow { fields, raw, line: start_line, problem }));
        }
    }
}

impl<R: BufRead> Iterator for CsvRows<R> {
    type Item = io::Result<CsvRow>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_row().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Vec<CsvRow> {
        CsvRows::new(text).map(|row| row.unwrap()).collect()
    }

    fn fields(row: &CsvRow) -> Vec<String> {
        row.fields.iter().map(|f| String::from_utf8(f.clone()).unwrap()).collect()
    }

    #[test]
    fn quoted_fields_escapes_and_embedded_line_breaks() {
        let text =
            b"\xEF\xBB\xBFa,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n\r\nlast,,\n";
        let rows = rows(text);
        assert_eq!(rows.len(), 3);
        assert_eq!(fields(&rows[0]), ["a", "b", "c"]);
        assert_eq!(rows[0].line, 1);
        assert_eq!(fields(&rows[1]), ["x,1", "say \"hi\"", "two\r\nlines"]);
        assert_eq!(rows[1].raw, b"\"x,1\",\"say \"\"hi\"\"\",\"two\r\nlines\"".to_vec());
        assert_eq!(rows[1].line, 2);
        assert_eq!(rows[2].line, 5);
        assert_eq!(fields(&rows[2]), ["last", "", ""]);
        assert!(rows.iter().all(|row| row.problem.is_none()));
    }

    #[test]
    fn last_row_without_line_end_and_stray_quotes() {
        let rows = rows(b"a\"b,\"c\"d,e\n\"open,never closed\nmore");
        assert_eq!(fields(&rows[0]), ["a\"b", "cd", "e"]);
        assert!(rows[0].problem.as_deref().unwrap().contains("field 2"));
        assert_eq!(rows[1].line, 2);
        assert_eq!(rows[1].raw, b"\"open,never closed\nmore".to_vec());
        assert!(rows[1].problem.as_deref().unwrap().contains("not closed"));
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn a_runaway_row_is_an_error() {
        let mut text = b"\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
        let mut reader = CsvRows::new(&text[..]);
        reader.max_row_bytes = 1 << 20;
        let error = reader.next_row().unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }
}
