//! A parser for Python literals as `repr()` writes them: dicts, lists, tuples, strings (single or
//! double quotes, `\` escapes, `u`/`r` prefixes), ints, floats, `True`, `False`, `None`. The Amazon
//! QA files (one dict per line) and the MiniOneRec CSVs (lists inside fields) use it. It mirrors
//! `ast.literal_eval` on that subset; anything else is an error with its byte offset.

/// A Python value. Dicts keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
}

impl PyValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[PyValue]> {
        match self {
            Self::List(v) | Self::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The value under string key `key` of a dict (`None` if absent or not a dict).
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            Self::Dict(pairs) => pairs.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Where and why a literal did not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Python literal, byte {offset}: {message}")]
pub struct PyLitError {
    pub offset: usize,
    pub message: String,
}

/// Parses one complete literal; trailing text other than whitespace is an error.
pub fn parse(text: &str) -> Result<PyValue, PyLitError> {
    let mut p = Parser { s: text.as_bytes(), text, pos: 0 };
    let value = p.value()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.error("unexpected text after the literal"));
    }
    Ok(value)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> PyLitError {
        PyLitError { offset: self.pos, message: message.into() }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<PyValue, PyLitError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("unexpected end of input")),
            Some(b'{') => self.dict(),
            Some(b'[') => self.seq(b']').map(PyValue::List),
            Some(b'(') => self.seq(b')').map(PyValue::Tuple),
            Some(b'\'' | b'"') => self.string(false).map(PyValue::Str),
            Some(b'-' | b'+' | b'.' | b'0'..=b'9') => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(c) => Err(self.error(format!("unexpected character {:?}", char::from(c)))),
        }
    }

    /// `True`, `False`, `None`, or a prefixed string such as `u'..'` / `r'..'`.
    fn word(&mut self) -> Result<PyValue, PyLitError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        match (word, self.peek()) {
            ("True", _) => Ok(PyValue::Bool(true)),
            ("False", _) => Ok(PyValue::Bool(false)),
            ("None", _) => Ok(PyValue::None),
            ("u" | "U", Some(b'\'' | b'"')) => self.string(false).map(PyValue::Str),
            ("r" | "R", Some(b'\'' | b'"')) => self.string(true).map(PyValue::Str),
            _ => {
                self.pos = start;
                Err(self.error(format!("unknown name `{word}`")))
            }
        }
    }

    /// A comma-separated sequence up to `close`; a trailing comma is allowed.
    fn seq(&mut self, close: u8) -> Result<Vec<PyValue>, PyLitError> {
        self.pos += 1; // the opening bracket
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(items);
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => return Err(self.error(format!("expected ',' or '{}'", char::from(close)))),
            }
        }
    }

    fn dict(&mut self) -> Result<PyValue, PyLitError> {
        self.pos += 1; // '{'
        let mut pairs = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(PyValue::Dict(pairs));
            }
            let key = self.value()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after a dict key"));
            }
            self.pos += 1;
            let value = self.value()?;
            pairs.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn number(&mut self) -> Result<PyValue, PyLitError> {
        let start = self.pos;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let mut float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => {}
                b'.' => float = true,
                b'e' | b'E' => {
                    float = true;
                    if matches!(self.s.get(self.pos + 1), Some(b'-' | b'+')) {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
            self.pos += 1;
        }
        let digits = self.text[start..self.pos].replace('_', "");
        let parsed = if float {
            digits.parse().map(PyValue::Float).map_err(|e| e.to_string())
        } else {
            digits.parse().map(PyValue::Int).map_err(|e| e.to_string())
        };
        parsed.map_err(|e| PyLitError { offset: start, message: format!("bad number {digits:?}: {e}") })
    }

    /// A single- or double-quoted string (not triple-quoted), with Python's escapes unless `raw`.
    fn string(&mut self, raw: bool) -> Result<String, PyLitError> {
        let quote = self.s[self.pos];
        self.pos += 1;
        let mut out = String::new();
        loop {
            // Copy the run of ordinary characters in one go (keeps multi-byte UTF-8 intact).
            let run = self.pos;
            while self.peek().is_some_and(|c| c != quote && c != b'\\' && c != b'\n') {
                self.pos += 1;
            }
            out.push_str(&self.text[run..self.pos]);
            match self.peek() {
                None | Some(b'\n') => return Err(self.error("unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => self.escape(raw, &mut out)?,
            }
        }
    }

    /// One backslash escape at `self.pos`, appended to `out`.
    fn escape(&mut self, raw: bool, out: &mut String) -> Result<(), PyLitError> {
        let at = self.pos;
        self.pos += 1; // the backslash
        let Some(c) = self.peek() else { return Err(self.error("unterminated string")) };
        if raw {
            // r'..': the backslash stays, and only protects the next character from ending the string.
            out.push('\\');
            let ch = self.text[self.pos..].chars().next().expect("peek saw a byte");
            out.push(ch);
            self.pos += ch.len_utf8();
            return Ok(());
        }
        self.pos += 1;
        let simple = match c {
            b'\\' => Some('\\'),
            b'\'' => Some('\''),
            b'"' => Some('"'),
            b'n' => Some('\n'),
            b't' => Some('\t'),
            b'r' => Some('\r'),
            b'a' => Some('\x07'),
            b'b' => Some('\x08'),
            b'f' => Some('\x0c'),
            b'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(ch) = simple {
            out.push(ch);
            return Ok(());
        }
        match c {
            b'\n' => {} // line continuation
            b'x' => out.push(self.hex_char(2, at)?),
            b'u' => out.push(self.hex_char(4, at)?),
            b'U' => out.push(self.hex_char(8, at)?),
            b'0'..=b'7' => {
                let mut code = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                out.push(char::from_u32(code).expect("octal escapes stay below U+0200"));
            }
            _ => {
                // Python keeps unknown escapes verbatim ("\d" is backslash + d).
                self.pos -= 1;
                out.push('\\');
            }
        }
        Ok(())
    }

    fn hex_char(&mut self, n: usize, at: usize) -> Result<char, PyLitError> {
        let digits = self.text.get(self.pos..self.pos + n).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return Err(PyLitError { offset: at, message: format!("escape needs {n} hex digits") });
        };
        self.pos += n;
        let code = u32::from_str_radix(digits, 16).expect("checked hex digits");
        char::from_u32(code)
            .ok_or_else(|| PyLitError { offset: at, message: format!("escape U+{code:X} is not a character") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> PyValue {
        PyValue::Str(text.to_string())
    }

    #[test]
    fn qa_dict_with_single_quotes() {
        let v = parse("{'questionType': 'yes/no', 'unixTime': 1403852400, 'answer': \"It's fine\"}").unwrap();
        assert_eq!(v.get("questionType"), Some(&s("yes/no")));
        assert_eq!(v.get("unixTime").and_then(PyValue::as_i64), Some(1403852400));
        assert_eq!(v.get("answer"), Some(&s("It's fine")));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn escapes_as_python_writes_them() {
        // repr("a'b\"c\\d\n\té") with both quote kinds inside -> single-quoted with \' escaped.
        assert_eq!(parse(r#"'a\'b"c\\d\n\t\xe9'"#).unwrap(), s("a'b\"c\\d\n\té"));
        assert_eq!(parse(r"'\u00e9\U0001F600\101'").unwrap(), s("é😀A"));
        assert_eq!(parse(r"'\d'").unwrap(), s("\\d")); // unknown escape kept
        assert_eq!(parse(r"r'\n'").unwrap(), s("\\n"));
        assert_eq!(parse("u'caf\u{e9}'").unwrap(), s("café")); // non-ASCII passes through
    }

    #[test]
    fn numbers_and_constants() {
        let v = parse("[1, -2, 3.5, 1e3, -0.25, True, False, None, (1,), []]").unwrap();
        assert_eq!(
            v,
            PyValue::List(vec![
                PyValue::Int(1),
                PyValue::Int(-2),
                PyValue::Float(3.5),
                PyValue::Float(1000.0),
                PyValue::Float(-0.25),
                PyValue::Bool(true),
                PyValue::Bool(false),
                PyValue::None,
                PyValue::Tuple(vec![PyValue::Int(1)]),
                PyValue::List(vec![]),
            ])
        );
    }

    #[test]
    fn list_of_titles_with_commas_and_quotes() {
        let v = parse(r#"['Tabs, 2", Clear', "Dad's pen", 'x']"#).unwrap();
        assert_eq!(v.as_seq().unwrap(), &[s("Tabs, 2\", Clear"), s("Dad's pen"), s("x")]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = r#"{'q': "Dad's \"pen\" caf\xe9 \u00e9 \U0001F600 \101 é", 'n': [-1.5e3, (2,), True, None], r'k\'': u'v'}"#;
        assert!(parse(full).is_ok());
        for (cut, _) in full.char_indices().skip(1) {
            assert!(parse(&full[..cut]).is_err(), "prefix of {cut} bytes parsed");
        }
    }

    #[test]
    fn malformed_literals_are_errors_with_offsets() {
        assert_eq!(parse("{'a': 1").unwrap_err().message, "expected ',' or '}'");
        assert_eq!(parse("'open").unwrap_err().message, "unterminated string");
        assert_eq!(parse("[1 2]").unwrap_err().offset, 3);
        assert_eq!(parse("{'a': null}").unwrap_err().message, "unknown name `null`");
        assert!(parse(r"'\x4'").is_err());
        assert!(parse(r"'\ud800'").is_err()); // lone surrogate
        assert!(parse("1 2").is_err());
        assert!(parse("").is_err());
        assert!(parse("{'a': 1,}").is_ok()); // trailing comma, as Python allows
    }
}
