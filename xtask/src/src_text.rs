//! Line-level helpers for the few checks that read Rust sources as text
//! (the sync-shim rule, which crates have loom code): what they look for
//! is a name on a line, so they need no lexer.

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
}
