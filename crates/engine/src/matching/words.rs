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

use super::{CURRENCY_WORDS, Fit, Match, MatchedBy, fits, number_word, parse_digits};

/// Courtesy, hedges, greetings and the verbs learners wrap a choice in
/// (English, Swahili, French). They never carry a choice on their own.
const FILLER: &[&str] = &[
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
];

/// Articles, prepositions, pronouns and connectors: ignored when comparing
/// a reply's words with a choice's words (English, Swahili, French).
const STOP_WORDS: &[&str] = &[
    // English
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "with", "by", "from", "and", "into",
    "about", "as", "are", "some", "your", "our", "their", "his", "her", "we", "us", "they", "them",
    "under", "over", "it", "its", "my", "me", "i", // Swahili
    "na", "ya", "wa", "la", "za", "cha", "vya", "kwa", "katika", "kwenye", "ni", "pia", "kama",
    "huko", "ndani", // French
    "le", "la", "les", "l", "un", "une", "des", "du", "de", "d", "à", "au", "aux", "en", "dans",
    "sur", "sous", "avec", "pour", "par", "et", "mes", "son", "sa", "ses", "ce", "cette", "qui",
    "que", "chez",
];

/// Words that deny or hedge: a reply holding one matches no choice and is
/// never taken for STOP or HELP (`not 2`, `si 2`, `pas 2`, `don't stop`).
const NEGATIONS: &[&str] = &[
    "not", "never", "none", "nope", "dont", "doesnt", "cant", "wont", "isnt", "aint", "nothing",
    "neither", "nor", "si", "sio", "siyo", "hapana", "sina", "sitaki", "sijui", "hakuna", "pas",
    "non", "ne", "jamais", "aucun", "aucune", "rien",
];

/// Words that hedge between answers (`1 or 3`, `2 but maybe 3`).
const HEDGES: &[&str] = &[
    "or", "either", "but", "unless", "except", "ou", "mais", "sauf", "lakini", "ama", "instead",
    "badala",
];

/// Words that make a choice's amount a bound rather than the amount itself
/// (`Less than 500`): such a choice is never selected by an amount.
const BOUNDS: &[&str] = &[
    "less", "more", "than", "over", "under", "above", "below", "least", "most", "between", "up",
    "upto", "to", "from", "chini", "zaidi", "juu", "kuliko", "kati", "hadi", "mpaka", "moins",
    "plus", "entre", "jusqu", "dessus", "dessous",
];

/// Swahili connectors that turn a number word into an ordinal (`ya tatu`,
/// `wa kwanza`).
const SW_ORDINAL_CONNECTORS: &[&str] = &["ya", "wa", "la", "cha", "za", "vya", "ka"];

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
const ORDINAL_SUFFIXES: &[&str] = &[
    "st", "nd", "rd", "th", "e", "er", "re", "ère", "ere", "ème", "eme", "è", "ieme", "ième", "de",
    "nde", "ve",
];

/// Words that, before `one`, make it a pronoun (`the last one`).
const ONE_AS_PRONOUN_AFTER: &[&str] = &["the", "this", "that", "which", "a", "any"];

/// Words that may stand directly before a choice number (`no. 2`, `n°3`).
const NUMBER_PREFIXES: &[&str] = &[
    "option", "opt", "choice", "number", "num", "no", "nr", "n", "answer", "jibu", "chaguo",
    "namba", "nambari", "numéro", "numero", "réponse", "reponse", "choix",
];

fn is_in(list: &[&str], w: &str) -> bool {
    list.contains(&w)
}

/// At most this many tokens are read; longer replies match no choice
/// through these rules.
const MAX_TOKENS: usize = 16;

/// The words of a normalised reply: runs of letters and digits; `.` and
/// `,` between two digits stay inside a number (`1.5`, `1,000`). Returns
/// false when the reply is too long to read.
pub(crate) fn tokens<'a>(norm: &'a str, out: &mut Vec<&'a str>) -> bool {
    let limit = out.len() + MAX_TOKENS;
    let mut start: Option<usize> = None;
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
        } else if let Some(s) = start.take() {
            if out.len() == limit {
                return false;
            }
            out.push(&norm[s..i]);
        }
        prev = Some(c);
    }
    if let Some(s) = start {
        if out.len() == limit {
            return false;
        }
        out.push(&norm[s..]);
    }
    true
}

/// True when a whitespace-separated word of the reply denies something
/// (`don't`, `n'est`, `isn’t`).
fn negating_word(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_alphanumeric());
    w.ends_with("n't")
        || w.ends_with("n’t")
        || ((w.starts_with("n'") || w.starts_with("n’"))
            && w.chars().nth(2).is_some_and(char::is_alphabetic))
        || is_in(NEGATIONS, w)
}

/// A reference to a choice found in a reply.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ref {
    /// Choice number `n` (1-based), written as digits or a number word.
    Number(u64),
    /// An ordinal: `n`-th choice, or the last one for `0`.
    Ordinal(u64),
}

/// A reply read word by word.
#[derive(Debug, Default)]
pub(crate) struct Reading<'a> {
    refs: Vec<Ref>,
    /// Every number written with digits (amounts and choice numbers).
    numbers: Vec<f64>,
    /// Words that are neither filler, stop-words, prefixes nor currency.
    words: Vec<&'a str>,
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
    if digits.is_empty() || digits.len() > 3 || !is_in(ORDINAL_SUFFIXES, suffix) {
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
    if is_in(NUMBER_PREFIXES, prefix)
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
    let mut toks = Vec::with_capacity(8);
    if !tokens(norm, &mut toks) {
        return None;
    }
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
        if is_in(HEDGES, t) {
            return None;
        }
        if let Some(&(_, n)) = ORDINAL_WORDS.iter().find(|(w, _)| *w == t) {
            r.refs.push(Ref::Ordinal(u64::from(n)));
            continue;
        }
        if let Some(n) = number_word(t) {
            let after_prefix = prev.is_some_and(|p| is_in(NUMBER_PREFIXES, p));
            match t {
                // French articles, unless they are the whole reply or follow
                // a prefix (`numéro un`).
                "un" | "une" if !(toks.len() == 1 || after_prefix) => {}
                // "the last one", "the first one", "that one": a pronoun.
                "one"
                    if prev.is_some_and(|p| {
                        is_in(ONE_AS_PRONOUN_AFTER, p)
                            || ORDINAL_WORDS.iter().any(|(w, _)| *w == p)
                            || written_ordinal(p).is_some()
                    }) => {}
                _ if prev.is_some_and(|p| is_in(SW_ORDINAL_CONNECTORS, p)) => {
                    r.refs.push(Ref::Ordinal(u64::from(n)));
                }
                _ => r.refs.push(Ref::Number(u64::from(n))),
            }
            continue;
        }
        if t == "no" && !next_is_digits {
            return None;
        }
        if is_in(FILLER, t)
            || is_in(STOP_WORDS, t)
            || is_in(NUMBER_PREFIXES, t)
            || is_in(CURRENCY_WORDS, t)
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
    fits(reply, choice)
}

/// The words of one choice (texts in every language and aliases).
pub(crate) struct ChoiceWords<'a> {
    pub(crate) words: Vec<&'a str>,
}

impl<'a> ChoiceWords<'a> {
    pub(crate) fn new(texts: impl Iterator<Item = &'a str>) -> ChoiceWords<'a> {
        let mut words = Vec::with_capacity(8);
        for text in texts {
            // A long text is read up to its first MAX_TOKENS words.
            let _ = tokens(text, &mut words);
        }
        ChoiceWords { words }
    }

    /// The best fit of `word` among this choice's words.
    fn fit(&self, word: &str) -> Option<Fit> {
        self.words.iter().filter_map(|c| word_fit(word, c)).min()
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

    /// The amount this choice's text names, if it names exactly one and not
    /// as a bound (`500 shillings`, `Ksh 1,000 a week`; not `Less than 500`).
    fn amount(&self) -> Option<f64> {
        let mut found = None;
        for w in &self.words {
            if is_in(BOUNDS, w) {
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
        for &rf in &r.refs {
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
            if let Some(typo) = choices[i].fits_all(&r.words) {
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
const COMMAND_FILLER: &[&str] = &[
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
];

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
    let mut toks = Vec::with_capacity(6);
    if !tokens(norm, &mut toks) || toks.len() > 6 {
        return false;
    }
    let try_keyword = |keyword: &str| -> bool {
        let mut kw_toks = Vec::with_capacity(3);
        if !tokens(keyword, &mut kw_toks) || kw_toks.is_empty() || kw_toks.len() > toks.len() {
            return false;
        }
        (0..=toks.len() - kw_toks.len()).any(|start| {
            let end = start + kw_toks.len();
            toks[start..end] == kw_toks[..]
                && toks[..start]
                    .iter()
                    .chain(&toks[end..])
                    .all(|t| is_in(COMMAND_FILLER, t))
        })
    };
    keywords.iter().any(|k| try_keyword(k)) || builtin.iter().any(|k| try_keyword(k))
}
