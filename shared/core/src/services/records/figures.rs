//! The daily report's seven counters, named once: each repository's line of `report.json`
//! and `report.csv`, and the tenant's totals in the stored record, the `report.ready` event
//! and `GET /v1/reports`, all carry them in this order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares [`Figures`] with one `u64` per name, and the names and values in that order, so
/// the struct, its JSON and the CSV columns cannot disagree.
macro_rules! figures {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// Storage figures are a snapshot taken when the report runs; usage figures count
        /// the report's day.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct Figures {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl Figures {
            /// The counters' names, as every output spells them.
            pub const NAMES: [&'static str; COUNT] = [$(stringify!($name)),*];

            /// The values in the order of [`Figures::NAMES`].
            pub fn values(&self) -> [u64; COUNT] {
                [$(self.$name),*]
            }

            fn from_values([$($name),*]: [u64; COUNT]) -> Self {
                Self { $($name),* }
            }
        }
    };
}

const COUNT: usize = 7;

figures! {
    /// Bytes of the files of live (not deleted) versions, at the time of the run.
    storage_bytes,
    versions,
    files,
    /// Counted on the report's day.
    downloads,
    download_bytes,
    uploads_accepted,
    uploads_rejected,
}

impl Figures {
    /// Adds `other`, counter by counter.
    pub fn add(&mut self, other: &Figures) {
        let (mine, theirs) = (self.values(), other.values());
        *self = Self::from_values(std::array::from_fn(|i| mine[i] + theirs[i]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_follow_the_fields_in_order() {
        let figures = Figures::from_values([1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(figures.uploads_rejected, 7);
        let json = serde_json::to_string(&figures).expect("serialises");
        let expected: Vec<String> = Figures::NAMES
            .iter()
            .zip(figures.values())
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        assert_eq!(json, format!("{{{}}}", expected.join(",")));

        let mut sum = figures;
        sum.add(&figures);
        assert_eq!(sum.values(), [2, 4, 6, 8, 10, 12, 14]);
    }
}
