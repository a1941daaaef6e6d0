//! Rows of text cells printed as left-aligned columns, for the tables of
//! `osb status` and `osb time`.

/// Each row on a line, cells padded to their column's widest and separated
/// by two spaces, trailing spaces trimmed.
pub fn aligned<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pads_each_column_to_its_widest_cell() {
        let rows = [
            ["A".to_owned(), "LONG HEADER".to_owned(), "X".to_owned()],
            ["wider".to_owned(), "b".to_owned(), String::new()],
        ];
        assert_eq!(super::aligned(&rows), "A      LONG HEADER  X\nwider  b\n");
    }
}
