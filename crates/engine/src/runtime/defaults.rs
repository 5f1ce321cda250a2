//! The texts the engine sends by itself when a module does not set them
//! (`messages:`), and the "Reply 1, 2 or 3." hint after listed choices, in
//! every language the product speaks: English, Swahili and French.
//!
//! A module language without texts here gets the English ones (the
//! validator warns: `default-message`).

use crate::module::{Lang, Part, Template, Text};

/// The engine's own texts in one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultTexts {
    /// Primary language subtag (`en`, `sw`, `fr`).
    pub lang: &'static str,
    pub help: &'static str,
    pub stopped: &'static str,
    pub invalid: &'static str,
    pub finished: &'static str,
    pub expired: &'static str,
    /// First word of the hint: "Reply 1, 2 or 3."
    pub reply: &'static str,
    /// Last separator of the hint: "Reply 1, 2 or 3."
    pub or: &'static str,
    /// Sent when the learner writes during a pause whose `wait` has no
    /// `reply`; `{resume_day}` and `{resume_time}` are filled in.
    pub paused: &'static str,
    /// `{resume_day}`: the pause ends today, tomorrow, or on a weekday
    /// (Monday first).
    pub today: &'static str,
    pub tomorrow: &'static str,
    pub on_weekday: [&'static str; 7],
}

pub const EN: DefaultTexts = DefaultTexts {
    lang: "en",
    help: "Reply with the number or the words of your answer. Send STOP to leave the course or RESTART to begin again.",
    stopped: "You have left the course. Send RESTART to join again.",
    invalid: "Sorry, I did not understand that.",
    finished: "This course has ended. Send RESTART to take it again.",
    expired: "This course session has expired. Send RESTART to begin again.",
    reply: "Reply",
    or: "or",
    paused: "Your next lesson comes {resume_day} at {resume_time}.",
    today: "today",
    tomorrow: "tomorrow",
    on_weekday: [
        "on Monday",
        "on Tuesday",
        "on Wednesday",
        "on Thursday",
        "on Friday",
        "on Saturday",
        "on Sunday",
    ],
};

pub const SW: DefaultTexts = DefaultTexts {
    lang: "sw",
    help: "Jibu kwa namba au maneno ya jibu lako. Tuma STOP kuacha kozi au RESTART kuanza upya.",
    stopped: "Umeondoka kwenye kozi. Tuma RESTART kujiunga tena.",
    invalid: "Samahani, sijaelewa.",
    finished: "Kozi hii imekwisha. Tuma RESTART kuisoma tena.",
    expired: "Muda wa kozi hii umekwisha. Tuma RESTART kuanza upya.",
    reply: "Jibu",
    or: "au",
    paused: "Somo lako lijalo litakuja {resume_day} saa {resume_time}.",
    today: "leo",
    tomorrow: "kesho",
    on_weekday: [
        "Jumatatu", "Jumanne", "Jumatano", "Alhamisi", "Ijumaa", "Jumamosi", "Jumapili",
    ],
};

pub const FR: DefaultTexts = DefaultTexts {
    lang: "fr",
    help: "Répondez avec le numéro ou les mots de votre réponse. Envoyez STOP pour quitter le cours ou RESTART pour recommencer.",
    stopped: "Vous avez quitté le cours. Envoyez RESTART pour le reprendre.",
    invalid: "Désolé, je n'ai pas compris.",
    finished: "Ce cours est terminé. Envoyez RESTART pour le suivre à nouveau.",
    expired: "Cette session du cours a expiré. Envoyez RESTART pour recommencer.",
    reply: "Répondez",
    or: "ou",
    paused: "Votre prochaine leçon arrive {resume_day} à {resume_time}.",
    today: "aujourd'hui",
    tomorrow: "demain",
    on_weekday: [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
};

/// Every language the engine has texts in.
pub const ALL: &[DefaultTexts] = &[EN, SW, FR];

/// The texts for a language tag, by its primary subtag, case-insensitively
/// (`sw`, `sw-KE`, `FR-cm`); `None` when the engine has none.
pub fn for_language(tag: &str) -> Option<&'static DefaultTexts> {
    let primary = tag.split(['-', '_']).next().unwrap_or("");
    ALL.iter().find(|d| d.lang.eq_ignore_ascii_case(primary))
}

/// The texts for a learner's language, English when the engine has none.
pub fn for_learner(lang: &Lang) -> &'static DefaultTexts {
    for_language(&lang.0).unwrap_or(&EN)
}

/// A default message (`help`, `stopped`, `invalid`, `finished`, `expired`)
/// as a module text: in the base language (English if the engine has no
/// texts in it) and in every other module language the engine speaks.
pub fn message_text(name: &str, base: &Lang, languages: &[Lang]) -> Text {
    let pick = |d: &DefaultTexts| match name {
        "help" => d.help,
        "stopped" => d.stopped,
        "invalid" => d.invalid,
        "finished" => d.finished,
        _ => d.expired,
    };
    let literal = |s: &str| Template {
        parts: vec![Part::Lit(s.to_owned())],
    };
    let mut by_lang = vec![(base.clone(), literal(pick(for_learner(base))))];
    for lang in languages {
        if lang != base
            && let Some(d) = for_language(&lang.0)
        {
            by_lang.push((lang.clone(), literal(pick(d))));
        }
    }
    Text::new(by_lang)
}

/// Module languages the engine has no texts in.
pub fn languages_without_texts(languages: &[Lang]) -> Vec<&Lang> {
    languages
        .iter()
        .filter(|l| for_language(&l.0).is_none())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_by_primary_subtag() {
        assert_eq!(for_language("sw-KE"), Some(&SW));
        assert_eq!(for_language("FR-cm"), Some(&FR));
        assert_eq!(for_language("en"), Some(&EN));
        assert_eq!(for_language("pt-br"), None);
        assert_eq!(for_language(""), None);
        assert_eq!(for_learner(&Lang("pt".into())), &EN);
    }

    #[test]
    fn every_language_has_every_text() {
        for d in ALL {
            for s in [
                d.help, d.stopped, d.invalid, d.finished, d.expired, d.reply, d.or, d.paused,
                d.today, d.tomorrow,
            ]
            .into_iter()
            .chain(d.on_weekday)
            {
                assert!(!s.trim().is_empty(), "{}", d.lang);
            }
        }
    }

    #[test]
    fn message_texts_carry_every_spoken_module_language() {
        let langs = [Lang("sw".into()), Lang("en".into()), Lang("pt".into())];
        let t = message_text("invalid", &langs[0], &langs);
        let got: Vec<&str> = t.by_lang.iter().map(|(l, _)| l.0.as_str()).collect();
        assert_eq!(got, ["sw", "en"]);
        let pt = Lang("pt".into());
        let t = message_text("help", &pt, std::slice::from_ref(&pt));
        assert_eq!(t.get(&pt).parts, [Part::Lit(EN.help.into())]);
    }
}
