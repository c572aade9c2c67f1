//! Rendering of deployment progress: one bar per host on a terminal, plain
//! `host: event` lines otherwise (logs, CI, pipes, `--json`).
//!
//! Events come from several threads at once ([`stoa_deploy::Progress`]).
//! Both renderers write to stderr only; results go to stdout.

#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use stoa_deploy::{Event, Progress, Step};

/// The text of an event, as both renderers show it.
fn describe(event: &Event) -> String {
    match event {
        Event::Step(s) => format!("{s}"),
        Event::Busy(owner) => format!("node locked by {owner}"),
        Event::Sent { paths, bytes } => {
            format!("sent {} store path(s), {bytes} bytes", paths.len())
        }
        Event::SecretsSent(names) => format!(
            "sending {} changed secret(s): {}",
            names.len(),
            names.join(", ")
        ),
        Event::Activation(line) => line.clone(),
        Event::Check { name, ok } => {
            format!("health check {name}: {}", if *ok { "ok" } else { "FAILED" })
        }
        Event::Recovered(what) => format!("recovered an interrupted activation: {what}"),
        Event::Failpoint(name) => format!("failpoint {name} reached"),
        Event::Done { summary, .. } => summary.clone(),
    }
}

/// Plain lines on stderr: one line per event and host.
pub struct Lines {
    /// Only failpoints (which test harnesses wait for) are shown.
    pub quiet: bool,
}

impl Progress for Lines {
    fn event(&self, host: &str, event: Event) {
        if self.quiet && !matches!(event, Event::Failpoint(_)) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{host}: {}", describe(&event));
        let _ = err.flush();
    }
}

/// The steps a switch goes through when all is well: every step but `revert`.
fn forward() -> impl Iterator<Item = Step> {
    Step::ALL.into_iter().filter(|s| *s != Step::Revert)
}

/// One bar per host, redrawn in place on a terminal; events worth keeping
/// (sent paths, secrets, failed checks, recoveries, locks) are printed
/// above the bars so that they stay on screen.
pub struct Bars {
    multi: MultiProgress,
    bars: BTreeMap<String, ProgressBar>,
}

impl Bars {
    /// Bars for `hosts`, in that order, drawn on `target`.
    fn new(hosts: &[String], target: ProgressDrawTarget) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let width = hosts.iter().map(String::len).max().unwrap_or(4);
        let style =
            ProgressStyle::with_template(&format!("{{prefix:<{width}}} [{{bar:18}}] {{wide_msg}}"))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bars = hosts
            .iter()
            .map(|h| {
                let bar = multi.add(ProgressBar::new(forward().count() as u64));
                bar.set_style(style.clone());
                bar.set_prefix(h.clone());
                bar.set_message("waiting");
                bar.enable_steady_tick(Duration::from_millis(200));
                (h.clone(), bar)
            })
            .collect();
        Bars { multi, bars }
    }
}

impl Progress for Bars {
    fn event(&self, host: &str, event: Event) {
        let Some(bar) = self.bars.get(host) else {
            return;
        };
        let text = describe(&event);
        match &event {
            Event::Step(step) => {
                if let Some(i) = forward().position(|s| s == *step) {
                    bar.set_position(i as u64);
                }
                bar.set_message(text);
            }
            Event::Activation(line) => {
                bar.set_message(line.strip_prefix("stoa: ").unwrap_or(line).to_owned());
            }
            Event::Check { ok: true, .. } => bar.set_message(text),
            Event::Done { ok: true, .. } => bar.finish_with_message(text),
            Event::Done { ok: false, .. } => bar.abandon_with_message(text),
            _ => {
                bar.set_message(text.clone());
                let _ = self.multi.println(format!("{host}: {text}"));
            }
        }
    }
}

/// The renderer of a switch: bars when stderr is a terminal (and `TERM` is
/// not `dumb`), lines otherwise.
pub enum Renderer {
    /// Redrawn bars.
    Bars(Bars),
    /// Plain lines.
    Lines(Lines),
}

impl Renderer {
    /// Chooses for `hosts`; `quiet` (for `--json` or `-q`) shows no progress.
    pub fn for_hosts(hosts: &[String], quiet: bool) -> Renderer {
        let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
        if quiet || dumb || !std::io::stderr().is_terminal() {
            return Renderer::Lines(Lines { quiet });
        }
        Renderer::Bars(Bars::new(hosts, ProgressDrawTarget::stderr()))
    }

    /// Ends the display: the cursor goes below the bars, which stay on
    /// screen with each host's result.
    pub fn end(self) {
        if let Renderer::Bars(b) = self {
            drop(b);
            eprintln!();
        }
    }

    /// The progress sink.
    pub fn progress(&self) -> &dyn Progress {
        match self {
            Renderer::Bars(b) => b,
            Renderer::Lines(l) => l,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    /// A terminal that keeps everything written to it.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().unwrap().push(s.to_owned());
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bars_follow_the_steps_and_keep_important_lines() {
        let term = Recorder::default();
        let hosts = vec!["alpha".to_owned(), "beta".to_owned()];
        let target = ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 255);
        let bars = Bars::new(&hosts, target);
        bars.event("alpha", Event::Step(Step::Transfer));
        bars.event(
            "alpha",
            Event::Sent {
                paths: Vec::new(),
                bytes: 1024,
            },
        );
        bars.event("beta", Event::Step(Step::Activate));
        bars.event("beta", Event::Activation("stoa: step install x".into()));
        bars.event(
            "alpha",
            Event::Done {
                ok: true,
                summary: "switched to generation 2 (was 1)".into(),
            },
        );
        let written = term.0.lock().unwrap().join("\n");
        // Kept above the bars.
        assert!(
            written.contains("alpha: sent 0 store path(s), 1024 bytes"),
            "{written}"
        );
        // Activate is step 7 of 9: the bar is partly filled, with the last line.
        assert!(
            written.lines().any(|l| l.starts_with("beta ")
                && l.contains("[============>     ]")
                && l.contains("] step install x")),
            "{written}"
        );
        assert!(
            written
                .lines()
                .any(|l| l.starts_with("alpha [==================] switched to generation 2")),
            "{written}"
        );
        // Routine activation lines are not kept as lines of their own.
        assert!(!written.contains("beta: stoa: step"), "{written}");
    }
}
