//! Classification metrics shared by both models: a confusion matrix, and from it accuracy and
//! per-class intersection over union.

/// `counts[truth * k + predicted]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub classes: usize,
    pub counts: Vec<u64>,
}

impl Confusion {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts pairs of (truth, prediction); out-of-range classes are ignored.
    pub fn add(&mut self, truth: &[u8], predicted: &[u8]) {
        for (&t, &p) in truth.iter().zip(predicted) {
            let (t, p) = (usize::from(t), usize::from(p));
            if t < self.classes && p < self.classes {
                self.counts[t * self.classes + p] += 1;
            }
        }
    }

    /// Adds another matrix of the same size.
    pub fn merge(&mut self, other: &Confusion) {
        self.counts
            .iter_mut()
            .zip(&other.counts)
            .for_each(|(a, b)| *a += b);
    }

    /// Number of counted pairs.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Share of correct predictions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes)
            .map(|c| self.counts[c * self.classes + c])
            .sum();
        ratio(correct, self.total())
    }

    /// Intersection over union of class `c`: TP / (TP + FP + FN).
    pub fn iou(&self, c: usize) -> f64 {
        let k = self.classes;
        let tp = self.counts[c * k + c];
        let truth: u64 = (0..k).map(|p| self.counts[c * k + p]).sum();
        let predicted: u64 = (0..k).map(|t| self.counts[t * k + c]).sum();
        ratio(tp, truth + predicted - tp)
    }

    /// Mean IoU over all classes.
    pub fn mean_iou(&self) -> f64 {
        (0..self.classes).map(|c| self.iou(c)).sum::<f64>() / self.classes as f64
    }

    /// Rows of the matrix (truth), columns (prediction).
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes)
            .map(<[u64]>::to_vec)
            .collect()
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
