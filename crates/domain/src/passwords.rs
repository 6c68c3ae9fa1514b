//! Passwords for people's saved accounts: the generator (length and character classes, the
//! randomness passed in) and the per-app rotation policy, with when a card falls due.

use rand::RngCore;
use rand::seq::SliceRandom;

use crate::FieldError;
use crate::clock::Timestamp;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#$%&*+-=?@^_~";

/// What a generated password is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipe {
    pub length: usize,
    pub lower: bool,
    pub upper: bool,
    pub digits: bool,
    pub symbols: bool,
}

impl Default for Recipe {
    fn default() -> Self {
        Self {
            length: 24,
            lower: true,
            upper: true,
            digits: true,
            symbols: true,
        }
    }
}

impl Recipe {
    /// Checked: 12 to 128 characters, at least one class, no more classes than characters.
    pub fn new(
        length: usize,
        lower: bool,
        upper: bool,
        digits: bool,
        symbols: bool,
    ) -> Result<Self, FieldError> {
        if !(12..=128).contains(&length) {
            return Err(FieldError::new("length", "length must be 12 to 128"));
        }
        if !(lower || upper || digits || symbols) {
            return Err(FieldError::new(
                "lower",
                "choose at least one kind of character",
            ));
        }
        Ok(Self {
            length,
            lower,
            upper,
            digits,
            symbols,
        })
    }

    fn classes(&self) -> Vec<&'static [u8]> {
        [
            (self.lower, LOWER),
            (self.upper, UPPER),
            (self.digits, DIGITS),
            (self.symbols, SYMBOLS),
        ]
        .into_iter()
        .filter_map(|(on, set)| on.then_some(set))
        .collect()
    }
}

/// A password of `recipe`: at least one character of every chosen class, the rest from all of
/// them, shuffled. Look-alike characters (0/O, 1/l/I) are left out.
pub fn generate(recipe: &Recipe, rng: &mut dyn RngCore) -> String {
    let classes = recipe.classes();
    let all: Vec<u8> = classes.iter().flat_map(|c| c.iter().copied()).collect();
    let pick = |set: &[u8], rng: &mut dyn RngCore| set[(rng.next_u32() as usize) % set.len()];
    let mut out: Vec<u8> = classes.iter().map(|c| pick(c, rng)).collect();
    while out.len() < recipe.length {
        out.push(pick(&all, rng));
    }
    out.shuffle(rng);
    String::from_utf8(out).expect("ASCII")
}

/// When an app's people's saved passwords are rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `days` after the password was last revealed (someone saw it).
    AfterReveal { days: u32 },
    /// Every `days` since the password was saved or last rotated.
    Schedule { days: u32 },
}

impl Rotation {
    /// From the API's fields: `policy` is `after_reveal`, `schedule` or `off`; 1 to 3650 days.
    pub fn parse(policy: &str, days: Option<i64>) -> Result<Option<Self>, FieldError> {
        if days.is_some_and(|d| !(1..=3650).contains(&d)) {
            return Err(FieldError::new("days", "days must be 1 to 3650"));
        }
        let days = || -> Result<u32, FieldError> {
            days.map(|d| d as u32)
                .ok_or_else(|| FieldError::new("days", "days is required unless policy is off"))
        };
        match policy {
            "off" => Ok(None),
            "after_reveal" => Ok(Some(Self::AfterReveal { days: days()? })),
            "schedule" => Ok(Some(Self::Schedule { days: days()? })),
            _ => Err(FieldError::new(
                "policy",
                "policy must be after_reveal, schedule or off",
            )),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Self::AfterReveal { .. } => "after_reveal",
            Self::Schedule { .. } => "schedule",
        }
    }

    pub fn days(self) -> u32 {
        match self {
            Self::AfterReveal { days } | Self::Schedule { days } => days,
        }
    }

    /// When a card with this history is due (none: never revealed, under `AfterReveal`).
    pub fn due_at(
        self,
        password_set: Timestamp,
        last_revealed: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let d = chrono::Duration::days(i64::from(self.days()));
        match self {
            Self::AfterReveal { .. } => last_revealed.map(|t| t + d),
            Self::Schedule { .. } => Some(password_set + d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_passwords_follow_their_recipe() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let p = generate(&Recipe::default(), &mut rng);
            assert_eq!(p.len(), 24);
            assert!(p.bytes().any(|b| LOWER.contains(&b)));
            assert!(p.bytes().any(|b| UPPER.contains(&b)));
            assert!(p.bytes().any(|b| DIGITS.contains(&b)));
            assert!(p.bytes().any(|b| SYMBOLS.contains(&b)));
        }
        let digits = Recipe::new(12, false, false, true, false).unwrap();
        assert!(
            generate(&digits, &mut rng)
                .bytes()
                .all(|b| b.is_ascii_digit())
        );
        assert_eq!(
            Recipe::new(11, true, true, true, true).unwrap_err().field,
            "length"
        );
        assert_eq!(
            Recipe::new(16, false, false, false, false)
                .unwrap_err()
                .field,
            "lower"
        );
    }

    #[test]
    fn rotation_falls_due_as_its_policy_says() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let later = t0 + chrono::Duration::days(5);
        let s = Rotation::parse("schedule", Some(30)).unwrap().unwrap();
        assert_eq!(s.due_at(t0, None), Some(t0 + chrono::Duration::days(30)));
        let r = Rotation::parse("after_reveal", Some(7)).unwrap().unwrap();
        assert_eq!(r.due_at(t0, None), None, "never revealed: never due");
        assert_eq!(
            r.due_at(t0, Some(later)),
            Some(later + chrono::Duration::days(7))
        );
        assert_eq!(Rotation::parse("off", None).unwrap(), None);
        assert_eq!(
            Rotation::parse("schedule", Some(0)).unwrap_err().field,
            "days"
        );
        assert_eq!(
            Rotation::parse("weekly", Some(7)).unwrap_err().field,
            "policy"
        );
    }
}
