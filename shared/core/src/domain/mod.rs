//! The domain: names and their rules, records, and the one place keys are built.

/// The conversions every validated string type (names, ids) shares: a `String` newtype whose
/// `parse` checks the value, read through `as_str`, serialised as the string itself.
macro_rules! validated_string_impls {
    ($ty:ident, $err:ty) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(value: String) -> Result<Self, $err> {
                Self::parse(&value)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use validated_string_impls;

pub mod access;
pub mod bounds;
pub mod canonical;
pub mod echo;
pub mod ids;
pub mod keys;
pub mod model;
pub mod names;
pub mod scan_policy;
