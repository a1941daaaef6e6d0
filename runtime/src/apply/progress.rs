//! Pull progress: per-layer bytes summed per image, shown as a bar on a
//! terminal and as log events (at most one a second per image) otherwise.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use osb_engine::PullEvent;

/// How often a log event reports a pull's bytes.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Where progress goes.
#[derive(Clone)]
pub enum ProgressOutput {
    /// Log events only.
    Log,
    /// Bars on the terminal, plus log events at debug level.
    Bars(MultiProgress),
}

impl ProgressOutput {
    /// Bars when stderr is a terminal and `allowed`, else log events.
    pub fn detect(allowed: bool) -> Self {
        use std::io::IsTerminal;
        if allowed && std::io::stderr().is_terminal() {
            ProgressOutput::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            ProgressOutput::Log
        }
    }
}

/// The progress of one image's pull.
pub struct PullProgress {
    image: String,
    /// Per layer: (downloaded, size) while downloading.
    layers: BTreeMap<String, (u64, Option<u64>)>,
    bar: Option<ProgressBar>,
    last_log: Option<Instant>,
}

impl PullProgress {
    /// Starts reporting the pull of `image`.
    pub fn new(image: &str, output: &ProgressOutput) -> Self {
        let bar = match output {
            ProgressOutput::Log => None,
            ProgressOutput::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(0));
                // The template is a literal known to parse.
                if let Ok(style) = ProgressStyle::with_template(
                    "{msg:40!} {bar:30} {binary_bytes:>10}/{binary_total_bytes:10} {binary_bytes_per_sec}",
                ) {
                    bar.set_style(style);
                }
                bar.set_message(image.to_owned());
                Some(bar)
            }
        };
        PullProgress {
            image: image.to_owned(),
            layers: BTreeMap::new(),
            bar,
            last_log: None,
        }
    }

    /// Bytes downloaded and the known total, over all layers.
    pub fn totals(&self) -> (u64, u64) {
        self.layers.values().fold((0, 0), |(done, total), (d, t)| {
            (done + d, total + t.unwrap_or(*d))
        })
    }

    /// Takes one engine report.
    pub fn update(&mut self, event: &PullEvent) {
        match event {
            PullEvent::Layer(l) if l.phase == "Downloading" => {
                self.layers.insert(l.layer.clone(), (l.current, l.total));
            }
            PullEvent::Status {
                layer: Some(layer),
                status,
            } if status == "Download complete" || status == "Already exists" => {
                if let Some(entry) = self.layers.get_mut(layer) {
                    entry.0 = entry.1.unwrap_or(entry.0);
                }
            }
            _ => {}
        }
        let (done, total) = self.totals();
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
        let due = self.last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY);
        if due {
            self.last_log = Some(Instant::now());
            if self.bar.is_some() {
                tracing::debug!(image = %self.image, bytes = done, total, layers = self.layers.len(), "pulling");
            } else {
                tracing::info!(image = %self.image, bytes = done, total, layers = self.layers.len(), "pulling");
            }
        }
    }

    /// Ends the report.
    pub fn finish(self, ok: bool) {
        if let Some(bar) = self.bar {
            if ok {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_engine::LayerProgress;

    fn layer(id: &str, current: u64, total: u64) -> PullEvent {
        PullEvent::Layer(LayerProgress {
            layer: id.to_owned(),
            phase: "Downloading".to_owned(),
            current,
            total: Some(total),
        })
    }

    #[test]
    fn sums_layers_and_counts_completed_ones_in_full() {
        let mut p = PullProgress::new("web:1", &ProgressOutput::Log);
        p.update(&layer("a", 10, 100));
        p.update(&layer("b", 5, 50));
        p.update(&layer("a", 60, 100));
        assert_eq!(p.totals(), (65, 150));
        p.update(&PullEvent::Status {
            layer: Some("b".to_owned()),
            status: "Download complete".to_owned(),
        });
        assert_eq!(p.totals(), (110, 150));
        // Extraction does not count as download progress.
        p.update(&PullEvent::Layer(LayerProgress {
            layer: "b".to_owned(),
            phase: "Extracting".to_owned(),
            current: 1,
            total: Some(50),
        }));
        assert_eq!(p.totals(), (110, 150));
    }
}
