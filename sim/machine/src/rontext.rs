//! The text of the twin's RON files (board, scenario, sweep, whole run) beyond what `ron` reads
//! from it: numbers `ron` accepts that the twin does not (`NaN`, `inf`, a literal that overflows
//! to infinity), found with their line and column, and the place of a field named by its path
//! (`gates[2].below`), so that a value which parses but is out of range is reported where it is
//! written.
//!
//! The scanner knows RON's lexical shape (RON 0.8's grammar, `ron`'s `docs/grammar.md`):
//! `//` and nested `/* */` comments, strings with escapes, raw strings `r#"..."#`, character
//! literals, identifiers, numbers and the punctuation `( ) [ ] { } , :`. It never fails: text
//! `ron` rejects is `ron`'s to report, and a path it cannot follow is simply not located.

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Ident,
    Number,
    Literal,
    Punct(char),
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    line: usize,
    column: usize,
}

/// Where the scanner is: byte offset, 1-based line and column (in characters, as `ron` counts).
struct Cursor<'a> {
    text: &'a str,
    at: usize,
    line: usize,
    column: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.at..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn bump_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.bump();
        }
    }

    /// Past a `/* */` comment (they nest in RON), the cursor on its `/*`.
    fn block_comment(&mut self) {
        let mut depth = 0;
        while let Some(c) = self.bump() {
            match (c, self.peek()) {
                ('/', Some('*')) => {
                    self.bump();
                    depth += 1;
                }
                ('*', Some('/')) => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// Past a quoted string or character literal, the cursor on its opening quote.
    fn quoted(&mut self, quote: char) {
        self.bump();
        while let Some(c) = self.bump() {
            if c == '\\' {
                self.bump();
            } else if c == quote {
                return;
            }
        }
    }

    /// Past a raw string `r##"..."##`, the cursor on its `r`.
    fn raw_string(&mut self) {
        self.bump();
        let mut hashes = 0;
        while self.peek() == Some('#') {
            self.bump();
            hashes += 1;
        }
        self.bump(); // the opening quote
        let close = format!("\"{}", "#".repeat(hashes));
        while self.at < self.text.len() {
            if self.text[self.at..].starts_with(&close) {
                for _ in 0..close.len() {
                    self.bump();
                }
                return;
            }
            self.bump();
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut c = Cursor {
        text,
        at: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    while let Some(ch) = c.peek() {
        let (start, line, column) = (c.at, c.line, c.column);
        let kind = match ch {
            _ if ch.is_whitespace() => {
                c.bump();
                continue;
            }
            '/' if c.peek2() == Some('/') => {
                c.bump_while(|x| x != '\n');
                continue;
            }
            '/' if c.peek2() == Some('*') => {
                c.block_comment();
                continue;
            }
            '"' | '\'' => {
                c.quoted(ch);
                Kind::Literal
            }
            'r' if matches!(c.peek2(), Some('#' | '"')) => {
                c.raw_string();
                Kind::Literal
            }
            _ if is_ident_start(ch) => {
                c.bump_while(is_ident);
                Kind::Ident
            }
            '0'..='9' | '.' | '+' | '-'
                if ch.is_ascii_digit()
                    || c.peek2().is_some_and(|d| d.is_ascii_digit() || d == '.') =>
            {
                c.bump();
                let mut prev = ch;
                while let Some(x) = c.peek() {
                    let exponent_sign = matches!(x, '+' | '-') && matches!(prev, 'e' | 'E');
                    if !(is_ident(x) || x == '.' || exponent_sign) {
                        break;
                    }
                    prev = x;
                    c.bump();
                }
                Kind::Number
            }
            _ => {
                c.bump();
                Kind::Punct(ch)
            }
        };
        out.push(Token {
            kind,
            text: &text[start..c.at],
            line,
            column,
        });
    }
    out
}

/// Reject the numbers `ron` reads but the twin cannot use: `NaN`, `inf` (signed or not) and
/// decimal literals too large for an `f64`, naming the first with its line and column.
pub fn check_numbers(text: &str, file: &str) -> Result<(), Error> {
    let toks = tokens(text);
    for (i, t) in toks.iter().enumerate() {
        let next = toks.get(i + 1).map(|n| n.kind);
        let bad = match t.kind {
            // A field or variant called `inf` would be followed by `:` or `(`.
            Kind::Ident
                if matches!(t.text, "NaN" | "inf")
                    && !matches!(next, Some(Kind::Punct(':' | '('))) =>
            {
                true
            }
            Kind::Number => {
                let digits = t.text.trim_start_matches(['+', '-']).replace('_', "");
                let word = matches!(digits.as_str(), "inf" | "NaN");
                let decimal = !digits.starts_with("0x")
                    && !digits.starts_with("0b")
                    && !digits.starts_with("0o");
                word || (decimal && digits.parse::<f64>().is_ok_and(|x| !x.is_finite()))
            }
            _ => false,
        };
        if bad {
            // `-inf` is scanned as a `-` and an identifier: report the sign's place.
            let at = match toks.get(i.wrapping_sub(1)) {
                Some(p) if t.kind == Kind::Ident && matches!(p.kind, Kind::Punct('-' | '+')) => p,
                _ => t,
            };
            return Err(Error::Ron {
                file: file.to_string(),
                line: at.line,
                column: at.column,
                message: format!(
                    "`{}` is not a finite number: every number in this file must be finite",
                    t.text
                ),
            });
        }
    }
    Ok(())
}

/// One step of a field path: a named field or an element of a list or tuple.
#[derive(Debug, PartialEq)]
enum Step<'p> {
    Field(&'p str),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(k) => (&part[..k], &part[k..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            steps.push(Step::Field(name));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            steps.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end + 1..];
        }
    }
    Some(steps)
}

/// The index just past the value starting at token `i`.
fn value_end(toks: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(t) = toks.get(i) {
        match t.kind {
            Kind::Punct('(' | '[' | '{') => depth += 1,
            Kind::Punct(')' | ']' | '}') => {
                if depth == 0 {
                    return i;
                }
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            Kind::Punct(',') if depth == 0 => return i,
            // A scalar (a name followed by its parenthesised body goes on to the body).
            _ if depth == 0
                && !matches!(toks.get(i + 1).map(|n| n.kind), Some(Kind::Punct('('))) =>
            {
                return i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The token where the value at `path` starts, within the value starting at token `i`.
fn find(toks: &[Token], i: usize, path: &[Step]) -> Option<usize> {
    let Some(step) = path.first() else {
        return Some(i);
    };
    let mut j = i;
    let named = toks.get(j)?.kind == Kind::Ident;
    if named {
        j += 1;
    }
    let open = match toks.get(j)?.kind {
        Kind::Punct(c @ ('(' | '[' | '{')) => c,
        _ => return None,
    };
    // `Some(x)`: the path goes on inside x.
    if named && toks[i].text == "Some" && open == '(' {
        return find(toks, j + 1, path);
    }
    let mut k = j + 1;
    let mut index = 0;
    loop {
        match toks.get(k)?.kind {
            Kind::Punct(')' | ']' | '}') => return None,
            Kind::Ident
                if open == '('
                    && matches!(toks.get(k + 1).map(|t| t.kind), Some(Kind::Punct(':'))) =>
            {
                let value = k + 2;
                if *step == Step::Field(toks[k].text) {
                    return find(toks, value, &path[1..]);
                }
                k = value_end(toks, value);
            }
            _ => {
                if *step == Step::Index(index) {
                    return find(toks, k, &path[1..]);
                }
                k = value_end(toks, k);
                // A map entry: key, `:`, value.
                if toks.get(k).map(|t| t.kind) == Some(Kind::Punct(':')) {
                    k = value_end(toks, k + 1);
                }
            }
        }
        index += 1;
        if toks.get(k).map(|t| t.kind) == Some(Kind::Punct(',')) {
            k += 1;
        }
    }
}

/// Line and column of the value at `path` (fields by name, elements by index:
/// `gates[2].below`, `initial.attitude[0]`), when the file writes it.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let steps = parse_path(path)?;
    let toks = tokens(text);
    let at = find(&toks, 0, &steps)?;
    toks.get(at).map(|t| (t.line, t.column))
}

/// The name the value at `path` starts with (a struct's, a variant's, a bare identifier), with
/// its line and column; None when the value is not written or starts otherwise.
pub fn name_at(text: &str, path: &str) -> Option<(String, usize, usize)> {
    let steps = parse_path(path)?;
    let toks = tokens(text);
    let t = toks.get(find(&toks, 0, &steps)?)?;
    (t.kind == Kind::Ident).then(|| (t.text.to_string(), t.line, t.column))
}

/// An out-of-range value of `file`: at its line and column when `path` is written in `text`,
/// else naming the field.
pub fn invalid(text: &str, file: &str, path: &str, message: &str) -> Error {
    match locate(text, path) {
        Some((line, column)) => Error::Ron {
            file: file.to_string(),
            line,
            column,
            message: format!("{path}: {message}"),
        },
        None => Error::Image {
            file: file.to_string(),
            message: format!("{path}: {message}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r##"// a comment with NaN in it
Scenario(
    name: "inf NaN", /* nested /* NaN */ inf */
    dt: 0.002,
    initial: Initial(position: (0.0, 0.0, -5.0), attitude: (0.4, -1e3, 0.0)),
    gates: [
        Attitude(after: 2.0, below: 0.1),
        NoOverrun,
        Position(after: 6.0, until: Some(7.0), below: 0.6),
    ],
    tolerances: {"roll": 0.01, "pitch": 0.02},
    raw: r#"NaN"#,
)"##;

    #[test]
    fn finite_text_passes_and_each_non_finite_form_is_placed() {
        check_numbers(TEXT, "t.ron").unwrap();
        for (bad, line, column, token) in [
            ("dt: 0.002", 4, 9, "NaN"),
            ("dt: 0.002", 4, 9, "inf"),
            ("dt: 0.002", 4, 9, "-inf"),
            ("dt: 0.002", 4, 9, "+inf"),
            ("dt: 0.002", 4, 9, "1e999"),
            ("dt: 0.002", 4, 9, "-1.5e400"),
        ] {
            let text = TEXT.replace(bad, &format!("dt: {token}"));
            match check_numbers(&text, "t.ron") {
                Err(Error::Ron {
                    file,
                    line: l,
                    column: c,
                    message,
                }) => {
                    assert_eq!((file.as_str(), l, c), ("t.ron", line, column), "{token}");
                    assert!(message.contains("finite"), "{message}");
                }
                other => panic!("{token}: {other:?}"),
            }
        }
        // Large but finite, and integers in other bases, are numbers.
        check_numbers("(a: 1.7e308, b: 0xFFFF_FFFF, c: 1_000)", "t.ron").unwrap();
    }

    #[test]
    fn paths_locate_fields_elements_and_variants() {
        assert_eq!(locate(TEXT, "dt"), Some((4, 9)));
        assert_eq!(locate(TEXT, "initial.position[2]"), Some((5, 43)));
        assert_eq!(locate(TEXT, "initial.attitude[1]"), Some((5, 66)));
        assert_eq!(locate(TEXT, "gates[0].below"), Some((7, 37)));
        assert_eq!(locate(TEXT, "gates[1]"), Some((8, 9)));
        assert_eq!(locate(TEXT, "gates[2].until"), Some((9, 37)));
        assert_eq!(locate(TEXT, "gates[2].below"), Some((9, 55)));
        assert_eq!(locate(TEXT, "tolerances[1]"), Some((11, 32)));
        assert_eq!(locate(TEXT, "raw"), Some((12, 10)));
        assert_eq!(locate(TEXT, "gates[3]"), None);
        assert_eq!(name_at(TEXT, "initial"), Some(("Initial".into(), 5, 14)));
        assert_eq!(name_at(TEXT, "gates[1]"), Some(("NoOverrun".into(), 8, 9)));
        assert_eq!(name_at(TEXT, "dt"), None);
        assert_eq!(locate(TEXT, "wind.steady"), None);
        let e = invalid(TEXT, "t.ron", "gates[0].below", "must be positive").to_string();
        assert_eq!(e, "t.ron:7:37: gates[0].below: must be positive");
        let e = invalid(TEXT, "t.ron", "steps", "must be at least 1").to_string();
        assert_eq!(e, "t.ron: steps: must be at least 1");
    }

    #[test]
    fn never_fails_on_unterminated_or_odd_text() {
        for text in [
            "(a: \"open",
            "/* open",
            "r#\"open",
            "((((",
            "))",
            "a: [1,",
            "-",
            "'",
        ] {
            assert!(check_numbers(text, "t.ron").is_ok(), "{text}");
            assert_eq!(locate(text, "a[0].b"), None, "{text}");
        }
    }
}
