//! Progress on long runs: a bar with rate and ETA on a terminal, plain
//! lines (about every 1%) when stderr is a file or a pipe.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    what: &'static str,
    started: Instant,
    next_line: u64,
}

impl Progress {
    pub fn new(total: u64, what: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} images, {per_sec}, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(what);
            bar
        });
        Self {
            bar,
            total,
            done: 0,
            what,
            started: Instant::now(),
            next_line: 1,
        }
    }

    pub fn inc(&mut self) {
        self.done += 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
            None if self.done >= self.next_line || self.done == self.total => {
                let elapsed = self.started.elapsed().as_secs_f64();
                let eta = elapsed / self.done as f64 * (self.total - self.done) as f64;
                eprintln!(
                    "chexlens: {} {}/{} images, ETA {eta:.0} s",
                    self.what, self.done, self.total
                );
                self.next_line = self.done + (self.total / 100).max(1);
            }
            None => {}
        }
    }

    /// A message that must not tear the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
