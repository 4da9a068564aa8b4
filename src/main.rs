//! The `trolley` binary: parse the command line, then either serve until a signal or run an
//! offline maintenance command.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use trolley::{App, Config};

/// mimalloc instead of glibc's malloc: malloc/free were a quarter of the add-to-cart CPU
/// profile (`_int_malloc`, `unlink_chunk`, `malloc_consolidate`), and mimalloc's per-thread
/// free lists make the request path's many small allocations cheap. It gives freed memory
/// back on its own (and `trolley::memory::request_release` asks every worker thread to after
/// passivation).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "trolley",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Config,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Config),
    /// Maintain the event log (with the server stopped).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Manage users (with the server stopped).
    #[command(subcommand)]
    User(UserCommand),
    /// Back up a running server's data into a new directory, while it serves.
    Backup {
        /// The new directory: absent or empty, directly inside the server's --backup-dir.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The running server.
        #[arg(long, env = "TROLLEY_URL", default_value = "http://127.0.0.1:8080")]
        server: String,
        #[arg(long, env = "TROLLEY_ADMIN_USERNAME")]
        admin_username: String,
        #[arg(long, env = "TROLLEY_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from stdin (first line) or --password-file.
    Create {
        #[arg(long)]
        username: String,
        /// Make the user an admin.
        #[arg(long)]
        admin: bool,
        /// Read the password from this file's first line instead of stdin.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        #[arg(long, env = "TROLLEY_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Grant admin rights to an existing user (effective at their next login).
    SetAdmin {
        username: String,
        #[arg(long, env = "TROLLEY_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

/// The first line of the file, or of stdin, without its line ending.
fn read_password(file: Option<&std::path::Path>) -> std::io::Result<String> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f)?,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
    };
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// Prints a command's outcome; failures are one line on stderr and exit code 1.
fn report<T>(result: Result<T, impl std::fmt::Display>, ok: impl FnOnce(T) -> String) -> ExitCode {
    match result {
        Ok(v) => {
            println!("{}", ok(v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trolley: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(clap::Subcommand)]
enum EventsCommand {
    /// Delete events with sequence numbers below SEQ; refuses to delete events a subscriber
    /// has not handled yet.
    Trim {
        /// Keep events from this sequence number on.
        #[arg(long, value_name = "SEQ")]
        before: u64,
        #[arg(long, env = "TROLLEY_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match &cli.command {
        Some(Command::Serve(c)) => c.log_format,
        None => cli.serve.log_format,
        Some(_) => trolley::telemetry::LogFormat::Text,
    };
    trolley::telemetry::init("info", format);
    // Each worker gives its freed heap pages back when it next idles after a passivation
    // (mimalloc collects per thread; see `trolley::memory`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(trolley::memory::release_if_requested)
        .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trolley: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

/// Runs the chosen command (serving by default).
async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(config)) => serve(config).await,
        Some(Command::Events(EventsCommand::Trim { before, data_dir })) => {
            report(trolley::admin::trim_events(&data_dir, before).await, |n| {
                format!("removed {n} events before {before}")
            })
        }
        Some(Command::User(UserCommand::Create {
            username,
            admin,
            password_file,
            data_dir,
        })) => create_user(username, admin, password_file, data_dir).await,
        Some(Command::Backup {
            to,
            server,
            admin_username,
            admin_password,
        }) => report(
            trolley::remote::backup(&server, &admin_username, &admin_password, &to).await,
            |b| {
                format!(
                    "backed up to {} up to event {}: {b}",
                    to.display(),
                    b["head_seq"]
                )
            },
        ),
        Some(Command::User(UserCommand::SetAdmin { username, data_dir })) => report(
            trolley::admin::set_admin(&data_dir, &username).await,
            |()| format!("{username} is now an admin (from their next login)"),
        ),
    }
}

async fn create_user(
    username: String,
    admin: bool,
    password_file: Option<PathBuf>,
    data_dir: PathBuf,
) -> ExitCode {
    match read_password(password_file.as_deref()) {
        Ok(password) => report(
            trolley::admin::create_user(&data_dir, &username, password, admin).await,
            |id| {
                format!(
                    "created user {username} (id {id}{})",
                    if admin { ", admin" } else { "" }
                )
            },
        ),
        Err(e) => {
            eprintln!("trolley: cannot read the password: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    // Values clap cannot check (the admin pair) are refused like any invalid flag: exit 2.
    if let Err(e) = config.admin() {
        eprintln!("trolley: invalid configuration: {e}");
        return ExitCode::from(2);
    }
    let app = match App::start(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("trolley: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One line on stdout once ready, with the real address: with `--addr 127.0.0.1:0` this is
    // how a supervisor or a test learns the port without racing for a free one. A closed
    // stdout is not an error.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "trolley listening on http://{}", app.addr);
        let _ = out.flush();
    }
    let store_failed = tokio::select! {
        () = shutdown_signal() => false,
        () = app.store_failed() => true,
    };
    if store_failed {
        // sled cannot carry on after a failed flush, and after a failed fsync Linux may have
        // dropped the data it was to write: only a restart, recovering from what is really on
        // disk, is safe. Exit non-zero so a supervisor restarts us, without closing the store:
        // a graceful close would ask the failed disk for more (sled's own close panics on it).
        eprintln!(
            "trolley: the disk failed (see the log); nothing more can be made durable, so the \
             server stops; restart it once the disk is fixed (or has space) and it recovers \
             every acknowledged write"
        );
        // In-flight requests get their answers (503 or 507) first.
        let _actors = app.stop_serving().await;
        std::process::exit(3);
    }
    tracing::info!("shutting down; a second signal exits at once");
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("trolley: second signal, exiting without waiting");
        std::process::exit(130);
    });
    app.shutdown().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
