//! The `trolley` binary: parse the command line, then either serve until a signal or run an
//! offline maintenance command.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use trolley::{App, Config};

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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trolley: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(config)) => serve(config).await,
            Some(Command::Events(EventsCommand::Trim { before, data_dir })) => {
                match trolley::admin::trim_events(&data_dir, before).await {
                    Ok(n) => {
                        println!("removed {n} events before {before}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("trolley: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    })
}

async fn serve(config: Config) -> ExitCode {
    let app = match App::start(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("trolley: {e}");
            return ExitCode::FAILURE;
        }
    };
    shutdown_signal().await;
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
