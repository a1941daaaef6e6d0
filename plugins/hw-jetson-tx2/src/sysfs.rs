//! Reading the small files of sysfs.

use std::io::{self, Read};
use std::path::Path;

/// The file at `path`, read no further than `max` bytes: a sysfs value
/// is short, and a huge file must cost no memory.
pub fn read_at_most(path: &Path, max: u64) -> io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max)
        .read_to_string(&mut text)?;
    Ok(text)
}
