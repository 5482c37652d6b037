//! The text rule every field and claim follows (contract §3): printable only.

/// No control characters but tab, line feed and carriage return. Postgres
/// cannot store U+0000, and the rest have no place in a ticket.
pub fn es_imprimible(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_but_tab_and_line_breaks_are_refused() {
        assert!(es_imprimible("Línea 1\r\n\tlínea 2 — ñ ✓ 😀"));
        for c in ['\0', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
            assert!(!es_imprimible(&format!("a{c}b")), "{:?}", c);
        }
        assert!(es_imprimible("\u{a0}\u{200b}"), "format and space characters are not control characters");
    }
}
