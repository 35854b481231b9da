//! ISC2021 metrics (Douze et al., "The 2021 Image Similarity Dataset and Challenge"):
//! micro-average precision over all predictions and recall at 90 % precision, computed exactly
//! as the challenge's `isc2021` evaluation script does, so the numbers agree with running that
//! script on the `predictions*.csv` files `imprint bench robustness` writes.
//!
//! Predictions of all queries are sorted together by decreasing score; equal scores put wrong
//! predictions first (the script's pessimistic tie rule). With `tp(i)` the number of correct
//! predictions among the first `i` and `P` the number of ground-truth pairs,
//! `precision(i) = tp(i) / i`, `recall(i) = tp(i) / P` and
//! `μAP = Σ_i (recall(i) − recall(i−1)) · precision(i)`.

/// One prediction: a score (higher = more similar) and whether the pair is in the ground truth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoredPair {
    /// Similarity score.
    pub score: f64,
    /// Whether `(query, reference)` is a ground-truth pair.
    pub correct: bool,
}

/// The ISC2021 summary of a prediction list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IscMetrics {
    /// Micro-average precision, 0–1.
    pub micro_ap: f64,
    /// The highest recall reached at a precision of at least 0.9 (0 when never reached).
    pub recall_at_p90: f64,
    /// The score threshold of that operating point, if any.
    pub threshold_at_p90: Option<f64>,
    /// Number of predictions.
    pub num_predictions: usize,
    /// Number of ground-truth pairs.
    pub num_positives: usize,
}

/// Computes μAP and recall at 90 % precision. `num_positives` is the number of ground-truth
/// pairs (queries without a match do not count). O(n log n).
#[must_use]
pub fn isc_metrics(predictions: &[ScoredPair], num_positives: usize) -> IscMetrics {
    let mut sorted = predictions.to_vec();
    // Decreasing score; among equal scores, wrong predictions first.
    sorted.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.correct.cmp(&b.correct))
    });
    let positives = num_positives.max(1) as f64;
    let (mut tp, mut ap, mut prev_recall) = (0usize, 0f64, 0f64);
    let mut best: Option<(f64, f64)> = None;
    for (i, p) in sorted.iter().enumerate() {
        tp += usize::from(p.correct);
        let precision = tp as f64 / (i + 1) as f64;
        let recall = tp as f64 / positives;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        if precision >= 0.9 && best.is_none_or(|(r, _)| recall > r) {
            best = Some((recall, p.score));
        }
    }
    IscMetrics {
        micro_ap: ap,
        recall_at_p90: best.map_or(0.0, |(r, _)| r),
        threshold_at_p90: best.map(|(_, s)| s),
        num_predictions: predictions.len(),
        num_positives,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(score: f64, correct: bool) -> ScoredPair {
        ScoredPair { score, correct }
    }

    #[test]
    fn micro_ap_matches_hand_computed_value() {
        // Sorted: T F T F; precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
        // μAP = 1/3·1 + 0 + 1/3·2/3 + 0 = 5/9. Precision ≥ 0.9 only at the first: recall 1/3.
        let preds = [p(0.6, false), p(0.9, true), p(0.7, true), p(0.8, false)];
        let m = isc_metrics(&preds, 3);
        assert!((m.micro_ap - 5.0 / 9.0).abs() < 1e-12, "{}", m.micro_ap);
        assert!((m.recall_at_p90 - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.threshold_at_p90, Some(0.9));
    }

    #[test]
    fn ties_count_wrong_predictions_first() {
        // One tie: F then T. precision 0, 1/2; recall 0, 1 → μAP = 1/2, never 90 % precise.
        let m = isc_metrics(&[p(0.5, true), p(0.5, false)], 1);
        assert!((m.micro_ap - 0.5).abs() < 1e-12);
        assert_eq!(m.recall_at_p90, 0.0);
        assert_eq!(m.threshold_at_p90, None);
    }

    #[test]
    fn perfect_and_empty_lists() {
        let m = isc_metrics(&[p(3.0, true), p(2.0, true), p(1.0, false)], 2);
        assert!((m.micro_ap - 1.0).abs() < 1e-12);
        assert_eq!(m.recall_at_p90, 1.0);
        assert_eq!(isc_metrics(&[], 5).micro_ap, 0.0);
        // Missing ground-truth pairs cap the recall: 1 of 4 found.
        assert!((isc_metrics(&[p(1.0, true)], 4).micro_ap - 0.25).abs() < 1e-12);
    }
}
