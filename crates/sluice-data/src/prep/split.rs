//! Assigning rows to the train, validation and test splits by a seeded shuffle.

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

/// Shuffles `rows` with `seed` and cuts them into the splits; each split keeps the input order.
pub(super) fn assign(mut rows: Vec<usize>, counts: [usize; 3], seed: u64) -> [Vec<usize>; 3] {
    fastrand::Rng::with_seed(seed).shuffle(&mut rows);
    let test = rows.split_off(counts[0] + counts[1]);
    let validation = rows.split_off(counts[0]);
    let mut splits = [rows, validation, test];
    for split in &mut splits {
        split.sort_unstable();
    }
    splits
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

    #[test]
    fn assign_is_a_seeded_partition() {
        let a = assign((0..20).collect(), [14, 3, 3], 7);
        assert_eq!(a, assign((0..20).collect(), [14, 3, 3], 7));
        assert_ne!(a, assign((0..20).collect(), [14, 3, 3], 8));
        let mut all: Vec<usize> = a.concat();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert!(a.iter().all(|s| s.is_sorted()));
        assert_eq!(a.each_ref().map(Vec::len), [14, 3, 3]);
    }
}
