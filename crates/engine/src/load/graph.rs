//! Whole-course checks: step ids, references, ways on, reachability,
//! endless `say` loops and empty quizzes; then assembly of the final steps.
//! Every pass is linear in the number of steps and references.

use std::collections::HashMap;

use super::Ctx;
use super::steps::{DraftKind, DraftStep, Ref};
use crate::module::{AnswerRule, Ask, Choice, QuizKind, Retry, Step, StepIdx, StepKind};

/// Resolves references and checks the graph. Returns the steps and the quiz
/// totals `[pre, post]` when nothing stops assembly (the caller still checks
/// for errors found earlier). `lowering_errors` says whether lowering
/// reported errors, in which case reachability is not judged (a broken step
/// would make correct steps look unreachable).
pub(super) fn resolve(
    cx: &mut Ctx<'_>,
    drafts: Vec<DraftStep>,
    lowering_errors: usize,
) -> Option<(Vec<Step>, [u32; 2])> {
    let n = drafts.len();
    let before = cx.error_count();

    // Ids: first definition wins.
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (i, step) in drafts.iter().enumerate() {
        let Some((id, span)) = &step.id else { continue };
        if let Some(&first) = ids.get(id.as_str()) {
            let line = drafts[first].id.as_ref().map_or(0, |(_, s)| s.line);
            cx.error(
                "duplicate-step-id",
                *span,
                format!("two steps have the id `{id}`"),
                Some(format!(
                    "the first is on line {line}; step ids must be unique"
                )),
            );
        } else {
            ids.insert(id, i);
        }
    }
    let all_ids: Vec<&str> = drafts
        .iter()
        .filter_map(|s| s.id.as_ref().map(|(id, _)| id.as_str()))
        .collect();
    let resolve = |cx: &mut Ctx<'_>, r: &Option<Ref>| -> Option<Option<StepIdx>> {
        let Some(r) = r else { return Some(None) };
        match ids.get(r.id.as_str()) {
            Some(&i) => Some(Some(StepIdx(i as u32))),
            None => {
                let hint = crate::diagnostics::suggest(&r.id, all_ids.iter().copied());
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

    // Resolve every reference; `None` marks a reference already reported.
    let mut steps: Vec<Option<Step>> = Vec::with_capacity(n);
    let mut totals = [0u32; 2];
    for (i, draft) in drafts.iter().enumerate() {
        let below = (i + 1 < n).then(|| StepIdx(i as u32 + 1));
        let next = resolve(cx, &draft.next);
        let id = draft
            .id
            .as_ref()
            .map_or(String::new(), |(id, _)| id.clone());
        let name = if id.is_empty() {
            "this step".to_owned()
        } else {
            format!("step `{id}`")
        };
        let kind = match &draft.kind {
            DraftKind::Broken => None,
            DraftKind::End(text) => Some(StepKind::End { text: text.clone() }),
            DraftKind::Say(text) => match next {
                Some(Some(next)) => Some(StepKind::Say {
                    text: text.clone(),
                    next,
                }),
                Some(None) => match below {
                    Some(next) => Some(StepKind::Say {
                        text: text.clone(),
                        next,
                    }),
                    None => {
                        cx.error(
                            "no-way-on",
                            draft.kind_span,
                            format!("{name} is the last step, a `say` with no `next`: the course would stop without ending"),
                            Some("add `next:` naming the step to go to, or finish with an `end:` step".into()),
                        );
                        None
                    }
                },
                None => None,
            },
            DraftKind::Ask(ask) => {
                if let Some(q) = &ask.quiz {
                    totals[q.quiz as usize] += 1;
                }
                let choices: Vec<Option<Choice>> = ask
                    .choices
                    .iter()
                    .map(|c| {
                        resolve(cx, &c.next).map(|next| Choice {
                            text: c.text.clone(),
                            aliases: c.aliases.clone(),
                            reply: c.reply.clone(),
                            next,
                        })
                    })
                    .collect();
                let answers: Vec<Option<AnswerRule>> = ask
                    .answers
                    .iter()
                    .map(|r| {
                        resolve(cx, &r.next).map(|next| AnswerRule {
                            matcher: r.matcher.clone(),
                            reply: r.reply.clone(),
                            next,
                            correct: r.correct,
                        })
                    })
                    .collect();
                let on_exhausted = resolve(cx, &ask.on_exhausted);
                // Where accepted answers go: `next`, else the step below; when
                // this is the last step, every rule and `on_exhausted` must
                // name a step themselves.
                let every_rule_goes_on = ask.choices.iter().all(|c| c.next.is_some())
                    && ask.answers.iter().all(|r| r.next.is_some());
                let default_next = match (next, below, on_exhausted) {
                    (Some(Some(next)), _, _) => Some(next),
                    (Some(None), Some(below), _) => Some(below),
                    (Some(None), None, Some(Some(exhausted))) if every_rule_goes_on => {
                        Some(exhausted)
                    }
                    (Some(None), None, Some(_)) => {
                        cx.error(
                            "no-way-on",
                            draft.kind_span,
                            format!("{name} is the last step and has no `next`: the course would stop without ending"),
                            Some("add `next:` naming the step to go to, or finish with an `end:` step".into()),
                        );
                        None
                    }
                    _ => None,
                };
                let complete =
                    choices.iter().all(Option::is_some) && answers.iter().all(Option::is_some);
                match (default_next, on_exhausted, complete) {
                    (Some(next), Some(exhausted), true) => Some(StepKind::Ask(Box::new(Ask {
                        text: ask.text.clone(),
                        choices: choices.into_iter().flatten().collect(),
                        list_choices: ask.list_choices,
                        answers: answers.into_iter().flatten().collect(),
                        quiz: ask.quiz.clone(),
                        right: ask.right.clone(),
                        wrong: ask.wrong.clone(),
                        next,
                        retry: Retry {
                            max_attempts: ask.max_attempts,
                            reprompt: ask.reprompt.clone(),
                            on_exhausted: exhausted.unwrap_or(next),
                        },
                        timeouts: ask.timeouts.clone(),
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
    check_say_loops(cx, &drafts, &steps);
    let complete = steps.iter().all(Option::is_some);
    if complete && lowering_errors == 0 && cx.error_count() == before {
        let steps: Vec<Step> = steps.into_iter().flatten().collect();
        check_reachable(cx, &steps, &drafts);
        return Some((steps, totals));
    }
    None
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

/// Successors of a step, in the order a learner could take them.
fn successors(kind: &StepKind) -> Vec<StepIdx> {
    match kind {
        StepKind::Say { next, .. } => vec![*next],
        StepKind::End { .. } => Vec::new(),
        StepKind::Ask(ask) => {
            let mut out = vec![ask.next, ask.retry.on_exhausted];
            out.extend(ask.choices.iter().filter_map(|c| c.next));
            out.extend(ask.answers.iter().filter_map(|r| r.next));
            out
        }
    }
}

/// Warns once per run of consecutive steps no learner can reach.
fn check_reachable(cx: &mut Ctx<'_>, steps: &[Step], drafts: &[DraftStep]) {
    if steps.is_empty() {
        return;
    }
    let mut seen = vec![false; steps.len()];
    let mut stack = vec![0usize];
    seen[0] = true;
    while let Some(i) = stack.pop() {
        for s in successors(&steps[i].kind) {
            if !seen[s.index()] {
                seen[s.index()] = true;
                stack.push(s.index());
            }
        }
    }
    let mut i = 0;
    while i < steps.len() {
        if seen[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < steps.len() && !seen[i] {
            i += 1;
        }
        let span = drafts[start]
            .id
            .as_ref()
            .map_or(drafts[start].kind_span, |(_, s)| *s);
        let message = if i - start == 1 {
            format!("step `{}` can never be reached", steps[start].id)
        } else {
            format!(
                "steps `{}` to `{}` ({} steps) can never be reached",
                steps[start].id,
                steps[i - 1].id,
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
fn check_say_loops(cx: &mut Ctx<'_>, drafts: &[DraftStep], steps: &[Option<Step>]) {
    let next_of = |i: usize| -> Option<usize> {
        match steps[i].as_ref().map(|s| &s.kind) {
            Some(StepKind::Say { next, .. }) => Some(next.index()),
            _ => None,
        }
    };
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; steps.len()];
    for start in 0..steps.len() {
        let mut path = Vec::new();
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
                let span = drafts[first]
                    .id
                    .as_ref()
                    .map_or(drafts[first].kind_span, |(_, s)| *s);
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
        for p in path {
            state[p] = 2;
        }
    }
}
