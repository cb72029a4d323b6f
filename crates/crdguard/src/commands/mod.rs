//! One module per command: the command's flags resolved into settings (`crate::settings`), its
//! application-layer action run (`crdguard_app`), and what came back rendered, with the exit
//! code it maps to. No command calls the kube, helm or fetch adapters itself.

pub mod apply;
pub mod catalog;
pub mod check;
pub mod completions;
pub mod diff;
pub mod explain;
pub mod guard;
pub mod install;
pub mod man;
pub mod migrate;
pub mod plan;
pub mod post_render;
pub mod rbac;
pub mod requirements;
pub mod snapshot;
pub mod status;

/// Progress on stderr when it is a terminal and the output is for people: lines about what
/// happens, and a bar with counts and ETA for counted work (indicatif). Silent otherwise, so
/// JSON, YAML and piped runs carry none of it.
pub struct TerminalProgress {
    enabled: bool,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl TerminalProgress {
    pub fn new(output: crate::cli::Output) -> Self {
        use std::io::IsTerminal;
        TerminalProgress {
            enabled: matches!(
                output,
                crate::cli::Output::Table | crate::cli::Output::Markdown
            ) && std::io::stderr().is_terminal(),
            bar: std::sync::Mutex::new(None),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<indicatif::ProgressBar>)) {
        // A poisoned lock only means a panic elsewhere; progress is not worth a second one.
        if let Ok(mut bar) = self.bar.lock() {
            f(&mut bar);
        }
    }
}

impl crdguard_app::Progress for TerminalProgress {
    fn message(&self, text: &str) {
        if !self.enabled {
            return;
        }
        self.with_bar(|bar| match bar {
            // Above the bar, which is drawn again under it.
            Some(bar) => bar.println(format!("  {text}")),
            None => eprintln!("  {text}"),
        });
    }

    fn start(&self, what: &str, total: u64) {
        if !self.enabled {
            return;
        }
        self.with_bar(|bar| {
            if let Some(old) = bar.take() {
                old.finish_and_clear();
            }
            let style = indicatif::ProgressStyle::with_template(
                "  {prefix} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            let new = indicatif::ProgressBar::new(total)
                .with_style(style)
                .with_prefix(what.to_string());
            new.enable_steady_tick(std::time::Duration::from_millis(200));
            *bar = Some(new);
        });
    }

    fn advance(&self, n: u64) {
        self.with_bar(|bar| {
            if let Some(bar) = bar {
                bar.inc(n);
            }
        });
    }

    fn finish(&self) {
        self.with_bar(|bar| {
            if let Some(bar) = bar.take() {
                // The final count stays on screen: what was done, at a glance.
                bar.finish();
            }
        });
    }
}

impl Drop for TerminalProgress {
    fn drop(&mut self) {
        crdguard_app::Progress::finish(self);
    }
}
