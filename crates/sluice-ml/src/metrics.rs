//! Regression and classification scores, with scikit-learn's definitions.
//!
//! Targets and predictions are as the learners give them: values for regression, class indices
//! (as `f64`) for classification; probabilities are `[row][class]`. Precision, recall and F1 score
//! class 1 as the positive class of a binary problem and take the unweighted mean over the classes
//! present in `y_true` or `y_pred` (scikit-learn's `average="macro"`) otherwise; a class never
//! predicted has precision 0 (scikit-learn's `zero_division` default).

use crate::MlError;
use crate::par::to_index;

fn check(metric: &'static str, a: usize, b: usize) -> Result<(), MlError> {
    if a != b {
        return Err(MlError::Metric {
            metric,
            reason: format!("{a} true values but {b} predictions"),
        });
    }
    if a == 0 {
        return Err(MlError::Metric {
            metric,
            reason: "no rows".to_owned(),
        });
    }
    Ok(())
}

/// Coefficient of determination: `1 - SS_res / SS_tot`; for a constant `y_true`, 1 when the
/// predictions are exact and 0 otherwise (as scikit-learn).
pub fn r2(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MlError> {
    check("r2", y_true.len(), y_pred.len())?;
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let ss_res: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum();
    let ss_tot: f64 = y_true.iter().map(|t| (t - mean) * (t - mean)).sum();
    Ok(if ss_tot > 0.0 {
        1.0 - ss_res / ss_tot
    } else if ss_res > 0.0 {
        0.0
    } else {
        1.0
    })
}

/// Mean squared error.
pub fn mse(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MlError> {
    check("mse", y_true.len(), y_pred.len())?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .sum::<f64>()
        / y_true.len() as f64)
}

/// Root mean squared error.
pub fn rmse(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MlError> {
    mse(y_true, y_pred).map(f64::sqrt)
}

/// Mean absolute error.
pub fn mae(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MlError> {
    check("mae", y_true.len(), y_pred.len())?;
    Ok(y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p).abs())
        .sum::<f64>()
        / y_true.len() as f64)
}

/// The fraction of rows whose predicted class is the true one.
pub fn accuracy(y_true: &[f64], y_pred: &[f64]) -> Result<f64, MlError> {
    check("accuracy", y_true.len(), y_pred.len())?;
    let hits = y_true
        .iter()
        .zip(y_pred)
        .filter(|(t, p)| to_index(**t) == to_index(**p))
        .count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Per-class true positives, predicted count and true count, over classes `0..n_classes`.
fn confusion(y_true: &[f64], y_pred: &[f64], n_classes: usize) -> Vec<(f64, f64, f64)> {
    let mut out = vec![(0.0, 0.0, 0.0); n_classes];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        let (t, p) = (to_index(t), to_index(p));
        if t < n_classes {
            out[t].2 += 1.0;
        }
        if p < n_classes {
            out[p].1 += 1.0;
            if t == p {
                out[p].0 += 1.0;
            }
        }
    }
    out
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn averaged(
    metric: &'static str,
    y_true: &[f64],
    y_pred: &[f64],
    n_classes: usize,
    score: impl Fn(f64, f64, f64) -> f64,
) -> Result<f64, MlError> {
    check(metric, y_true.len(), y_pred.len())?;
    if n_classes < 2 {
        return Err(MlError::Metric {
            metric,
            reason: format!("needs at least 2 classes, got {n_classes}"),
        });
    }
    let counts = confusion(y_true, y_pred, n_classes);
    if n_classes == 2 {
        let (tp, predicted, actual) = counts[1];
        return Ok(score(tp, predicted, actual));
    }
    let present: Vec<f64> = counts
        .iter()
        .filter(|(_, predicted, actual)| *predicted > 0.0 || *actual > 0.0)
        .map(|&(tp, predicted, actual)| score(tp, predicted, actual))
        .collect();
    Ok(present.iter().sum::<f64>() / present.len().max(1) as f64)
}

/// Precision: binary (class 1 positive) when `n_classes == 2`, macro-averaged otherwise.
pub fn precision(y_true: &[f64], y_pred: &[f64], n_classes: usize) -> Result<f64, MlError> {
    averaged("precision", y_true, y_pred, n_classes, |tp, p, _| {
        ratio(tp, p)
    })
}

/// Recall: binary (class 1 positive) when `n_classes == 2`, macro-averaged otherwise.
pub fn recall(y_true: &[f64], y_pred: &[f64], n_classes: usize) -> Result<f64, MlError> {
    averaged("recall", y_true, y_pred, n_classes, |tp, _, a| ratio(tp, a))
}

/// F1, the harmonic mean of precision and recall (per class, then macro-averaged).
pub fn f1(y_true: &[f64], y_pred: &[f64], n_classes: usize) -> Result<f64, MlError> {
    averaged("f1", y_true, y_pred, n_classes, |tp, p, a| {
        ratio(2.0 * tp, p + a)
    })
}

/// Area under the ROC curve of `scores` for the rows where `positive` is true: the probability
/// that a random positive scores above a random negative, ties counting one half.
fn auc(metric: &'static str, positive: &[bool], scores: &[f64]) -> Result<f64, MlError> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(MlError::Metric {
            metric,
            reason: "needs both positive and negative rows".to_owned(),
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the positives' ranks (1-based), tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]].total_cmp(&scores[order[i]]).is_eq() {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * order[i..=j].iter().filter(|&&r| positive[r]).count() as f64;
        i = j + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// ROC AUC from class probabilities: binary (class 1's probability as the score) for two
/// columns, else one-vs-rest per class, macro-averaged.
pub fn roc_auc(y_true: &[f64], proba: &[Vec<f64>]) -> Result<f64, MlError> {
    check("roc_auc", y_true.len(), proba.len())?;
    let k = proba[0].len();
    if k < 2 || proba.iter().any(|row| row.len() != k) {
        return Err(MlError::Metric {
            metric: "roc_auc",
            reason: "probability rows need one column per class, at least 2".to_owned(),
        });
    }
    let column = |c: usize| -> (Vec<bool>, Vec<f64>) {
        (
            y_true.iter().map(|&t| to_index(t) == c).collect(),
            proba.iter().map(|row| row[c]).collect(),
        )
    };
    if k == 2 {
        let (positive, scores) = column(1);
        return auc("roc_auc", &positive, &scores);
    }
    let mut total = 0.0;
    for c in 0..k {
        let (positive, scores) = column(c);
        total += auc("roc_auc", &positive, &scores)?;
    }
    Ok(total / k as f64)
}

/// Mean negative log-probability of the true class, probabilities clipped to
/// `[f64::EPSILON, 1 - f64::EPSILON]`.
pub fn log_loss(y_true: &[f64], proba: &[Vec<f64>]) -> Result<f64, MlError> {
    check("log_loss", y_true.len(), proba.len())?;
    let mut total = 0.0;
    for (i, (&t, row)) in y_true.iter().zip(proba).enumerate() {
        let Some(&p) = row.get(to_index(t)) else {
            return Err(MlError::Metric {
                metric: "log_loss",
                reason: format!("row {i}: class {t} has no probability"),
            });
        };
        total -= p.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln();
    }
    Ok(total / y_true.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn regression_scores_by_hand() {
        let t = [3.0, -0.5, 2.0, 7.0];
        let p = [2.5, 0.0, 2.0, 8.0];
        // Residuals 0.5, -0.5, 0, -1: SS_res 1.5; mean 2.875, SS_tot 29.1875.
        close(mse(&t, &p).unwrap(), 0.375);
        close(rmse(&t, &p).unwrap(), 0.375f64.sqrt());
        close(mae(&t, &p).unwrap(), 0.5);
        close(r2(&t, &p).unwrap(), 1.0 - 1.5 / 29.1875);
        close(r2(&[1.0, 1.0], &[1.0, 1.0]).unwrap(), 1.0);
        close(r2(&[1.0, 1.0], &[1.0, 2.0]).unwrap(), 0.0);
        assert!(mse(&t, &p[..3]).is_err());
        assert!(mse(&[], &[]).is_err());
    }

    #[test]
    fn binary_scores_by_hand() {
        let t = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let p = [1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        // TP 3, FP 1, FN 1, TN 3.
        close(accuracy(&t, &p).unwrap(), 6.0 / 8.0);
        close(precision(&t, &p, 2).unwrap(), 0.75);
        close(recall(&t, &p, 2).unwrap(), 0.75);
        close(f1(&t, &p, 2).unwrap(), 0.75);
        // Never predicting the positive class: precision 0 (no division by zero).
        close(precision(&t, &[0.0; 8], 2).unwrap(), 0.0);
    }

    #[test]
    fn macro_scores_by_hand() {
        let t = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0];
        let p = [0.0, 1.0, 1.0, 1.0, 2.0, 0.0];
        // Class 0: TP 1, predicted 2, actual 2 -> P 1/2, R 1/2, F1 1/2.
        // Class 1: TP 2, predicted 3, actual 2 -> P 2/3, R 1, F1 4/5.
        // Class 2: TP 1, predicted 1, actual 2 -> P 1, R 1/2, F1 2/3.
        close(precision(&t, &p, 3).unwrap(), (0.5 + 2.0 / 3.0 + 1.0) / 3.0);
        close(recall(&t, &p, 3).unwrap(), (0.5 + 1.0 + 0.5) / 3.0);
        close(f1(&t, &p, 3).unwrap(), (0.5 + 0.8 + 2.0 / 3.0) / 3.0);
    }

    #[test]
    fn roc_auc_by_hand() {
        // scikit-learn's documented example: y = [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8] -> 0.75.
        let t = [0.0, 0.0, 1.0, 1.0];
        let proba: Vec<Vec<f64>> = [0.1, 0.4, 0.35, 0.8]
            .iter()
            .map(|&s| vec![1.0 - s, s])
            .collect();
        close(roc_auc(&t, &proba).unwrap(), 0.75);
        // A tie between a positive and a negative counts one half: pairs (+0.5 vs -0.5) = 0.5,
        // (+0.5 vs -0.1) = 1, (+0.9 vs both) = 2 -> 3.5 / 4.
        let t = [0.0, 0.0, 1.0, 1.0];
        let proba: Vec<Vec<f64>> = [0.1, 0.5, 0.5, 0.9]
            .iter()
            .map(|&s| vec![1.0 - s, s])
            .collect();
        close(roc_auc(&t, &proba).unwrap(), 0.875);
        assert!(roc_auc(&[1.0, 1.0], &[vec![0.5, 0.5], vec![0.2, 0.8]]).is_err());
    }

    #[test]
    fn multiclass_roc_auc_is_the_mean_of_one_vs_rest() {
        let t = [0.0, 1.0, 2.0, 2.0];
        let proba = vec![
            vec![0.6, 0.3, 0.1],
            vec![0.2, 0.5, 0.3],
            vec![0.1, 0.2, 0.7],
            vec![0.4, 0.4, 0.2],
        ];
        // Class 0: positive 0.6 beats 0.2, 0.1, 0.4 -> 1. Class 1: positive 0.5 beats all -> 1.
        // Class 2: positives 0.7, 0.2 vs negatives 0.1, 0.3: 0.7 beats both, 0.2 beats 0.1 -> 3/4.
        close(roc_auc(&t, &proba).unwrap(), (1.0 + 1.0 + 0.75) / 3.0);
    }

    #[test]
    fn log_loss_by_hand() {
        let t = [1.0, 0.0];
        let proba = vec![vec![0.1, 0.9], vec![0.8, 0.2]];
        close(
            log_loss(&t, &proba).unwrap(),
            -(0.9f64.ln() + 0.8f64.ln()) / 2.0,
        );
        // A certain mistake is clipped, not infinite.
        assert!(log_loss(&[0.0], &[vec![0.0, 1.0]]).unwrap().is_finite());
    }
}
