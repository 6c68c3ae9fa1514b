//! `named_enum!`: a state or kind kept as an enum in code and as a fixed lower-case word in
//! the database and on the wire, with one spelling per variant.

/// Declares a `Copy` enum whose variants each have one stored name: `as_str`, `ALL`,
/// `parse(field, raw)` (a [`crate::FieldError`] naming the field and listing the names),
/// `FromStr`, `Display`, and `Serialize` as that name.
#[macro_export]
macro_rules! named_enum {
    ($(#[$m:meta])* $vis:vis enum $name:ident {
        $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// As stored and as the API says it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            /// Parses a person's input, naming `field` and the accepted names when it is none.
            pub fn parse(field: &str, raw: &str) -> Result<Self, $crate::FieldError> {
                raw.parse().map_err(|_| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    $crate::FieldError::new(field, format!("{field} must be one of: {}", names.join(", ")))
                })
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or(())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
