//! `stoa`: the command-line front end. The only code that prints, reads the
//! environment or picks exit codes; the work happens in the library crates.

// `clippy.toml` bans reading the environment and the clock so that the
// library crates stay pure; the CLI is the one place that does both.
#![allow(clippy::disallowed_methods)]

mod commands;
mod drift;
mod error;
mod nodes;
mod progress;
mod project;
mod secrets;
mod ui;
mod whoami;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::ui::Ui;

/// mimalloc instead of glibc's malloc: a cold build of 1000 hosts spends a
/// third less CPU time and peaks lower (BENCHMARKS.md, "Evaluation and build").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Local state directory (store, roots, caches); default `.stoa/` at the
    /// project root.
    #[arg(long, global = true, env = "STOA_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
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
    /// Copy hosts' last builds to their nodes, activate, confirm; revert on failure.
    Switch(commands::switch::Args),
    /// Re-activate a generation already on a node (works without the sources).
    Rollback(commands::rollback::Args),
    /// The releases on the nodes: one per `stoa switch`, with each host's generation.
    Releases(commands::releases::Args),
    /// Reboot nodes one at a time, wait for each, check its generation and health.
    Reboot(commands::reboot::Args),
    /// List a node's generations.
    Generations(commands::generations::Args),
    /// Build hosts into the store and print their toplevel store paths.
    Build(commands::build::Args),
    /// What a switch would do on hosts' nodes, with what drifted there; or compare two closures.
    Diff(commands::diff::Args),
    /// Each host's node: its generation, what drifted, an interrupted switch.
    Status(commands::status::Args),
    /// Run a command on hosts' nodes (or in a container: --ct), in parallel, output by host.
    Exec(commands::exec::Args),
    /// Re-hash every store entry and report damaged ones; --repair re-creates them.
    Verify(commands::verify::Args),
    /// Delete store paths that no root reaches.
    Gc(commands::gc::Args),
    /// (Re)write docs/architecture.md and its SVG from the configuration; --check finds stale ones.
    Docs(commands::docs::Args),
    /// Edit, list and re-encrypt the project's age-encrypted secrets.
    Secrets(commands::secrets::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
    /// Print (or --write) the Rhai declaring a container made by hand on a node; for a
    /// declared one, what differs.
    Import(commands::import::Args),
}

/// Options every command sees.
pub struct Global {
    /// `-C DIR`.
    pub dir: Option<PathBuf>,
    /// `--store DIR`.
    pub store: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui::new(cli.quiet, cli.verbose);
    let g = Global {
        dir: cli.dir,
        store: cli.store,
    };
    let result = match cli.command {
        Command::Check(a) => commands::check::run(&ui, &g, a),
        Command::Eval(a) => commands::eval::run(&ui, &g, a),
        Command::Options(a) => commands::options::run(&ui, &g, a),
        Command::Build(a) => commands::build::run(&ui, &g, a),
        Command::Diff(a) => commands::diff::run(&ui, &g, a),
        Command::Status(a) => commands::status::run(&ui, &g, a),
        Command::Releases(a) => commands::releases::run(&ui, &g, a),
        Command::Reboot(a) => commands::reboot::run(&ui, &g, a),
        Command::Exec(a) => commands::exec::run(&ui, &g, a),
        Command::Verify(a) => commands::verify::run(&ui, &g, a),
        Command::Gc(a) => commands::gc::run(&ui, &g, a),
        Command::Switch(a) => commands::switch::run(&ui, &g, a),
        Command::Rollback(a) => commands::rollback::run(&ui, &g, a),
        Command::Generations(a) => commands::generations::run(&ui, &g, a),
        Command::Docs(a) => commands::docs::run(&ui, &g, a),
        Command::Secrets(a) => commands::secrets::run(&ui, &g, a),
        Command::Completions(a) => commands::completions::run::<Cli>(a),
        Command::Import(a) => commands::import::run(&ui, &g, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            ui.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
