//! `chatcourse report`: a programme's report (the summary, item analysis,
//! funnel, breakdowns and figures over time of `GET
//! /api/v1/fe/program/report`), read from the database directly, as text or
//! as the endpoint's JSON `data`.

use std::fmt::Write as _;
use std::process::ExitCode;

use chatcourse_api::export::Edge;
use chatcourse_api::report::{ProgramReportData, programme_report};
use chatcourse_storage::ReportScope;

use super::export::{Programme, bound, open};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    programme: Programme,
    #[arg(long, value_enum, default_value = "text")]
    format: ReportFormat,
    /// Only sessions of this module (its id).
    #[arg(long)]
    module: Option<String>,
    /// Only sessions of this module version (its content hash).
    #[arg(long)]
    version: Option<String>,
    /// Only sessions in this language.
    #[arg(long)]
    language: Option<String>,
    /// Only sessions enrolled at or after this time: RFC 3339 or a date (its start).
    #[arg(long)]
    from: Option<String>,
    /// Only sessions enrolled before this time: RFC 3339 or a date (the day included).
    #[arg(long)]
    until: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    super::block_on(execute(args))
}

async fn execute(args: Args) -> Result<ExitCode, String> {
    let tz = args.programme.timezone;
    let scope = ReportScope {
        module: args.module.clone(),
        version: args.version.clone(),
        language: args.language.clone(),
        from: bound(&args.from, "from", Edge::Start, tz)?,
        until: bound(&args.until, "until", Edge::End, tz)?,
    };
    if let (Some(from), Some(until)) = (scope.from, scope.until)
        && from >= until
    {
        return Err("--until must be later than --from".to_owned());
    }
    let (store, org) = open(&args.programme).await?;
    let identifier = args.programme.program;
    let report = programme_report(store.as_ref(), org, identifier, &scope, tz)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no programme {identifier}"))?;
    match args.format {
        ReportFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
        ReportFormat::Text => print!("{}", text(&report)),
    }
    Ok(ExitCode::SUCCESS)
}

/// A figure that may be missing (no learner yet).
fn maybe(figure: Option<f64>) -> String {
    figure.map_or("-".to_owned(), |f| format!("{f:.1}"))
}

/// The report for a reader: the summary, then one block per question.
fn text(report: &ProgramReportData) -> String {
    let s = &report.summary;
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "Programme {} ({}), created {}",
        s.program_identifier, s.program_name, s.date_created
    );
    let _ = writeln!(
        out,
        "Learners: {} enrolled; {} pending, {} in progress, {} completed, {} opted out, {} expired",
        s.enrolled, s.pending, s.in_progress, s.completed, s.opted_out, s.expired
    );
    let _ = writeln!(
        out,
        "Quizzes: pre {} completed ({} in progress), post {} completed ({} in progress)",
        s.pre_quiz_completed,
        s.pre_quiz_in_progress,
        s.post_quiz_completed,
        s.post_quiz_in_progress
    );
    let _ = writeln!(
        out,
        "Paired gain: {} points over {} learners who completed both quizzes (pre {}%, post {}%)",
        maybe(s.paired_knowledge_gain),
        s.paired_learners,
        maybe(s.paired_average_pre_score),
        maybe(s.paired_average_post_score)
    );
    let _ = writeln!(
        out,
        "Unpaired averages (different learners): pre {}%, post {}%, gain {}",
        maybe(s.average_pre_score),
        maybe(s.average_post_score),
        maybe(s.knowledge_gain)
    );
    let _ = writeln!(out, "\nQuestions (each learner's first answer):");
    if report.questions.is_empty() {
        let _ = writeln!(out, "  none answered yet");
    }
    for q in &report.questions {
        let _ = writeln!(
            out,
            "  {} ({}-quiz){}: {}",
            q.question_id,
            q.quiz,
            if q.correct_changed {
                " [right answer changed between versions]"
            } else {
                ""
            },
            q.question
        );
        let choices: Vec<String> = q
            .choices
            .iter()
            .map(|c| {
                format!(
                    "{}{}: {}",
                    c.choice,
                    if c.correct { " (right)" } else { "" },
                    c.learners
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "    {} learners, {:.1}% right ({:.1}% at the first reply); median attempts {:.1}; {:.1}% of replies matched nothing",
            q.learners,
            q.correct_share,
            q.correct_first_attempt_share,
            q.median_attempts,
            q.unmatched_reply_share
        );
        let _ = writeln!(
            out,
            "    choices {}; free text {}; ran out of attempts {}",
            if choices.is_empty() {
                "-".to_owned()
            } else {
                choices.join(", ")
            },
            q.free_text,
            q.no_match
        );
    }
    funnel_text(&mut out, report);
    breakdown_text(&mut out, report);
    let _ = writeln!(out, "\nOver time (at the end of each day):");
    if report.over_time.is_empty() {
        let _ = writeln!(out, "  nobody enrolled yet");
    }
    for d in &report.over_time {
        let _ = writeln!(
            out,
            "  {}: {} enrolled (+{}), {} active, {} completed, {} opted out, {} expired",
            d.date, d.enrolled, d.new_enrolled, d.active, d.completed, d.opted_out, d.expired
        );
    }
    out
}

fn funnel_text(out: &mut String, report: &ProgramReportData) {
    let _ = writeln!(
        out,
        "\nFunnel (the steps learners wait on, in module order):"
    );
    if report.funnel.is_empty() {
        let _ = writeln!(out, "  no step reached yet");
    }
    for f in &report.funnel {
        let _ = writeln!(
            out,
            "  {}: reached by {} ({:.1}%); waiting now {}, expired there {}; median from the step before {}",
            f.step,
            f.reached,
            f.reached_share,
            f.waiting_live,
            f.waiting_expired,
            f.median_seconds_from_previous
                .map_or("-".to_owned(), duration)
        );
    }
}

fn breakdown_text(out: &mut String, report: &ProgramReportData) {
    let mut by = "";
    for g in &report.breakdowns {
        if g.by != by {
            by = g.by;
            let _ = writeln!(out, "\nBy {}:", by.replace('_', " "));
        }
        let _ = writeln!(
            out,
            "  {}: {} enrolled, {} completed ({:.1}%); pre {}%, post {}%; paired gain {} over {}",
            if g.key.is_empty() {
                "(not recorded)"
            } else {
                &g.key
            },
            g.enrolled,
            g.completed,
            g.completion_rate,
            maybe(g.average_pre_score),
            maybe(g.average_post_score),
            maybe(g.paired_knowledge_gain),
            g.paired_learners
        );
    }
}

/// Seconds for a reader: `45s`, `12m`, `3.5h`, `2.0d`.
fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 60.0 => format!("{s:.0}s"),
        s if s < 3600.0 => format!("{:.0}m", s / 60.0),
        s if s < 86400.0 => format!("{:.1}h", s / 3600.0),
        s => format!("{:.1}d", s / 86400.0),
    }
}
