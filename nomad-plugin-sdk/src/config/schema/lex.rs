//! A tiny lexer for the two small HCL languages a schema carries: type
//! expressions (`list(map(string))`) and literal values (`{ a = [1, "x"] }`).

use crate::config::Error;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Punct(char),
}

pub(crate) fn lex(src: &str) -> Result<Vec<Tok>, Error> {
    let err = |m: String| Error::Schema(format!("{m} in {src:?}"));
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            '(' | ')' | '[' | ']' | '{' | '}' | '=' | ',' | ':' => {
                toks.push(Tok::Punct(c));
                i += 1;
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(err("unterminated string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        // `$${` and `%%{` are HCL's escapes for a literal `${` / `%{`.
                        '$' | '%' if chars.get(i) == Some(&c) && chars.get(i + 1) == Some(&'{') => {
                            s.push(c);
                            s.push('{');
                            i += 2;
                        }
                        '$' | '%' if chars.get(i) == Some(&'{') => {
                            return Err(
                                err("templates are not supported in schema literals".into()),
                            )
                        }
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Err(err("unterminated escape".into()));
                            };
                            i += 1;
                            match e {
                                'n' => s.push('\n'),
                                'r' => s.push('\r'),
                                't' => s.push('\t'),
                                '"' => s.push('"'),
                                '\\' => s.push('\\'),
                                'u' | 'U' => {
                                    let n = if e == 'u' { 4 } else { 8 };
                                    let hex: String = chars.iter().skip(i).take(n).collect();
                                    i += n;
                                    let ch = u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .and_then(char::from_u32)
                                        .ok_or_else(|| err(format!("invalid escape \\{e}{hex}")))?;
                                    s.push(ch);
                                }
                                other => return Err(err(format!("invalid escape \\{other}"))),
                            }
                        }
                        c => s.push(c),
                    }
                }
                toks.push(Tok::Str(s));
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() {
                    let d = chars[i];
                    let exp_sign = (d == '+' || d == '-') && matches!(chars[i - 1], 'e' | 'E');
                    if d.is_ascii_digit() || d == '.' || d == 'e' || d == 'E' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                toks.push(Tok::Num(chars[start..i].iter().collect()));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-')
                {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(err(format!("unexpected character {other:?}"))),
        }
    }
    Ok(toks)
}

/// A cursor over tokens with the helpers both parsers need.
pub(crate) struct Cursor<'a> {
    toks: &'a [Tok],
    pos: usize,
    src: &'a str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(toks: &'a [Tok], src: &'a str) -> Self {
        Cursor { toks, pos: 0, src }
    }

    pub(crate) fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos)
    }

    pub(crate) fn next(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos);
        self.pos += 1;
        t
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, c: char) -> Result<(), Error> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {c:?}")))
        }
    }

    pub(crate) fn pos_back(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub(crate) fn error(&self, what: &str) -> Error {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some(Tok::Ident(s)) => format!("{s:?}"),
            Some(Tok::Str(s)) => format!("string {s:?}"),
            Some(Tok::Num(s)) => format!("number {s}"),
            Some(Tok::Punct(c)) => format!("{c:?}"),
        };
        Error::Schema(format!("{what}, found {found}, in {:?}", self.src))
    }
}
