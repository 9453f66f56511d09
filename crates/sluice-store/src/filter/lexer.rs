//! The lexer of MLflow's filter strings:
//! words (`metrics.rmse`, or a quoted name after a prefix), quoted strings, numbers, comparators,
//! parentheses and commas.

use super::{Cmp, invalid};
use crate::Result;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Word(String),
    Str(String),
    /// A number and its text as written.
    Num(f64, String),
    Op(Cmp),
    LParen,
    RParen,
    Comma,
}

pub(crate) fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // Where a backticked word ended: `` `params`.model `` continues it into one identifier.
    let mut backticked_end = None;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if matches!(c, '\'' | '"' | '`') {
            let mut text = String::new();
            i += 1;
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(invalid(format!(
                        "Invalid filter '{s}': unterminated {c} quote"
                    )));
                };
                i += 1;
                if ch == c {
                    if chars.get(i) == Some(&c) {
                        text.push(c);
                        i += 1;
                        continue;
                    }
                    break;
                }
                text.push(ch);
            }
            // `tags.`my key`` and `tags."my key"`: a quoted name right after a prefix.
            match (c, out.last_mut()) {
                ('`' | '"', Some(Tok::Word(prefix))) if prefix.ends_with('.') => {
                    prefix.push_str(&text);
                }
                ('`', _) => {
                    out.push(Tok::Word(text));
                    backticked_end = Some(i);
                }
                _ => out.push(Tok::Str(text)),
            }
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if matches!(c, '=' | '!' | '<' | '>') {
            let next = chars.get(i + 1).copied();
            let (op, len) = match (c, next) {
                ('=', Some('=')) => (Cmp::Eq, 2),
                ('=', _) => (Cmp::Eq, 1),
                ('!', Some('=')) | ('<', Some('>')) => (Cmp::Ne, 2),
                ('<', Some('=')) => (Cmp::Le, 2),
                ('<', _) => (Cmp::Lt, 1),
                ('>', Some('=')) => (Cmp::Ge, 2),
                ('>', _) => (Cmp::Gt, 1),
                _ => return Err(invalid(format!("Invalid filter '{s}': unexpected '!'"))),
            };
            out.push(Tok::Op(op));
            i += len;
        } else if c.is_ascii_digit()
            || (matches!(c, '-' | '+' | '.') && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || matches!(chars[i], '.' | 'e' | 'E')
                    || (matches!(chars[i], '-' | '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let n = text
                .parse()
                .map_err(|_| invalid(format!("Invalid filter '{s}': bad number '{text}'")))?;
            out.push(Tok::Num(n, text));
        } else if c.is_alphanumeric() || matches!(c, '_' | '.') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '/' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match out.last_mut() {
                Some(Tok::Word(prefix)) if c == '.' && backticked_end == Some(start) => {
                    prefix.push_str(&word);
                }
                _ => out.push(Tok::Word(word)),
            }
        } else {
            return Err(invalid(format!("Invalid filter '{s}': unexpected '{c}'")));
        }
    }
    Ok(out)
}
