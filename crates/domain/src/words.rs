//! Counts in words as people write them: "1 seat", "2 seats", never "seat(s)".

/// `n` with the noun in the number it takes: `count(1, "seat", "seats")` is "1 seat".
pub fn count(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(0);
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn one_is_singular_and_every_other_number_plural() {
        assert_eq!(count(0usize, "seat", "seats"), "0 seats");
        assert_eq!(count(1i64, "seat", "seats"), "1 seat");
        assert_eq!(count(2u64, "row", "rows"), "2 rows");
    }
}
