//! `chatcourse report`: a programme's report (the summary and the item
//! analysis of `GET /api/v1/fe/program/report`), read from the database
//! directly, as text or as the endpoint's JSON `data`.

use std::fmt::Write as _;
use std::process::ExitCode;

use chatcourse_api::report::{ProgramReportData, programme_report};

use super::export::{Programme, open};

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
}

pub fn run(args: Args) -> ExitCode {
    super::block_on(execute(args))
}

async fn execute(args: Args) -> Result<ExitCode, String> {
    let (store, org) = open(&args.programme).await?;
    let identifier = args.programme.program;
    let report = programme_report(store.as_ref(), org, identifier, args.programme.timezone)
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
    out
}
