//! `stoa completions <shell>`: print shell completions.

use crate::error::CliError;

#[derive(clap::Args)]
pub struct Args {
    /// The shell.
    shell: clap_complete::Shell,
}

pub fn run<C: clap::CommandFactory>(args: Args) -> Result<(), CliError> {
    let mut cmd = C::command();
    clap_complete::generate(args.shell, &mut cmd, "stoa", &mut std::io::stdout());
    Ok(())
}
