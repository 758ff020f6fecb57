//! A rough Rust lexer: enough to find identifiers in code while skipping
//! comments, strings and char literals, so that a doc comment saying
//! "unsafe" or a string holding "loom" is not mistaken for code.

/// Identifiers (and keywords) of `src` with their 1-based line numbers,
/// outside comments and literals. Raw identifiers keep their `r#` off.
pub fn idents(src: &str) -> Vec<(usize, &str)> {
    spans(src)
        .into_iter()
        .map(|(line, _, w)| (line, w))
        .collect()
}

/// Like [`idents`], with each identifier's byte offset.
fn spans(src: &str) -> Vec<(usize, usize, &str)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        match b[i] {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in Rust.
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                }
            }
            b'"' => i = skip_string(b, i + 1, &mut line),
            b'\'' => i = skip_char_or_lifetime(src, i),
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                let word = &src[start..i];
                match (word, b.get(i)) {
                    // r"..." / r#"..."# / br"..." raw strings
                    ("r" | "br" | "cr", Some(b'"' | b'#')) if is_raw_string(b, i) => {
                        i = skip_raw_string(b, i, &mut line);
                    }
                    // b"..." / c"..." byte and C strings
                    ("b" | "c", Some(b'"')) => i = skip_string(b, i + 1, &mut line),
                    ("b", Some(b'\'')) => i = skip_char_or_lifetime(src, i),
                    // r#ident
                    ("r", Some(b'#')) => i += 1,
                    _ => out.push((line, start, word)),
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// Lines where identifier `word` occurs in code.
pub fn lines_with_ident(src: &str, word: &str) -> Vec<usize> {
    idents(src)
        .into_iter()
        .filter(|(_, w)| *w == word)
        .map(|(l, _)| l)
        .collect()
}

/// Is identifier `word` named inside a `cfg(...)` or `cfg_attr(...)`
/// predicate in code (`#[cfg(loom)]`, `#[cfg(all(test, not(loom)))]`,
/// `cfg!(loom)`)? A module or path that merely shares the name does not count.
pub fn cfg_mentions(src: &str, word: &str) -> bool {
    let spans = spans(src);
    let b = src.as_bytes();
    spans
        .iter()
        .filter(|(_, _, w)| *w == "cfg" || *w == "cfg_attr")
        .any(|&(_, at, w)| {
            let mut i = at + w.len();
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'!') {
                i += 1;
            }
            if b.get(i) != Some(&b'(') {
                return false;
            }
            let open = i;
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b'"' => {
                        let mut line = 0;
                        i = skip_string(b, i + 1, &mut line) - 1;
                    }
                    _ => {}
                }
                i += 1;
            }
            spans
                .iter()
                .any(|&(_, o, x)| x == word && o > open && o < i)
        })
}

/// Does `src` carry `#![forbid(unsafe_code)]` (any spacing)?
pub fn forbids_unsafe(src: &str) -> bool {
    let flat: String = strip_comments(src)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    flat.contains("#![forbid(unsafe_code)]")
}

/// Does the file start with inner doc comments (`//!` or `/*!`)?
pub fn has_crate_docs(src: &str) -> bool {
    src.lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with("//!") || l.starts_with("/*!"))
}

fn strip_comments(src: &str) -> String {
    src.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn skip_string(b: &[u8], mut i: usize, line: &mut usize) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if b.get(i + 1) == Some(&b'\n') {
                    *line += 1;
                }
                i += 2;
            }
            b'"' => return i + 1,
            b'\n' => {
                *line += 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

fn is_raw_string(b: &[u8], mut i: usize) -> bool {
    while b.get(i) == Some(&b'#') {
        i += 1;
    }
    b.get(i) == Some(&b'"')
}

fn skip_raw_string(b: &[u8], mut i: usize, line: &mut usize) -> usize {
    let mut hashes = 0;
    while b.get(i) == Some(&b'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // opening quote
    while i < b.len() {
        if b[i] == b'\n' {
            *line += 1;
        }
        if b[i] == b'"'
            && b[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        i += 1;
    }
    i
}

/// At a `'`: skips a char literal (`'a'`, `'é'`, `'\n'`, `'\u{..}'`), or
/// just the quote of a lifetime or label (`'a`, `'static`).
fn skip_char_or_lifetime(src: &str, i: usize) -> usize {
    let b = src.as_bytes();
    if b.get(i + 1) == Some(&b'\\') {
        // Past the escaped char, so that '\'' ends at its last quote.
        let mut j = i + 3;
        while j < b.len() && b[j] != b'\'' && b[j] != b'\n' {
            j += 1;
        }
        return j + 1;
    }
    // `'` is ASCII, so i + 1 is a char boundary.
    match src[i + 1..].chars().next() {
        Some(c) if b.get(i + 1 + c.len_utf8()) == Some(&b'\'') => i + 2 + c.len_utf8(),
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unsafe_in_code_only() {
        let src = r##"
//! Crate docs mentioning unsafe.
#![forbid(unsafe_code)]
/* block unsafe /* nested unsafe */ still comment unsafe */
fn f<'a>(x: &'a str) -> char {
    let s = "unsafe in a string \" unsafe";
    let r = r#"raw "unsafe" string"#;
    let c = '"';
    let q = '\'';
    let b = b"unsafe";
    unsafe { g() }
}
"##;
        assert_eq!(lines_with_ident(src, "unsafe"), [11]);
        assert!(forbids_unsafe(src));
        assert!(has_crate_docs(src));
    }

    #[test]
    fn unsafe_as_part_of_identifier_is_not_unsafe() {
        let src = "#[allow(unsafe_code)] fn not_unsafe() {} // unsafe\n";
        assert!(lines_with_ident(src, "unsafe").is_empty());
        assert!(!forbids_unsafe(src));
        assert!(!has_crate_docs(src));
    }

    #[test]
    fn finds_loom_in_cfg_and_paths() {
        let src = "#[cfg(loom)]\nuse loom::sync::Arc;\n// loom in a comment\nlet s = \"loom\";\n";
        assert_eq!(lines_with_ident(src, "loom"), [1, 2]);
        assert!(lines_with_ident("fn bloom() {}", "loom").is_empty());
    }

    #[test]
    fn loom_in_cfg_predicates_only() {
        assert!(cfg_mentions("#[cfg(loom)]\nfn f() {}", "loom"));
        assert!(cfg_mentions("#[cfg(all(test, not(loom)))]\nmod t;", "loom"));
        assert!(cfg_mentions("#[cfg_attr(loom, ignore)]\nfn t() {}", "loom"));
        assert!(cfg_mentions("if cfg!(loom) { }", "loom"));
        assert!(cfg_mentions("#[cfg(feature = \")\", loom)]", "loom"));
        assert!(!cfg_mentions(
            "mod loom;\nuse crate::loom::run;\n#[cfg(test)]\nmod tests {}",
            "loom"
        ));
        assert!(!cfg_mentions(
            "// #[cfg(loom)]\n#[cfg(test)] fn loom() {}",
            "loom"
        ));
        assert!(!cfg_mentions("#[cfg(test)]\nfn f() { loom(); }", "loom"));
    }

    #[test]
    fn forbid_must_not_be_commented_out() {
        assert!(!forbids_unsafe("// #![forbid(unsafe_code)]\n"));
        assert!(forbids_unsafe("#![forbid( unsafe_code )]\n"));
    }

    #[test]
    fn survives_unterminated_input() {
        for src in ["\"abc", "/* abc", "r#\"abc", "'", "b'", "'\\"] {
            let _ = idents(src);
        }
        assert_eq!(idents("'é' x"), [(1, "x")]);
    }
}
