//! SCIM filters (RFC 7644 §3.4.2.2): the full grammar — `eq ne co sw ew pr gt ge lt le`,
//! `and`/`or`/`not`, grouping, value paths such as `emails[type eq "work"]` — parsed into a
//! tree, printed back (parse → print → parse gives the same tree), and evaluated over a
//! resource's JSON. Entra's `emails[type eq "work"].value eq "x"` (not RFC grammar) is read as
//! `emails[type eq "work" and value eq "x"]`, which means the same. Errors say where.

use std::fmt;

use serde_json::Value;

/// How deep filters may nest (brackets, `not`, grouping): deeper input is refused rather than
/// risking the stack.
const MAX_DEPTH: usize = 32;

/// `[urn:]name[.sub]`, as written (attribute names are compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "co" => Self::Co,
            "sw" => Self::Sw,
            "ew" => Self::Ew,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A comparison's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, CompValue),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

/// A filter that cannot be parsed: what is wrong and at which character (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at character {at}")]
pub struct FilterError {
    pub at: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// `.` right after `]` (Entra's `emails[…].value`).
    Dot,
}

fn err(at: usize, message: impl Into<String>) -> FilterError {
    FilterError {
        at,
        message: message.into(),
    }
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push((at, Tok::LParen));
                i += 1;
            }
            ')' => {
                out.push((at, Tok::RParen));
                i += 1;
            }
            '[' => {
                out.push((at, Tok::LBracket));
                i += 1;
            }
            ']' => {
                out.push((at, Tok::RBracket));
                i += 1;
            }
            '.' if matches!(out.last(), Some((_, Tok::RBracket))) => {
                out.push((at, Tok::Dot));
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&(_, c)) = chars.get(i) else {
                        return Err(err(at, "a string is not closed"));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let Some(&(eat, e)) = chars.get(i) else {
                                return Err(err(at, "a string is not closed"));
                            };
                            i += 1;
                            match e {
                                '"' | '\\' | '/' => s.push(e),
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'u' => {
                                    let hex: String =
                                        chars.iter().skip(i).take(4).map(|(_, c)| *c).collect();
                                    let code = u32::from_str_radix(&hex, 16)
                                        .ok()
                                        .filter(|_| hex.len() == 4)
                                        .and_then(char::from_u32)
                                        .ok_or_else(|| {
                                            err(eat, "a \\u escape needs four hex digits")
                                        })?;
                                    s.push(code);
                                    i += 4;
                                }
                                _ => return Err(err(eat, format!("unknown escape \\{e}"))),
                            }
                        }
                        c => s.push(c),
                    }
                }
                out.push((at, Tok::Str(s)));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                while i < chars.len()
                    && (chars[i].1.is_ascii_digit() || "+-.eE".contains(chars[i].1))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| err(at, format!("{text} is not a number")))?;
                if !n.is_finite() {
                    return Err(err(at, format!("{text} is not a number")));
                }
                out.push((at, Tok::Num(n)));
            }
            c if c.is_ascii_alphabetic() || c == '$' || c == '_' => {
                let start = i;
                // A word: an attribute path (with its URN, dots and colons) or a keyword.
                while i < chars.len()
                    && (chars[i].1.is_ascii_alphanumeric() || "$_-:.".contains(chars[i].1))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|(_, c)| *c).collect();
                out.push((at, Tok::Word(text)));
            }
            c => return Err(err(at, format!("unexpected {c:?}"))),
        }
    }
    Ok(out)
}

/// Splits `[urn:]name[.sub]`; a URN is everything up to the last `:` (its version has dots).
pub fn parse_attr_path(text: &str, at: usize) -> Result<AttrPath, FilterError> {
    let (urn, rest) = match text.rfind(':') {
        Some(i) if text[..i].to_ascii_lowercase().starts_with("urn:") => {
            (Some(text[..i].to_string()), &text[i + 1..])
        }
        Some(_) => return Err(err(at, format!("{text} is not an attribute path"))),
        None => (None, text),
    };
    let mut parts = rest.split('.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
    };
    if !ok(name) || sub.is_some_and(|s| !ok(s)) || parts.next().is_some() {
        return Err(err(at, format!("{text} is not an attribute path")));
    }
    Ok(AttrPath {
        urn,
        name: name.to_string(),
        sub: sub.map(str::to_string),
    })
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn deeper(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(err(self.at(), "the filter nests too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") && matches!(self.toks.get(self.pos + 1), Some((_, Tok::LParen))) {
            self.pos += 1;
            self.deeper()?;
            let inner = self.group()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if matches!(self.peek(), Some(Tok::LParen)) {
            self.deeper()?;
            let inner = self.group()?;
            self.depth -= 1;
            return Ok(inner);
        }
        self.attr_exp()
    }

    fn group(&mut self) -> Result<Filter, FilterError> {
        let open = self.at();
        self.pos += 1; // (
        let inner = self.or()?;
        match self.peek() {
            Some(Tok::RParen) => {
                self.pos += 1;
                Ok(inner)
            }
            _ => Err(err(
                self.at(),
                format!("expected ')' to close the '(' at character {open}"),
            )),
        }
    }

    fn attr_exp(&mut self) -> Result<Filter, FilterError> {
        let at = self.at();
        let path = match self.peek() {
            Some(Tok::Word(w)) => {
                let p = parse_attr_path(w, at)?;
                self.pos += 1;
                p
            }
            Some(_) => return Err(err(at, "expected an attribute name")),
            None => {
                return Err(err(
                    at,
                    "the filter ends where an attribute name was expected",
                ));
            }
        };
        if matches!(self.peek(), Some(Tok::LBracket)) {
            if path.sub.is_some() {
                return Err(err(
                    at,
                    "a value filter follows an attribute, not a sub-attribute",
                ));
            }
            let open = self.at();
            self.pos += 1;
            self.deeper()?;
            let inner = self.or()?;
            self.depth -= 1;
            if !matches!(self.peek(), Some(Tok::RBracket)) {
                return Err(err(
                    self.at(),
                    format!("expected ']' to close the '[' at character {open}"),
                ));
            }
            self.pos += 1;
            // Entra: `emails[type eq "work"].value eq "x"`.
            if matches!(self.peek(), Some(Tok::Dot)) {
                self.pos += 1;
                let sat = self.at();
                let sub = match self.peek() {
                    Some(Tok::Word(w)) if !w.contains(':') && !w.contains('.') => w.clone(),
                    _ => return Err(err(sat, "expected a sub-attribute after ']'.")),
                };
                self.pos += 1;
                let tail = self.comparison(AttrPath {
                    urn: None,
                    name: sub,
                    sub: None,
                })?;
                return Ok(Filter::ValuePath(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(tail))),
                ));
            }
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let at = self.at();
        let op = match self.peek() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                return Ok(Filter::Present(path));
            }
            Some(Tok::Word(w)) => CompareOp::parse(w).ok_or_else(|| {
                err(
                    at,
                    format!("{w} is not an operator (eq ne co sw ew gt ge lt le pr)"),
                )
            })?,
            _ => {
                return Err(err(
                    at,
                    "expected an operator (eq ne co sw ew gt ge lt le pr)",
                ));
            }
        };
        self.pos += 1;
        let vat = self.at();
        let value = match self.peek() {
            Some(Tok::Str(s)) => CompValue::Str(s.clone()),
            Some(Tok::Num(n)) => CompValue::Number(*n),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            Some(Tok::Word(w)) => {
                return Err(err(
                    vat,
                    format!("{w} is not a value: strings are in double quotes"),
                ));
            }
            _ => return Err(err(vat, "expected a value after the operator")),
        };
        self.pos += 1;
        Ok(Filter::Compare(path, op, value))
    }
}

/// Parses a filter.
pub fn parse(input: &str) -> Result<Filter, FilterError> {
    let toks = lex(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end: input.len(),
        depth: 0,
    };
    let f = p.or()?;
    if p.pos < p.toks.len() {
        return Err(err(p.at(), "unexpected text after the filter"));
    }
    Ok(f)
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.urn {
            write!(f, "{u}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Number(n) => write!(f, "{n:?}"),
            Self::Str(s) => f.write_str(&Value::String(s.clone()).to_string()),
        }
    }
}

impl fmt::Display for Filter {
    /// Prints fully parenthesised where precedence needs it, so that printing and parsing
    /// again gives the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Self::Present(p) => write!(f, "{p} pr"),
            Self::And(a, b) => {
                let side = |x: &Filter, f: &mut fmt::Formatter<'_>, right: bool| match x {
                    Filter::Or(..) => write!(f, "({x})"),
                    Filter::And(..) if right => write!(f, "({x})"),
                    _ => write!(f, "{x}"),
                };
                side(a, f, false)?;
                f.write_str(" and ")?;
                side(b, f, true)
            }
            Self::Or(a, b) => {
                write!(f, "{a} or ")?;
                match **b {
                    Filter::Or(..) => write!(f, "({b})"),
                    _ => write!(f, "{b}"),
                }
            }
            Self::Not(x) => write!(f, "not ({x})"),
            Self::ValuePath(p, x) => write!(f, "{p}[{x}]"),
        }
    }
}

/// The core schemas' URNs: an attribute named with one of them is a core attribute.
const CORE_URNS: [&str; 2] = [
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
];

/// Attributes compared exactly (RFC 7643: `caseExact` true); every other string is compared
/// without regard to case.
fn case_exact(name: &str) -> bool {
    name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("externalId")
}

/// `obj[key]`, the key matched without regard to case.
pub fn get_ci<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The attribute's container: the resource, or its extension object for a URN.
fn container<'a>(res: &'a Value, urn: Option<&str>) -> Option<&'a Value> {
    match urn {
        None => Some(res),
        Some(u) if CORE_URNS.contains(&u.to_ascii_lowercase().as_str()) => Some(res),
        Some(u) => get_ci(res, u),
    }
}

/// The values a path names: several for a multi-valued attribute (for a multi-valued complex
/// attribute without a sub-attribute, each element's `value`).
fn values<'a>(res: &'a Value, p: &AttrPath) -> Vec<&'a Value> {
    let Some(v) = container(res, p.urn.as_deref()).and_then(|c| get_ci(c, &p.name)) else {
        return Vec::new();
    };
    match (v, &p.sub) {
        (Value::Array(a), Some(s)) => a.iter().filter_map(|x| get_ci(x, s)).collect(),
        (Value::Array(a), None) => a
            .iter()
            .filter_map(|x| match x {
                Value::Object(_) => get_ci(x, "value"),
                x => Some(x),
            })
            .collect(),
        (v, Some(s)) => get_ci(v, s).into_iter().collect(),
        (v, None) => vec![v],
    }
}

fn compare(have: &Value, op: CompareOp, want: &CompValue, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (have, want) {
        (Value::String(h), CompValue::Str(w)) => {
            let (h, w) = if exact {
                (h.clone(), w.clone())
            } else {
                (h.to_lowercase(), w.to_lowercase())
            };
            match op {
                CompareOp::Co => return h.contains(&w),
                CompareOp::Sw => return h.starts_with(&w),
                CompareOp::Ew => return h.ends_with(&w),
                _ => Some(h.cmp(&w)),
            }
        }
        (Value::Number(h), CompValue::Number(w)) => h.as_f64().and_then(|h| h.partial_cmp(w)),
        (Value::Bool(h), CompValue::Bool(w)) => {
            return match op {
                CompareOp::Eq => h == w,
                CompareOp::Ne => h != w,
                _ => false,
            };
        }
        _ => None,
    };
    let Some(ord) = ord else {
        return op == CompareOp::Ne;
    };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

impl Filter {
    /// Whether the resource (its JSON as served) matches.
    pub fn matches(&self, res: &Value) -> bool {
        match self {
            Self::Compare(p, op, want) => {
                let have = values(res, p);
                let exact = p.sub.is_none() && case_exact(&p.name);
                match (op, want) {
                    (CompareOp::Eq, CompValue::Null) => have.iter().all(|v| v.is_null()),
                    (CompareOp::Ne, CompValue::Null) => have.iter().any(|v| !v.is_null()),
                    (CompareOp::Ne, _) => {
                        !have.iter().any(|v| compare(v, CompareOp::Eq, want, exact))
                    }
                    _ => have.iter().any(|v| compare(v, *op, want, exact)),
                }
            }
            Self::Present(p) => values(res, p).into_iter().any(present),
            Self::And(a, b) => a.matches(res) && b.matches(res),
            Self::Or(a, b) => a.matches(res) || b.matches(res),
            Self::Not(x) => !x.matches(res),
            Self::ValuePath(p, x) => {
                let Some(v) = container(res, p.urn.as_deref()).and_then(|c| get_ci(c, &p.name))
                else {
                    return false;
                };
                match v {
                    Value::Array(a) => a.iter().any(|e| x.matches(e)),
                    e => x.matches(e),
                }
            }
        }
    }

    /// `attr eq "value"` on a top-level attribute: what an index can answer (Okta's and Entra's
    /// lookups by `userName`, `externalId`, `displayName`).
    pub fn simple_eq(&self) -> Option<(&str, &str)> {
        match self {
            Self::Compare(p, CompareOp::Eq, CompValue::Str(v)) if p.sub.is_none() => {
                let core = p
                    .urn
                    .as_deref()
                    .is_none_or(|u| CORE_URNS.contains(&u.to_ascii_lowercase().as_str()));
                core.then_some((p.name.as_str(), v.as_str()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "2819c223", "userName": "Bjensen@Example.com", "active": true,
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "meta": {"lastModified": "2011-05-13T04:42:34Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Tour"}
        })
    }

    #[test]
    fn the_rfc_examples_parse_and_match() {
        let u = user();
        for (f, want) in [
            (r#"userName eq "bjensen@example.com""#, true),
            (r#"USERNAME Eq "BJENSEN@example.com""#, true),
            (r#"name.familyName co "ens""#, true),
            (r#"userName sw "bj""#, true),
            (r#"userName ew ".org""#, false),
            ("title pr", false),
            ("name pr", true),
            (r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, false),
            (r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, true),
            (r#"meta.lastModified lt "2012-01-01T00:00:00Z""#, true),
            (r#"title pr and userType eq "Employee""#, false),
            (r#"title pr or name.givenName eq "barbara""#, true),
            (
                r#"emails[type eq "work" and value co "@example.com"]"#,
                true,
            ),
            (
                r#"emails[type eq "home" and value co "@example.com"]"#,
                false,
            ),
            (r#"emails co "jensen.org""#, true),
            (r#"not (active eq false)"#, true),
            (r#"id eq "2819C223""#, false),
            (r#"userName ne "x" and (active eq true or title pr)"#, true),
            (
                r#"emails[type eq "work"].value eq "BJENSEN@example.com""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour""#,
                true,
            ),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "BJ""#,
                true,
            ),
            ("title eq null", true),
        ] {
            let parsed = parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(parsed.matches(&u), want, "{f}");
            let again = parse(&parsed.to_string()).unwrap();
            assert_eq!(again, parsed, "{f} printed as {parsed}");
        }
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let f = parse(r#"a eq 1 or b eq 2 and c eq 3"#).unwrap();
        assert!(matches!(f, Filter::Or(_, ref r) if matches!(**r, Filter::And(..))));
        assert_eq!(f.to_string(), "a eq 1.0 or b eq 2.0 and c eq 3.0");
    }

    #[test]
    fn bad_filters_say_where() {
        for (f, at) in [
            (r#"userName eq bjensen"#, 12),
            (r#"userName xx "a""#, 9),
            (r#"(userName eq "a""#, 16),
            (r#"emails[type eq "work""#, 21),
            (r#"userName eq "a" junk"#, 16),
            (r#"userName eq "a"#, 12),
            ("", 0),
        ] {
            let e = parse(f).unwrap_err();
            assert_eq!(e.at, at, "{f}: {e}");
        }
        let deep = "(".repeat(100) + "a pr" + &")".repeat(100);
        assert!(
            parse(&deep)
                .unwrap_err()
                .message
                .contains("nests too deeply")
        );
    }
}
