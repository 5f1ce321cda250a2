//! `chatcourse play MODULE.yaml`: play a module in the terminal, typing the
//! learner's replies. Works piped too (`printf '1\n2\n' | chatcourse play
//! m.yaml`): learner lines are then echoed so the output reads as a
//! transcript. Lines starting with `/` are commands: `/wait 25h` lets time
//! pass (reminders and expiry fire), `/next` lets time pass until the
//! next wake-up (the end of a `wait` step's pause, a reminder), `/state`
//! shows the session state, `/quit` stops. A pause is shown with the local
//! time it ends (`--timezone`, default UTC).

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chatcourse_engine::convtest::{Said, parse_duration};
use chatcourse_engine::{
    Effect, Input, Module, QuizKind, StartOptions, State, Status, Turn, start_in_zone, step,
};
use chrono::{DateTime, Utc};

#[derive(clap::Args)]
pub struct Args {
    /// The module file to play.
    module: PathBuf,
    /// The learner's language (default: the module's base language).
    #[arg(long)]
    language: Option<String>,
    /// The learner's name (`{learner_name}`).
    #[arg(long)]
    name: Option<String>,
    /// Also show what the engine records: answers, scores, status changes.
    #[arg(long)]
    effects: bool,
    /// The learner's IANA time zone, for `wait` steps with a time of day.
    #[arg(long, default_value = "UTC", value_parser = chatcourse_api::parse_timezone)]
    timezone: chatcourse_api::Tz,
}

pub fn run(args: Args) -> ExitCode {
    let Some((_, module)) = super::validate::load_file(&args.module, false) else {
        return ExitCode::FAILURE;
    };
    let interactive = io::stdin().is_terminal();
    let mut out = io::stdout().lock();
    // Simulated clock: starts now, moves with `/wait`.
    let mut now = Utc::now();
    let opts = StartOptions {
        language: args.language,
        learner_name: args.name,
    };
    let mut turn = start_in_zone(&module, opts, Some(args.timezone.name()), now);
    show(&mut out, &turn, args.effects);
    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    while turn.state.status == Status::Active {
        if interactive {
            let _ = write!(out, "you> ");
            let _ = out.flush();
        }
        let Some(Ok(line)) = lines.next() else {
            break;
        };
        if !interactive {
            let _ = writeln!(out, "{}", Said::Learner(line.clone()));
        }
        now = now.max(Utc::now());
        let input = match line.trim() {
            "/quit" | "/exit" => break,
            "/state" => {
                let _ = writeln!(out, "{}", pretty_state(&turn.state));
                continue;
            }
            cmd if cmd.starts_with("/wait") => {
                let arg = cmd.trim_start_matches("/wait").trim();
                let Some(d) = parse_duration(arg) else {
                    let _ = writeln!(out, "usage: /wait DURATION (30s, 15m, 25h, 2d, 1w)");
                    continue;
                };
                let until = now + d;
                if !wait(&module, &mut turn, &mut now, until, &mut out, args.effects) {
                    return ExitCode::FAILURE;
                }
                continue;
            }
            "/next" => {
                let Some(until) = turn.state.wake_at else {
                    let _ = writeln!(out, "(nothing is due: the course waits for your reply)");
                    continue;
                };
                let until = until.max(now);
                if !wait(&module, &mut turn, &mut now, until, &mut out, args.effects) {
                    return ExitCode::FAILURE;
                }
                continue;
            }
            cmd if cmd.starts_with('/') => {
                let _ = writeln!(out, "commands: /wait DURATION, /next, /state, /quit");
                continue;
            }
            _ => Input::Text {
                text: line,
                at: now,
            },
        };
        match step(&module, &turn.state, &input) {
            Ok(t) => turn = t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        show(&mut out, &turn, args.effects);
    }
    let _ = writeln!(out, "{}", summary(&module, &turn.state));
    ExitCode::SUCCESS
}

/// Lets simulated time pass until `until`, delivering due wake-ups.
fn wait(
    module: &Module,
    turn: &mut Turn,
    now: &mut DateTime<Utc>,
    until: DateTime<Utc>,
    out: &mut impl Write,
    effects: bool,
) -> bool {
    while let Some(wake) = turn.state.wake_at.filter(|w| *w <= until) {
        *now = wake.max(*now);
        match step(module, &turn.state, &Input::Wake { at: *now }) {
            Ok(t) => *turn = t,
            Err(e) => {
                eprintln!("error: {e}");
                return false;
            }
        }
        show(out, turn, effects);
    }
    *now = until;
    true
}

fn show(out: &mut impl Write, turn: &Turn, effects: bool) {
    for e in &turn.effects {
        match e {
            Effect::Send { text } => {
                let _ = writeln!(out, "{}", Said::Bot(text.clone()));
            }
            Effect::Paused { step_id, until } => {
                let tz = turn.state.tz();
                let when = until.map_or("never".to_owned(), |u| {
                    u.with_timezone(&tz).format("%a %d %b %H:%M %Z").to_string()
                });
                let _ = writeln!(
                    out,
                    "-- paused at `{step_id}` until {when} (/next to skip ahead)"
                );
            }
            other if effects => {
                let json = serde_json::to_string(other).unwrap_or_default();
                let _ = writeln!(out, "  [{json}]");
            }
            _ => {}
        }
    }
}

fn pretty_state(state: &State) -> String {
    serde_json::to_string_pretty(state).unwrap_or_else(|_| state.to_json())
}

/// `-- completed; pre-quiz 2/3, post-quiz 3/3`
fn summary(module: &Module, state: &State) -> String {
    let mut s = format!("-- {}", state.status.as_str());
    let quizzes: Vec<String> = [(QuizKind::Pre, "pre-quiz"), (QuizKind::Post, "post-quiz")]
        .into_iter()
        .filter(|(q, _)| module.quiz_total(*q) > 0)
        .map(|(q, name)| format!("{name} {}/{}", state.quiz(q).correct, module.quiz_total(q)))
        .collect();
    if !quizzes.is_empty() {
        s.push_str("; ");
        s.push_str(&quizzes.join(", "));
    }
    s
}
