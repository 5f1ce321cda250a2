//! Whole-course checks: step ids, references, ways on, reachability,
//! endless `say` loops and empty quizzes; then assembly of the final steps.
//! Every pass is linear in the number of steps and references.

use std::collections::HashMap;

use super::Ctx;
use super::steps::{DraftKind, DraftStep, Ref, StepName};
use crate::module::{AnswerRule, Ask, Choice, QuizKind, Retry, Step, StepIdx, StepKind, Wait};
use crate::syntax::Span;

/// Resolves references and checks the graph. Returns the steps and the quiz
/// totals `[pre, post]` when nothing stops assembly (the caller still checks
/// for errors found earlier). `lowering_errors` says whether lowering
/// reported errors, in which case reachability is not judged (a broken step
/// would make correct steps look unreachable).
pub(super) fn resolve(
    cx: &mut Ctx<'_>,
    mut drafts: Vec<DraftStep>,
    lowering_errors: usize,
) -> Option<(Vec<Step>, [u32; 2])> {
    let n = drafts.len();
    let before = cx.error_count();
    let places: Vec<Place> = drafts
        .iter_mut()
        .map(|d| {
            let span = d.id.as_ref().map_or(d.kind_span, |(_, s)| *s);
            Place {
                id: d.id.take().map(|(id, _)| id),
                span,
            }
        })
        .collect();

    // Ids: first definition wins.
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, place) in places.iter().enumerate() {
        let Some(id) = &place.id else { continue };
        if let Some(&first) = ids.get(id.as_str()) {
            cx.error(
                "duplicate-step-id",
                place.span,
                format!("two steps have the id `{id}`"),
                Some(format!(
                    "the first is on line {}; step ids must be unique",
                    places[first].span.line
                )),
            );
        } else {
            ids.insert(id, i);
        }
    }
    let hints_left = std::cell::Cell::new(MAX_STEP_HINTS);
    // `None` marks a reference that names no step (reported here).
    let resolve = |cx: &mut Ctx<'_>, r: Option<Ref>| -> Option<Option<StepIdx>> {
        let Some(r) = r else { return Some(None) };
        match ids.get(r.id.as_str()) {
            Some(&i) => Some(Some(StepIdx(i as u32))),
            // The step's id was reported as invalid.
            None if cx.invalid_step_ids.contains(&r.id) => None,
            None => {
                // Each suggestion scans every id: bound the work on
                // pathological files with thousands of dangling references.
                let hint = if hints_left.get() > 0 {
                    hints_left.set(hints_left.get() - 1);
                    crate::diagnostics::suggest(
                        &r.id,
                        places.iter().filter_map(|p| p.id.as_deref()),
                    )
                } else {
                    None
                };
                let hint =
                    hint.or_else(|| Some("write the `id` of one of the module's steps".into()));
                cx.error(
                    "unknown-step",
                    r.span,
                    format!("`{}` names a step that does not exist: `{}`", r.field, r.id),
                    hint,
                );
                None
            }
        }
    };

    // Where each step can lead, worked out before resolution consumes the
    // drafts, so reachability can be judged even when some steps are
    // broken.
    let guesses = std::cell::Cell::new(MAX_STEP_HINTS);
    // Set when a reference names no step and resembles none: where it was
    // meant to lead is unknown, so reachability cannot be judged.
    let unjudgeable = std::cell::Cell::new(false);
    let names: Vec<&str> = places.iter().filter_map(|p| p.id.as_deref()).collect();
    let succ: Vec<Vec<usize>> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| draft_successors(d, i, n, (&ids, &names), (&guesses, &unjudgeable)))
        .collect();
    let mut steps: Vec<Option<Step>> = Vec::with_capacity(n);
    let mut totals = [0u32; 2];
    for (i, draft) in drafts.into_iter().enumerate() {
        let below = (i + 1 < n).then(|| StepIdx(i as u32 + 1));
        let next = resolve(cx, draft.next);
        let id = places[i].id.clone().unwrap_or_default();
        let name = StepName(Some(&id));
        let no_way_on = |cx: &mut Ctx<'_>, what: &str| {
            cx.error(
                "no-way-on",
                draft.kind_span,
                format!("{name} is the last step, {what} with no `next`: the course would stop without ending"),
                Some("add `next:` naming the step to go to, or finish with an `end:` step".into()),
            );
        };
        let kind = match draft.kind {
            DraftKind::Broken => None,
            DraftKind::End(text) => Some(StepKind::End { text }),
            DraftKind::Say(text) => match next {
                Some(Some(next)) => Some(StepKind::Say { text, next }),
                Some(None) => match below {
                    Some(next) => Some(StepKind::Say { text, next }),
                    None => {
                        no_way_on(cx, "a `say`");
                        None
                    }
                },
                None => None,
            },
            DraftKind::Wait(wait) => {
                let wait = *wait;
                let next = match next {
                    Some(Some(next)) => Some(next),
                    Some(None) if below.is_none() => {
                        no_way_on(cx, "a `wait`");
                        None
                    }
                    Some(None) => below,
                    None => None,
                };
                next.map(|next| {
                    StepKind::Wait(Box::new(Wait {
                        after: wait.after,
                        at: wait.at,
                        days: wait.days,
                        skip: wait.skip,
                        reply: wait.reply,
                        next,
                    }))
                })
            }
            DraftKind::Ask(ask) => {
                let ask = *ask;
                if let Some(q) = &ask.quiz {
                    totals[q.quiz as usize] += 1;
                }
                // When this is the last step and has no `next`, every rule and
                // `on_exhausted` must name a step themselves.
                let every_rule_goes_on = ask.choices.iter().all(|c| c.next.is_some())
                    && ask.answers.iter().all(|r| r.next.is_some());
                let mut complete = true;
                let mut choices = Vec::with_capacity(ask.choices.len());
                for c in ask.choices {
                    match resolve(cx, c.next) {
                        Some(next) => choices.push(Choice::new(c.text, c.aliases, c.reply, next)),
                        None => complete = false,
                    }
                }
                let mut answers = Vec::with_capacity(ask.answers.len());
                for r in ask.answers {
                    match resolve(cx, r.next) {
                        Some(next) => answers.push(AnswerRule {
                            matcher: r.matcher,
                            reply: r.reply,
                            next,
                            correct: r.correct,
                        }),
                        None => complete = false,
                    }
                }
                let on_exhausted = resolve(cx, ask.on_exhausted);
                let default_next = match (next, below, on_exhausted) {
                    (Some(Some(next)), _, _) => Some(next),
                    (Some(None), Some(below), _) => Some(below),
                    (Some(None), None, Some(Some(exhausted))) if every_rule_goes_on => {
                        Some(exhausted)
                    }
                    (Some(None), None, Some(_)) => {
                        no_way_on(cx, "an `ask`");
                        None
                    }
                    _ => None,
                };
                match (default_next, on_exhausted, complete) {
                    (Some(next), Some(exhausted), true) => Some(StepKind::Ask(Box::new(Ask {
                        text: ask.text,
                        choices,
                        list_choices: ask.list_choices,
                        answers,
                        quiz: ask.quiz,
                        right: ask.right,
                        wrong: ask.wrong,
                        next,
                        retry: Retry {
                            max_attempts: ask.max_attempts,
                            reprompt: ask.reprompt,
                            on_exhausted: exhausted.unwrap_or(next),
                        },
                        timeouts: ask.timeouts,
                    }))),
                    _ => None,
                }
            }
        };
        steps.push(kind.map(|kind| Step {
            id,
            line: draft.line,
            kind,
        }));
    }

    check_empty_quizzes(cx, totals);
    check_quiz_sizes(cx, totals);
    check_say_loops(cx, &places, &steps);
    if !unjudgeable.get() {
        check_reachable(cx, &succ, &places);
    }
    let complete = steps.iter().all(Option::is_some);
    if complete && lowering_errors == 0 && cx.error_count() == before {
        let steps: Vec<Step> = steps.into_iter().flatten().collect();
        return Some((steps, totals));
    }
    None
}

/// The steps a draft can lead to. A reference that names no step counts
/// as the step it most likely meant (the unknown step is reported; the
/// step meant should not also be called unreachable). A step whose
/// lowering reported errors is taken to lead to every step its YAML names,
/// whatever its broken parts meant; a step without a kind falls through.
fn draft_successors(
    draft: &DraftStep,
    i: usize,
    n: usize,
    (ids, names): (&HashMap<&str, usize>, &[&str]),
    (guesses, unjudgeable): (&std::cell::Cell<u32>, &std::cell::Cell<bool>),
) -> Vec<usize> {
    // An unknown id leads to every step it could be a typo of. Each guess
    // scans every id: bounded like the did-you-mean hints.
    let lookup = |id: &str| -> Vec<usize> {
        if let Some(&i) = ids.get(id) {
            return vec![i];
        }
        let left = guesses.get();
        let found: Vec<usize> = if left == 0 {
            Vec::new()
        } else {
            guesses.set(left - 1);
            crate::diagnostics::closest(id, names.iter().copied())
                .into_iter()
                .filter_map(|m| ids.get(m).copied())
                .collect()
        };
        if found.is_empty() {
            unjudgeable.set(true);
        }
        found
    };
    let below = (i + 1 < n).then_some(i + 1);
    let mut out = Vec::new();
    let mut add = |r: &Option<Ref>, or_below: bool| match r {
        Some(r) => out.extend(lookup(&r.id)),
        None if or_below => out.extend(below),
        None => {}
    };
    match &draft.kind {
        DraftKind::End(_) => {}
        DraftKind::Say(_) | DraftKind::Wait(_) | DraftKind::Broken => add(&draft.next, true),
        DraftKind::Ask(ask) => {
            add(&draft.next, true);
            add(&ask.on_exhausted, false);
            for c in &ask.choices {
                add(&c.next, false);
            }
            for r in &ask.answers {
                add(&r.next, false);
            }
        }
    }
    if draft.suspect {
        for (id, _) in &draft.refs {
            out.extend(lookup(id));
        }
    }
    out
}

/// How many `unknown-step` diagnostics get a did-you-mean hint.
const MAX_STEP_HINTS: u32 = 200;

/// Where a step is, for diagnostics about it.
struct Place {
    id: Option<String>,
    /// Its id, or its kind key when it has no valid id.
    span: Span,
}

fn check_empty_quizzes(cx: &mut Ctx<'_>, totals: [u32; 2]) {
    for quiz in [QuizKind::Pre, QuizKind::Post] {
        if totals[quiz as usize] > 0 {
            continue;
        }
        if let Some((name, span)) = cx.quiz_uses[quiz as usize].clone() {
            cx.error(
                "empty-quiz",
                span,
                format!(
                    "`{{{name}}}` shows the {q}-quiz score, but no question has `quiz: {q}`",
                    q = quiz.as_str()
                ),
                Some(format!(
                    "add `quiz: {}` to the questions of that quiz (`{{score}}` means the quiz of the nearest question above, else the post-quiz)",
                    quiz.as_str()
                )),
            );
        }
    }
}

/// A text shows both quiz scores side by side, but the quizzes have
/// different numbers of questions: "from 2/3 to 3/4" compares nothing.
fn check_quiz_sizes(cx: &mut Ctx<'_>, totals: [u32; 2]) {
    let [pre, post] = totals;
    if pre == 0 || post == 0 || pre == post {
        return;
    }
    let Some((name, span)) = cx.compared_scores.clone() else {
        return;
    };
    cx.warning(
        "quiz-size-mismatch",
        span,
        format!(
            "`{{{name}}}` puts the two quiz scores side by side, but the pre-quiz has {pre} question{} and the post-quiz {post}",
            if pre == 1 { "" } else { "s" }
        ),
        Some("give both quizzes the same number of questions, so learners can compare the scores".into()),
    );
}

/// Warns once per run of consecutive steps no learner can reach.
fn check_reachable(cx: &mut Ctx<'_>, succ: &[Vec<usize>], places: &[Place]) {
    if succ.is_empty() {
        return;
    }
    let mut seen = vec![false; succ.len()];
    let mut stack = vec![0usize];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        for &s in &succ[i] {
            if !seen[s] {
                seen[s] = true;
                stack.push(s);
            }
        }
    }
    let name = |i: usize| match &places[i].id {
        Some(id) => format!("`{id}`"),
        None => format!("on line {}", places[i].span.line),
    };
    let mut i = 0;
    while i < succ.len() {
        if seen[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < succ.len() && !seen[i] {
            i += 1;
        }
        let span = places[start].span;
        let message = if i - start == 1 {
            format!("step {} can never be reached", name(start))
        } else {
            format!(
                "steps {} to {} ({} steps) can never be reached",
                name(start),
                name(i - 1),
                i - start
            )
        };
        cx.warning(
            "unreachable-step",
            span,
            message,
            Some("no `next`, choice, answer or `on_exhausted` leads here, and the step above does not fall through to it".into()),
        );
    }
}

/// A cycle made only of `say` steps would send messages forever without
/// waiting for the learner. `say` steps have exactly one successor, so this
/// is cycle detection in a functional graph: linear time.
fn check_say_loops(cx: &mut Ctx<'_>, places: &[Place], steps: &[Option<Step>]) {
    let next_of = |i: usize| -> Option<usize> {
        match steps[i].as_ref().map(|s| &s.kind) {
            Some(StepKind::Say { next, .. }) => Some(next.index()),
            _ => None,
        }
    };
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; steps.len()];
    let mut path = Vec::new();
    for start in 0..steps.len() {
        let mut i = start;
        while state[i] == 0 {
            state[i] = 1;
            path.push(i);
            match next_of(i) {
                Some(j) => i = j,
                None => break,
            }
        }
        if state[i] == 1 && next_of(i).is_some() {
            // `i` is on the current path: the cycle is path[pos..].
            if let Some(pos) = path.iter().position(|&p| p == i) {
                let cycle = &path[pos..];
                let first = *cycle.iter().min().unwrap_or(&i);
                let names: Vec<String> = cycle
                    .iter()
                    .map(|&c| format!("`{}`", steps[c].as_ref().map_or("?", |s| s.id.as_str())))
                    .collect();
                let span = places[first].span;
                cx.error(
                    "endless-loop",
                    span,
                    format!(
                        "these `say` steps lead to each other in a loop that never waits for the learner: {}",
                        names.join(" -> ")
                    ),
                    Some("make one of them an `ask`, or point a `next` out of the loop".into()),
                );
            }
        }
        for p in path.drain(..) {
            state[p] = 2;
        }
    }
}
