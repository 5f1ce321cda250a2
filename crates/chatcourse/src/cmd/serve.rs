//! `chatcourse serve`: the HTTP/WebSocket API server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chatcourse_api::{App, Config, LoadError, StartError, Tz};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub db: super::Database,
    /// Folder of module files (*.yaml, in sub-folders too; not *.test.yaml
    /// nor hidden entries), listed as `validate` lists it; every one must be
    /// valid.
    #[arg(long, env = "CHATCOURSE_MODULES", default_value = "modules")]
    pub modules: PathBuf,
    /// How often, in seconds, to look at the modules folder again: a new or
    /// changed file becomes a new version for new enrolments (live sessions
    /// stay on theirs); a file that does not load is refused, with its
    /// diagnostics in the log, and the previous version keeps serving.
    /// 0: read the folder only at start.
    #[arg(long, env = "CHATCOURSE_MODULES_POLL", default_value_t = 5)]
    pub modules_poll: u64,
    /// Address to listen on.
    #[arg(long, env = "CHATCOURSE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// IANA time zone of the dd/MM/yyyy HH:mm times in responses, and of
    /// learners whose enrolment gives none (paced courses' `wait` steps).
    #[arg(long, env = "CHATCOURSE_TIMEZONE", default_value = "UTC", value_parser = chatcourse_api::parse_timezone)]
    pub timezone: Tz,
    /// An origin allowed to embed the learner's chat page in an iframe
    /// (repeat, or separate with commas); none by default.
    #[arg(long = "frame-origin", env = "CHATCOURSE_FRAME_ORIGINS", value_delimiter = ',', value_parser = chatcourse_api::parse_origin)]
    pub frame_origins: Vec<String>,
    #[command(flatten)]
    pub country: super::DefaultCountry,
    #[command(flatten)]
    pub secret_key: super::SecretKey,
    /// Seconds an outbox row being sent belongs to this process; when a
    /// process dies mid-send, another sends the row again after this
    /// (docs/channels.md). Must exceed --delivery-timeout.
    #[arg(long, env = "CHATCOURSE_DELIVERY_LEASE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub delivery_lease: u64,
    /// Seconds one request to a receiver may take before it counts as a
    /// failed attempt (retried).
    #[arg(long, env = "CHATCOURSE_DELIVERY_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub delivery_timeout: u64,
    /// Log format on stderr.
    #[arg(
        long,
        env = "CHATCOURSE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: Args) -> ExitCode {
    init_logging(args.log_format);
    let secret_key = match args.secret_key.load() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.delivery_lease <= args.delivery_timeout {
        eprintln!(
            "error: --delivery-lease ({}s) must be longer than --delivery-timeout ({}s): a row still being sent would be sent again by another process",
            args.delivery_lease, args.delivery_timeout
        );
        return ExitCode::FAILURE;
    }
    let delivery = chatcourse_api::delivery::DeliveryConfig {
        lease: std::time::Duration::from_secs(args.delivery_lease),
        timeout: std::time::Duration::from_secs(args.delivery_timeout),
        ..chatcourse_api::delivery::DeliveryConfig::default()
    };
    let config = Config {
        secret_key: Some(secret_key),
        delivery,
        default_country: args.country.default_country,
        database_url: args.db.database,
        modules_dir: args.modules,
        modules_poll: (args.modules_poll > 0)
            .then(|| std::time::Duration::from_secs(args.modules_poll)),
        bind: args.bind,
        timezone: args.timezone,
        frame_origins: args.frame_origins,
        ..Config::default()
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Start(StartError::Modules(e))) => {
            eprintln!("{e}");
            match e {
                LoadError::Invalid { .. } => eprintln!(
                    "error: not starting: fix the modules above (check them with `chatcourse validate`)"
                ),
                LoadError::Io { .. } | LoadError::Empty(_) => eprintln!(
                    "hint: run from the folder that holds `modules/`, or name the modules folder with --modules PATH (or CHATCOURSE_MODULES)"
                ),
            }
            ExitCode::FAILURE
        }
        Err(Failure::Bind { addr, error }) => {
            eprintln!("error: cannot listen on {addr}: {error}");
            if error.kind() == std::io::ErrorKind::AddrInUse {
                eprintln!(
                    "hint: another program (perhaps another chatcourse serve) uses {addr}; stop it, or choose another address with --bind (or CHATCOURSE_BIND), e.g. --bind 127.0.0.1:8081"
                );
            }
            ExitCode::FAILURE
        }
        Err(Failure::Start(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Why `serve` stopped with an error.
enum Failure {
    /// The address could not be bound (nothing else was done).
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    Start(StartError),
}

impl From<StartError> for Failure {
    fn from(e: StartError) -> Failure {
        Failure::Start(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Start(StartError::Io(e))
    }
}

async fn serve(config: Config) -> Result<(), Failure> {
    // The address first: a port in use fails at once, before the modules
    // are read or the database is opened and migrated.
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|error| Failure::Bind {
            addr: config.bind,
            error,
        })?;
    let app = App::new(&config).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    // On stdout, for the person who started it: the pages to open.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", chatcourse_api::welcome(addr));
        let _ = out.flush();
    }
    app.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
