//! A JSON Schema (draft-07) validator for the CycloneDX schemas in
//! `fixtures/cyclonedx/`, small enough to read: every keyword those schemas
//! apply is checked (`$ref` within and across the files, `type`, `enum`,
//! `const`, `required`, `properties`, `additionalProperties`, `items`,
//! `additionalItems`, `uniqueItems`, the size bounds, `oneOf`/`anyOf`/`allOf`/
//! `not`, and `pattern` through the regular-expression subset below).
//! `format` is an annotation, as draft-07 validators treat it by default.
//! A keyword it does not know, met on a value it checks, is an error: it
//! never passes a document by skipping a rule.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Keywords that only describe.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "examples",
    "default",
    "$comment",
    "$schema",
    "$id",
    "meta:enum",
    "format",
    "definitions",
];

/// A set of schema files, by file name, that refer to each other.
pub struct Schemas {
    files: BTreeMap<String, Value>,
}

impl Schemas {
    /// The files `names` of `dir`.
    pub fn load(dir: &std::path::Path, names: &[&str]) -> Self {
        let files = names
            .iter()
            .map(|n| {
                let text = std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("schema {n}: {e}"));
                (n.to_string(), serde_json::from_slice(&text).unwrap())
            })
            .collect();
        Schemas { files }
    }

    /// Checks `value` against the file `file`; the first problem.
    pub fn validate(&self, file: &str, value: &Value) -> Result<(), String> {
        let root = self.files.get(file).ok_or(format!("no schema {file}"))?;
        self.check(file, root, value, "$")
    }

    fn check(&self, file: &str, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let obj = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
            Value::Object(o) => o,
            _ => return Err(format!("{at}: a schema that is not an object")),
        };
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            // draft-07: the other keywords beside $ref are ignored
            let (target_file, pointer) = r.split_once('#').unwrap_or((r, ""));
            let target_file = if target_file.is_empty() { file } else { target_file };
            let doc = self.files.get(target_file).ok_or(format!("{at}: $ref to unknown file {r}"))?;
            let target = doc.pointer(pointer).ok_or(format!("{at}: $ref {r} points at nothing"))?;
            return self.check(target_file, target, v, at);
        }
        for (k, s) in obj {
            let k = k.as_str();
            if ANNOTATIONS.contains(&k) {
                continue;
            }
            match k {
                "type" => check_type(s, v, at)?,
                "enum" if !s.as_array().is_some_and(|a| a.contains(v)) => {
                    return Err(format!("{at}: {v} is not one of the enum"))
                }
                "const" if s != v => return Err(format!("{at}: {v} is not {s}")),
                "enum" | "const" => {}
                "required" => {
                    if let Value::Object(o) = v {
                        for r in s.as_array().into_iter().flatten().filter_map(Value::as_str) {
                            if !o.contains_key(r) {
                                return Err(format!("{at}: `{r}` is missing"));
                            }
                        }
                    }
                }
                "properties" | "additionalProperties" => self.check_properties(file, obj, v, at, k)?,
                "items" | "additionalItems" => self.check_items(file, obj, v, at, k)?,
                "uniqueItems" => {
                    if let (Some(true), Value::Array(a)) = (s.as_bool(), v) {
                        let seen: BTreeSet<String> = a.iter().map(Value::to_string).collect();
                        if seen.len() != a.len() {
                            return Err(format!("{at}: items are not unique"));
                        }
                    }
                }
                "minItems" | "maxItems" | "minLength" | "maxLength" | "minimum" | "maximum" => bound(k, s, v, at)?,
                "oneOf" | "anyOf" | "allOf" => {
                    let subs = s.as_array().ok_or(format!("{at}: {k} is not an array"))?;
                    let passed = subs.iter().filter(|sub| self.check(file, sub, v, at).is_ok()).count();
                    let ok = match k {
                        "oneOf" => passed == 1,
                        "anyOf" => passed >= 1,
                        _ => passed == subs.len(),
                    };
                    if !ok {
                        return Err(format!("{at}: {passed} of {} schemas of {k} match {v}", subs.len()));
                    }
                }
                "not" if self.check(file, s, v, at).is_ok() => return Err(format!("{at}: matches a `not` schema")),
                "not" => {}
                "pattern" => {
                    if let (Some(p), Value::String(text)) = (s.as_str(), v) {
                        if !Regex::parse(p)?.is_match(text) {
                            return Err(format!("{at}: {text:?} does not match {p}"));
                        }
                    }
                }
                other => return Err(format!("{at}: the validator does not know keyword `{other}`")),
            }
        }
        Ok(())
    }

    fn check_properties(
        &self,
        file: &str,
        schema: &serde_json::Map<String, Value>,
        v: &Value,
        at: &str,
        k: &str,
    ) -> Result<(), String> {
        let Value::Object(o) = v else { return Ok(()) };
        let props = schema.get("properties").and_then(Value::as_object);
        for (name, value) in o {
            let here = format!("{at}.{name}");
            match (k, props.and_then(|p| p.get(name))) {
                ("properties", Some(s)) => self.check(file, s, value, &here)?,
                ("additionalProperties", None) => self.check(file, &schema["additionalProperties"], value, &here)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn check_items(
        &self,
        file: &str,
        schema: &serde_json::Map<String, Value>,
        v: &Value,
        at: &str,
        k: &str,
    ) -> Result<(), String> {
        let Value::Array(a) = v else { return Ok(()) };
        match (k, schema.get("items")) {
            ("items", Some(Value::Array(tuple))) => {
                for (i, (s, x)) in tuple.iter().zip(a).enumerate() {
                    self.check(file, s, x, &format!("{at}[{i}]"))?;
                }
            }
            ("items", Some(s)) => {
                for (i, x) in a.iter().enumerate() {
                    self.check(file, s, x, &format!("{at}[{i}]"))?;
                }
            }
            // additionalItems applies past a tuple of `items` only
            ("additionalItems", Some(Value::Array(tuple))) => {
                for (i, x) in a.iter().enumerate().skip(tuple.len()) {
                    self.check(file, &schema["additionalItems"], x, &format!("{at}[{i}]"))?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn check_type(s: &Value, v: &Value, at: &str) -> Result<(), String> {
    let types: Vec<&str> = match s {
        Value::String(t) => vec![t.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err(format!("{at}: a `type` that is neither a string nor a list")),
    };
    let is = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    };
    if types.iter().any(|t| is(t)) {
        Ok(())
    } else {
        Err(format!("{at}: {v} is not of type {types:?}"))
    }
}

fn bound(k: &str, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    let limit = s.as_f64().ok_or(format!("{at}: {k} is not a number"))?;
    let size = match (k, v) {
        ("minItems" | "maxItems", Value::Array(a)) => a.len() as f64,
        ("minLength" | "maxLength", Value::String(t)) => t.chars().count() as f64,
        ("minimum" | "maximum", Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        _ => return Ok(()),
    };
    let ok = if k.starts_with("min") { size >= limit } else { size <= limit };
    if ok {
        Ok(())
    } else {
        Err(format!("{at}: {k} {limit} not met by {v}"))
    }
}

/// The regular expressions of the schemas: literals, `.`, classes
/// (`[a-f0-9]`, `[^…]`), groups with `|`, the quantifiers `?`, `*`, `+`,
/// `{n}`, `{n,}`, `{n,m}`, and the anchors `^` and `$`. Anything else is an
/// error. Matching is a search, as JSON Schema's `pattern` is.
#[derive(Debug)]
pub struct Regex(Vec<Vec<Piece>>);

#[derive(Debug)]
enum Atom {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Group(Regex),
    Start,
    End,
}

#[derive(Debug)]
struct Piece {
    atom: Atom,
    min: usize,
    max: Option<usize>,
}

impl Regex {
    /// Parses `p`; an error for what the subset lacks.
    pub fn parse(p: &str) -> Result<Regex, String> {
        let chars: Vec<char> = p.chars().collect();
        let (re, at) = Self::alternation(&chars, 0)?;
        if at != chars.len() {
            return Err(format!("pattern {p}: unexpected `{}`", chars[at]));
        }
        Ok(re)
    }

    fn alternation(c: &[char], mut at: usize) -> Result<(Regex, usize), String> {
        let mut branches = vec![Vec::new()];
        while at < c.len() && c[at] != ')' {
            let atom = match c[at] {
                '|' => {
                    branches.push(Vec::new());
                    at += 1;
                    continue;
                }
                '(' => {
                    let (inner, end) = Self::alternation(c, at + 1)?;
                    if c.get(end) != Some(&')') {
                        return Err("unclosed group".into());
                    }
                    at = end + 1;
                    Atom::Group(inner)
                }
                '[' => {
                    let negated = c.get(at + 1) == Some(&'^');
                    let mut i = at + 1 + usize::from(negated);
                    let mut ranges = Vec::new();
                    while i < c.len() && (c[i] != ']' || i == at + 1 + usize::from(negated)) {
                        if c[i] == '\\' {
                            return Err("escapes in classes are not supported".into());
                        }
                        if c.get(i + 1) == Some(&'-') && c.get(i + 2).is_some_and(|&e| e != ']') {
                            ranges.push((c[i], c[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((c[i], c[i]));
                            i += 1;
                        }
                    }
                    if i >= c.len() {
                        return Err("unclosed class".into());
                    }
                    at = i + 1;
                    Atom::Class(ranges, negated)
                }
                '.' => (at += 1, Atom::Any).1,
                '^' => (at += 1, Atom::Start).1,
                '$' => (at += 1, Atom::End).1,
                '\\' | '*' | '+' | '?' | '{' => return Err(format!("`{}` is not supported here", c[at])),
                ch => (at += 1, Atom::Char(ch)).1,
            };
            let (min, max) = match c.get(at) {
                Some('?') => (at += 1, (0, Some(1))).1,
                Some('*') => (at += 1, (0, None)).1,
                Some('+') => (at += 1, (1, None)).1,
                Some('{') => {
                    let end = c[at..].iter().position(|&x| x == '}').ok_or("unclosed {")? + at;
                    let body: String = c[at + 1..end].iter().collect();
                    at = end + 1;
                    let num = |s: &str| s.parse::<usize>().map_err(|_| format!("bad count {{{body}}}"));
                    match body.split_once(',') {
                        None => (num(&body)?, Some(num(&body)?)),
                        Some((lo, "")) => (num(lo)?, None),
                        Some((lo, hi)) => (num(lo)?, Some(num(hi)?)),
                    }
                }
                _ => (1, Some(1)),
            };
            branches.last_mut().unwrap().push(Piece { atom, min, max });
        }
        Ok((Regex(branches), at))
    }

    /// Whether `text` has a match.
    pub fn is_match(&self, text: &str) -> bool {
        let t: Vec<char> = text.chars().collect();
        (0..=t.len()).any(|start| !self.ends(&t, start).is_empty())
    }

    /// Every position a match from `pos` can end at.
    fn ends(&self, t: &[char], pos: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for branch in &self.0 {
            let mut here = BTreeSet::from([pos]);
            for piece in branch {
                here = piece.ends(t, &here);
            }
            out.extend(here);
        }
        out
    }
}

impl Piece {
    fn ends(&self, t: &[char], from: &BTreeSet<usize>) -> BTreeSet<usize> {
        let once = |positions: &BTreeSet<usize>| -> BTreeSet<usize> {
            positions.iter().flat_map(|&p| self.atom.ends(t, p)).collect()
        };
        let mut reached = if self.min == 0 { from.clone() } else { BTreeSet::new() };
        let mut frontier = from.clone();
        let mut n = 0;
        while !frontier.is_empty() && self.max.is_none_or(|m| n < m) {
            frontier = once(&frontier);
            n += 1;
            if n >= self.min {
                let before = reached.len();
                reached.extend(frontier.iter().copied());
                if self.max.is_none() && reached.len() == before {
                    break;
                }
            }
        }
        reached
    }
}

impl Atom {
    fn ends(&self, t: &[char], p: usize) -> BTreeSet<usize> {
        let one = |ok: bool| if ok { BTreeSet::from([p + 1]) } else { BTreeSet::new() };
        match self {
            Atom::Start => {
                if p == 0 {
                    BTreeSet::from([p])
                } else {
                    BTreeSet::new()
                }
            }
            Atom::End => {
                if p == t.len() {
                    BTreeSet::from([p])
                } else {
                    BTreeSet::new()
                }
            }
            _ if p >= t.len() => BTreeSet::new(),
            Atom::Char(c) => one(t[p] == *c),
            Atom::Any => one(t[p] != '\n'),
            Atom::Class(ranges, negated) => one(ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&t[p])) != *negated),
            Atom::Group(re) => re.ends(t, p),
        }
    }
}

#[test]
fn regex_subset() {
    let hash = Regex::parse("^([a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64})$").unwrap();
    assert!(hash.is_match(&"ab".repeat(32)));
    assert!(hash.is_match(&"AB".repeat(20)));
    assert!(!hash.is_match(&"ab".repeat(33)));
    assert!(!hash.is_match(&"g".repeat(64)));
    let lang = Regex::parse("^([a-z]{2})(-[A-Z]{2})?$").unwrap();
    assert!(lang.is_match("en") && lang.is_match("en-US"));
    assert!(!lang.is_match("en-us") && !lang.is_match("eng"));
    let urn = Regex::parse("^urn:cdx:[0-9a-f]{8}/[1-9][0-9]*#.+$").unwrap();
    assert!(urn.is_match("urn:cdx:0123abcd/10#x"));
    assert!(!urn.is_match("urn:cdx:0123abcd/01#x") && !urn.is_match("urn:cdx:0123abcd/1#"));
    let mime = Regex::parse("^[-+a-z0-9.]+/[-+a-z0-9.]+$").unwrap();
    assert!(mime.is_match("application/vnd.cyclonedx+json") && !mime.is_match("text"));
    // a search, not a full match, without anchors
    assert!(Regex::parse("b+").unwrap().is_match("abbc"));
    assert!(Regex::parse("a\\d").is_err() && Regex::parse("(a").is_err());
}
