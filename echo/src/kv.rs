//! One-line `TAG key=value ...` records: how the processes of a
//! multi-process echo run (stackd, server, client) hand their figures to
//! the parent over stdout, without a serialization crate.

use std::fmt::Write as _;

/// A record being written: `TAG k=v k=v`, values escaped so a line stays
/// one line and a space stays inside its value.
#[derive(Debug, Clone)]
pub struct KvLine {
    line: String,
}

impl KvLine {
    /// A record tagged `tag` (no spaces).
    pub fn new(tag: &str) -> Self {
        KvLine {
            line: tag.to_string(),
        }
    }

    /// Adds `key=value`.
    pub fn put(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let v = value.to_string();
        let _ = write!(self.line, " {key}=");
        for c in v.chars() {
            match c {
                '%' => self.line.push_str("%25"),
                ' ' => self.line.push_str("%20"),
                '\n' => self.line.push_str("%0A"),
                '\r' => self.line.push_str("%0D"),
                c => self.line.push(c),
            }
        }
        self
    }

    /// The line (without a newline).
    pub fn as_str(&self) -> &str {
        &self.line
    }
}

/// A record read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvRecord {
    /// `(key, value)` in order, values unescaped.
    pub fields: Vec<(String, String)>,
}

impl KvRecord {
    /// Parses `line` if it is a `tag` record.
    pub fn parse(tag: &str, line: &str) -> Option<KvRecord> {
        let rest = line.trim_end().strip_prefix(tag)?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let fields = rest
            .split(' ')
            .filter(|f| !f.is_empty())
            .filter_map(|f| {
                let (k, v) = f.split_once('=')?;
                Some((k.to_string(), unescape(v)))
            })
            .collect();
        Some(KvRecord { fields })
    }

    /// Finds a `tag` record anywhere in `line` after a space (a test
    /// harness may print its own text first on the same line).
    pub fn find(tag: &str, line: &str) -> Option<KvRecord> {
        line.match_indices(tag)
            .filter(|&(i, _)| i == 0 || line.as_bytes()[i - 1] == b' ')
            .find_map(|(i, _)| KvRecord::parse(tag, &line[i..]))
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` as a number (0 when absent or not a number).
    pub fn num(&self, key: &str) -> u64 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The value of `key` as a float.
    pub fn float(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        match code.and_then(|c| u8::from_str_radix(c, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_other_tags_are_not_theirs() {
        let mut l = KvLine::new("STATS");
        l.put("n", 42).put("err", "a b%c\nd").put("x", 1.5);
        let r = KvRecord::parse("STATS", l.as_str()).unwrap();
        assert_eq!(r.num("n"), 42);
        assert_eq!(r.get("err"), Some("a b%c\nd"));
        assert_eq!(r.float("x"), Some(1.5));
        assert_eq!(r.num("missing"), 0);
        assert!(KvRecord::parse("STATSX", l.as_str()).is_none());
        assert!(KvRecord::parse("STAT", l.as_str()).is_none());
        assert_eq!(KvRecord::parse("READY", "READY").unwrap().fields.len(), 0);
        assert_eq!(unescape("100%"), "100%");
        let r = KvRecord::find("READY", "test x ... READY port=7").unwrap();
        assert_eq!(r.num("port"), 7);
        assert!(KvRecord::find("READY", "test x ... NOTREADY").is_none());
    }
}
