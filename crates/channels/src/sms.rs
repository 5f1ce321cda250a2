//! What an SMS costs: GSM 03.38 7-bit text fits 160 characters in one
//! message and 153 per part when concatenated (the rest of each part holds
//! the concatenation header); one character outside that alphabet makes
//! the whole message UCS-2: 70 characters, 67 per part. Characters of the
//! GSM extension table (`€ [ ] { } \ ^ ~ |` and form feed) take two
//! septets, and neither an escape pair nor a UTF-16 surrogate pair is
//! split between parts.

/// The alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet, 7 bits a character.
    Gsm7,
    /// UTF-16 (UCS-2 on the air), 16 bits a unit.
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// Units in a single message, and in each part of a long one.
    fn capacity(self) -> (usize, usize) {
        match self {
            Encoding::Gsm7 => (160, 153),
            Encoding::Ucs2 => (70, 67),
        }
    }
}

/// How a text goes out as SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsCost {
    pub encoding: Encoding,
    /// Messages billed (1 for an empty text).
    pub segments: usize,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    /// The first character that forced UCS-2, and its char index.
    pub first_non_gsm: Option<(usize, char)>,
}

/// The default alphabet, in table order.
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: sent as ESC and the character.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` outside the alphabet.
pub fn gsm_septets(c: char) -> Option<usize> {
    if c.is_ascii_alphanumeric() || c == ' ' || BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The cost of sending `text` as SMS.
pub fn cost(text: &str) -> SmsCost {
    let first_non_gsm = text
        .chars()
        .enumerate()
        .find(|&(_, c)| gsm_septets(c).is_none());
    let (encoding, sizes): (Encoding, Vec<usize>) = match first_non_gsm {
        None => (
            Encoding::Gsm7,
            text.chars().filter_map(gsm_septets).collect(),
        ),
        Some(_) => (Encoding::Ucs2, text.chars().map(char::len_utf16).collect()),
    };
    let units: usize = sizes.iter().sum();
    let (single, part) = encoding.capacity();
    let segments = if units <= single {
        1
    } else {
        // Fill parts without splitting a character's units.
        let mut parts = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > part {
                parts += 1;
                used = 0;
            }
            used += size;
        }
        parts
    };
    SmsCost {
        encoding,
        segments,
        units,
        first_non_gsm,
    }
}

/// Splits `text` into messages that each fit one SMS (for gateways that do
/// not concatenate), at spaces or newlines where possible, in order;
/// joined with single spaces they give back the text's words.
pub fn split(text: &str) -> Vec<String> {
    if cost(text).segments <= 1 {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for word in text.split_inclusive([' ', '\n']) {
        let candidate = format!("{current}{word}");
        if cost(candidate.trim_end()).segments <= 1 {
            current = candidate;
            continue;
        }
        if !current.trim().is_empty() {
            parts.push(current.trim_end().to_owned());
        }
        current = String::new();
        // A word longer than one message is cut between characters.
        for c in word.chars() {
            let candidate = format!("{current}{c}");
            if cost(&candidate).segments > 1 {
                parts.push(std::mem::take(&mut current));
            }
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        parts.push(current.trim_end().to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_gsm7() {
        let c = cost("Reply 1, 2 or 3.");
        assert_eq!((c.encoding, c.segments, c.units), (Encoding::Gsm7, 1, 16));
        assert_eq!(cost("").segments, 1);
        assert_eq!(cost(&"a".repeat(160)).segments, 1);
        assert_eq!(cost(&"a".repeat(161)).segments, 2);
        assert_eq!(cost(&"a".repeat(306)).segments, 2);
        assert_eq!(cost(&"a".repeat(307)).segments, 3);
        // Accented letters of the alphabet stay GSM-7.
        assert_eq!(
            cost("Répondez: à é è ù ì ò Ç Ñ ü ß £ ¥ §").encoding,
            Encoding::Gsm7
        );
    }

    #[test]
    fn extension_characters_take_two_septets_and_do_not_split() {
        let c = cost("Pay €5 [now]");
        assert_eq!((c.encoding, c.units), (Encoding::Gsm7, 15));
        assert_eq!(cost(&"€".repeat(80)).segments, 1);
        assert_eq!(cost(&"€".repeat(81)).segments, 2);
        // 152 septets then a two-septet character: it starts part two.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(cost(&text).units, 164);
        assert_eq!(cost(&text).segments, 2);
    }

    #[test]
    fn one_character_outside_the_alphabet_makes_it_ucs2() {
        let curly = "Don’t spend it all";
        let c = cost(curly);
        assert_eq!(c.encoding, Encoding::Ucs2);
        assert_eq!(c.first_non_gsm, Some((3, '’')));
        let long = format!("{}’", "a".repeat(100));
        assert_eq!(cost(&long).segments, 2);
        assert_eq!(cost(&"a".repeat(100)).segments, 1);
        assert_eq!(cost(&"ñ".repeat(70)).encoding, Encoding::Gsm7);
        assert_eq!(cost(&"ы".repeat(70)).segments, 1);
        assert_eq!(cost(&"ы".repeat(71)).segments, 2);
        // An emoji is two UTF-16 units, never split between parts.
        let emoji = format!("{}😀", "ы".repeat(66));
        assert_eq!(cost(&emoji).units, 68);
        assert_eq!(cost(&emoji).segments, 1);
        let emoji = format!("{}😀{}", "ы".repeat(66), "ы".repeat(3));
        assert_eq!(cost(&emoji).segments, 2);
    }

    #[test]
    fn split_keeps_words_and_order() {
        let words: Vec<String> = (0..80).map(|i| format!("word{i}")).collect();
        let text = words.join(" ");
        let parts = split(&text);
        assert!(parts.len() >= 3, "{parts:?}");
        assert!(parts.iter().all(|p| cost(p).segments == 1));
        assert_eq!(parts.join(" "), text);
        assert_eq!(split("short"), vec!["short".to_owned()]);
        let long_word = "x".repeat(400);
        let parts = split(&long_word);
        assert_eq!(parts.concat(), long_word);
        assert!(parts.iter().all(|p| cost(p).segments == 1));
    }
}
