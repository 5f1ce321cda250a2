//! Phone numbers: parsed once into E.164 (`+254712345678`), the form every
//! gateway understands and the key a learner is found by. The rules of
//! each numbering plan come from the `phonenumber` crate (Google's
//! libphonenumber metadata).

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;
use phonenumber::country::Id;

/// A country whose numbering plan reads national numbers (`0712 345 678`
/// in `KE`): an ISO 3166-1 alpha-2 code, case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country(Id);

impl Country {
    /// The two-letter code, upper case (`KE`).
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Country {
    type Err = PhoneError;

    fn from_str(code: &str) -> Result<Country, PhoneError> {
        let code = code.trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(PhoneError::UnknownCountry(code.to_owned()));
        }
        code.to_ascii_uppercase()
            .parse::<Id>()
            .map(Country)
            .map_err(|_| PhoneError::UnknownCountry(code.to_owned()))
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a text is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("the phone number is empty")]
    Empty,
    #[error("{0:?} is not a phone number: use digits, with the country code (+254712345678)")]
    NotANumber(String),
    #[error(
        "{0:?} has no country code: write it as +<country code><number> (+254712345678), or give a default country"
    )]
    NeedsCountry(String),
    #[error("{0:?} is not a valid phone number in its country's numbering plan")]
    Invalid(String),
    #[error("{0:?} is not a country code: use two letters (ISO 3166-1), such as KE, UG, NG")]
    UnknownCountry(String),
}

/// A phone number in E.164: `+`, the country code and the national
/// number, digits only (`+254712345678`). Only [`Phone::parse`] makes one,
/// so every `Phone` is a valid number of a real numbering plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// Characters people put between digits.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}')
}

impl Phone {
    /// Reads what a person or a gateway wrote: international (`+254 712
    /// 345 678`, `00254712345678`, `254712345678`) or, with a default
    /// country, national (`0712 345 678` in `KE`).
    pub fn parse(raw: &str, default_country: Option<Country>) -> Result<Phone, PhoneError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let compact: String = text.chars().filter(|&c| !is_separator(c)).collect();
        let (plus, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => match compact.strip_prefix("00") {
                Some(rest) => (true, rest),
                None => (false, compact.as_str()),
            },
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::NotANumber(text.to_owned()));
        }
        // E.164 allows at most 15 digits.
        if digits.len() > 15 || digits.len() < 4 {
            return Err(PhoneError::Invalid(text.to_owned()));
        }
        let international = || Phone::valid(None, &format!("+{digits}"));
        let found = if plus {
            international()
        } else if let Some(country) = default_country {
            // National first (`0712...`); then the country's own code
            // written without `+` (`254712...`), then any other country's.
            Phone::valid(Some(country), digits).or_else(international)
        } else if digits.starts_with('0') {
            return Err(PhoneError::NeedsCountry(text.to_owned()));
        } else {
            international()
        };
        found.ok_or_else(|| PhoneError::Invalid(text.to_owned()))
    }

    fn valid(country: Option<Country>, text: &str) -> Option<Phone> {
        let number = phonenumber::parse(country.map(|c| c.0), text).ok()?;
        if !phonenumber::is_valid(&number) {
            return None;
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        // The crate's E.164 is `+` and digits; anything else is not a number we keep.
        let ok = e164.len() > 1
            && e164.starts_with('+')
            && e164[1..].bytes().all(|b| b.is_ascii_digit());
        ok.then_some(Phone(e164))
    }

    /// `+254712345678`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+` (`254712345678`), as some gateways and
    /// the reference's examples write numbers.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ke() -> Option<Country> {
        Some("ke".parse().unwrap())
    }

    #[test]
    fn kenyan_numbers_in_every_common_form() {
        for raw in [
            "0712 345 678",
            "0712345678",
            "254712345678",
            "+254712345678",
            "+254 712 345 678",
            "00254712345678",
            " +254-712-345-678 ",
            "(0712) 345678",
        ] {
            let phone = Phone::parse(raw, ke()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(phone.as_str(), "+254712345678", "{raw}");
            assert_eq!(phone.digits(), "254712345678");
        }
        // International forms need no default country.
        for raw in ["254712345678", "+254712345678", "00254712345678"] {
            assert_eq!(
                Phone::parse(raw, None).unwrap().as_str(),
                "+254712345678",
                "{raw}"
            );
        }
    }

    #[test]
    fn other_countries_national_forms() {
        let cases = [
            ("UG", "0772 123456", "+256772123456"),
            ("NG", "0803 123 4567", "+2348031234567"),
            ("TZ", "0754 123 456", "+255754123456"),
            ("FR", "06 12 34 56 78", "+33612345678"),
        ];
        for (country, raw, want) in cases {
            let phone = Phone::parse(raw, Some(country.parse().unwrap())).unwrap();
            assert_eq!(phone.as_str(), want, "{country} {raw}");
        }
        // A foreign number written internationally is kept as it is,
        // whatever the default country.
        assert_eq!(
            Phone::parse("+256772123456", ke()).unwrap().as_str(),
            "+256772123456"
        );
    }

    #[test]
    fn what_is_not_a_number_is_refused_with_the_reason() {
        assert_eq!(Phone::parse("  ", ke()), Err(PhoneError::Empty));
        assert!(matches!(
            Phone::parse("call me", ke()),
            Err(PhoneError::NotANumber(_))
        ));
        assert!(matches!(
            Phone::parse("+254 71x", ke()),
            Err(PhoneError::NotANumber(_))
        ));
        assert!(matches!(
            Phone::parse("0712345678", None),
            Err(PhoneError::NeedsCountry(_))
        ));
        for raw in [
            "12",
            "+2547123",
            "0712",
            "+1234567890123456",
            "+999123456789",
        ] {
            assert!(
                matches!(Phone::parse(raw, ke()), Err(PhoneError::Invalid(_))),
                "{raw}: {:?}",
                Phone::parse(raw, ke())
            );
        }
    }

    #[test]
    fn countries_are_two_letter_codes() {
        assert_eq!("ke".parse::<Country>().unwrap().code(), "KE");
        assert_eq!(" UG ".parse::<Country>().unwrap().to_string(), "UG");
        for bad in ["", "K", "KEN", "Kenya", "1E", "XX"] {
            assert!(
                matches!(bad.parse::<Country>(), Err(PhoneError::UnknownCountry(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_input_panics() {
        for raw in [
            "+",
            "00",
            "+0",
            "0",
            "٠٧١٢٣٤٥٦٧٨",
            "+２５４",
            "\u{0}",
            "+-",
            "((()))",
            "999999999999999999999999",
        ] {
            let _ = Phone::parse(raw, ke());
            let _ = Phone::parse(raw, None);
        }
    }
}
