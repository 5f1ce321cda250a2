//! Normalising what learners type and matching it against choices,
//! keywords, regular expressions and number ranges.
//!
//! Everything here is pure and never panics, whatever the input.

/// The canonical form of a learner's reply (or of an author's keyword,
/// alias or choice text) that every matcher compares:
///
/// - case is folded (`str::to_lowercase`);
/// - decimal digits of other scripts (Arabic-Indic `١`, Eastern
///   Arabic-Indic `۱`, Devanagari `१`, full-width `１`, Bengali, Thai, ...)
///   become ASCII digits, and full-width ASCII forms (`ＳＴＯＰ`) become ASCII;
/// - whitespace, control and zero-width characters separate words; runs of
///   them collapse to one space;
/// - characters that are neither letters nor digits are dropped from both
///   ends (`"1."`, `"1)"`, `"(1)"`, `"#1"`, `"STOP!"`, `"\"yes\""`).
///
/// Inner punctuation is kept (`"no. 1"`, `"don't"`); a reply made only of
/// punctuation or emoji normalises to the empty string.
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    // True when a separator was seen since the last kept character.
    let mut pending_space = false;
    for c in input.chars() {
        if is_separator(c) {
            pending_space = !out.is_empty();
            continue;
        }
        let c = fold_width_and_digits(c);
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    // Spaces are not alphanumeric either, so "( 1 )" becomes "1".
    let trimmed = out.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_owned()
    }
}

/// Whitespace, control characters and the invisible formatting characters
/// that phones like to insert (zero-width space/joiners, BOM).
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// First code points of the Unicode `Nd` (decimal digit) blocks outside
/// ASCII. Each block holds the digits 0..=9 in order.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, // Arabic-Indic
    0x06F0, // Extended (Eastern) Arabic-Indic
    0x07C0, // NKo
    0x0966, // Devanagari
    0x09E6, // Bengali
    0x0A66, // Gurmukhi
    0x0AE6, // Gujarati
    0x0B66, // Oriya
    0x0BE6, // Tamil
    0x0C66, // Telugu
    0x0CE6, // Kannada
    0x0D66, // Malayalam
    0x0DE6, // Sinhala Lith
    0x0E50, // Thai
    0x0ED0, // Lao
    0x0F20, // Tibetan
    0x1040, // Myanmar
    0x1090, // Myanmar Shan
    0x17E0, // Khmer
    0x1810, // Mongolian
    0x1946, // Limbu
    0x19D0, // New Tai Lue
    0x1A80, // Tai Tham Hora
    0x1A90, // Tai Tham Tham
    0x1B50, // Balinese
    0x1BB0, // Sundanese
    0x1C40, // Lepcha
    0x1C50, // Ol Chiki
    0xA620, // Vai
    0xA8D0, // Saurashtra
    0xA900, // Kayah Li
    0xA9D0, // Javanese
    0xA9F0, // Myanmar Tai Laing
    0xAA50, // Cham
    0xABF0, // Meetei Mayek
    0xFF10, // Full-width
];

/// Maps a digit of another script to its ASCII digit and a full-width ASCII
/// form (U+FF01..U+FF5E) to plain ASCII; other characters are unchanged.
fn fold_width_and_digits(c: char) -> char {
    let cp = c as u32;
    if cp < 0x0660 {
        return c;
    }
    if (0xFF01..=0xFF5E).contains(&cp) {
        return char::from_u32(cp - 0xFEE0).unwrap_or(c);
    }
    for &zero in DIGIT_ZEROS {
        if (zero..zero + 10).contains(&cp) {
            return char::from(b'0' + (cp - zero) as u8);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_messy_forms() {
        for (input, want) in [
            ("1.", "1"),
            ("1)", "1"),
            ("(1)", "1"),
            ("#1", "1"),
            (" One ", "one"),
            ("( 1 )", "1"),
            ("STOP!", "stop"),
            ("  yes   pls ", "yes pls"),
            ("\u{0661}", "1"),
            ("\u{06F2}", "2"),
            ("\u{0967}", "1"),
            ("\u{FF13}", "3"),
            ("\u{FF33}\u{FF34}\u{FF2F}\u{FF30}", "stop"),
            ("no. 1", "no. 1"),
            ("don't stop", "don't stop"),
            ("a\u{200B}b", "a b"),
            ("line\none\t", "line one"),
            ("", ""),
            ("?!", ""),
            ("ÉCOLE", "école"),
        ] {
            assert_eq!(normalize(input), want, "normalize({input:?})");
        }
    }
}
