//! `stoa`: the command-line front end. The only code that prints, reads the
//! environment or picks exit codes; the work happens in the library crates.

mod commands;
mod error;
mod project;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ui::Ui;

/// A Nix-like pure configuration compiler for a Proxmox homelab.
#[derive(Parser)]
#[command(name = "stoa", version, about, max_term_width = 100)]
struct Cli {
    /// Run as if started in DIR (the project root is found from there).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Say more (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Say only what is asked for and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate every host (or the named ones) and report every problem.
    Check(commands::check::Args),
    /// Print a host's merged configuration, or one option of it.
    Eval(commands::eval::Args),
    /// List every declared option with type, default and description.
    Options(commands::options::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(cli.quiet, cli.verbose);
    let result = match cli.command {
        Command::Check(a) => commands::check::run(&ui, cli.dir.as_deref(), a),
        Command::Eval(a) => commands::eval::run(&ui, cli.dir.as_deref(), a),
        Command::Options(a) => commands::options::run(&ui, cli.dir.as_deref(), a),
        Command::Completions(a) => commands::completions::run::<Cli>(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
