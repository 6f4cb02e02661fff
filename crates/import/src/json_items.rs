//! Splits a stream of JSON into its top-level items without parsing them: the elements of one
//! top-level array (what a content blob and most exports hold), JSON lines (one record a line),
//! or pretty-printed objects one after another. Each item keeps its exact bytes and where it
//! started, so a malformed one can be quarantined as it was and pointed at by line number.

use std::io::{self, BufRead};

/// One top-level item: its exact bytes and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub bytes: Vec<u8>,
    /// 0-based position among the items of the file.
    pub index: u64,
    /// 1-based line where the item starts.
    pub line: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Undecided,
    /// `[ item, item, ... ]`
    Array,
    /// One item per line.
    Lines,
    /// Items one after another, possibly spanning lines.
    Concatenated,
    Finished,
}

/// Iterator over the items of a JSON stream. Reads with `BufRead`, so memory holds one item.
#[derive(Debug)]
pub struct JsonItems<R> {
    reader: R,
    layout: Layout,
    line: u64,
    index: u64,
    bytes_read: u64,
}

impl<R: BufRead> JsonItems<R> {
    /// Items of any layout, decided from the content.
    pub fn new(reader: R) -> Self {
        JsonItems { reader, layout: Layout::Undecided, line: 1, index: 0, bytes_read: 0 }
    }

    /// Items of a file known to hold JSON lines (`.jsonl`, `.ndjson`): one item per line, so a
    /// broken line never swallows the lines after it.
    pub fn lines(reader: R) -> Self {
        JsonItems { layout: Layout::Lines, ..JsonItems::new(reader) }
    }

    /// Bytes consumed so far (for progress bars).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(self.reader.fill_buf()?.first().copied())
    }

    fn bump(&mut self) -> io::Result<Option<u8>> {
        let Some(byte) = self.peek()? else { return Ok(None) };
        self.reader.consume(1);
        self.bytes_read += 1;
        if byte == b'\n' {
            self.line += 1;
        }
        Ok(Some(byte))
    }

    /// Skips whitespace, a UTF-8 byte-order mark, and (in arrays) separating commas.
    fn skip_separators(&mut self, commas: bool) -> io::Result<()> {
        while let Some(byte) = self.peek()? {
            let skip = byte.is_ascii_whitespace() || (commas && byte == b',');
            if skip {
                self.bump()?;
            } else if byte == 0xEF && self.bytes_read == 0 {
                // A byte-order mark at the very start.
                for _ in 0..3 {
                    self.bump()?;
                }
            } else {
                break;
            }
        }
        Ok(())
    }

    fn decide_layout(&mut self) -> io::Result<()> {
        self.skip_separators(false)?;
        self.layout = match self.peek()? {
            None => Layout::Finished,
            Some(b'[') => {
                self.bump()?;
                Layout::Array
            }
            // Decided after the first item: if it ends its line, the file is JSON lines.
            Some(_) => Layout::Concatenated,
        };
        Ok(())
    }

    /// Reads one balanced value (or, for a scalar, up to the next separator). `in_array` makes
    /// `,` and `]` at depth 0 end a scalar.
    fn read_value(&mut self, in_array: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1024);
        let mut depth: i64 = 0;
        let mut in_string = false;
        let mut escaped = false;
        while let Some(byte) = self.peek()? {
            if in_string {
                out.push(byte);
                self.bump()?;
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                    if depth == 0 {
                        break;
                    }
                }
                continue;
            }
            match byte {
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => depth -= 1,
                b']' | b',' if depth == 0 && in_array => break,
                b'\n' if depth == 0 => break,
                b'"' => in_string = true,
                _ => {}
            }
            out.push(byte);
            self.bump()?;
            if depth == 0 && matches!(byte, b'}' | b']') {
                break;
            }
        }
        Ok(out)
    }

    /// Reads the rest of the current line (without the newline).
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(1024);
        let n = self.reader.read_until(b'\n', &mut out)?;
        self.bytes_read += n as u64;
        if out.last() == Some(&b'\n') {
            out.pop();
            self.line += 1;
        }
        if out.last() == Some(&b'\r') {
            out.pop();
        }
        Ok(out)
    }

    fn next_item(&mut self) -> io::Result<Option<Item>> {
        if self.layout == Layout::Undecided {
            self.decide_layout()?;
        }
        let in_array = self.layout == Layout::Array;
        self.skip_separators(in_array)?;
        let line = self.line;
        let bytes = match self.layout {
            Layout::Finished | Layout::Undecided => return Ok(None),
            Layout::Array => {
                if self.peek()? == Some(b']') {
                    self.bump()?;
                    // Anything after the closing bracket is one more (malformed) item.
                    self.layout = Layout::Concatenated;
                    return self.next_item();
                }
                self.read_value(true)?
            }
            Layout::Lines => self.read_line()?,
            Layout::Concatenated => {
                let value = self.read_value(false)?;
                if self.index == 0 && !value.contains(&b'\n') && self.ends_line()? {
                    self.layout = Layout::Lines;
                }
                value
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if self.peek()?.is_none() {
                self.layout = Layout::Finished;
                return Ok(None);
            }
            return self.next_item();
        }
        let item = Item { bytes, index: self.index, line };
        self.index += 1;
        Ok(Some(item))
    }

    /// Whether only spaces remain before the next newline (or the end).
    fn ends_line(&mut self) -> io::Result<bool> {
        while let Some(byte) = self.peek()? {
            match byte {
                b' ' | b'\t' | b'\r' => {
                    self.bump()?;
                }
                b'\n' => return Ok(true),
                _ => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for JsonItems<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(input: &str) -> Vec<(String, u64)> {
        JsonItems::new(input.as_bytes())
            .map(|item| {
                let item = item.unwrap();
                (String::from_utf8(item.bytes).unwrap(), item.line)
            })
            .collect()
    }

    #[test]
    fn array_elements_keep_their_exact_bytes() {
        let got = items("[{\"a\": \"x,]}\\\"\"} ,\n  {\"b\":[1,{\"c\":2}]}]");
        assert_eq!(
            got,
            vec![("{\"a\": \"x,]}\\\"\"}".into(), 1), ("{\"b\":[1,{\"c\":2}]}".into(), 2)]
        );
    }

    #[test]
    fn json_lines_split_by_line_even_when_one_is_broken() {
        let got = items("{\"a\":1}\r\n{\"b\":\n{\"c\":3}\n\n");
        assert_eq!(
            got,
            vec![("{\"a\":1}".into(), 1), ("{\"b\":".into(), 2), ("{\"c\":3}".into(), 3)]
        );
    }

    #[test]
    fn a_known_lines_file_splits_by_line_from_the_first() {
        let got: Vec<String> = JsonItems::lines("{\"a\":\nnot json\n{\"b\":1}\n".as_bytes())
            .map(|item| String::from_utf8(item.unwrap().bytes).unwrap())
            .collect();
        assert_eq!(got, vec!["{\"a\":", "not json", "{\"b\":1}"]);
    }

    #[test]
    fn pretty_printed_objects_in_a_row() {
        let got = items("{\n  \"a\": 1\n}\n{\n  \"b\": 2\n}\n");
        assert_eq!(got, vec![("{\n  \"a\": 1\n}".into(), 1), ("{\n  \"b\": 2\n}".into(), 4)]);
    }

    #[test]
    fn a_truncated_array_yields_its_partial_last_item() {
        let got = items("\u{feff}[{\"a\":1},{\"b\":");
        assert_eq!(got, vec![("{\"a\":1}".into(), 1), ("{\"b\":".into(), 1)]);
    }

    #[test]
    fn scalars_and_trailing_garbage_are_items_too() {
        let got = items("[1, \"two\", {\"x\":3}] trailing");
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, vec!["1", "\"two\"", "{\"x\":3}", "trailing"]);
    }

    #[test]
    fn empty_inputs_have_no_items() {
        assert!(items("").is_empty());
        assert!(items("  \n ").is_empty());
        assert!(items("[]").is_empty());
        assert!(items("[ ]\n").is_empty());
    }
}
