//! Replies with more than a choice in them: a choice number amid filler
//! words (`i'd say 3`, `jibu ni 3`, `je crois 1`), a copied list line
//! (`2. Knowing how much you earn`), ordinals (`the third`, `ya tatu`,
//! `le dernier`), a few content words of one choice (`savings account`),
//! an amount (`Ksh 500`), and opt-out or help phrases (`please stop
//! sending`, `nisaidie`).
//!
//! The rule everywhere: **never a wrong choice**. A reply is read word by
//! word; any word this module does not understand (not filler, not a word of
//! the choice it seems to name), any negation, any hedge between two
//! answers, or two different choice references make it match nothing.

use std::cell::OnceCell;
use std::ops::Range;
use std::sync::OnceLock;

use super::{CURRENCY_WORDS, Fit, Match, MatchedBy, fits, number_word, parse_digits};

/// Courtesy, hedges, greetings and the verbs learners wrap a choice in
/// (English, Swahili, French). They never carry a choice on their own.
static FILLER: Lexicon = Lexicon::new(
    &[
        // English
        "i",
        "d",
        "m",
        "s",
        "ll",
        "ve",
        "im",
        "id",
        "ill",
        "say",
        "said",
        "think",
        "guess",
        "choose",
        "chose",
        "pick",
        "picked",
        "select",
        "go",
        "going",
        "take",
        "want",
        "would",
        "will",
        "believe",
        "answer",
        "answers",
        "is",
        "am",
        "its",
        "it",
        "my",
        "mine",
        "thank",
        "thanks",
        "you",
        "sir",
        "madam",
        "maam",
        "please",
        "pls",
        "plz",
        "ok",
        "okay",
        "sure",
        "maybe",
        "probably",
        "yes",
        "yeah",
        "yep",
        "hi",
        "hello",
        "hey",
        "dear",
        "teacher",
        "option",
        "opt",
        "choice",
        "number",
        "num",
        "nr",
        "correct",
        "right",
        "is",
        "be",
        "that",
        "this",
        "one",
        "definitely",
        "obviously",
        "of",
        "course",
        "well",
        "so",
        "then",
        "here",
        "reply",
        "should",
        "let",
        "me",
        "mean",
        "meant",
        // Swahili
        "ni",
        "jibu",
        "nadhani",
        "nafikiri",
        "naamini",
        "nachagua",
        "chagua",
        "nachagua",
        "nitachagua",
        "chaguo",
        "namba",
        "nambari",
        "asante",
        "sana",
        "tafadhali",
        "ndio",
        "ndiyo",
        "sawa",
        "mimi",
        "yangu",
        "langu",
        "hii",
        "hilo",
        "hiyo",
        "huo",
        "habari",
        "jambo",
        "mambo",
        "shikamoo",
        "mwalimu",
        "kaka",
        "dada",
        "bwana",
        "mama",
        "naona",
        "labda",
        "ndilo",
        "ndiyo",
        // French
        "je",
        "j",
        "crois",
        "pense",
        "dirais",
        "dis",
        "choisis",
        "choisir",
        "prends",
        "c",
        "est",
        "réponse",
        "reponse",
        "numéro",
        "numero",
        "n",
        "choix",
        "merci",
        "beaucoup",
        "monsieur",
        "madame",
        "il",
        "vous",
        "plaît",
        "plait",
        "stp",
        "svp",
        "oui",
        "bien",
        "sûr",
        "peut",
        "être",
        "etre",
        "ma",
        "mon",
        "celle",
        "celui",
        "ci",
        "bonjour",
        "salut",
        "voilà",
        "voila",
        "alors",
        "donc",
        "moi",
        "c'est",
    ],
    1 << 0,
);

/// Articles, prepositions, pronouns and connectors: ignored when comparing
/// a reply's words with a choice's words (English, Swahili, French).
static STOP_WORDS: Lexicon = Lexicon::new(
    &[
        // English
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "with", "by", "from", "and", "into",
        "about", "as", "are", "some", "your", "our", "their", "his", "her", "we", "us", "they",
        "them", "under", "over", "it", "its", "my", "me", "i", // Swahili
        "na", "ya", "wa", "la", "za", "cha", "vya", "kwa", "katika", "kwenye", "ni", "pia", "kama",
        "huko", "ndani", // French
        "le", "la", "les", "l", "un", "une", "des", "du", "de", "d", "à", "au", "aux", "en",
        "dans", "sur", "sous", "avec", "pour", "par", "et", "mes", "son", "sa", "ses", "ce",
        "cette", "qui", "que", "chez",
    ],
    1 << 1,
);

/// Words that deny or hedge: a reply holding one matches no choice and is
/// never taken for STOP or HELP (`not 2`, `si 2`, `pas 2`, `don't stop`).
static NEGATIONS: Lexicon = Lexicon::new(
    &[
        "not", "never", "none", "nope", "dont", "doesnt", "cant", "wont", "isnt", "aint",
        "nothing", "neither", "nor", "si", "sio", "siyo", "hapana", "sina", "sitaki", "sijui",
        "hakuna", "pas", "non", "ne", "jamais", "aucun", "aucune", "rien",
    ],
    1 << 2,
);

/// Words that hedge between answers (`1 or 3`, `2 but maybe 3`).
static HEDGES: Lexicon = Lexicon::new(
    &[
        "or", "either", "but", "unless", "except", "ou", "mais", "sauf", "lakini", "ama",
        "instead", "badala",
    ],
    1 << 3,
);

/// Words that make a choice's amount a bound rather than the amount itself
/// (`Less than 500`): such a choice is never selected by an amount.
static BOUNDS: Lexicon = Lexicon::new(
    &[
        "less", "more", "than", "over", "under", "above", "below", "least", "most", "between",
        "up", "upto", "to", "from", "chini", "zaidi", "juu", "kuliko", "kati", "hadi", "mpaka",
        "moins", "plus", "entre", "jusqu", "dessus", "dessous",
    ],
    1 << 4,
);

/// Swahili connectors that turn a number word into an ordinal (`ya tatu`,
/// `wa kwanza`).
static SW_ORDINAL_CONNECTORS: Lexicon =
    Lexicon::new(&["ya", "wa", "la", "cha", "za", "vya", "ka"], 1 << 5);

/// Ordinal words (English, Swahili, French); `0` stands for "the last".
const ORDINAL_WORDS: &[(&str, u32)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("last", 0),
    ("kwanza", 1),
    ("pili", 2),
    ("mwisho", 0),
    ("premier", 1),
    ("première", 1),
    ("premiere", 1),
    ("deuxième", 2),
    ("deuxieme", 2),
    ("seconde", 2),
    ("troisième", 3),
    ("troisieme", 3),
    ("quatrième", 4),
    ("quatrieme", 4),
    ("cinquième", 5),
    ("cinquieme", 5),
    ("sixième", 6),
    ("sixieme", 6),
    ("septième", 7),
    ("septieme", 7),
    ("huitième", 8),
    ("huitieme", 8),
    ("neuvième", 9),
    ("neuvieme", 9),
    ("dixième", 10),
    ("dixieme", 10),
    ("dernier", 0),
    ("dernière", 0),
    ("derniere", 0),
];

/// Suffixes of a written ordinal (`3rd`, `2nd`, `3e`, `1er`, `2ème`).
static ORDINAL_SUFFIXES: Lexicon = Lexicon::new(
    &[
        "st", "nd", "rd", "th", "e", "er", "re", "ère", "ere", "ème", "eme", "è", "ieme", "ième",
        "de", "nde", "ve",
    ],
    1 << 6,
);

/// Words that, before `one`, make it a pronoun (`the last one`).
static ONE_AS_PRONOUN_AFTER: Lexicon =
    Lexicon::new(&["the", "this", "that", "which", "a", "any"], 1 << 7);

/// Words that may stand directly before a choice number (`no. 2`, `n°3`).
static NUMBER_PREFIXES: Lexicon = Lexicon::new(
    &[
        "option", "opt", "choice", "number", "num", "no", "nr", "n", "answer", "jibu", "chaguo",
        "namba", "nambari", "numéro", "numero", "réponse", "reponse", "choix",
    ],
    1 << 8,
);

/// A word list. Every list has its own bit; one table, sorted on first
/// use, maps each word to the bits of the lists that hold it, so a reply's
/// word is looked up once ([`class`]) and tested against any list.
pub(crate) struct Lexicon {
    words: &'static [&'static str],
    bit: u16,
}

impl Lexicon {
    const fn new(words: &'static [&'static str], bit: u16) -> Lexicon {
        Lexicon { words, bit }
    }

    fn contains(&self, w: &str) -> bool {
        self.has(class(w))
    }

    /// True when a word of class `class` (see [`class`]) is in this list.
    fn has(&self, class: u16) -> bool {
        class & self.bit != 0
    }
}

/// Every word list, each with its own bit.
static LISTS: [&Lexicon; 11] = [
    &FILLER,
    &STOP_WORDS,
    &NEGATIONS,
    &HEDGES,
    &BOUNDS,
    &SW_ORDINAL_CONNECTORS,
    &ORDINAL_SUFFIXES,
    &ONE_AS_PRONOUN_AFTER,
    &NUMBER_PREFIXES,
    &CURRENCY,
    &COMMAND_FILLER,
];

/// The lists a word belongs to, as bits (see [`Lexicon`]).
fn class(w: &str) -> u16 {
    static TABLE: OnceLock<WordTable<u16>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let entries = LISTS
                .iter()
                .flat_map(|l| l.words.iter().map(|w| (*w, l.bit)));
            WordTable::new(entries, |a, b| a | b)
        })
        .get(w)
        .unwrap_or(0)
}

/// A word list as an open-addressing hash table (FNV-1a, linear probing,
/// at most half full), built once: a lookup hashes the word and compares
/// it with about one entry.
struct WordTable<V> {
    slots: Vec<Option<(&'static str, V)>>,
    mask: usize,
}

impl<V: Copy> WordTable<V> {
    /// The table of `entries`; a word listed twice gets `merge(old, new)`.
    fn new(entries: impl Iterator<Item = (&'static str, V)>, merge: impl Fn(V, V) -> V) -> Self {
        let entries: Vec<_> = entries.collect();
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let mut table = WordTable {
            slots: vec![None; size],
            mask: size - 1,
        };
        for (word, value) in entries {
            let mut i = word_hash(word) & table.mask;
            loop {
                match &mut table.slots[i] {
                    slot @ None => {
                        *slot = Some((word, value));
                        break;
                    }
                    Some((k, v)) if *k == word => {
                        *v = merge(*v, value);
                        break;
                    }
                    Some(_) => i = (i + 1) & table.mask,
                }
            }
        }
        table
    }

    fn get(&self, word: &str) -> Option<V> {
        let mut i = word_hash(word) & self.mask;
        // At most half full: an empty slot ends every probe.
        loop {
            match self.slots[i] {
                None => return None,
                Some((k, v)) if k == word => return Some(v),
                Some(_) => i = (i + 1) & self.mask,
            }
        }
    }
}

/// FNV-1a, enough to spread a few hundred short words.
fn word_hash(w: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in w.as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as usize
}

static CURRENCY: Lexicon = Lexicon::new(CURRENCY_WORDS, 1 << 9);

/// The value of an ordinal word ([`ORDINAL_WORDS`]).
fn ordinal_word(w: &str) -> Option<u32> {
    static TABLE: OnceLock<WordTable<u32>> = OnceLock::new();
    TABLE
        .get_or_init(|| WordTable::new(ORDINAL_WORDS.iter().copied(), |a, _| a))
        .get(w)
}

/// At most this many tokens are read; longer replies match no choice
/// through these rules.
const MAX_TOKENS: usize = 16;

/// The words of a normalised reply: runs of letters and digits; `.` and
/// `,` between two digits stay inside a number (`1.5`, `1,000`). Returns
/// false when the reply is too long to read.
pub(crate) fn tokens<'a>(norm: &'a str, out: &mut Vec<&'a str>) -> bool {
    each_token(norm, |t| out.push(t))
}

/// Calls `push` with each word of `norm` (see [`tokens`]), at most
/// [`MAX_TOKENS`] of them; false when there are more.
fn each_token<'a>(norm: &'a str, mut push: impl FnMut(&'a str)) -> bool {
    let mut count = 0;
    let mut emit = |t: &'a str| {
        if count == MAX_TOKENS {
            return false;
        }
        count += 1;
        push(t);
        true
    };
    let mut start: Option<usize> = None;
    if norm.is_ascii() {
        // Byte by byte: the same words as the loop below, for ASCII.
        let b = norm.as_bytes();
        for (i, &c) in b.iter().enumerate() {
            let inner_sep = (c == b'.' || c == b',')
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if c.is_ascii_alphanumeric() || (inner_sep && start.is_some()) {
                if start.is_none() {
                    start = Some(i);
                }
            } else if let Some(s) = start.take()
                && !emit(&norm[s..i])
            {
                return false;
            }
        }
    } else {
        let mut prev: Option<char> = None;
        let mut chars = norm.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            let inner_sep = (c == '.' || c == ',')
                && prev.is_some_and(|p| p.is_ascii_digit())
                && next.is_some_and(|n| n.is_ascii_digit());
            if c.is_alphanumeric() || (inner_sep && start.is_some()) {
                if start.is_none() {
                    start = Some(i);
                }
            } else if let Some(s) = start.take()
                && !emit(&norm[s..i])
            {
                return false;
            }
            prev = Some(c);
        }
    }
    match start {
        Some(s) => emit(&norm[s..]),
        None => true,
    }
}

/// At most `N` items, kept inline: a reply's words and what [`read`] finds
/// in them, without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Few<T: Copy, const N: usize> {
    len: usize,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Default for Few<T, N> {
    fn default() -> Self {
        Few {
            len: 0,
            items: [T::default(); N],
        }
    }
}

impl<T: Copy, const N: usize> Few<T, N> {
    /// Adds `item`, unless full (callers never hold more than `N`).
    fn push(&mut self, item: T) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = item;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

impl<T: Copy, const N: usize> std::ops::Deref for Few<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

/// The words of `norm` (see [`tokens`]), inline; `None` when there are
/// more than [`MAX_TOKENS`].
fn few_tokens(norm: &str) -> Option<Few<&str, MAX_TOKENS>> {
    let mut out = Few::default();
    each_token(norm, |t| out.push(t)).then_some(out)
}

/// True when a whitespace-separated word of the reply denies something
/// (`don't`, `n'est`, `isn’t`).
fn negating_word(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    w.ends_with("n't")
        || w.ends_with("n’t")
        || ((w.starts_with("n'") || w.starts_with("n’"))
            && w.chars().nth(2).is_some_and(char::is_alphabetic))
        || NEGATIONS.contains(w)
}

/// A reference to a choice found in a reply.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ref {
    /// Choice number `n` (1-based), written as digits or a number word.
    Number(u64),
    /// An ordinal: `n`-th choice, or the last one for `0`.
    Ordinal(u64),
}

impl Default for Ref {
    fn default() -> Ref {
        Ref::Number(0)
    }
}

/// A reply read word by word (at most one item per word, so nothing
/// overflows).
#[derive(Debug, Default)]
pub(crate) struct Reading<'a> {
    refs: Few<Ref, MAX_TOKENS>,
    /// Every number written with digits (amounts and choice numbers).
    numbers: Few<f64, MAX_TOKENS>,
    /// Words that are neither filler, stop-words, prefixes nor currency.
    words: Few<&'a str, MAX_TOKENS>,
}

impl Reading<'_> {
    /// True when the reply names nothing: no number, no ordinal, no word
    /// beyond filler (`ok`, `hello`, `?`).
    pub(crate) fn is_empty(&self) -> bool {
        self.refs.is_empty() && self.numbers.is_empty() && self.words.is_empty()
    }
}

/// `3rd` -> 3, `2ème` -> 2.
fn written_ordinal(t: &str) -> Option<u64> {
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (digits, suffix) = t.split_at(split);
    if digits.is_empty() || digits.len() > 3 || !ORDINAL_SUFFIXES.contains(suffix) {
        return None;
    }
    digits.parse().ok()
}

/// `ksh500` / `500ksh` / `500bob` -> 500.
fn glued_amount(t: &str) -> Option<f64> {
    for c in CURRENCY_WORDS {
        if let Some(rest) = t.strip_prefix(c).or_else(|| t.strip_suffix(c))
            && rest.starts_with(|ch: char| ch.is_ascii_digit())
            && rest.ends_with(|ch: char| ch.is_ascii_digit())
        {
            return parse_digits(rest);
        }
    }
    None
}

/// `option3`, `n3` -> 3.
fn glued_prefix(t: &str) -> Option<u64> {
    let split = t.find(|c: char| c.is_ascii_digit())?;
    let (prefix, digits) = t.split_at(split);
    if NUMBER_PREFIXES.contains(prefix)
        && digits.len() <= 3
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return digits.parse().ok();
    }
    None
}

/// Reads a normalised reply; `None` when it holds a negation, a hedge, a
/// number that cannot be read, or too many words.
pub(crate) fn read(norm: &str) -> Option<Reading<'_>> {
    if norm.len() > 256 || norm.split(' ').any(negating_word) {
        return None;
    }
    let toks = few_tokens(norm)?;
    let mut r = Reading::default();
    for (i, &t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| toks[p]);
        let next = toks.get(i + 1).copied();
        let next_is_digits = next.is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            if t.bytes().all(|b| b.is_ascii_digit()) {
                let n: u64 = if t.len() <= 12 {
                    t.parse().ok()?
                } else {
                    return None;
                };
                r.refs.push(Ref::Number(n));
                r.numbers.push(n as f64);
            } else if t.contains(['.', ',']) {
                // A decimal or a grouped amount: never a choice number.
                r.numbers.push(parse_digits(t)?);
            } else if let Some(n) = written_ordinal(t) {
                r.refs.push(Ref::Ordinal(n));
            } else {
                r.numbers.push(glued_amount(t)?);
            }
            continue;
        }
        if t.contains(|c: char| c.is_ascii_digit()) {
            if let Some(n) = glued_prefix(t) {
                r.refs.push(Ref::Number(n));
                r.numbers.push(n as f64);
            } else {
                r.numbers.push(glued_amount(t)?);
            }
            continue;
        }
        let class = class(t);
        if HEDGES.has(class) {
            return None;
        }
        if let Some(n) = ordinal_word(t) {
            r.refs.push(Ref::Ordinal(u64::from(n)));
            continue;
        }
        if let Some(n) = number_word(t) {
            let after_prefix = prev.is_some_and(|p| NUMBER_PREFIXES.contains(p));
            match t {
                // French articles, unless they are the whole reply or follow
                // a prefix (`numéro un`).
                "un" | "une" if !(toks.len() == 1 || after_prefix) => {}
                // "the last one", "the first one", "that one": a pronoun.
                "one"
                    if prev.is_some_and(|p| {
                        ONE_AS_PRONOUN_AFTER.contains(p)
                            || ordinal_word(p).is_some()
                            || written_ordinal(p).is_some()
                    }) => {}
                _ if prev.is_some_and(|p| SW_ORDINAL_CONNECTORS.contains(p)) => {
                    r.refs.push(Ref::Ordinal(u64::from(n)));
                }
                _ => r.refs.push(Ref::Number(u64::from(n))),
            }
            continue;
        }
        if t == "no" && !next_is_digits {
            return None;
        }
        if FILLER.has(class)
            || STOP_WORDS.has(class)
            || NUMBER_PREFIXES.has(class)
            || CURRENCY.has(class)
        {
            continue;
        }
        r.words.push(t);
    }
    Some(r)
}

/// How a reply word fits a choice word: equal, a simple plural of it
/// (`accounts`, `banques`, `bureaux`), or one typo away (see [`fits`]).
fn word_fit(reply: &str, choice: &str) -> Option<Fit> {
    if reply == choice {
        return Some(Fit::Exact);
    }
    let plural = |long: &str, short: &str| {
        long.strip_prefix(short)
            .is_some_and(|rest| matches!(rest, "s" | "es" | "x"))
    };
    if plural(reply, choice) || plural(choice, reply) {
        return Some(Fit::Exact);
    }
    // One edit changes an ASCII word's length by at most one: most pairs
    // stop here, before the edit distance.
    if reply.is_ascii() && choice.is_ascii() && reply.len().abs_diff(choice.len()) > 1 {
        return None;
    }
    fits(reply, choice)
}

/// What the matcher needs of one choice, computed once when the module is
/// loaded: its normalised texts (one per language), its words (texts and
/// aliases) and the amount it names. A choice whose text holds a template
/// variable (`{learner_name}`) is rendered and read per reply instead.
#[derive(Debug, Clone, Default)]
pub struct ChoiceIndex {
    literal: Option<LiteralChoice>,
}

#[derive(Debug, Clone)]
pub(crate) struct LiteralChoice {
    /// Normalised texts, in the order of the text's languages.
    pub(crate) texts: Vec<String>,
    /// The words of every text, then of every alias.
    words: Vec<String>,
    /// See [`amount_of`].
    amount: Option<f64>,
}

/// Stands for the choices a question does not have, where a fixed number
/// of [`ChoiceWords`] is needed.
pub(crate) static NO_CHOICE: LiteralChoice = LiteralChoice {
    texts: Vec::new(),
    words: Vec::new(),
    amount: None,
};

impl ChoiceIndex {
    /// Reads a choice's text (every language) and its normalised aliases.
    pub fn new(text: &crate::module::Text, aliases: &[String]) -> ChoiceIndex {
        use crate::module::Part;
        let mut texts = Vec::with_capacity(text.by_lang.len());
        for (_, tpl) in &text.by_lang {
            let mut raw = String::new();
            for part in &tpl.parts {
                match part {
                    Part::Lit(s) => raw.push_str(s),
                    Part::Var(_) | Part::VarOr(..) => return ChoiceIndex { literal: None },
                }
            }
            texts.push(super::normalize(&raw));
        }
        let mut words: Vec<&str> = Vec::with_capacity(8);
        for t in texts.iter().chain(aliases) {
            // A long text is read up to its first MAX_TOKENS words.
            let _ = tokens(t, &mut words);
        }
        let amount = amount_of(&words);
        let words = words.into_iter().map(str::to_owned).collect();
        ChoiceIndex {
            literal: Some(LiteralChoice {
                texts,
                words,
                amount,
            }),
        }
    }

    /// The choice's texts and words, unless a text has a variable.
    pub(crate) fn literal(&self) -> Option<&LiteralChoice> {
        self.literal.as_ref()
    }
}

/// The amount a choice's words name, if they name exactly one and not as
/// a bound (`500 shillings`, `Ksh 1,000 a week`; not `Less than 500`).
fn amount_of<S: AsRef<str>>(words: &[S]) -> Option<f64> {
    let mut found = None;
    for w in words {
        let w = w.as_ref();
        if BOUNDS.contains(w) {
            return None;
        }
        let value = if w.starts_with(|c: char| c.is_ascii_digit()) {
            if w.bytes().all(|b| b.is_ascii_digit()) || w.contains(['.', ',']) {
                parse_digits(w)
            } else {
                glued_amount(w)
            }
        } else if w.contains(|c: char| c.is_ascii_digit()) {
            glued_amount(w)
        } else {
            continue;
        };
        match (found, value) {
            (None, Some(v)) => found = Some(v),
            _ => return None,
        }
    }
    found
}

/// The best fit of `word` among `words`.
fn best_fit<'w>(word: &str, words: impl Iterator<Item = &'w str>) -> Option<Fit> {
    let mut best = None;
    for c in words {
        match word_fit(word, c) {
            Some(Fit::Exact) => return Some(Fit::Exact),
            Some(Fit::Typo) => best = Some(Fit::Typo),
            None => {}
        }
    }
    best
}

/// The words of one choice: read when the module was loaded, or (for a
/// text with a variable) rendered for this reply and read only when a rule
/// needs them.
pub(crate) enum ChoiceWords<'a> {
    Indexed(&'a LiteralChoice),
    Rendered {
        /// Every rendered choice's normalised texts, one after the other...
        all_texts: &'a str,
        /// ...as (choice, range in `all_texts`).
        texts: &'a [(usize, Range<usize>)],
        index: usize,
        aliases: &'a [String],
        words: OnceCell<Vec<&'a str>>,
    },
}

impl<'a> ChoiceWords<'a> {
    pub(crate) fn rendered(
        all_texts: &'a str,
        texts: &'a [(usize, Range<usize>)],
        index: usize,
        aliases: &'a [String],
    ) -> ChoiceWords<'a> {
        ChoiceWords::Rendered {
            all_texts,
            texts,
            index,
            aliases,
            words: OnceCell::new(),
        }
    }

    /// The words of a rendered choice.
    fn rendered_words(&self) -> &[&'a str] {
        let ChoiceWords::Rendered {
            all_texts,
            texts,
            index,
            aliases,
            words,
        } = self
        else {
            return &[];
        };
        words.get_or_init(|| {
            let mut words = Vec::with_capacity(8);
            let own = texts
                .iter()
                .filter(|(i, _)| i == index)
                .filter_map(|(_, range)| all_texts.get(range.clone()));
            for text in own.chain(aliases.iter().map(String::as_str)) {
                // A long text is read up to its first MAX_TOKENS words.
                let _ = tokens(text, &mut words);
            }
            words
        })
    }

    /// The best fit of `word` among this choice's words.
    fn fit(&self, word: &str) -> Option<Fit> {
        match self {
            ChoiceWords::Indexed(l) => best_fit(word, l.words.iter().map(String::as_str)),
            ChoiceWords::Rendered { .. } => best_fit(word, self.rendered_words().iter().copied()),
        }
    }

    /// True when every word fits one of this choice's words; the second
    /// value says whether a typo was forgiven.
    fn fits_all(&self, words: &[&str]) -> Option<bool> {
        let mut typo = false;
        for w in words {
            match self.fit(w)? {
                Fit::Exact => {}
                Fit::Typo => typo = true,
            }
        }
        Some(typo)
    }

    /// The amount this choice's text names (see [`amount_of`]).
    fn amount(&self) -> Option<f64> {
        match self {
            ChoiceWords::Indexed(l) => l.amount,
            ChoiceWords::Rendered { .. } => amount_of(self.rendered_words()),
        }
    }
}

/// The choice a reply ([`read`]) names through the rules of this module (mention,
/// copied line, ordinal, amount, partial text), if exactly one fits.
/// `choices[i]` holds the words of choice `i`.
pub(crate) fn match_in_words(
    r: &Reading<'_>,
    choices: &[ChoiceWords<'_>],
) -> Option<(usize, Match)> {
    let count = choices.len() as u64;
    let mut found: Option<(usize, Match)> = None;
    let mut agree = |candidate: (usize, Match)| -> bool {
        match found {
            None => {
                found = Some(candidate);
                true
            }
            Some((i, _)) => i == candidate.0,
        }
    };

    // A choice number, number word or ordinal, with filler around it and
    // maybe that choice's own words (a copied list line).
    if !r.refs.is_empty() {
        let mut target: Option<u64> = None;
        let mut ordinal = false;
        let mut ok = r.numbers.len() <= r.refs.len();
        for &rf in r.refs.iter() {
            let n = match rf {
                Ref::Number(n) => n,
                Ref::Ordinal(0) => {
                    ordinal = true;
                    count
                }
                Ref::Ordinal(n) => {
                    ordinal = true;
                    n
                }
            };
            if !(1..=count).contains(&n) || target.is_some_and(|t| t != n) {
                ok = false;
            }
            target = Some(n);
        }
        // Every number written with digits must be a choice reference.
        ok &= r.numbers.iter().all(|&x| {
            r.refs
                .iter()
                .any(|&rf| rf == Ref::Number(x as u64) && x.fract() == 0.0)
        });
        if let (true, Some(n)) = (ok, target) {
            let i = (n - 1) as usize;
            if let Some(typo) = choices[i].fits_all(r.words.as_slice()) {
                let by = if !r.words.is_empty() {
                    MatchedBy::ChoiceLine
                } else if ordinal {
                    MatchedBy::ChoiceOrdinal
                } else {
                    MatchedBy::ChoiceMention
                };
                if !agree((i, Match { by, typo })) {
                    return None;
                }
            }
        }
    }

    // An amount that exactly one choice names.
    if let [amount] = r.numbers[..]
        && r.refs.iter().all(|rf| matches!(rf, Ref::Number(_)))
    {
        let mut hit: Option<usize> = None;
        for (i, c) in choices.iter().enumerate() {
            if c.amount() == Some(amount) {
                if hit.is_some() {
                    return None;
                }
                hit = Some(i);
            }
        }
        if let Some(i) = hit
            && let Some(typo) = choices[i].fits_all(&r.words)
            && !agree((
                i,
                Match {
                    by: MatchedBy::ChoiceAmount,
                    typo,
                },
            ))
        {
            return None;
        }
    }

    // Content words that fit exactly one choice.
    if r.refs.is_empty() && r.numbers.is_empty() && !r.words.is_empty() {
        let mut hit: Option<(usize, bool)> = None;
        for (i, c) in choices.iter().enumerate() {
            if let Some(typo) = c.fits_all(&r.words) {
                if hit.is_some() {
                    return None;
                }
                hit = Some((i, typo));
            }
        }
        if let Some((i, typo)) = hit
            && !agree((
                i,
                Match {
                    by: MatchedBy::ChoicePartial,
                    typo,
                },
            ))
        {
            return None;
        }
    }
    found
}

/// Opt-out words the engine knows in every language it speaks, besides the
/// module's own `stop` keywords.
pub const BUILTIN_STOP: &[&str] = &[
    "stop",
    "unsubscribe",
    "acha",
    "sitisha",
    "arrête",
    "arrete",
    "arrêtez",
    "arretez",
    "arrêter",
    "arreter",
    "désabonner",
    "desabonner",
    "désinscrire",
    "desinscrire",
];

/// Help words the engine knows in every language it speaks, besides the
/// module's own `help` keywords.
pub const BUILTIN_HELP: &[&str] = &[
    "help",
    "msaada",
    "nisaidie",
    "nisaidieni",
    "saidia",
    "aide",
    "aidez",
    "aider",
];

/// Words that may stand around an opt-out or help word in a short reply
/// (`please stop sending`, `acha tafadhali`, `aidez-moi`).
static COMMAND_FILLER: Lexicon = Lexicon::new(
    &[
        // English
        "please",
        "pls",
        "plz",
        "now",
        "it",
        "this",
        "that",
        "me",
        "us",
        "all",
        "the",
        "sending",
        "send",
        "messages",
        "message",
        "texts",
        "text",
        "sms",
        "right",
        "away",
        "i",
        "want",
        "to",
        "need",
        "would",
        "like",
        "wanna",
        "can",
        "could",
        "you",
        "some",
        "thanks",
        "thank",
        "just",
        "d",
        "m",
        "course",
        "immediately",
        "asap",
        "a",
        "bit",
        "with",
        "sir",
        "madam",
        "hi",
        "hello",
        // Swahili
        "tafadhali",
        "sasa",
        "hii",
        "ujumbe",
        "jumbe",
        "kutuma",
        "nitumie",
        "kunitumia",
        "asante",
        "naomba",
        "nataka",
        "mimi",
        "kozi",
        "hapa",
        "basi",
        "kabisa",
        "nahitaji",
        // French
        "moi",
        "s",
        "il",
        "vous",
        "plaît",
        "plait",
        "svp",
        "stp",
        "maintenant",
        "merci",
        "j",
        "ai",
        "besoin",
        "d",
        "envoyer",
        "de",
        "veux",
        "je",
        "les",
        "des",
        "ça",
        "ca",
        "tout",
        "cours",
        "à",
        "l",
        "m",
        "bonjour",
    ],
    1 << 10,
);

/// True when a short reply holds one of `keywords` (normalised module
/// keywords) or `builtin` words as whole words, with only courtesy words
/// around it, no digit and no negation: `stop it now`, `please stop
/// sending`, `acha tafadhali`, `help please`, `aidez-moi`; never `don't
/// stop` or `never stop`.
pub fn phrase_keyword(norm: &str, keywords: &[String], builtin: &[&str]) -> bool {
    if norm.is_empty() || norm.len() > 120 || norm.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    if norm
        .split(' ')
        .any(|w| negating_word(w) || w.trim_matches(|c: char| !c.is_alphanumeric()) == "no")
    {
        return false;
    }
    let Some(toks) = few_tokens(norm).filter(|t| t.len() <= 6) else {
        return false;
    };
    let try_keyword = |keyword: &str| -> bool {
        let Some(kw_toks) = few_tokens(keyword) else {
            return false;
        };
        if kw_toks.is_empty() || kw_toks.len() > toks.len() {
            return false;
        }
        (0..=toks.len() - kw_toks.len()).any(|start| {
            let end = start + kw_toks.len();
            toks[start..end] == kw_toks[..]
                && toks[..start]
                    .iter()
                    .chain(&toks[end..])
                    .all(|t| COMMAND_FILLER.contains(t))
        })
    };
    keywords.iter().any(|k| try_keyword(k)) || builtin.iter().any(|k| try_keyword(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_word_is_found_in_its_lists_only() {
        let lists = LISTS;
        for list in lists {
            for w in list.words {
                let want = lists
                    .iter()
                    .filter(|l| l.words.contains(w))
                    .fold(0, |bits, l| bits | l.bit);
                assert_eq!(class(w), want, "{w}");
            }
        }
        assert_eq!(class("banana"), 0);
        assert_eq!(class(""), 0);
        for (w, n) in ORDINAL_WORDS {
            assert_eq!(ordinal_word(w), Some(*n), "{w}");
        }
        assert_eq!(ordinal_word("firsts"), None);
    }
}
