//! Summary statistics of a sample.

use super::Json;

/// min / median / p99 / mean / max of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

impl Summary {
    /// Summarises `xs`; `None` for an empty sample.
    pub fn of(xs: &[f64]) -> Option<Summary> {
        if xs.is_empty() {
            return None;
        }
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        Some(Summary {
            n,
            min: v[0],
            median: percentile(&v, 50.0),
            p99: percentile(&v, 99.0),
            mean: v.iter().sum::<f64>() / n as f64,
            max: v[n - 1],
        })
    }

    /// As a JSON object.
    pub fn json(&self) -> Json {
        Json::obj([
            ("n", Json::num(self.n as f64)),
            ("min", Json::num(self.min)),
            ("median", Json::num(self.median)),
            ("p99", Json::num(self.p99)),
            ("mean", Json::num(self.mean)),
            ("max", Json::num(self.max)),
        ])
    }

    /// `min / median / p99` with `digits` decimals.
    pub fn short(&self, digits: usize) -> String {
        format!(
            "{:.*} / {:.*} / {:.*}",
            digits, self.min, digits, self.median, digits, self.p99
        )
    }
}

/// The nearest-rank percentile of a sorted, non-empty sample (the median of an even sample
/// is the mean of the middle two).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if p == 50.0 && n.is_multiple_of(2) {
        return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

/// `Summary::json` or `null`.
pub fn json_or_null(s: Option<Summary>) -> Json {
    s.map_or(Json::Null, |s| s.json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.min, s.median, s.p99, s.max), (1.0, 3.0, 5.0, 5.0));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(Summary::of(&v).unwrap().p99, 198.0);
        assert!(Summary::of(&[]).is_none());
    }
}
