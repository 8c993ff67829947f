//! Progress on long runs: a bar with rate and ETA on a terminal, plain
//! lines (about every 1% of images, every 10% of bytes) when stderr is a
//! file or a pipe.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Images,
    Bytes,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    unit: Unit,
    total: u64,
    done: u64,
    what: String,
    started: Instant,
    next_line: u64,
}

impl Progress {
    /// Counts images.
    pub fn new(total: u64, what: &str) -> Self {
        Self::start(total, what, Unit::Images)
    }

    /// Counts the bytes of a download.
    pub fn bytes(total: u64, what: &str) -> Self {
        Self::start(total, what, Unit::Bytes)
    }

    fn start(total: u64, what: &str, unit: Unit) -> Self {
        let template = match unit {
            Unit::Images => "{msg} {bar:40} {pos}/{len} images, {per_sec}, ETA {eta}",
            Unit::Bytes => "{msg} {bar:40} {bytes}/{total_bytes}, {bytes_per_sec}, ETA {eta}",
        };
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(what.to_string());
            bar
        });
        Self {
            bar,
            unit,
            total,
            done: 0,
            what: what.to_string(),
            started: Instant::now(),
            next_line: 1,
        }
    }

    pub fn inc(&mut self) {
        self.advance(1);
    }

    pub fn advance(&mut self, n: u64) {
        self.done += n;
        match &self.bar {
            Some(bar) => bar.inc(n),
            None if self.done >= self.next_line || self.done == self.total => {
                let elapsed = self.started.elapsed().as_secs_f64();
                let eta = elapsed / self.done.max(1) as f64 * self.total.saturating_sub(self.done) as f64;
                let (done, total, unit, steps) = match self.unit {
                    Unit::Images => (self.done as f64, self.total as f64, "images", 100),
                    Unit::Bytes => (self.done as f64 / 1e6, self.total as f64 / 1e6, "MB", 10),
                };
                let precision = usize::from(self.unit == Unit::Bytes);
                eprintln!(
                    "chexlens: {} {done:.precision$}/{total:.precision$} {unit}, ETA {eta:.0} s",
                    self.what
                );
                self.next_line = self.done + (self.total / steps).max(1);
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
