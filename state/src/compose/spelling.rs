//! Telling a misspelt key from a key this importer does not read.
//!
//! An unknown key is only a warning, so `restrat: "no"` would run the block
//! under the default policy with nothing but a line in a log to say so. A
//! key one edit away from a known one is far more likely a slip than a
//! feature, so it is refused with the key it probably meant.

/// The known key `key` is one edit away from (one letter added, dropped,
/// changed, or two neighbours swapped), if any. The first in `known` wins.
pub(super) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .copied()
        .find(|candidate| *candidate != key && distance(key, candidate) == 1)
}

/// The Damerau-Levenshtein distance in its optimal-string-alignment form
/// (a swapped pair is one edit; no substring is edited twice), which is
/// the true distance whenever that is at most 1: all this is used for.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the full table suffice: a swap looks two rows back.
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        for (a, b, expect) in [
            ("restart", "restart", 0),
            ("restrat", "restart", 1),
            ("imgae", "image", 1),
            ("enviroment", "environment", 1),
            ("image", "images", 1),
            ("mage", "image", 1),
            ("imagf", "image", 1),
            ("", "a", 1),
            ("", "", 0),
            ("ca", "abc", 3),
            ("network_mode", "networks", 5),
            ("cpus", "cpuset", 2),
            ("ünïcode", "ünicode", 1),
        ] {
            assert_eq!(distance(a, b), expect, "{a} / {b}");
            assert_eq!(distance(b, a), expect, "{b} / {a}");
        }
    }

    #[test]
    fn suggestions() {
        let known = ["image", "restart", "environment", "ports", "expose"];
        assert_eq!(did_you_mean("restrat", &known), Some("restart"));
        assert_eq!(did_you_mean("imgae", &known), Some("image"));
        assert_eq!(did_you_mean("enviroment", &known), Some("environment"));
        assert_eq!(did_you_mean("port", &known), Some("ports"));
        // Known keys, and keys two edits away, get no suggestion.
        assert_eq!(did_you_mean("image", &known), None);
        assert_eq!(did_you_mean("restrt_", &known), None);
        assert_eq!(did_you_mean("container_name", &known), None);
    }
}
