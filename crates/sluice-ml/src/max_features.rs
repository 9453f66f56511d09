//! How many features a tree considers at each split.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::MlError;

/// The number of features drawn at random for each split, as scikit-learn's `max_features`.
///
/// On disk: `"all"`, `"sqrt"`, `"log2"`, a fraction as a JSON float (`0.5`, `1.0`) or a count as a
/// JSON integer (`3`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxFeatures {
    /// Every feature.
    All,
    /// `max(1, floor(sqrt(n_features)))`.
    Sqrt,
    /// `max(1, floor(log2(n_features)))`.
    Log2,
    /// `max(1, floor(fraction * n_features))`, the fraction in `(0, 1]`.
    Fraction(f64),
    /// A fixed count, at most `n_features`.
    Count(usize),
}

impl MaxFeatures {
    /// The number of features to draw among `n_features`.
    pub fn resolve(self, n_features: usize) -> Result<usize, MlError> {
        let n = n_features as f64;
        let k = match self {
            MaxFeatures::All => n_features,
            MaxFeatures::Sqrt => crate::par::to_index(n.sqrt().floor()),
            MaxFeatures::Log2 => crate::par::to_index(n.log2().floor()),
            MaxFeatures::Fraction(f) => {
                if !(f > 0.0 && f <= 1.0) {
                    return Err(MlError::param(
                        "max_features",
                        format!("a fraction must be in (0, 1], got {f}"),
                    ));
                }
                crate::par::to_index((f * n).floor())
            }
            MaxFeatures::Count(c) => {
                if c == 0 || c > n_features {
                    return Err(MlError::param(
                        "max_features",
                        format!("a count must be in 1..={n_features}, got {c}"),
                    ));
                }
                c
            }
        };
        Ok(k.clamp(1, n_features.max(1)))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Name(String),
    Count(u64),
    Fraction(f64),
}

impl Serialize for MaxFeatures {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            MaxFeatures::All => Repr::Name("all".to_owned()),
            MaxFeatures::Sqrt => Repr::Name("sqrt".to_owned()),
            MaxFeatures::Log2 => Repr::Name("log2".to_owned()),
            MaxFeatures::Fraction(f) => Repr::Fraction(f),
            MaxFeatures::Count(c) => Repr::Count(c as u64),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MaxFeatures {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Repr::deserialize(deserializer)? {
            Repr::Name(name) => match name.as_str() {
                "all" => Ok(MaxFeatures::All),
                "sqrt" => Ok(MaxFeatures::Sqrt),
                "log2" => Ok(MaxFeatures::Log2),
                other => Err(serde::de::Error::custom(format!(
                    "unknown max_features `{other}`, expected `all`, `sqrt`, `log2`, a fraction or a count"
                ))),
            },
            Repr::Count(c) => usize::try_from(c)
                .map(MaxFeatures::Count)
                .map_err(serde::de::Error::custom),
            Repr::Fraction(f) => Ok(MaxFeatures::Fraction(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_scikit_learn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(20).unwrap(), 4);
        assert_eq!(MaxFeatures::Log2.resolve(20).unwrap(), 4);
        assert_eq!(MaxFeatures::Log2.resolve(1).unwrap(), 1);
        assert_eq!(MaxFeatures::Fraction(1.0).resolve(20).unwrap(), 20);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(20).unwrap(), 1);
        assert_eq!(MaxFeatures::Count(3).resolve(20).unwrap(), 3);
        assert!(MaxFeatures::Count(21).resolve(20).is_err());
        assert!(MaxFeatures::Fraction(1.5).resolve(20).is_err());
    }

    #[test]
    fn json_forms() {
        for (text, value) in [
            ("\"sqrt\"", MaxFeatures::Sqrt),
            ("\"all\"", MaxFeatures::All),
            ("0.5", MaxFeatures::Fraction(0.5)),
            ("1.0", MaxFeatures::Fraction(1.0)),
            ("3", MaxFeatures::Count(3)),
        ] {
            let parsed: MaxFeatures = serde_json::from_str(text).unwrap();
            assert_eq!(parsed, value);
            assert_eq!(serde_json::to_string(&value).unwrap(), text);
        }
        assert!(serde_json::from_str::<MaxFeatures>("\"auto\"").is_err());
    }
}
