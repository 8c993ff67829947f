//! RFC 4180 CSV, read within hard bounds: the labelled sets researchers
//! bring (CheXpert's train.csv has 223,414 rows) and chexlens's own
//! prediction files. Quoted fields, doubled quotes and CRLF are understood;
//! a UTF-8 byte-order mark is skipped.
//!
//! Hand-written rather than the `csv` crate because that crate reads a
//! malformed quote (`"x"y`, a quote left open) into a field without a word,
//! and a labels file that silently shifts its columns scores the wrong
//! labels; here each is refused with its line.

/// Files above this are refused before they are read.
pub const MAX_CSV_BYTES: u64 = 512 << 20;
/// Rows at most (header included).
pub const MAX_ROWS: usize = 4_000_000;
/// Fields per row at most.
pub const MAX_FIELDS: usize = 256;
/// Bytes per field at most.
pub const MAX_FIELD_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is {0} bytes; CSV files are read up to {max} MB", max = MAX_CSV_BYTES >> 20)]
    TooLarge(u64),
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("the file is empty")]
    Empty,
    #[error("more than {MAX_ROWS} rows")]
    TooManyRows,
    #[error("line {line}: more than {MAX_FIELDS} fields")]
    TooManyFields { line: usize },
    #[error("line {line}: a field is longer than {MAX_FIELD_BYTES} bytes")]
    FieldTooLong { line: usize },
    #[error("line {line}: a quoted field is not closed")]
    UnclosedQuote { line: usize },
    #[error("line {line}: text after a closing quote")]
    AfterQuote { line: usize },
    #[error("line {line}: {found} fields where the header has {expected}")]
    FieldCount { line: usize, expected: usize, found: usize },
}

/// A parsed file: the header and the rows, each as long as the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Lines before the header that start with `#`, without the `#`
    /// (where the page's exports keep their provenance).
    pub comments: Vec<String>,
    pub header: Vec<String>,
    /// Each row with the line it starts on (1-based, the header is line 1).
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// The index of the column named `name` (surrounding space ignored).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h.trim() == name)
    }
}

/// Parses CSV bytes; blank lines are skipped, and so are `#` lines before
/// the header (kept as [`Table::comments`]).
pub fn parse(bytes: &[u8]) -> Result<Table, CsvError> {
    if bytes.len() as u64 > MAX_CSV_BYTES {
        return Err(CsvError::TooLarge(bytes.len() as u64));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CsvError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records { rest: text, line: 1 };
    let mut comments = Vec::new();
    while let Some(comment) = records.rest.strip_prefix('#') {
        let (line, rest) = comment.split_once('\n').unwrap_or((comment, ""));
        if line.len() > MAX_FIELD_BYTES {
            return Err(CsvError::FieldTooLong { line: records.line });
        }
        if comments.len() + 1 >= MAX_ROWS {
            return Err(CsvError::TooManyRows);
        }
        comments.push(line.trim_end_matches('\r').trim().to_owned());
        records.rest = rest;
        records.line += 1;
    }
    let (_, header) = records.next_record()?.ok_or(CsvError::Empty)?;
    let mut rows = Vec::new();
    while let Some((line, row)) = records.next_record()? {
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        if row.len() != header.len() {
            return Err(CsvError::FieldCount {
                line,
                expected: header.len(),
                found: row.len(),
            });
        }
        if rows.len() + 1 >= MAX_ROWS {
            return Err(CsvError::TooManyRows);
        }
        rows.push((line, row));
    }
    Ok(Table { comments, header, rows })
}

/// A field as CSV writes it: quoted when it holds a comma, quote or newline.
pub fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

struct Records<'a> {
    rest: &'a str,
    line: usize,
}

impl Records<'_> {
    /// The next record and the line it starts on; `None` at the end.
    fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, CsvError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut chars = self.rest.char_indices().peekable();
        let mut current = String::new();
        let mut consumed = self.rest.len();
        loop {
            let Some((i, c)) = chars.next() else {
                fields.push(std::mem::take(&mut current));
                break;
            };
            match c {
                '"' if current.is_empty() => {
                    // A quoted field, up to its closing quote.
                    loop {
                        match chars.next() {
                            None => return Err(CsvError::UnclosedQuote { line: start_line }),
                            Some((_, '"')) if chars.peek().map(|&(_, c)| c) == Some('"') => {
                                chars.next();
                                current.push('"');
                            }
                            Some((_, '"')) => break,
                            Some((_, c)) => {
                                if c == '\n' {
                                    self.line += 1;
                                }
                                current.push(c);
                            }
                        }
                        if current.len() > MAX_FIELD_BYTES {
                            return Err(CsvError::FieldTooLong { line: start_line });
                        }
                    }
                    if !matches!(chars.peek(), None | Some((_, ',' | '\n' | '\r'))) {
                        return Err(CsvError::AfterQuote { line: start_line });
                    }
                }
                ',' => fields.push(std::mem::take(&mut current)),
                '\r' if chars.peek().map(|&(_, c)| c) == Some('\n') => {}
                '\n' => {
                    fields.push(std::mem::take(&mut current));
                    self.line += 1;
                    consumed = i + 1;
                    break;
                }
                c => current.push(c),
            }
            if current.len() > MAX_FIELD_BYTES {
                return Err(CsvError::FieldTooLong { line: start_line });
            }
            if fields.len() > MAX_FIELDS {
                return Err(CsvError::TooManyFields { line: start_line });
            }
        }
        self.rest = &self.rest[consumed..];
        Ok(Some((start_line, fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quotes_crlf_and_blank_lines() {
        let t = parse(b"\xef\xbb\xbfPath,Age\r\n\"a,b.jpg\",61\r\n\r\n\"say \"\"hi\"\"\",\n").unwrap();
        assert_eq!(t.header, ["Path", "Age"]);
        assert_eq!(t.rows[0], (2, vec!["a,b.jpg".to_string(), "61".into()]));
        assert_eq!(t.rows[1], (4, vec!["say \"hi\"".to_string(), String::new()]));
        assert_eq!(t.column("Age"), Some(1));
    }

    #[test]
    fn keeps_comment_lines_before_the_header_and_counts_them() {
        let t = parse(b"# provenance {\"a\": 1}\r\n#second\nPath,Age\n# not a comment,2\n").unwrap();
        assert_eq!(t.comments, ["provenance {\"a\": 1}", "second"]);
        assert_eq!(t.header, ["Path", "Age"]);
        assert_eq!(t.rows, [(4, vec!["# not a comment".to_string(), "2".into()])]);
        assert_eq!(parse(b"#only a comment").unwrap_err(), CsvError::Empty);
        let long = [b"#".as_slice(), &vec![b'x'; MAX_FIELD_BYTES + 1]].concat();
        assert_eq!(parse(&long).unwrap_err(), CsvError::FieldTooLong { line: 1 });
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_line() {
        assert_eq!(
            parse(b"a,b\n1\n").unwrap_err(),
            CsvError::FieldCount {
                line: 2,
                expected: 2,
                found: 1
            }
        );
        assert_eq!(parse(b"a\n\"open\n").unwrap_err(), CsvError::UnclosedQuote { line: 2 });
        assert_eq!(parse(b"a\n\"x\"y\n").unwrap_err(), CsvError::AfterQuote { line: 2 });
        assert_eq!(parse(b"").unwrap_err(), CsvError::Empty);
        assert_eq!(parse(b"\xff\n").unwrap_err(), CsvError::NotText);
        let wide = vec![b','; MAX_FIELDS + 1];
        assert_eq!(parse(&wide).unwrap_err(), CsvError::TooManyFields { line: 1 });
        let long = vec![b'x'; MAX_FIELD_BYTES + 1];
        assert_eq!(parse(&long).unwrap_err(), CsvError::FieldTooLong { line: 1 });
    }

    #[test]
    fn fields_written_read_back() {
        let values = ["plain", "a,b", "say \"hi\"", "two\nlines"];
        let line: Vec<String> = values.iter().map(|v| field(v)).collect();
        let t = parse(format!("{}\n{}\n", line.join(","), line.join(",")).as_bytes()).unwrap();
        assert_eq!(t.header, values);
        assert_eq!(t.rows[0].0, 3);
    }
}
