//! Missing values: the statistics they are filled with.

use std::collections::BTreeMap;

/// The median of `present` (values that are not missing), sorting it in place.
pub(super) fn median(present: &mut [f64]) -> Option<f64> {
    if present.is_empty() {
        return None;
    }
    present.sort_unstable_by(f64::total_cmp);
    let mid = present.len() / 2;
    Some(if present.len().is_multiple_of(2) {
        f64::midpoint(present[mid - 1], present[mid])
    } else {
        present[mid]
    })
}

/// The most frequent value of `counts`; on a tie, the first in sorted order.
pub(super) fn most_frequent(counts: &BTreeMap<String, usize>) -> Option<String> {
    let mut best: Option<(&str, usize)> = None;
    for (value, &count) in counts {
        if best.is_none_or(|(_, c)| count > c) {
            best = Some((value, count));
        }
    }
    best.map(|(v, _)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[&str]) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for s in v {
            *counts.entry((*s).to_owned()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn most_frequent_breaks_ties_by_order() {
        assert_eq!(most_frequent(&counts(&["b", "a", "b"])), Some("b".into()));
        assert_eq!(most_frequent(&counts(&["b", "a"])), Some("a".into()));
        assert_eq!(most_frequent(&counts(&[])), None);
    }
}
