//! Assigning rows to the train, validation and test splits with a seed (selection sampling).

use super::{PrepError, Split};

/// Checks that the ratios are in `0..=1`, train and test above 0, and that they sum to 1.
pub(super) fn validate(split: Split) -> Result<(), PrepError> {
    for (name, value) in split.named() {
        if !(0.0..=1.0).contains(&value) {
            return Err(PrepError::InvalidRatio { name, value });
        }
    }
    for (name, value) in [("train", split.train), ("test", split.test)] {
        if value == 0.0 {
            return Err(PrepError::ZeroRatio { name });
        }
    }
    let sum = split.train + split.validation + split.test;
    if (sum - 1.0).abs() > 1e-6 {
        return Err(PrepError::RatioSum {
            train: split.train,
            validation: split.validation,
            test: split.test,
            sum: super::error::rounded(sum),
        });
    }
    Ok(())
}

/// How many of `rows` rows go to each split: validation and test get their ratio's share,
/// rounded to the nearest row; train gets the rest.
pub(super) fn counts(rows: usize, split: Split) -> Result<[usize; 3], PrepError> {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a ratio in 0..=1 times a row count, rounded: a non-negative row count"
    )]
    let share = |ratio: f64| (rows as f64 * ratio).round() as usize;
    let (validation, test) = (share(split.validation), share(split.test));
    let counts = [rows.saturating_sub(validation + test), validation, test];
    for ((name, ratio), count) in split.named().into_iter().zip(counts) {
        if ratio > 0.0 && count == 0 {
            return Err(PrepError::EmptySplit {
                split: name,
                rows,
                ratio,
            });
        }
    }
    Ok(counts)
}

/// Deals rows to the splits one at a time, in order, so that exactly `counts` rows go to each
/// and every such assignment is equally likely (selection sampling): a row goes to a split with
/// the chance of the rows that split still needs among the rows still to come. The same counts
/// and seed always deal the same way, so a table read in parts can be dealt again in a later
/// pass without remembering anything per row.
pub(super) struct Dealer {
    rng: fastrand::Rng,
    left: [usize; 3],
}

impl Dealer {
    pub(super) fn new(counts: [usize; 3], seed: u64) -> Dealer {
        Dealer {
            rng: fastrand::Rng::with_seed(seed),
            left: counts,
        }
    }

    /// The split (0 train, 1 validation, 2 test) of the next row; `None` once every row of
    /// the counts is dealt.
    pub(super) fn deal(&mut self) -> Option<u8> {
        let [train, validation, test] = self.left;
        let total = train + validation + test;
        if total == 0 {
            return None;
        }
        let pick = self.rng.usize(0..total);
        let split = if pick < train {
            0
        } else if pick < train + validation {
            1
        } else {
            2
        };
        self.left[usize::from(split)] -= 1;
        Some(split)
    }

    /// The rows still to deal.
    pub(super) fn left(&self) -> usize {
        self.left.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_and_give_train_the_rest() {
        assert_eq!(counts(100, Split::new(0.7, 0.15, 0.15)), Ok([70, 15, 15]));
        assert_eq!(counts(10, Split::new(0.8, 0.0, 0.2)), Ok([8, 0, 2]));
        assert_eq!(counts(7, Split::new(0.5, 0.25, 0.25)), Ok([3, 2, 2]));
    }

    #[test]
    fn empty_splits_are_errors() {
        let err = counts(10, Split::new(0.94, 0.05, 0.01)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the test split would be empty: 10 rows × 0.01 = 0.1, which rounds to 0 rows"
        );
        let err = counts(3, Split::new(0.8, 0.1, 0.1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the validation split would be empty: 3 rows × 0.1 = 0.3, which rounds to 0 rows"
        );
        let err = counts(1, Split::new(0.5, 0.0, 0.5)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the train split would be empty")
        );
    }

    #[test]
    fn ratios_are_checked() {
        assert_eq!(
            validate(Split::new(0.7, 0.2, 0.2)).unwrap_err().to_string(),
            "split ratios must sum to 1, but train 0.7 + validation 0.2 + test 0.2 = 1.1"
        );
        assert_eq!(
            validate(Split::new(1.2, -0.1, -0.1))
                .unwrap_err()
                .to_string(),
            "split ratio `train` is 1.2; a ratio is a number from 0 to 1"
        );
        assert_eq!(
            validate(Split::new(1.0, 0.0, 0.0)).unwrap_err().to_string(),
            "split ratio `test` is 0, but the test split needs rows"
        );
        assert!(validate(Split::new(f64::NAN, 0.5, 0.5)).is_err());
        assert!(validate(Split::new(0.8, 0.0, 0.2)).is_ok());
    }

    fn deal(counts: [usize; 3], seed: u64) -> Vec<u8> {
        let mut dealer = Dealer::new(counts, seed);
        (0..counts.iter().sum::<usize>())
            .map(|_| dealer.deal().unwrap())
            .collect()
    }

    #[test]
    fn dealing_is_a_seeded_partition_of_exact_sizes() {
        let a = deal([14, 3, 3], 7);
        assert_eq!(a, deal([14, 3, 3], 7));
        let mut done = Dealer::new([1, 0, 1], 7);
        assert!(done.deal().is_some() && done.deal().is_some());
        assert_eq!((done.deal(), done.left()), (None, 0));
        assert_ne!(a, deal([14, 3, 3], 8));
        for (split, want) in [(0, 14), (1, 3), (2, 3)] {
            assert_eq!(
                a.iter().filter(|&&s| s == split).map(|_| 1).sum::<usize>(),
                want
            );
        }
    }

    #[test]
    fn every_row_is_as_likely_to_land_in_each_split() {
        // Over many seeds, row 0 and the last row go to test as often as its share (20 %).
        let (mut first, mut last) = (0, 0);
        for seed in 0..4_000 {
            let a = deal([60, 20, 20], seed);
            first += usize::from(a[0] == 2);
            last += usize::from(a[99] == 2);
        }
        for n in [first, last] {
            assert!((700..900).contains(&n), "{n} of 4000, expected about 800");
        }
    }
}
