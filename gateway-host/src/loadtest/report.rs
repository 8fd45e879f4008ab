//! What a load run found: counts per kind of device against what the manifest expects, false
//! accepts and false rejects, handshake latency percentiles, rates and the server's memory, as
//! a table and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::client::{BackgroundReport, Outcome, Run};
use super::manifest::ManifestDevice;
use super::memory::MemorySample;

/// Latency percentiles of a set of attempts, milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    /// How many attempts.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentiles (no interpolation: every figure is a latency that happened).
pub fn latency(mut samples: Vec<Duration>) -> Latency {
    if samples.is_empty() {
        return Latency::default();
    }
    samples.sort_unstable();
    let n = samples.len();
    let rank = |q: f64| {
        // ceil(q * n) - 1, within 0..n.
        let r = (q * n as f64).ceil() as usize;
        samples[r.clamp(1, n) - 1]
    };
    let total: Duration = samples.iter().sum();
    Latency {
        count: n,
        p50: ms(rank(0.50)),
        p90: ms(rank(0.90)),
        p99: ms(rank(0.99)),
        max: ms(samples[n - 1]),
        mean: ms(total) / n as f64,
    }
}

/// Counts for one kind of device.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct KindCounts {
    /// `good`, or the kind of bad actor.
    pub kind: String,
    /// Devices of this kind.
    pub devices: usize,
    /// CONNACK accepted.
    pub accepted: usize,
    /// Refused by the server.
    pub rejected: usize,
    /// No verdict (connect failure, timeout, untrusted server).
    pub errors: usize,
    /// Expected to be refused, yet accepted.
    pub false_accepts: usize,
    /// Expected to be accepted, yet not (refused or no verdict).
    pub false_rejects: usize,
}

impl KindCounts {
    fn add(&mut self, expect_accept: bool, outcome: &Outcome) {
        self.devices += 1;
        match outcome {
            Outcome::Accepted => {
                self.accepted += 1;
                self.false_accepts += usize::from(!expect_accept);
            }
            Outcome::Rejected(_) => {
                self.rejected += 1;
                self.false_rejects += usize::from(expect_accept);
            }
            Outcome::Error(_) => {
                self.errors += 1;
                self.false_rejects += usize::from(expect_accept);
            }
        }
    }
}

/// One device's line in the JSON.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionLine {
    /// Device name.
    pub name: String,
    /// Client ID it sent.
    pub client_id: String,
    /// `good` or its bad kind.
    pub kind: String,
    /// `accepted`, `rejected` or `error`.
    pub outcome: &'static str,
    /// Why, for a refusal or error.
    pub reason: Option<String>,
    /// TCP connect to verdict.
    pub latency_ms: f64,
}

/// Accepted connections held open at the end of the connecting phase.
#[derive(Clone, Debug, Serialize)]
pub struct Held {
    /// Open at once when the last device had its verdict.
    pub open_at_peak: usize,
    /// Of those, how many still answered a PINGREQ afterwards.
    pub alive_at_peak: usize,
}

/// The server's memory, sampled from `/proc/PID/status`.
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    /// The process watched.
    pub pid: u32,
    /// Before the first connection.
    pub before: Option<MemorySample>,
    /// When the last device had its verdict (all held connections open).
    pub peak: Option<MemorySample>,
    /// After every connection was closed.
    pub after: Option<MemorySample>,
    /// The server's CPU time over the run divided by the verdicts, milliseconds: what one
    /// device's handshake costs it (including whatever else it did meanwhile).
    pub cpu_ms_per_handshake: Option<f64>,
}

impl Memory {
    /// Samples before, at the peak and after, and the CPU per handshake over `verdicts`.
    pub fn new(
        pid: u32,
        before: Option<MemorySample>,
        peak: Option<MemorySample>,
        after: Option<MemorySample>,
        verdicts: usize,
    ) -> Memory {
        let cpu = |m: &Option<MemorySample>| m.as_ref().and_then(|m| m.cpu_secs);
        let cpu_ms_per_handshake = match (cpu(&before), cpu(&after)) {
            (Some(b), Some(a)) if verdicts > 0 => Some((a - b) * 1000.0 / verdicts as f64),
            _ => None,
        };
        Memory {
            pid,
            before,
            peak,
            after,
            cpu_ms_per_handshake,
        }
    }
}

/// Latencies by outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Latencies {
    /// Accepted connections: TCP connect to CONNACK.
    pub accepted: Latency,
    /// Refused connections: TCP connect to the refusal.
    pub rejected: Latency,
    /// Every attempt that reached a verdict.
    pub all: Latency,
}

/// The whole result (the `--json` file).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `--label`, to tell runs apart.
    pub label: Option<String>,
    /// Where the devices connected.
    pub target: String,
    /// Devices in the run.
    pub devices: usize,
    /// Handshakes in flight at most.
    pub concurrency: usize,
    /// Whether accepted connections were held open until all devices had their verdict.
    pub hold: bool,
    /// Unix seconds at the start.
    pub started_at: i64,
    /// Start to the last verdict, seconds.
    pub duration_secs: f64,
    /// Verdicts (accepted or rejected) per second over the run.
    pub handshakes_per_sec: f64,
    /// Accepted devices per second over the run.
    pub auths_per_sec: f64,
    /// Totals.
    pub accepted: usize,
    /// Totals.
    pub rejected: usize,
    /// Totals.
    pub errors: usize,
    /// Bad actors that got CONNACK accepted (must be 0).
    pub false_accepts: usize,
    /// Honest devices that were not accepted.
    pub false_rejects: usize,
    /// Per kind of device.
    pub by_kind: Vec<KindCounts>,
    /// How many refusals and errors had each reason.
    pub reasons: BTreeMap<String, usize>,
    /// Latency percentiles, milliseconds.
    pub latency_ms: Latencies,
    /// Held runs only.
    pub held: Option<Held>,
    /// With `--background`: the connections held open through the run.
    pub background: Option<BackgroundReport>,
    /// With `--watch-pid`.
    pub memory: Option<Memory>,
    /// Every device.
    pub connections: Vec<ConnectionLine>,
}

/// Parameters of the run that the report repeats.
pub struct RunInfo {
    /// `--label`.
    pub label: Option<String>,
    /// The target address.
    pub target: String,
    /// Handshakes in flight at most.
    pub concurrency: usize,
    /// Held run.
    pub hold: bool,
    /// Unix seconds at the start.
    pub started_at: i64,
}

/// Put the run against the manifest's expectations.
pub fn build(
    info: RunInfo,
    devices: &[ManifestDevice],
    run: &Run,
    memory: Option<Memory>,
    background: Option<BackgroundReport>,
) -> Report {
    let mut kinds: BTreeMap<String, KindCounts> = BTreeMap::new();
    let mut reasons = BTreeMap::new();
    let (mut ok_lat, mut no_lat) = (Vec::new(), Vec::new());
    let mut lines = Vec::with_capacity(run.attempts.len());
    let mut alive = 0usize;
    for a in &run.attempts {
        let Some(d) = devices.get(a.index) else {
            continue;
        };
        let expect_accept = d.expect_accept();
        kinds
            .entry(d.kind.clone())
            .or_insert_with(|| KindCounts {
                kind: d.kind.clone(),
                ..KindCounts::default()
            })
            .add(expect_accept, &a.outcome);
        let (outcome, reason) = match &a.outcome {
            Outcome::Accepted => {
                ok_lat.push(a.latency);
                ("accepted", None)
            }
            Outcome::Rejected(r) => {
                no_lat.push(a.latency);
                ("rejected", Some(r.clone()))
            }
            Outcome::Error(r) => ("error", Some(r.clone())),
        };
        if let Some(r) = &reason {
            *reasons.entry(format!("{outcome}: {r}")).or_insert(0) += 1;
        }
        alive += usize::from(a.alive_at_peak == Some(true));
        lines.push(ConnectionLine {
            name: d.name.clone(),
            client_id: d.client_id.clone(),
            kind: d.kind.clone(),
            outcome,
            reason,
            latency_ms: ms(a.latency),
        });
    }
    // Honest devices first, then the bad kinds in name order.
    let mut by_kind: Vec<KindCounts> = kinds.into_values().collect();
    by_kind.sort_by_key(|k| (k.kind != "good", k.kind.clone()));
    let sum = |f: fn(&KindCounts) -> usize| by_kind.iter().map(f).sum::<usize>();
    let accepted = sum(|k| k.accepted);
    let rejected = sum(|k| k.rejected);
    let secs = run.duration.as_secs_f64();
    let per_sec = |n: usize| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let all: Vec<Duration> = ok_lat.iter().chain(&no_lat).copied().collect();
    Report {
        label: info.label,
        target: info.target,
        devices: lines.len(),
        concurrency: info.concurrency,
        hold: info.hold,
        started_at: info.started_at,
        duration_secs: secs,
        handshakes_per_sec: per_sec(accepted + rejected),
        auths_per_sec: per_sec(accepted),
        accepted,
        rejected,
        errors: sum(|k| k.errors),
        false_accepts: sum(|k| k.false_accepts),
        false_rejects: sum(|k| k.false_rejects),
        by_kind,
        reasons,
        latency_ms: Latencies {
            accepted: latency(ok_lat),
            rejected: latency(no_lat),
            all: latency(all),
        },
        held: info.hold.then_some(Held {
            open_at_peak: run.open_at_peak,
            alive_at_peak: alive,
        }),
        background,
        memory,
        connections: lines,
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn lat_line(name: &str, l: &Latency) -> String {
    if l.count == 0 {
        return format!("  {name:<9} none\n");
    }
    format!(
        "  {name:<9} p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} connections)\n",
        l.p50, l.p90, l.p99, l.max, l.count
    )
}

/// The human table.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "chainproof loadtest{}: {} devices against {} ({} handshakes in flight at most{})",
        r.label
            .as_deref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default(),
        r.devices,
        r.target,
        r.concurrency,
        if r.hold {
            ", accepted connections held open until every device had its verdict"
        } else {
            ""
        }
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<20} {:>7} {:>9} {:>9} {:>7} {:>14} {:>14}",
        "kind", "devices", "accepted", "rejected", "errors", "false accepts", "false rejects"
    );
    let row = |s: &mut String, k: &KindCounts| {
        let _ = writeln!(
            s,
            "{:<20} {:>7} {:>9} {:>9} {:>7} {:>14} {:>14}",
            k.kind, k.devices, k.accepted, k.rejected, k.errors, k.false_accepts, k.false_rejects
        );
    };
    for k in &r.by_kind {
        row(&mut s, k);
    }
    row(
        &mut s,
        &KindCounts {
            kind: "total".into(),
            devices: r.devices,
            accepted: r.accepted,
            rejected: r.rejected,
            errors: r.errors,
            false_accepts: r.false_accepts,
            false_rejects: r.false_rejects,
        },
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "handshake latency (TCP connect to CONNACK or refusal):");
    s.push_str(&lat_line("accepted", &r.latency_ms.accepted));
    s.push_str(&lat_line("rejected", &r.latency_ms.rejected));
    let _ = writeln!(
        s,
        "rate: {} verdicts in {:.2} s = {:.0} handshakes/s; {:.0} authentications (accepted)/s",
        r.accepted + r.rejected,
        r.duration_secs,
        r.handshakes_per_sec,
        r.auths_per_sec
    );
    if let Some(h) = &r.held {
        let _ = writeln!(
            s,
            "held: {} accepted connections open at once; {} answered a PINGREQ afterwards",
            h.open_at_peak, h.alive_at_peak
        );
    }
    if let Some(b) = &r.background {
        let _ = writeln!(
            s,
            "background: {} of {} devices connected before the run and held open through it; {} \
             answered a PINGREQ afterwards{}",
            b.open,
            b.requested,
            b.alive_after,
            if b.failures.is_empty() {
                String::new()
            } else {
                format!(" (not connected: {})", b.failures.join("; "))
            }
        );
    }
    if let Some(m) = &r.memory {
        let show = |x: &Option<MemorySample>| {
            x.as_ref().map_or_else(
                || "n/a".to_owned(),
                |x| {
                    format!(
                        "VmRSS {:.1} MiB (VmHWM {:.1} MiB)",
                        mib(x.vm_rss_kib),
                        mib(x.vm_hwm_kib)
                    )
                },
            )
        };
        let _ = writeln!(
            s,
            "server pid {}: before {}; at peak {}; after {}",
            m.pid,
            show(&m.before),
            show(&m.peak),
            show(&m.after)
        );
        if let Some(cpu) = m.cpu_ms_per_handshake {
            let _ = writeln!(s, "server CPU per handshake: {cpu:.2} ms");
        }
    }
    if !r.reasons.is_empty() {
        let _ = writeln!(s, "refusals and errors:");
        for (why, n) in &r.reasons {
            let _ = writeln!(s, "  {n:>6}  {why}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = latency((1..=100).map(Duration::from_millis).collect());
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        let one = latency(vec![Duration::from_millis(7)]);
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert_eq!(latency(Vec::new()).count, 0);
    }

    #[test]
    fn a_bad_actor_accepted_is_a_false_accept_and_an_honest_device_refused_a_false_reject() {
        let mut k = KindCounts::default();
        k.add(false, &Outcome::Accepted);
        k.add(true, &Outcome::Rejected("TLS alert".into()));
        k.add(true, &Outcome::Error("timeout".into()));
        k.add(false, &Outcome::Rejected("CONNACK".into()));
        assert_eq!((k.false_accepts, k.false_rejects), (1, 2));
        assert_eq!((k.accepted, k.rejected, k.errors), (1, 2, 1));
    }
}
