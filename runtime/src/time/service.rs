//! `TimeService`: the rounds (sample every source, fuse, move the clock,
//! publish the state), telling the sources the good time, and the thread
//! the daemon runs it on.
//!
//! Plugin calls are synchronous and may take up to their deadline, so the
//! service runs on a thread of its own rather than on the async executor;
//! it publishes through a `tokio::sync::watch` channel, which readers on
//! the executor await.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::clock::{Clock, ClockStep};
use super::fusion::{Agreement, Verdict};
use super::handle::TimeHandle;
use super::mono::Mono;
use super::plausible::{Plausible, runtime_build_time};
use super::published::Publisher;
use super::report::TimeReport;
use super::settings::TimeSettings;
use super::sources::{RawSample, SourceError, TimeSources};
use super::tracker::{Carry, Round, Sample, SourceOutcome, Tracker};
use super::utc::{UtcTime, span};
use osb_plugin_host::PluginName;
use osb_state::TimeStatus;

/// The time sources, the estimate carried between their rounds, and the
/// clock. [`TimeService::round`] runs one round on the calling thread
/// (`osb time`); [`TimeService::spawn`] runs them on a thread (the daemon).
pub struct TimeService {
    sources: Arc<dyn TimeSources>,
    settings: TimeSettings,
    tracker: Tracker,
    clock: Clock,
    status: watch::Sender<TimeStatus>,
    /// Rounds in a row that ended short of `synced`.
    short_rounds: u32,
    last_observed: Option<Mono>,
    /// Each failing source's last error: a source down for an hour is
    /// reported when it fails and when it is back, not at every poll.
    failing: BTreeMap<PluginName, String>,
    /// Where the daemon publishes each round (`<state_dir>/time.json`).
    publisher: Option<Publisher>,
    /// Whether the last publish failed: said once, not every round.
    publish_failing: bool,
}

impl TimeService {
    /// A service over `sources`, with the clock backend of `settings`.
    pub fn new(sources: Arc<dyn TimeSources>, settings: TimeSettings) -> TimeService {
        let tracker = Tracker::new(settings.rules(runtime_build_time()));
        let clock = Clock::new(settings.clock);
        TimeService {
            sources,
            tracker,
            clock,
            settings,
            status: watch::channel(TimeStatus::Unsynced).0,
            short_rounds: 0,
            last_observed: None,
            failing: BTreeMap::new(),
            publisher: None,
            publish_failing: false,
        }
    }

    /// Publishes each round through `publisher`, and withdraws it when the
    /// service's thread stops.
    pub fn publish_to(mut self, publisher: Publisher) -> TimeService {
        self.publisher = Some(publisher);
        self
    }

    /// A reader of the state.
    pub fn handle(&self) -> TimeHandle {
        TimeHandle::new(self.status.subscribe())
    }

    /// The `[time]` settings it was made with.
    pub fn settings(&self) -> &TimeSettings {
        &self.settings
    }

    /// The clock backend, as the last round left it.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The range an answer must meet to be believed.
    pub fn plausible(&self) -> Plausible {
        self.tracker.rules().plausible
    }

    /// The state now (the estimate carried to this instant).
    pub fn status(&self) -> TimeStatus {
        self.tracker.status(Mono::now())
    }

    /// The sources a round asks: `time.sources`, else every time source.
    pub fn selected(&self) -> Vec<PluginName> {
        match &self.settings.sources {
            Some(names) => names.clone(),
            None => self.sources.time_sources(),
        }
    }

    /// One round: samples every selected source at once, fuses, moves the
    /// clock if it is outside the estimate, and publishes the state.
    pub fn round(&mut self) -> Round {
        let answers = ask_all(self.sources.as_ref(), self.selected());
        let outcomes: Vec<SourceOutcome> = answers
            .into_iter()
            .map(|answer| {
                let result =
                    self.take(&answer.name, answer.started, answer.returned, answer.result);
                let origin = self
                    .settings
                    .origin(&answer.name, self.sources.signer(&answer.name));
                SourceOutcome {
                    name: answer.name,
                    origin,
                    result,
                }
            })
            .collect();
        let before = *self.status.borrow();
        let round = self.tracker.update(outcomes, Mono::now());
        log_round(&round);
        let mut step = None;
        // The clock read first, then the estimate carried to just after
        // that reading: the time spent logging the round is not a lag the
        // clock would land behind a lower bound by.
        let system = UtcTime::now_system();
        if let Some(estimate) = self.tracker.estimate(Mono::now()) {
            match self.clock.follow(system, &estimate) {
                Ok(Some(moved)) => {
                    tracing::info!(
                        clock = self.clock.kind().as_str(),
                        from = %moved.from,
                        to = %moved.to,
                        by_ms = moved.by_nanos() / 1_000_000,
                        "clock moved into the fused interval"
                    );
                    step = Some(moved);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "clock not moved"),
            }
        }
        self.short_rounds = match round.status {
            TimeStatus::Synced => 0,
            _ => self.short_rounds.saturating_add(1),
        };
        self.publish(before, round.status);
        self.publish_report(&round, step);
        round
    }

    fn publish_report(&mut self, round: &Round, step: Option<ClockStep>) {
        let Some(publisher) = &mut self.publisher else {
            return;
        };
        let report = TimeReport::new(
            round,
            self.tracker.rules().plausible,
            self.clock.kind(),
            self.clock.offset_nanos(),
        );
        match publisher.publish(&report, step) {
            Ok(()) if self.publish_failing => {
                self.publish_failing = false;
                tracing::info!(file = %publisher.path().display(), "time report written again");
            }
            Ok(()) => {}
            Err(e) if !self.publish_failing => {
                self.publish_failing = true;
                tracing::warn!(
                    file = %publisher.path().display(),
                    error = %e,
                    "cannot write the time report: osb status will not see this daemon's clock state"
                );
            }
            Err(_) => {}
        }
    }

    /// A source's answer as a sample, logged (a failure once, until the
    /// source answers again).
    fn take(
        &mut self,
        name: &PluginName,
        started: Mono,
        returned: Mono,
        result: Result<RawSample, SourceError>,
    ) -> Result<Sample, SourceError> {
        let call = returned.since(started);
        match result {
            Ok(raw) => {
                tracing::debug!(
                    source = %name,
                    earliest = %show(raw.interval.earliest()),
                    latest = %show(raw.interval.latest()),
                    call_ms = call.as_secs_f64() * 1e3,
                    detail = %raw.detail,
                    "time sample"
                );
                if self.failing.remove(name).is_some() {
                    tracing::info!(source = %name, "time source answers again");
                }
                Ok(Sample {
                    interval: raw.interval.widen_latest(call),
                    at: returned,
                    detail: raw.detail,
                    call,
                })
            }
            Err(e) => {
                let error = e.to_string();
                if self.failing.get(name) == Some(&error) {
                    tracing::debug!(source = %name, %error, "time source still gives no sample");
                } else {
                    tracing::warn!(source = %name, %error, "time source gave no sample");
                    self.failing.insert(name.clone(), error);
                }
                Err(e)
            }
        }
    }

    fn publish(&self, before: TimeStatus, now: TimeStatus) {
        if before != now {
            tracing::info!(
                from = before.as_str(),
                to = now.as_str(),
                "time state changed"
            );
        }
        self.status.send_if_modified(|s| {
            let changed = *s != now;
            *s = now;
            changed
        });
    }

    /// The wait before the next round.
    pub fn next_poll(&self) -> Duration {
        self.settings
            .next_poll(*self.status.borrow(), self.short_rounds)
    }

    /// Tells every selected source the lower end of the estimate, but only
    /// while it is `synced`: the latest time the true time is known to be
    /// past. A fake hardware clock saves what it is told as the floor of
    /// the next boot, so nothing less than an agreement of enough origins
    /// may become one: a floor once saved is believed for ever after (it
    /// never moves back), and an unsynced estimate may stand on one liar.
    /// The lower end and not the midpoint: a floor ahead of the true time
    /// would make the fake hardware clock a false ticker at the next boot.
    /// Returns the time told; `None` when not synced.
    pub fn observe_all(&mut self) -> Option<UtcTime> {
        let now = Mono::now();
        if self.tracker.status(now) != TimeStatus::Synced {
            return None;
        }
        let lower = self.tracker.estimate(now)?.earliest()?;
        for name in self.selected() {
            match self.sources.observe(&name, lower) {
                Ok(()) => {
                    tracing::debug!(source = %name, time = %lower, "time source told the good time")
                }
                Err(e) => {
                    tracing::warn!(source = %name, error = %e, "time source not told the good time")
                }
            }
        }
        self.last_observed = Some(now);
        Some(lower)
    }

    fn observe_due(&self, now: Mono) -> bool {
        self.last_observed
            .is_none_or(|last| now.since(last) >= self.settings.observe_interval())
    }

    /// Runs rounds on a thread of its own until [`RunningTimeService::stop`].
    pub fn spawn(self) -> std::io::Result<RunningTimeService> {
        let handle = self.handle();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("osb-time".to_owned())
            .spawn(move || self.run(&stopped))?;
        Ok(RunningTimeService {
            handle,
            stop,
            thread,
        })
    }

    fn run(mut self, stopped: &mpsc::Receiver<()>) {
        tracing::info!(
            clock = self.clock.kind().as_str(),
            sources = ?self.selected().iter().map(PluginName::as_str).collect::<Vec<_>>(),
            "time service running"
        );
        loop {
            self.round();
            if self.observe_due(Mono::now()) {
                self.observe_all();
            }
            match stopped.recv_timeout(self.next_poll()) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // The good time, saved once more on the way out, if there is one.
        match self.observe_all() {
            Some(t) => tracing::info!(time = %t, "time sources told the good time at shutdown"),
            None => tracing::info!(
                state = self.status().as_str(),
                "time sources not told the time at shutdown: the clock is not synced"
            ),
        }
        if let Some(publisher) = &self.publisher
            && let Err(e) = publisher.withdraw()
        {
            tracing::warn!(file = %publisher.path().display(), error = %e, "cannot remove the time report");
        }
    }
}

/// The service on its thread.
pub struct RunningTimeService {
    handle: TimeHandle,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl RunningTimeService {
    /// A reader of the state the thread publishes.
    pub fn handle(&self) -> TimeHandle {
        self.handle.clone()
    }

    /// Stops after the round in progress, tells the sources the good time
    /// once more, and waits for that.
    pub fn stop(self) {
        // A send fails only when the thread has ended already.
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("the time service thread panicked");
        }
    }
}

fn show(t: Option<UtcTime>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.to_string())
}

fn log_round(round: &Round) {
    for s in &round.sources {
        let (Some(verdict), Some(interval)) = (s.verdict, s.interval) else {
            continue;
        };
        let (earliest, latest) = (show(interval.earliest()), show(interval.latest()));
        match verdict {
            Verdict::FalseTicker => {
                tracing::warn!(source = %s.name, origin = %s.origin, %earliest, %latest, "time source rejected: its interval disagrees with the majority")
            }
            Verdict::Implausible => {
                tracing::warn!(source = %s.name, origin = %s.origin, %earliest, %latest, "time source rejected: its interval is outside the plausible range")
            }
            Verdict::Contradicts => {
                tracing::warn!(source = %s.name, origin = %s.origin, %earliest, %latest, "time source contradicts the agreed interval, which too few origins agree on to reject it; the estimate spans both")
            }
            Verdict::Agrees | Verdict::Bound | Verdict::Undecided => {}
        }
    }
    match &round.agreement {
        Agreement::NoMajority { agreeing, voting } => {
            let answered: Vec<(&str, &str)> = round
                .sources
                .iter()
                .filter(|s| s.verdict == Some(Verdict::Undecided))
                .map(|s| (s.name.as_str(), s.origin.as_str()))
                .collect();
            tracing::warn!(agreeing, voting, sources = ?answered, "time origins disagree with no majority; only the bounds are fused");
        }
        Agreement::NoAnswer => {
            tracing::debug!("no time source answered; keeping the previous estimate");
        }
        Agreement::NoVote | Agreement::Agreed { .. } => {}
    }
    match round.carry {
        Carry::Replaced => tracing::warn!(
            "the sources now agree on a time outside the previous estimate; following them"
        ),
        Carry::Held => tracing::warn!(
            "the sources now point outside the previous estimate, with fewer origins than agreed on it; keeping it"
        ),
        Carry::Spanned => tracing::warn!(
            "the sources now point outside the previous estimate, and neither has enough origins; the estimate spans both"
        ),
        Carry::Fresh | Carry::Combined => {}
    }
    let e = &round.estimate;
    tracing::debug!(
        earliest = %show(e.earliest()),
        latest = %show(e.latest()),
        error = %e.error_bound().map_or_else(|| "unbounded".to_owned(), span),
        origins = ?round.support,
        status = round.status.as_str(),
        "time estimate"
    );
}

/// One source's answer and when its call started and returned.
struct Answer {
    name: PluginName,
    started: Mono,
    returned: Mono,
    result: Result<RawSample, SourceError>,
}

fn ask(sources: &dyn TimeSources, name: PluginName) -> Answer {
    let started = Mono::now();
    let result = sources.sample(&name);
    Answer {
        name,
        started,
        returned: Mono::now(),
        result,
    }
}

/// Asks every source in `names` at once, each on a thread of its own, so a
/// round takes as long as its slowest source rather than the sum of all
/// (a dead server costs its whole timeout). Each answer keeps its own
/// call times, which is what bounds it. In `names`' order.
fn ask_all(sources: &dyn TimeSources, names: Vec<PluginName>) -> Vec<Answer> {
    if names.len() < 2 {
        return names.into_iter().map(|name| ask(sources, name)).collect();
    }
    std::thread::scope(|scope| {
        let calls: Vec<_> = names
            .into_iter()
            .map(|name| {
                let spawned = std::thread::Builder::new()
                    .name(format!("osb-time-{name}"))
                    .spawn_scoped(scope, {
                        let name = name.clone();
                        move || ask(sources, name)
                    });
                (name, spawned)
            })
            .collect();
        calls
            .into_iter()
            .map(|(name, spawned)| match spawned {
                Ok(thread) => thread.join().unwrap_or_else(|_| Answer {
                    name,
                    started: Mono::now(),
                    returned: Mono::now(),
                    result: Err(SourceError::Panicked),
                }),
                // No thread to be had: asked here instead, after the others.
                Err(e) => {
                    tracing::debug!(source = %name, error = %e, "no thread for the sample; asking in turn");
                    ask(sources, name)
                }
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Mutex;

    use super::*;
    use crate::time::interval::Interval;

    /// Sources answering from a table, recording what they were told.
    #[derive(Default)]
    struct Scripted {
        answers: Mutex<BTreeMap<PluginName, Result<Interval, SourceError>>>,
        told: Mutex<Vec<(PluginName, UtcTime)>>,
    }

    impl Scripted {
        fn set(&self, name: &str, answer: Result<Interval, SourceError>) {
            self.answers
                .lock()
                .unwrap()
                .insert(PluginName::new(name).unwrap(), answer);
        }
    }

    impl TimeSources for Scripted {
        fn time_sources(&self) -> Vec<PluginName> {
            self.answers.lock().unwrap().keys().cloned().collect()
        }

        fn sample(&self, name: &PluginName) -> Result<RawSample, SourceError> {
            let answers = self.answers.lock().unwrap();
            match answers.get(name) {
                Some(Ok(interval)) => Ok(RawSample {
                    interval: *interval,
                    detail: String::new(),
                }),
                Some(Err(e)) => Err(e.clone()),
                None => Err(SourceError::Call(osb_plugin_host::CallError::NotLoaded(
                    name.to_string(),
                ))),
            }
        }

        fn observe(&self, name: &PluginName, now: UtcTime) -> Result<(), SourceError> {
            self.told.lock().unwrap().push((name.clone(), now));
            Ok(())
        }
    }

    fn around_now(half_ms: i128) -> Interval {
        let now = UtcTime::now_system();
        Interval::between(
            now.saturating_add(-half_ms * 1_000_000),
            now.saturating_add(half_ms * 1_000_000),
        )
    }

    #[test]
    fn a_round_fuses_moves_the_virtual_clock_and_publishes() {
        let sources = Arc::new(Scripted::default());
        // The true time, by two sources, is a day ahead of the system clock.
        let day = 86_400 * 1_000_000_000i128;
        let ahead = |i: Interval| {
            Interval::between(
                i.earliest().unwrap().saturating_add(day),
                i.latest().unwrap().saturating_add(day),
            )
        };
        sources.set("ntp", Ok(ahead(around_now(20))));
        sources.set("https", Ok(ahead(around_now(600))));
        sources.set(
            "broken",
            Err(SourceError::Plugin {
                code: "unavailable",
                message: "no network".to_owned(),
            }),
        );
        let mut service = TimeService::new(sources.clone(), TimeSettings::default());
        let handle = service.handle();
        let round = service.round();
        assert_eq!(
            round.agreement,
            Agreement::Agreed {
                origins: vec!["https".to_owned(), "ntp".to_owned()],
                voting: 2
            }
        );
        assert_eq!(round.status, TimeStatus::Synced);
        assert_eq!(handle.current(), TimeStatus::Synced);
        let offset = service.clock().offset_nanos();
        assert!((offset - day).abs() < 1_000_000_000, "offset {offset}");
        // Synced: the next round comes after the slow interval.
        assert_eq!(service.next_poll(), Duration::from_secs(64));

        let told = service.observe_all().unwrap();
        let lower = round.estimate.earliest().unwrap();
        assert!(told >= lower);
        let recorded = sources.told.lock().unwrap().clone();
        assert_eq!(recorded.len(), 3, "every selected source is told");
    }

    /// Sources whose calls each wait (up to 5 s) until every one of them
    /// has been called, recording how many were ever in a call at once.
    struct Gathering {
        names: Vec<PluginName>,
        /// (calls begun, calls in progress, most in progress at once)
        calls: Mutex<(usize, usize, usize)>,
        all_called: std::sync::Condvar,
    }

    impl TimeSources for Gathering {
        fn time_sources(&self) -> Vec<PluginName> {
            self.names.clone()
        }

        fn sample(&self, _: &PluginName) -> Result<RawSample, SourceError> {
            let mut calls = self.calls.lock().unwrap();
            calls.0 += 1;
            calls.1 += 1;
            calls.2 = calls.2.max(calls.1);
            self.all_called.notify_all();
            let (mut calls, _) = self
                .all_called
                .wait_timeout_while(calls, Duration::from_secs(5), |c| c.0 < self.names.len())
                .unwrap();
            calls.1 -= 1;
            Ok(RawSample {
                interval: around_now(10),
                detail: String::new(),
            })
        }

        fn observe(&self, _: &PluginName, _: UtcTime) -> Result<(), SourceError> {
            Ok(())
        }
    }

    #[test]
    fn a_round_asks_its_sources_at_once_and_keeps_their_order() {
        let names: Vec<PluginName> = ["c-ntp", "a-https", "b-rtc"]
            .iter()
            .map(|n| PluginName::new(n).unwrap())
            .collect();
        let sources = Arc::new(Gathering {
            names: names.clone(),
            calls: Mutex::new((0, 0, 0)),
            all_called: std::sync::Condvar::new(),
        });
        let mut service = TimeService::new(sources.clone(), TimeSettings::default());
        let round = service.round();
        // Asked one after another, each call would have waited alone.
        assert_eq!(sources.calls.lock().unwrap().2, 3);
        let order: Vec<&PluginName> = round.sources.iter().map(|s| &s.name).collect();
        assert_eq!(order, names.iter().collect::<Vec<_>>());
        assert!(
            matches!(&round.agreement, Agreement::Agreed { origins, voting: 3 } if origins.len() == 3),
            "{:?}",
            round.agreement
        );
    }

    #[test]
    fn configured_sources_are_asked_even_when_missing() {
        let sources = Arc::new(Scripted::default());
        sources.set("ntp", Ok(around_now(10)));
        let settings = TimeSettings {
            sources: Some(vec![
                PluginName::new("ntp").unwrap(),
                PluginName::new("time-rtc").unwrap(),
            ]),
            ..TimeSettings::default()
        };
        let mut service = TimeService::new(sources, settings);
        let round = service.round();
        assert_eq!(round.sources.len(), 2);
        assert!(
            round.sources[1]
                .error
                .as_deref()
                .unwrap()
                .contains("not loaded")
        );
        assert_eq!(
            round.agreement,
            Agreement::Agreed {
                origins: vec!["ntp".to_owned()],
                voting: 1
            }
        );
        // One origin: taken at its word, but not synced.
        assert_eq!(round.status, TimeStatus::Coarse);
    }

    #[test]
    fn the_thread_publishes_and_tells_the_sources_at_shutdown() {
        let sources = Arc::new(Scripted::default());
        sources.set("ntp", Ok(around_now(10)));
        sources.set("https", Ok(around_now(600)));
        let settings = TimeSettings {
            observe_interval_ms: 3_600_000,
            ..TimeSettings::default()
        };
        let running = TimeService::new(sources.clone(), settings).spawn().unwrap();
        let mut handle = running.handle();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            while handle.current() != TimeStatus::Synced {
                tokio::time::timeout(Duration::from_secs(10), handle.changed())
                    .await
                    .expect("synced within 10 s");
            }
        });
        running.stop();
        // Each told once after the first round, once at shutdown.
        assert_eq!(sources.told.lock().unwrap().len(), 4);
    }

    #[test]
    fn nothing_is_told_while_not_synced() {
        let sources = Arc::new(Scripted::default());
        let saved = UtcTime::now_system().saturating_add(-3_600_000_000_000);
        // (answers, the state they give)
        let cases = [
            // Lower bounds only: no vote.
            (
                vec![("hwclock", Interval::at_least(saved))],
                TimeStatus::Unsynced,
            ),
            // One origin, however narrow.
            (vec![("ntp", around_now(10))], TimeStatus::Coarse),
        ];
        for (answers, state) in cases {
            sources.answers.lock().unwrap().clear();
            for (name, interval) in &answers {
                sources.set(name, Ok(*interval));
            }
            let mut service = TimeService::new(sources.clone(), TimeSettings::default());
            assert_eq!(service.round().status, state, "{answers:?}");
            assert_eq!(service.observe_all(), None, "{answers:?}");
            let running = service.spawn().unwrap();
            running.stop();
            assert!(sources.told.lock().unwrap().is_empty(), "{answers:?}");
        }
    }

    #[test]
    fn two_sources_signed_by_one_key_are_one_origin_unless_configured() {
        /// Scripted sources, every one signed by one key.
        struct OneSigner(Scripted);
        impl TimeSources for OneSigner {
            fn time_sources(&self) -> Vec<PluginName> {
                self.0.time_sources()
            }
            fn sample(&self, name: &PluginName) -> Result<RawSample, SourceError> {
                self.0.sample(name)
            }
            fn observe(&self, name: &PluginName, now: UtcTime) -> Result<(), SourceError> {
                self.0.observe(name, now)
            }
            fn signer(&self, _: &PluginName) -> Option<String> {
                Some("ed25519:vendor".to_owned())
            }
        }
        let sources = Arc::new(OneSigner(Scripted::default()));
        sources.0.set("ntp", Ok(around_now(10)));
        sources.0.set("https", Ok(around_now(600)));
        let mut service = TimeService::new(sources.clone(), TimeSettings::default());
        let round = service.round();
        assert_eq!(round.support, BTreeSet::from(["ed25519:vendor".to_owned()]));
        assert_eq!(round.sources[0].origin, "ed25519:vendor");
        assert_eq!(round.status, TimeStatus::Coarse);
        let settings = TimeSettings {
            origins: [
                (PluginName::new("ntp").unwrap(), "ntp-pool".to_owned()),
                (PluginName::new("https").unwrap(), "vendor-api".to_owned()),
            ]
            .into(),
            ..TimeSettings::default()
        };
        let round = TimeService::new(sources, settings).round();
        assert_eq!(
            round.support,
            BTreeSet::from(["ntp-pool".to_owned(), "vendor-api".to_owned()])
        );
        assert_eq!(round.status, TimeStatus::Synced);
    }
}
