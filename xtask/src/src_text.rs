//! Line-level helpers for the few checks that read Rust sources as text
//! (the sync-shim rule, which crates have loom code): what they look for
//! is a name on a code line outside string literals, so they need no lexer.

/// The lines of `src` with their 1-based numbers, `//` comment lines (docs
/// included) left out.
pub fn code_lines(src: &str) -> impl Iterator<Item = (usize, &str)> {
    src.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l))
}

/// Does `text` contain `word` with no identifier character on either side?
pub fn contains_word(text: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// `line` with the contents of its string literals removed, `""` left in
/// their place (escapes honoured, raw strings `r#"..."#` too; a literal left
/// open runs to the end of the line).
pub fn without_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if let Some((hashes, body)) = raw_string_start(&out, rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            rest = body.find(&close).map_or("", |at| &body[at + close.len()..]);
            out.push_str("\"\"");
        } else if c == '"' {
            rest = skip_escaped_string(&rest[1..]);
            out.push_str("\"\"");
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// At `r"` or `r#"` (not the end of an identifier such as `for"`): the
/// number of `#` and the text after the opening quote.
fn raw_string_start<'a>(before: &str, rest: &'a str) -> Option<(usize, &'a str)> {
    let after_r = rest.strip_prefix('r')?;
    if before
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
    {
        return None;
    }
    let hashes = after_r.len() - after_r.trim_start_matches('#').len();
    after_r[hashes..]
        .strip_prefix('"')
        .map(|body| (hashes, body))
}

/// The text after the string literal whose contents start `text`.
fn skip_escaped_string(text: &str) -> &str {
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return &text[at + 1..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_comment_lines_and_keeps_numbers() {
        let src = "//! docs\nfn a() {}\n    // note\n/// doc\nfn b() {} // trailing\n";
        let lines: Vec<(usize, &str)> = code_lines(src).collect();
        assert_eq!(lines, [(2, "fn a() {}"), (5, "fn b() {} // trailing")]);
    }

    #[test]
    fn words_stand_alone() {
        assert!(contains_word("use parking_lot::Mutex;", "parking_lot"));
        assert!(contains_word("loom", "loom"));
        assert!(!contains_word("fn bloom() {}", "loom"));
        assert!(!contains_word("parking_lot_core", "parking_lot"));
        assert!(contains_word("bloom, loom)", "loom"));
    }

    #[test]
    fn string_contents_are_dropped() {
        assert_eq!(without_strings(r#"f("cfg(loom)", x)"#), r#"f("", x)"#);
        assert_eq!(without_strings(r#"a("\"loom\"") + b"#), r#"a("") + b"#);
        assert_eq!(without_strings(r#"open("loom"#), "open(\"\"");
        assert_eq!(
            without_strings(r##"f(r#"cfg("loom")"#, br"x", r"y")"##),
            r#"f("", br"", "")"#
        );
    }
}
