//! Normalising what learners type and matching it against choices,
//! keywords, regular expressions and number ranges.
//!
//! Everything here is pure and never panics, whatever the input.
//!
//! The policies (documented for authors in docs/module-format.md, "How
//! replies are matched"):
//!
//! - **Choices**: a reply selects choice `n` when, normalised, it is `n`
//!   (optionally after a prefix: `option 1`, `number 1`, `no. 1`, `#1`,
//!   `jibu 1`, `chaguo 1`), the number word for `n` (`one`..`ten`,
//!   `moja`..`kumi`), the choice's text in any of the module's languages, or
//!   one of its aliases. Exact matches win over typo-tolerant ones; a typo
//!   that fits two choices selects none. Then, word by word (see
//!   `matching/words.rs`): a single number, number word or ordinal amid
//!   filler words, a copied list line, an amount a choice names, or content
//!   words that fit exactly one choice; never with a negation, a hedge or
//!   two different references.
//! - **Typos**: a reply word and an expected word of four characters or more,
//!   neither containing a digit, match when their Damerau-Levenshtein
//!   distance is at most 1 (`stpo`, `hepl`, `savigns`). Shorter words and
//!   numbers must be exact.
//! - **Keyword rules** (`keywords:` in `answers`): the whole reply equals a
//!   keyword, or the reply has at most three words and contains the keyword
//!   as whole words (`yes pls` matches `yes`; `I said no way` does not
//!   match `no`).
//! - **Module keywords** (STOP, RESTART, HELP): the whole reply (`stop`,
//!   `STOP!`, `stpo`); STOP and HELP also in a short phrase of courtesy
//!   words, with the engine's own en/sw/fr words ([`phrase_keyword`]:
//!   `please stop sending`, `nisaidie`; never `don't stop`).
//! - **Numbers**: see [`parse_number`].
//! - **Regex**: matched against the normalised reply.
//! - **Any**: any reply with at least one visible character.

mod words;

pub use words::{BUILTIN_HELP, BUILTIN_STOP, phrase_keyword};

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
    if input.is_ascii() {
        normalize_ascii(input)
    } else {
        normalize_unicode(input)
    }
}

/// [`normalize`] for any input.
fn normalize_unicode(input: &str) -> String {
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

/// [`normalize`] for ASCII input, byte by byte.
fn normalize_ascii(input: &str) -> String {
    let bytes = input.as_bytes();
    let Some(start) = bytes.iter().position(u8::is_ascii_alphanumeric) else {
        return String::new();
    };
    let end = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(start, |e| e + 1);
    let mut out = Vec::with_capacity(end - start);
    let mut pending_space = false;
    for &b in &bytes[start..end] {
        if b.is_ascii_whitespace() || b.is_ascii_control() {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        out.push(b.to_ascii_lowercase());
    }
    // Only ASCII bytes were pushed.
    String::from_utf8(out).unwrap_or_default()
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

/// Which rule accepted a reply. Stored with every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// `1`, `1.`, `option 1`, `١`...
    ChoiceNumber,
    /// `one`, `moja`...
    ChoiceWord,
    /// The choice's text.
    ChoiceText,
    /// One of the choice's aliases.
    Alias,
    /// A choice number or number word amid filler words (`i'd say 3`,
    /// `jibu ni 3`, `je crois 1`).
    ChoiceMention,
    /// An ordinal (`third`, `the 3rd`, `the last one`, `ya tatu`, `3e`).
    ChoiceOrdinal,
    /// A choice number (or ordinal) together with words of that same
    /// choice: a copied list line (`2. Knowing how much you earn`).
    ChoiceLine,
    /// Content words that fit exactly one choice (`savings account`).
    ChoicePartial,
    /// The amount a choice names (`Ksh 500` for `500 shillings`).
    ChoiceAmount,
    /// A `keywords` answer rule.
    Keyword,
    /// A `regex` answer rule.
    Regex,
    /// A `number` answer rule.
    Number,
    /// An `any` answer rule.
    Any,
    /// Nothing matched and the attempts ran out (recorded for quiz
    /// questions, which then count as not correct).
    Exhausted,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::ChoiceNumber => "choice_number",
            MatchedBy::ChoiceWord => "choice_word",
            MatchedBy::ChoiceText => "choice_text",
            MatchedBy::Alias => "alias",
            MatchedBy::ChoiceMention => "choice_mention",
            MatchedBy::ChoiceOrdinal => "choice_ordinal",
            MatchedBy::ChoiceLine => "choice_line",
            MatchedBy::ChoicePartial => "choice_partial",
            MatchedBy::ChoiceAmount => "choice_amount",
            MatchedBy::Keyword => "keyword",
            MatchedBy::Regex => "regex",
            MatchedBy::Number => "number",
            MatchedBy::Any => "any",
            MatchedBy::Exhausted => "exhausted",
        }
    }
}

/// A successful match: the rule, and whether a typo was forgiven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    pub by: MatchedBy,
    pub typo: bool,
}

impl Match {
    const fn exact(by: MatchedBy) -> Match {
        Match { by, typo: false }
    }
}

/// How well a reply fits an expected word or phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fit {
    /// Equal after normalisation.
    Exact,
    /// One typo away (see [`fits`]).
    Typo,
}

/// Compares a normalised reply with a normalised expected word or phrase:
/// equal, or (both at least four characters, no digits) one
/// Damerau-Levenshtein edit apart.
pub fn fits(reply: &str, expected: &str) -> Option<Fit> {
    if reply == expected {
        return Some(Fit::Exact);
    }
    if expected.is_empty()
        || reply.len().abs_diff(expected.len()) > 4
        || expected.bytes().any(|b| b.is_ascii_digit())
        || reply.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    let short = |s: &str| s.chars().nth(3).is_none();
    if short(reply) || short(expected) {
        return None;
    }
    within_one_edit(reply, expected).then_some(Fit::Typo)
}

/// True when `a` becomes `b` with at most one insertion, deletion,
/// substitution or transposition of adjacent characters (optimal string
/// alignment distance, from `strsim`, at most 1).
pub fn within_one_edit(a: &str, b: &str) -> bool {
    // The common prefix and suffix change no edit distance; trimming them
    // first leaves `strsim` at most a few characters, without allocating
    // for the many pairs that are far apart.
    let prefix = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    // `prefix` is a char boundary in both strings: the chars before it are equal.
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix: usize = a
        .chars()
        .rev()
        .zip(b.chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    // One edit leaves at most two differing characters on either side.
    if a.chars().nth(2).is_some() || b.chars().nth(2).is_some() {
        return false;
    }
    strsim::osa_distance(a, b) <= 1
}

/// A whole-reply keyword (STOP, RESTART, HELP): the best fit of the
/// normalised reply against any of `keywords` (already normalised).
pub fn whole_keyword(norm: &str, keywords: &[String]) -> Option<Fit> {
    keywords.iter().filter_map(|k| fits(norm, k)).min()
}

/// A `keywords` answer rule. The whole reply may be a keyword (typos
/// forgiven), or a reply of at most three words may contain one as whole
/// words (`yes pls`).
pub fn keyword_rule(norm: &str, keywords: &[String]) -> Option<Match> {
    if norm.is_empty() {
        return None;
    }
    let few_words = norm.split(' ').nth(3).is_none();
    let mut best: Option<Fit> = None;
    for k in keywords {
        if k.is_empty() {
            continue;
        }
        if norm == k || (few_words && contains_words(norm, k)) {
            return Some(Match::exact(MatchedBy::Keyword));
        }
        if best.is_none() {
            let typo = fits(norm, k).is_some()
                || (few_words && !k.contains(' ') && norm.split(' ').any(|w| fits(w, k).is_some()));
            if typo {
                best = Some(Fit::Typo);
            }
        }
    }
    best.map(|_| Match {
        by: MatchedBy::Keyword,
        typo: true,
    })
}

/// True when `needle` occurs in `hay` as whole space-separated words.
fn contains_words(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(start, m)| {
        let end = start + m.len();
        (start == 0 || hay.as_bytes()[start - 1] == b' ')
            && (end == hay.len() || hay.as_bytes()[end] == b' ')
    })
}

/// Number words accepted as choice numbers and as numbers.
const NUMBER_WORDS: &[(&str, u32)] = &[
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("sifuri", 0),
    ("moja", 1),
    ("mbili", 2),
    ("tatu", 3),
    ("nne", 4),
    ("tano", 5),
    ("sita", 6),
    ("saba", 7),
    ("nane", 8),
    ("tisa", 9),
    ("kumi", 10),
    ("un", 1),
    ("une", 1),
    ("deux", 2),
    ("trois", 3),
    ("quatre", 4),
    ("cinq", 5),
    ("sept", 7),
    ("huit", 8),
    ("neuf", 9),
    ("dix", 10),
];

/// The value of an English, Swahili or French number word (`zero`..`ten`,
/// `sifuri`..`kumi`, `un`..`dix`).
pub fn number_word(word: &str) -> Option<u32> {
    NUMBER_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|&(_, n)| n)
}

/// Words that may precede a choice number (`option 2`, `no. 2`, `jibu 2`).
const CHOICE_PREFIXES: &[&str] = &[
    "option", "opt", "choice", "number", "num", "no", "nr", "n", "answer", "jibu", "chaguo",
    "namba", "nambari", "numéro", "numero", "réponse", "reponse", "choix",
];

/// The choice number a normalised reply names, and whether it was written
/// as digits ([`MatchedBy::ChoiceNumber`]) or as a word
/// ([`MatchedBy::ChoiceWord`]). Does not check the range.
pub fn choice_number(norm: &str) -> Option<(u32, MatchedBy)> {
    let bare = |s: &str| -> Option<(u32, MatchedBy)> {
        if !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().ok().map(|n| (n, MatchedBy::ChoiceNumber));
        }
        number_word(s).map(|n| (n, MatchedBy::ChoiceWord))
    };
    if let Some(found) = bare(norm) {
        return Some(found);
    }
    for prefix in CHOICE_PREFIXES {
        let Some(rest) = norm.strip_prefix(prefix) else {
            continue;
        };
        // "none" is not "no" + "ne": the prefix must end at a non-letter.
        if rest.starts_with(char::is_alphabetic) {
            continue;
        }
        let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
        // "no one" and "n un" are not numbers: these short prefixes take digits only.
        if matches!(*prefix, "no" | "n") && !rest.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(found) = bare(rest) {
            return Some(found);
        }
    }
    None
}

/// Currency words accepted around an amount (`ksh 500`, `500 bob`).
pub(crate) const CURRENCY_WORDS: &[&str] = &[
    "ksh",
    "kshs",
    "kes",
    "sh",
    "shs",
    "sh.",
    "shs.",
    "ksh.",
    "tsh",
    "tshs",
    "tzs",
    "ugx",
    "ush",
    "shillings",
    "shilling",
    "shilingi",
    "bob",
    "usd",
    "dollars",
    "dollar",
    "fcfa",
    "cfa",
    "xaf",
    "xof",
    "francs",
    "franc",
    "euros",
    "euro",
    "eur",
];

/// The number in a normalised reply, for `number` answer rules.
///
/// Accepted: a reply of at most four words holding exactly one number
/// (`500`, `1,000`, `1 000`, `2.5`, `ksh 500`, `I save 200`), digits in any
/// script (normalisation made them ASCII), or a whole-reply number word
/// (`five`, `tano`). Commas and single spaces are thousands separators only
/// between groups of three digits; `.` is the decimal point. Suffixes such
/// as `5k` are *not* numbers (use a `regex` rule), and there are no
/// negative numbers (normalisation drops a leading `-`).
pub fn parse_number(norm: &str) -> Option<f64> {
    if let Some(n) = number_word(norm) {
        return Some(f64::from(n));
    }
    if norm.len() > 64 || norm.split(' ').nth(4).is_some() {
        return None;
    }
    // Glue "1 000 000" back together before splitting into words.
    let words: Vec<&str> = norm.split(' ').collect();
    let mut tokens: Vec<String> = Vec::with_capacity(words.len());
    for w in words {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric());
        let w = strip_currency(w);
        if w.is_empty() {
            continue;
        }
        let glue = w.len() == 3
            && w.bytes().all(|b| b.is_ascii_digit())
            && tokens
                .last()
                .is_some_and(|t: &String| t.bytes().all(|b| b.is_ascii_digit() || b == b' '));
        match tokens.last_mut() {
            Some(last) if glue => {
                last.push(' ');
                last.push_str(w);
            }
            _ => tokens.push(w.to_owned()),
        }
    }
    let mut found = None;
    for t in &tokens {
        if t.bytes().any(|b| b.is_ascii_digit()) {
            if found.is_some() {
                return None;
            }
            found = Some(parse_digits(t)?);
        }
    }
    found
}

/// `ksh500` -> `500`; a currency word alone becomes empty.
fn strip_currency(w: &str) -> &str {
    for c in CURRENCY_WORDS {
        if w == *c {
            return "";
        }
        if let Some(rest) = w.strip_prefix(c)
            && rest.starts_with(|ch: char| ch.is_ascii_digit())
        {
            return rest;
        }
    }
    w
}

/// `1,000.50`, `1 000`, `2.5`, `007`: digits with optional, consistent
/// thousands separators and an optional decimal part.
pub(crate) fn parse_digits(t: &str) -> Option<f64> {
    let (int, frac) = match t.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (t, None),
    };
    if let Some(f) = frac
        && (f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let sep = if int.contains(',') {
        Some(',')
    } else if int.contains(' ') {
        Some(' ')
    } else {
        None
    };
    let mut digits = String::with_capacity(t.len());
    match sep {
        None => digits.push_str(int),
        Some(sep) => {
            for (i, group) in int.split(sep).enumerate() {
                let ok = if i == 0 {
                    (1..=3).contains(&group.len())
                } else {
                    group.len() == 3
                };
                if !ok {
                    return None;
                }
                digits.push_str(group);
            }
        }
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        digits.push('.');
        digits.push_str(f);
    }
    digits.parse().ok()
}

/// True when `raw` holds at least one visible character (for `any`).
pub fn has_content(raw: &str) -> bool {
    raw.chars().any(|c| !is_separator(c))
}

/// Matches a normalised reply against an answer rule's matcher.
pub fn match_rule(norm: &str, raw: &str, matcher: &crate::module::Matcher) -> Option<Match> {
    use crate::module::Matcher;
    match matcher {
        Matcher::Keywords(words) => keyword_rule(norm, words),
        Matcher::Regex(re) => re.is_match(norm).then_some(Match::exact(MatchedBy::Regex)),
        Matcher::Number { min, max } => {
            let n = parse_number(norm)?;
            let in_range = min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m);
            in_range.then_some(Match::exact(MatchedBy::Number))
        }
        Matcher::Any => has_content(raw).then_some(Match::exact(MatchedBy::Any)),
    }
}

/// Matches a normalised reply against numbered choices. `choice_texts(i,
/// f)` must call `f` with the normalised text of choice `i` in each
/// language the module offers (the runtime renders templates).
///
/// Order: choice number, number word, exact text, exact alias, then one
/// typo in a whole text or alias if that fits exactly one choice; then the
/// word-by-word rules (a number, number word or ordinal amid filler words,
/// a copied list line, an amount, content words of one choice), which
/// select a choice only when every one of them that applies names the same
/// choice. A reply that fits two choices selects neither.
pub fn match_choice(
    norm: &str,
    choices: &[crate::module::Choice],
    mut choice_texts: impl FnMut(usize, &mut dyn FnMut(&str)),
) -> Option<(usize, Match)> {
    if choices.is_empty() || norm.is_empty() {
        return None;
    }
    if let Some((n, by)) = choice_number(norm) {
        let i = (n as usize).wrapping_sub(1);
        if i < choices.len() {
            return Some((i, Match::exact(by)));
        }
    }
    // Best typo candidate so far: (choice, rule), or ambiguous.
    let mut typo: Option<(usize, MatchedBy)> = None;
    let mut ambiguous = false;
    let mut note_typo = |i: usize, by: MatchedBy| match typo {
        None => typo = Some((i, by)),
        Some((j, _)) if j != i => ambiguous = true,
        Some(_) => {}
    };
    // Every choice's normalised texts, for the word-by-word rules: one
    // buffer, and (choice, range) per text.
    let mut all_texts = String::new();
    let mut texts: Vec<(usize, std::ops::Range<usize>)> = Vec::with_capacity(choices.len() * 2);
    for (i, _) in choices.iter().enumerate() {
        let mut exact = false;
        choice_texts(i, &mut |text: &str| {
            match fits(norm, text) {
                Some(Fit::Exact) => exact = true,
                Some(Fit::Typo) => note_typo(i, MatchedBy::ChoiceText),
                None => {}
            }
            let start = all_texts.len();
            all_texts.push_str(text);
            texts.push((i, start..all_texts.len()));
        });
        if exact {
            return Some((i, Match::exact(MatchedBy::ChoiceText)));
        }
    }
    for (i, choice) in choices.iter().enumerate() {
        for alias in &choice.aliases {
            match fits(norm, alias) {
                Some(Fit::Exact) => return Some((i, Match::exact(MatchedBy::Alias))),
                Some(Fit::Typo) => note_typo(i, MatchedBy::Alias),
                None => {}
            }
        }
    }
    match typo {
        Some((i, by)) if !ambiguous => return Some((i, Match { by, typo: true })),
        Some(_) => return None,
        None => {}
    }
    let reading = words::read(norm)?;
    if reading.is_empty() {
        return None;
    }
    let choice_words: Vec<words::ChoiceWords<'_>> = choices
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            words::ChoiceWords::new(
                texts
                    .iter()
                    .filter(|(j, _)| *j == i)
                    .filter_map(|(_, range)| all_texts.get(range.clone()))
                    .chain(choice.aliases.iter().map(String::as_str)),
            )
        })
        .collect();
    words::match_in_words(&reading, &choice_words)
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

    #[test]
    fn typo_tolerance_is_one_edit_on_long_words_only() {
        assert_eq!(fits("stop", "stop"), Some(Fit::Exact));
        assert_eq!(fits("stpo", "stop"), Some(Fit::Typo));
        assert_eq!(fits("sto", "stop"), None, "three letters must be exact");
        assert_eq!(fits("stopp", "stop"), Some(Fit::Typo));
        assert_eq!(fits("hepl", "help"), Some(Fit::Typo));
        assert_eq!(fits("yse", "yes"), None);
        assert_eq!(fits("svaings", "savings"), Some(Fit::Typo));
        assert_eq!(fits("saivngs", "savings"), Some(Fit::Typo));
        assert_eq!(fits("sxvingz", "savings"), None);
        assert_eq!(fits("2019", "2018"), None, "numbers are never typos");
        assert_eq!(fits("", "stop"), None);
        assert!(within_one_edit("école", "ecole"));
        assert!(within_one_edit("abc", "abc"));
        assert!(within_one_edit("aab", "ab"));
        assert!(within_one_edit("ab", "ba"));
        assert!(!within_one_edit("abc", "cba"));
        assert!(!within_one_edit("abcd", "ab"));
        assert!(within_one_edit("ééé", "éé"));
    }

    #[test]
    fn whole_reply_keywords() {
        let stop = vec!["stop".to_owned(), "unsubscribe".to_owned()];
        assert_eq!(whole_keyword(&normalize("STOP"), &stop), Some(Fit::Exact));
        assert_eq!(whole_keyword(&normalize("Stop!"), &stop), Some(Fit::Exact));
        assert_eq!(whole_keyword(&normalize("stpo"), &stop), Some(Fit::Typo));
        assert_eq!(
            whole_keyword(&normalize("unsubscrbe"), &stop),
            Some(Fit::Typo)
        );
        assert_eq!(whole_keyword(&normalize("don't stop"), &stop), None);
        assert_eq!(whole_keyword(&normalize("stop it"), &stop), None);
        let restart = vec!["anza upya".to_owned()];
        assert_eq!(
            whole_keyword(&normalize("Anza  Upya"), &restart),
            Some(Fit::Exact)
        );
    }

    #[test]
    fn keyword_rules_accept_short_replies_containing_the_word() {
        let yes = vec!["yes".to_owned(), "ndio".to_owned()];
        let m = |s: &str| keyword_rule(&normalize(s), &yes);
        assert_eq!(m("yes"), Some(Match::exact(MatchedBy::Keyword)));
        assert_eq!(m("Yes pls"), Some(Match::exact(MatchedBy::Keyword)));
        assert_eq!(m("ndio kabisa"), Some(Match::exact(MatchedBy::Keyword)));
        assert_eq!(
            m("ndoi"),
            Some(Match {
                by: MatchedBy::Keyword,
                typo: true
            })
        );
        assert_eq!(m("yesterday"), None);
        assert_eq!(m("well I guess yes"), None, "four words: whole reply only");
        assert_eq!(m(""), None);
        let phrase = vec!["no money".to_owned()];
        assert!(keyword_rule("no money sorry", &phrase).is_some());
        assert!(
            keyword_rule("no moneys", &phrase).is_some(),
            "typo on the whole phrase"
        );
        assert!(keyword_rule("money no", &phrase).is_none());
    }

    #[test]
    fn choice_numbers_in_every_form() {
        for (input, want) in [
            ("1", Some((1, MatchedBy::ChoiceNumber))),
            ("1.", Some((1, MatchedBy::ChoiceNumber))),
            ("(2)", Some((2, MatchedBy::ChoiceNumber))),
            ("#3", Some((3, MatchedBy::ChoiceNumber))),
            ("option 1", Some((1, MatchedBy::ChoiceNumber))),
            ("Option1", Some((1, MatchedBy::ChoiceNumber))),
            ("number 2", Some((2, MatchedBy::ChoiceNumber))),
            ("No. 2", Some((2, MatchedBy::ChoiceNumber))),
            ("jibu 3", Some((3, MatchedBy::ChoiceNumber))),
            ("\u{0662}", Some((2, MatchedBy::ChoiceNumber))),
            ("\u{FF11}", Some((1, MatchedBy::ChoiceNumber))),
            (" One ", Some((1, MatchedBy::ChoiceWord))),
            ("option two", Some((2, MatchedBy::ChoiceWord))),
            ("mbili", Some((2, MatchedBy::ChoiceWord))),
            ("kumi", Some((10, MatchedBy::ChoiceWord))),
            ("none", None),
            ("no", None),
            ("no one", None),
            ("n°3", Some((3, MatchedBy::ChoiceNumber))),
            ("numéro 2", Some((2, MatchedBy::ChoiceNumber))),
            ("réponse 2", Some((2, MatchedBy::ChoiceNumber))),
            ("deux", Some((2, MatchedBy::ChoiceWord))),
            ("numéro deux", Some((2, MatchedBy::ChoiceWord))),
            ("nne", Some((4, MatchedBy::ChoiceWord))),
            ("1 2", None),
            ("12345678901234", None),
        ] {
            assert_eq!(choice_number(&normalize(input)), want, "{input:?}");
        }
    }

    #[test]
    fn numbers() {
        for (input, want) in [
            ("500", Some(500.0)),
            ("1,000", Some(1000.0)),
            ("1,000,000.50", Some(1_000_000.5)),
            ("1 000", Some(1000.0)),
            ("2.5", Some(2.5)),
            ("Ksh 500", Some(500.0)),
            ("ksh500", Some(500.0)),
            ("500 bob", Some(500.0)),
            ("500/=", Some(500.0)),
            ("I save 200", Some(200.0)),
            ("\u{0665}\u{0660}\u{0660}", Some(500.0)),
            ("five", Some(5.0)),
            ("tano", Some(5.0)),
            ("5k", None),
            ("1,5", None),
            ("10,00", None),
            ("1.2.3", None),
            ("200 or 300", None),
            ("I can save about 200 a week", None),
            ("nothing", None),
            ("", None),
            ("inf", None),
            ("1e5", None),
        ] {
            assert_eq!(parse_number(&normalize(input)), want, "{input:?}");
        }
    }

    /// Optimal string alignment distance, the textbook way.
    fn osa(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1)
                    .min(d[i - 1][j - 1] + cost);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn documented_typo_examples() {
        assert_eq!(fits("savings acount", "savings account"), Some(Fit::Typo));
        assert_eq!(fits("savngs acount", "savings account"), None);
    }

    proptest::proptest! {
        #[test]
        fn within_one_edit_agrees_with_the_textbook_distance(a in "[abé]{0,6}", b in "[abé]{0,6}") {
            proptest::prop_assert_eq!(within_one_edit(&a, &b), osa(&a, &b) <= 1);
        }

        #[test]
        fn ascii_fast_path_agrees(s in "[ -~\\t\\n\\r\\x0b\\x0c\\x00-\\x1f\\x7f]{0,30}") {
            proptest::prop_assert_eq!(normalize_ascii(&s), normalize_unicode(&s));
        }

        #[test]
        fn normalize_is_idempotent(s in ".{0,30}") {
            let once = normalize(&s);
            proptest::prop_assert_eq!(normalize(&once), once.clone());
        }
    }
}
