//! Builds [`Module`]s in code for unit tests, without the YAML loader.
//! Step references are ids, resolved by [`ModuleBuilder::build`]; a missing
//! `next` means the step below.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::matching::normalize;
use crate::module::{
    AnswerRule, Ask, Choice, Keywords, Lang, Matcher, Module, Part, QuizKind, QuizQuestion, Retry,
    Step, StepIdx, StepKind, SystemMessages, Template, Text, Timeouts, Var,
};

/// A template from `{var}` syntax (`{score}` is the post-quiz score).
pub(crate) fn tpl(s: &str) -> Template {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Lit(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}').expect("closed brace") + open;
        let var = match &rest[open + 1..close] {
            "module_name" => Var::ModuleName,
            "module_goal" => Var::ModuleGoal,
            "learner_name" => Var::LearnerName,
            "pre_score" => Var::Score(QuizKind::Pre),
            "pre_total" => Var::Total(QuizKind::Pre),
            "score" | "post_score" => Var::Score(QuizKind::Post),
            "total" | "post_total" => Var::Total(QuizKind::Post),
            "answer" => Var::Answer,
            "attempts_left" => Var::AttemptsLeft,
            other => panic!("unknown variable {other}"),
        };
        parts.push(Part::Var(var));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_owned()));
    }
    Template { parts }
}

/// A text in the base language `en` only.
pub(crate) fn t(s: &str) -> Text {
    Text::new(vec![(Lang("en".into()), tpl(s))])
}

/// A translated text; the first pair is the base language.
pub(crate) fn tr(pairs: &[(&str, &str)]) -> Text {
    Text::new(
        pairs
            .iter()
            .map(|(l, s)| (Lang((*l).into()), tpl(s)))
            .collect(),
    )
}

pub(crate) fn at(hours: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap() + Duration::hours(hours)
}

pub(crate) struct ChoiceSpec {
    text: Text,
    aliases: Vec<String>,
    reply: Option<Text>,
    next: Option<String>,
}

pub(crate) fn choice(text: Text) -> ChoiceSpec {
    ChoiceSpec {
        text,
        aliases: Vec::new(),
        reply: None,
        next: None,
    }
}

impl ChoiceSpec {
    pub(crate) fn aliases(mut self, a: &[&str]) -> Self {
        self.aliases = a.iter().map(|s| normalize(s)).collect();
        self
    }
    pub(crate) fn reply(mut self, r: &str) -> Self {
        self.reply = Some(t(r));
        self
    }
    pub(crate) fn next(mut self, id: &str) -> Self {
        self.next = Some(id.into());
        self
    }
}

pub(crate) struct RuleSpec {
    matcher: Matcher,
    reply: Option<Text>,
    next: Option<String>,
    correct: Option<bool>,
}

pub(crate) fn rule(matcher: Matcher) -> RuleSpec {
    RuleSpec {
        matcher,
        reply: None,
        next: None,
        correct: None,
    }
}

pub(crate) fn keywords(words: &[&str]) -> Matcher {
    Matcher::Keywords(words.iter().map(|s| normalize(s)).collect())
}

impl RuleSpec {
    pub(crate) fn reply(mut self, r: &str) -> Self {
        self.reply = Some(t(r));
        self
    }
    pub(crate) fn next(mut self, id: &str) -> Self {
        self.next = Some(id.into());
        self
    }
    pub(crate) fn correct(mut self, c: bool) -> Self {
        self.correct = Some(c);
        self
    }
}

pub(crate) struct AskSpec {
    text: Text,
    choices: Vec<ChoiceSpec>,
    list_choices: bool,
    answers: Vec<RuleSpec>,
    quiz: Option<(QuizKind, Vec<usize>)>,
    right: Option<Text>,
    wrong: Option<Text>,
    next: Option<String>,
    max_attempts: Option<u32>,
    reprompt: Option<Text>,
    on_exhausted: Option<String>,
    timeouts: Option<Timeouts>,
}

pub(crate) fn ask(text: Text) -> AskSpec {
    AskSpec {
        text,
        choices: Vec::new(),
        list_choices: true,
        answers: Vec::new(),
        quiz: None,
        right: None,
        wrong: None,
        next: None,
        max_attempts: None,
        reprompt: None,
        on_exhausted: None,
        timeouts: None,
    }
}

impl AskSpec {
    /// Plain choices (English texts).
    pub(crate) fn choices(mut self, texts: &[&str]) -> Self {
        self.choices = texts.iter().map(|s| choice(t(s))).collect();
        self
    }
    pub(crate) fn choice(mut self, c: ChoiceSpec) -> Self {
        self.choices.push(c);
        self
    }
    pub(crate) fn unlisted(mut self) -> Self {
        self.list_choices = false;
        self
    }
    pub(crate) fn answer(mut self, r: RuleSpec) -> Self {
        self.answers.push(r);
        self
    }
    /// `correct` are 1-based choice numbers, as authors write them.
    pub(crate) fn quiz(mut self, quiz: QuizKind, correct: &[usize]) -> Self {
        self.quiz = Some((quiz, correct.iter().map(|c| c - 1).collect()));
        self
    }
    pub(crate) fn feedback(mut self, right: &str, wrong: &str) -> Self {
        self.right = Some(t(right));
        self.wrong = Some(t(wrong));
        self
    }
    pub(crate) fn next(mut self, id: &str) -> Self {
        self.next = Some(id.into());
        self
    }
    pub(crate) fn retry(
        mut self,
        max: u32,
        reprompt: Option<&str>,
        on_exhausted: Option<&str>,
    ) -> Self {
        self.max_attempts = Some(max);
        self.reprompt = reprompt.map(t);
        self.on_exhausted = on_exhausted.map(Into::into);
        self
    }
    pub(crate) fn timeouts(mut self, t: Timeouts) -> Self {
        self.timeouts = Some(t);
        self
    }
}

pub(crate) fn timeouts(
    remind_after_h: Option<i64>,
    reminder: Option<&str>,
    max_reminders: u32,
    expire_after_h: Option<i64>,
) -> Timeouts {
    Timeouts {
        remind_after: remind_after_h.map(Duration::hours),
        reminder: reminder.map(t),
        max_reminders,
        expire_after: expire_after_h.map(Duration::hours),
    }
}

enum StepSpec {
    Say(Text, Option<String>),
    Ask(Box<AskSpec>),
    End(Option<Text>),
}

pub(crate) struct ModuleBuilder {
    module: Module,
    steps: Vec<(String, StepSpec)>,
}

pub(crate) fn module() -> ModuleBuilder {
    ModuleBuilder {
        module: Module {
            id: "test-module".into(),
            name: "Test Module".into(),
            goal: "test things".into(),
            name_text: t("Test Module"),
            goal_text: t("test things"),
            version: "1".into(),
            content_hash: "hash-1".into(),
            base_language: Lang("en".into()),
            languages: vec![Lang("en".into())],
            keywords: Keywords {
                stop: vec!["stop".into(), "unsubscribe".into()],
                restart: vec!["restart".into()],
                help: vec!["help".into()],
            },
            messages: SystemMessages {
                help: t("HELP TEXT"),
                stopped: t("STOPPED TEXT"),
                invalid: t("INVALID TEXT"),
                finished: t("FINISHED TEXT"),
                expired: Some(t("EXPIRED TEXT")),
            },
            default_max_attempts: 3,
            timeouts: None,
            pre_quiz_total: 0,
            post_quiz_total: 0,
            steps: Vec::new(),
        },
        steps: Vec::new(),
    }
}

impl ModuleBuilder {
    pub(crate) fn languages(mut self, langs: &[&str]) -> Self {
        self.module.languages = langs.iter().map(|l| Lang((*l).into())).collect();
        self.module.base_language = self.module.languages[0].clone();
        self
    }
    pub(crate) fn keywords(mut self, stop: &[&str], restart: &[&str], help: &[&str]) -> Self {
        let n = |w: &[&str]| w.iter().map(|s| normalize(s)).collect();
        self.module.keywords = Keywords {
            stop: n(stop),
            restart: n(restart),
            help: n(help),
        };
        self
    }
    pub(crate) fn messages(mut self, f: impl FnOnce(&mut SystemMessages)) -> Self {
        f(&mut self.module.messages);
        self
    }
    pub(crate) fn timeouts(mut self, t: Timeouts) -> Self {
        self.module.timeouts = Some(t);
        self
    }
    pub(crate) fn say(mut self, id: &str, text: Text) -> Self {
        self.steps.push((id.into(), StepSpec::Say(text, None)));
        self
    }
    pub(crate) fn say_to(mut self, id: &str, text: Text, next: &str) -> Self {
        self.steps
            .push((id.into(), StepSpec::Say(text, Some(next.into()))));
        self
    }
    pub(crate) fn ask(mut self, id: &str, spec: AskSpec) -> Self {
        self.steps.push((id.into(), StepSpec::Ask(Box::new(spec))));
        self
    }
    pub(crate) fn end(mut self, id: &str, text: Option<&str>) -> Self {
        self.steps.push((id.into(), StepSpec::End(text.map(t))));
        self
    }

    pub(crate) fn build(self) -> Module {
        let ids: Vec<String> = self.steps.iter().map(|(id, _)| id.clone()).collect();
        let resolve = |id: &str| -> StepIdx {
            StepIdx(ids.iter().position(|x| x == id).expect("known step") as u32)
        };
        let below = |i: usize| StepIdx((i + 1).min(ids.len() - 1) as u32);
        let mut module = self.module;
        for (i, (id, spec)) in self.steps.into_iter().enumerate() {
            let kind = match spec {
                StepSpec::Say(text, next) => StepKind::Say {
                    text,
                    next: next.map_or(below(i), |n| resolve(&n)),
                },
                StepSpec::End(text) => StepKind::End { text },
                StepSpec::Ask(a) => {
                    let a = *a;
                    let next = a.next.as_deref().map_or(below(i), resolve);
                    if let Some((q, _)) = &a.quiz {
                        match q {
                            QuizKind::Pre => module.pre_quiz_total += 1,
                            QuizKind::Post => module.post_quiz_total += 1,
                        }
                    }
                    StepKind::Ask(Box::new(Ask {
                        text: a.text,
                        choices: a
                            .choices
                            .into_iter()
                            .map(|c| {
                                let next = c.next.as_deref().map(resolve);
                                Choice::new(c.text, c.aliases, c.reply, next)
                            })
                            .collect(),
                        list_choices: a.list_choices,
                        answers: a
                            .answers
                            .into_iter()
                            .map(|r| AnswerRule {
                                matcher: r.matcher,
                                reply: r.reply,
                                next: r.next.as_deref().map(resolve),
                                correct: r.correct,
                            })
                            .collect(),
                        quiz: a.quiz.map(|(quiz, correct)| QuizQuestion { quiz, correct }),
                        right: a.right,
                        wrong: a.wrong,
                        next,
                        retry: Retry {
                            max_attempts: a.max_attempts.unwrap_or(module.default_max_attempts),
                            reprompt: a.reprompt,
                            on_exhausted: a.on_exhausted.as_deref().map_or(next, resolve),
                        },
                        timeouts: a.timeouts,
                    }))
                }
            };
            module.steps.push(Step {
                id,
                line: i as u32 + 1,
                kind,
            });
        }
        module
    }
}
