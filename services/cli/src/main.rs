//! `nasvyazi`: parses the command line and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = nasvyazi_cli::Cli::parse();
    let mut stdout = std::io::stdout();
    match nasvyazi_cli::execute(cli, &mut stdout).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nasvyazi: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
