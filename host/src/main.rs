//! The `yell-host` binary: parses the command line, sets up logging and the
//! tokio runtime, and runs the chosen command.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use yell_host::cli::{Cli, Command, ServeArgs};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Serves until Ctrl-C or SIGTERM, then prints the summary.
async fn serve(args: ServeArgs, inherited: Option<std::net::TcpListener>) -> anyhow::Result<()> {
    let config = args.config(inherited)?;
    let shutdown = yell_host::server::shutdown_signal()?;
    let summary = yell_host::server::run(config, shutdown).await?;
    println!("{summary}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Read (and cleared from the environment) before any thread starts;
    // only a server takes a socket it was passed.
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    let inherited = match serving
        .then(yell_host::listener::inherited_socket)
        .transpose()
        .map(Option::flatten)
    {
        Ok(inherited) => inherited,
        Err(error) => {
            eprintln!("yell-host: error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    // `pipe` writes its own report on stderr: only warnings join it, and
    // the plugin's own log lines (what its author prints while testing it).
    let default_level = match cli.command {
        // And a failed call's wasm backtrace, which names the plugin's
        // functions when it was built with them (`yell-host build --debug`).
        Some(Command::Pipe(_) | Command::Test(_)) => {
            "warn,yell_runtime::log=info,yell_runtime::failure=debug"
        }
        _ => "info",
    };
    let filter = match &cli.log_level {
        Some(level) => EnvFilter::try_new(level),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(default_level)),
    };
    let filter = match filter {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("yell-host: error: bad log level: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Held to the end: dropping it writes out the queued log lines.
    let logs = yell_host::logging::init(filter, cli.log_format.into());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("yell-host: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve, inherited).await,
            Some(Command::Serve(args)) => serve(*args, inherited).await,
            Some(Command::Client(client)) => yell_host::client::run(client.config()?).await,
            Some(Command::Reload(reload)) => reload.execute().await,
            Some(Command::Pipe(pipe)) => yell_host::pipe::run(pipe.config()?).await,
            Some(Command::Sign(sign)) => sign.execute(),
            Some(Command::Keygen(keygen)) => keygen.execute(),
            Some(Command::Wit(wit)) => wit.execute(),
            Some(Command::Kv(kv)) => kv.execute().await,
            Some(Command::Push(push)) => push.execute().await,
            Some(Command::Pull(pull)) => pull.execute().await,
            Some(Command::New(new)) => new.execute(),
            Some(Command::Build(build)) => build.execute(),
            Some(Command::Dev(dev)) => dev.execute().await,
            Some(Command::Test(test)) => yell_host::plugin_test::run(test.config()?).await,
        }
    });
    drop(runtime);
    // Log lines still queued are written before the error line.
    drop(logs);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("yell-host: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
