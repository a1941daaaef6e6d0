//! Text from outside the runtime (a plugin's answer, an engine's error),
//! made safe for a terminal line and a log line: control characters
//! escaped, the length bounded.

/// `text` with control characters escaped, cut with a `…` once the escaped
/// text reaches `max_bytes` bytes.
pub fn escaped(text: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= max_bytes {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_length_bounded() {
        assert_eq!(escaped("a\nb\u{1b}[31m", 100), "a\\nb\\u{1b}[31m");
        assert_eq!(escaped("héllo", 100), "héllo");
        assert_eq!(
            escaped(&"x".repeat(1000), 300),
            format!("{}…", "x".repeat(300))
        );
        // Cut after whole characters: the escape that crosses the bound is
        // kept whole.
        assert_eq!(escaped("ab\u{7}cd", 3), "ab\\u{7}…");
    }
}
