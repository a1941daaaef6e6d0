//! An archive's entry names read as paths beneath the unpack root.

/// Why an entry's name is not a path beneath the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathFault {
    Empty,
    Nul,
    DotDot,
    TooLong { len: usize, max: usize },
    NameTooLong { len: usize },
}

impl std::fmt::Display for PathFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathFault::Empty => f.write_str("the path is empty"),
            PathFault::Nul => f.write_str("the path holds a NUL byte"),
            PathFault::DotDot => f.write_str("the path holds a '..' component"),
            PathFault::TooLong { len, max } => {
                write!(
                    f,
                    "the path is {len} bytes long, more than max_path_len ({max})"
                )
            }
            PathFault::NameTooLong { len } => write!(
                f,
                "a component of the path is {len} bytes long, more than a name may be ({NAME_MAX})"
            ),
        }
    }
}

/// The longest name one component may have (Linux's `NAME_MAX`).
const NAME_MAX: usize = 255;

/// `raw` as components beneath the root: a leading `/` or `./` stripped,
/// empty and `.` components dropped. `Ok(None)` is the root itself (`./`,
/// `/`), which archives made with `tar -C dir .` begin with.
pub(super) fn components(raw: &[u8], max_len: usize) -> Result<Option<Vec<&[u8]>>, PathFault> {
    if raw.is_empty() {
        return Err(PathFault::Empty);
    }
    if raw.contains(&0) {
        return Err(PathFault::Nul);
    }
    if raw.len() > max_len {
        return Err(PathFault::TooLong {
            len: raw.len(),
            max: max_len,
        });
    }
    let mut parts = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err(PathFault::DotDot),
            name if name.len() > NAME_MAX => {
                return Err(PathFault::NameTooLong { len: name.len() });
            }
            name => parts.push(name),
        }
    }
    Ok((!parts.is_empty()).then_some(parts))
}

/// An entry's name as messages show it: lossily decoded, control
/// characters escaped (a hostile name must not forge log lines), and cut
/// at 200 characters.
pub(super) fn shown(raw: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(raw).escape_debug().collect();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::{PathFault, components};

    #[test]
    fn names_are_read_beneath_the_root() {
        let ok = |raw: &str| {
            components(raw.as_bytes(), 4096)
                .map(|c| c.map(|c| c.join(&b'/').to_vec()))
                .map(|c| c.map(|c| String::from_utf8(c).unwrap()))
        };
        assert_eq!(ok("etc/passwd"), Ok(Some("etc/passwd".to_owned())));
        assert_eq!(ok("./etc//passwd/"), Ok(Some("etc/passwd".to_owned())));
        assert_eq!(ok("/etc/./passwd"), Ok(Some("etc/passwd".to_owned())));
        assert_eq!(ok("./"), Ok(None));
        assert_eq!(ok("/"), Ok(None));
        assert_eq!(ok(""), Err(PathFault::Empty));
        assert_eq!(ok("a/../b"), Err(PathFault::DotDot));
        assert_eq!(ok("../x"), Err(PathFault::DotDot));
        assert_eq!(ok("a/b\0c"), Err(PathFault::Nul));
        assert_eq!(
            components(&[b'a'; 300], 4096),
            Err(PathFault::NameTooLong { len: 300 })
        );
        assert_eq!(
            components(b"abc/def", 5),
            Err(PathFault::TooLong { len: 7, max: 5 })
        );
    }
}
