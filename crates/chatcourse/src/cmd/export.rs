//! `chatcourse export`: a programme's messages, answers or scores, read from
//! the database directly (no server), with the rows, columns and CSV
//! neutralisation of the HTTP exports (the encoder is the api crate's).
//! Streamed: memory stays constant whatever the size of the programme.
//! Progress goes to stderr: a bar on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatcourse_api::export::{
    Edge, Encoder, Format, Line, answer_line, message_line, parse_bound, score_line,
};
use chatcourse_storage::{ExportFilter, OrgId, Store, StoreError};
use chrono_tz::Tz;
use futures::stream::{BoxStream, StreamExt};

use super::Database;

/// What to export.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Kind {
    /// Every message, by session then id.
    Messages,
    /// Every recorded quiz answer, by session then id.
    Answers,
    /// One line per session with its scores, in enrolment order.
    Scores,
    /// A FLOIP Flow Results package per module (`-o DIR`): the answers.
    Floip,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Messages => "messages",
            Kind::Answers => "answers",
            Kind::Scores => "scores",
            Kind::Floip => "floip",
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FileFormat {
    Csv,
    Ndjson,
}

/// The programme to read: an organisation and one of its programmes.
#[derive(clap::Args)]
pub struct Programme {
    /// The organisation's name (programme identifiers belong to an
    /// organisation: each has its own programme 49).
    #[arg(long)]
    pub org: String,
    /// The programme's identifier (as in enrolments: `programIdentifier`).
    #[arg(long)]
    pub program: i64,
    /// The zone of the `date_time` columns and of `--from`/`--until` dates.
    #[arg(long, env = "CHATCOURSE_TIMEZONE", default_value = "UTC", value_parser = chatcourse_api::parse_timezone)]
    pub timezone: Tz,
    #[command(flatten)]
    pub db: Database,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    kind: Kind,
    #[command(flatten)]
    programme: Programme,
    /// Only rows at or after this time: RFC 3339 or a date (its start).
    #[arg(long)]
    from: Option<String>,
    /// Only rows before this time: RFC 3339 or a date (the day included).
    #[arg(long)]
    until: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    format: FileFormat,
    /// The file to write (default: stdout); for `floip`, the folder to
    /// write the packages into (required).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    super::block_on_streaming(execute(args))
}

/// Opens the store and finds the organisation and the programme; an
/// unknown one is an error naming it.
pub async fn open(p: &Programme) -> Result<(Arc<dyn Store>, OrgId), String> {
    let store = chatcourse_storage::connect(&p.db.database)
        .await
        .map_err(|e| e.to_string())?;
    let org = store
        .find_org(p.org.trim())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no organisation named {:?}", p.org))?;
    store
        .get_programme(org.id, p.program)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "organisation {:?} has no programme {} (a programme exists from its first enrolment)",
                p.org, p.program
            )
        })?;
    Ok((store, org.id))
}

pub(super) fn bound(
    raw: &Option<String>,
    name: &str,
    edge: Edge,
    tz: Tz,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    raw.as_deref()
        .map(|raw| {
            parse_bound(raw.trim(), edge, tz).ok_or_else(|| {
                format!("--{name}: must be an RFC 3339 time (2026-11-01T00:00:00Z) or a date (01/11/2026), in the years 1900 to 9999")
            })
        })
        .transpose()
}

async fn execute(args: Args) -> Result<ExitCode, String> {
    let tz = args.programme.timezone;
    let from = bound(&args.from, "from", Edge::Start, tz)?;
    let until = bound(&args.until, "until", Edge::End, tz)?;
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        return Err("--until must be later than --from".to_owned());
    }
    let (store, org) = open(&args.programme).await?;
    let identifier = args.programme.program;
    let filter = ExportFilter {
        programme: Some(identifier),
        from,
        until,
    };
    let format = match args.format {
        FileFormat::Csv => Format::Csv,
        FileFormat::Ndjson => Format::Ndjson,
    };
    if let Kind::Floip = args.kind {
        let dir = args
            .output
            .as_ref()
            .ok_or("export floip writes a folder: give it with -o DIR")?;
        let progress = Progress::new("floip", None);
        super::floip::export(store.as_ref(), org, filter, dir, progress).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let out = std::io::BufWriter::new(out);
    // The sessions export has a known length: the programme's sessions.
    let total = match args.kind {
        Kind::Scores => store
            .programme_summary(org, identifier)
            .await
            .map_err(|e| e.to_string())?
            .map(|s| s.enrolled.max(0) as u64),
        _ => None,
    };
    let progress = Progress::new(args.kind.name(), total);
    let rows = match args.kind {
        Kind::Messages => {
            let lines = store
                .export_transcripts(org, filter)
                .map(move |r| r.map(|r| message_line(r, tz)))
                .boxed();
            write(lines, format, out, progress).await?
        }
        Kind::Answers => {
            let lines = store
                .export_answers(org, filter)
                .map(move |r| r.map(|r| answer_line(r, tz)))
                .boxed();
            write(lines, format, out, progress).await?
        }
        Kind::Scores => {
            let lines = store
                .export_sessions(org, identifier)
                .map(move |r| r.map(|r| score_line(r, tz)))
                .boxed();
            write(lines, format, out, progress).await?
        }
        // Written above, into its folder.
        Kind::Floip => return Ok(ExitCode::SUCCESS),
    };
    let to = args
        .output
        .as_ref()
        .map_or("stdout".to_owned(), |p| p.display().to_string());
    eprintln!("{}: {rows} rows written to {to}", args.kind.name());
    Ok(ExitCode::SUCCESS)
}

/// Lines encoded per write to the output.
pub(super) const BATCH: u64 = 512;

/// Encodes `lines` into `out` as they come, in batches: memory holds one
/// batch. Returns the number of rows.
async fn write<L: Line>(
    mut lines: BoxStream<'static, Result<L, StoreError>>,
    format: Format,
    mut out: impl Write,
    mut progress: Progress,
) -> Result<u64, String> {
    let fail = |e: &dyn std::fmt::Display| format!("the export failed part-way: {e}");
    let mut encoder = Encoder::new::<L>(format).map_err(|e| fail(&e))?;
    let mut rows = 0;
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| fail(&e))?;
        encoder.line(&line).map_err(|e| fail(&e))?;
        rows += 1;
        if rows % BATCH == 0 {
            encoder.write_to(&mut out).map_err(|e| fail(&e))?;
            progress.at(rows);
        }
    }
    encoder.write_to(&mut out).map_err(|e| fail(&e))?;
    out.flush().map_err(|e| fail(&e))?;
    progress.done(rows);
    Ok(rows)
}

/// Progress on stderr: an indicatif bar on a terminal (a counter when the
/// total is unknown), else a plain line every few seconds.
pub(super) enum Progress {
    Bar(indicatif::ProgressBar),
    Lines {
        kind: &'static str,
        total: Option<u64>,
        last: Instant,
    },
}

/// How often a plain progress line is printed at most.
const LINE_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    pub(super) fn new(kind: &'static str, total: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() {
            eprintln!("{kind}: exporting");
            return Progress::Lines {
                kind,
                total,
                last: Instant::now(),
            };
        }
        let bar = match total {
            Some(total) => indicatif::ProgressBar::new(total).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            ),
            None => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}: {pos} rows ({per_sec})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            ),
        };
        Progress::Bar(bar.with_message(kind))
    }

    pub(super) fn at(&mut self, rows: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(rows),
            Progress::Lines { kind, total, last } => {
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    match total {
                        Some(total) => eprintln!("{kind}: {rows}/{total} rows"),
                        None => eprintln!("{kind}: {rows} rows"),
                    }
                }
            }
        }
    }

    pub(super) fn done(self, rows: u64) {
        if let Progress::Bar(bar) = self {
            bar.set_position(rows);
            bar.finish_and_clear();
        }
    }
}
