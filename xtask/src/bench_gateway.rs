//! `cargo xtask bench-gateway`: the chainproof gateway against mosquitto
//! (`require_certificate true`, the same CA and server certificate, a CRL for the revoked
//! devices), driven by the same load tool (`chainproof loadtest`, docs/cli.md) over the same
//! 1,000 devices with 10% bad actors (issues 6 and 8). Writes every run's JSON to
//! `target/bench-gateway/` and the summary to `target/bench-results/gateway.json`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{build_component, root, run};

/// Issue 6: 1,000 devices, 10% bad actors.
const DEVICES: usize = 1000;
/// Devices generated: the measured 1,000 of every scenario, plus, for `held`, 1,000 honest
/// devices connected beforehand and kept open (the manifest spreads bad actors evenly).
const GENERATED: usize = 2200;
/// The `held` scenario's connections open before its measured handshakes start.
const BACKGROUND: usize = 1000;
const BAD_PERCENT: u32 = 10;
/// Each scenario runs this many times; the figures are the medians (the machine is noisy).
const REPEATS: usize = 3;
/// Enough descriptors for 1,000 held connections on each side, with room to spare.
const OPEN_FILES: u32 = 8192;
/// The first start of the gateway compiles the component (seconds on 2 cores).
const START_LIMIT: Duration = Duration::from_secs(180);

/// One way to drive the load.
struct Scenario {
    name: &'static str,
    concurrency: usize,
    hold: bool,
    /// Honest devices connected first and held open through the measured run.
    background: usize,
    what: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "burst",
        concurrency: DEVICES,
        hold: true,
        background: 0,
        what: "all 1,000 devices connect at once and stay connected",
    },
    Scenario {
        name: "paced",
        concurrency: 10,
        hold: true,
        background: 0,
        what: "10 handshakes in flight, every accepted connection kept open until the last verdict",
    },
    Scenario {
        name: "held",
        concurrency: 10,
        hold: true,
        background: BACKGROUND,
        what: "1,000 devices connected first and kept open; then 1,000 more, 10 handshakes in \
               flight, every accepted connection kept open until the last verdict",
    },
    Scenario {
        name: "throughput",
        concurrency: 100,
        hold: false,
        background: 0,
        what: "100 handshakes in flight, each device disconnects after CONNACK",
    },
];

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `program args...` under `sh` with the open-file limit raised (as far as the hard limit
/// allows; the load tool checks and says so when it is still too low).
fn with_fd_limit(program: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "ulimit -n {OPEN_FILES} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; exec \"$@\""
        ))
        .arg("sh")
        .arg(program)
        .args(args)
        .current_dir(root());
    c
}

/// A server started for the benchmark, killed when dropped.
struct Server {
    child: Child,
    name: &'static str,
}

impl Server {
    /// Start with stderr and stdout in `log`, and wait until `log` holds `ready`.
    fn start(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
        ready: &str,
    ) -> Result<Self, String> {
        let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = cmd
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let mut server = Server { child, name };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if text.contains(ready) {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("{name} exited ({status}): {text}"));
            }
            if started.elapsed() > START_LIMIT {
                return Err(format!(
                    "{name} did not start within {START_LIMIT:?}: {text}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        println!("xtask: stopped {}", self.name);
    }
}

/// One load run; returns the tool's JSON report.
fn load(
    chainproof: &Path,
    dir: &Path,
    port: u16,
    pid: u32,
    target: &str,
    s: &Scenario,
    repeat: usize,
) -> Result<Value, String> {
    let json = dir.join(format!("{target}-{}-{repeat}.json", s.name));
    let label = format!("{target} {} #{repeat}", s.name);
    let concurrency = s.concurrency.to_string();
    let addr = format!("127.0.0.1:{port}");
    let pid = pid.to_string();
    let devices = DEVICES.to_string();
    let background = s.background.to_string();
    let mut args = vec![
        "loadtest",
        "--devices",
        &devices,
        "--background",
        &background,
        "--target",
        &addr,
        "--credentials",
        dir.to_str().ok_or("non-UTF-8 path")?,
        "--concurrency",
        &concurrency,
        "--watch-pid",
        &pid,
        "--label",
        &label,
        "--json",
        json.to_str().ok_or("non-UTF-8 path")?,
    ];
    if s.hold {
        args.push("--hold");
    }
    // Exit status 1 only says there were false accepts or rejects (mosquitto admits the
    // client-ID mismatches): the JSON counts them.
    let status = with_fd_limit(chainproof, &args)
        .status()
        .map_err(|e| format!("cannot run the load tool: {e}"))?;
    if status.code() == Some(2) {
        return Err(format!("chainproof loadtest failed ({status})"));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{}: {e}", json.display()))?;
    // Let closed connections drain before the next run.
    std::thread::sleep(Duration::from_secs(2));
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))
}

fn number(v: &Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_f64()
        .unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The medians of a scenario's repeats, and the worst correctness counts.
fn summarize(runs: &[Value]) -> Value {
    let med = |path: &[&str]| median(runs.iter().map(|r| number(r, path)).collect());
    let max = |path: &[&str]| {
        runs.iter()
            .map(|r| number(r, path))
            .fold(f64::NAN, f64::max)
    };
    json!({
        "runs": runs.len(),
        "accepted": med(&["accepted"]),
        "rejected": med(&["rejected"]),
        "errors_max": max(&["errors"]),
        "false_accepts_max": max(&["false_accepts"]),
        "false_rejects_max": max(&["false_rejects"]),
        "p50_ms": med(&["latency_ms", "accepted", "p50"]),
        "p99_ms": med(&["latency_ms", "accepted", "p99"]),
        "max_ms": med(&["latency_ms", "accepted", "max"]),
        "rejected_p50_ms": med(&["latency_ms", "rejected", "p50"]),
        "rejected_p99_ms": med(&["latency_ms", "rejected", "p99"]),
        "auths_per_sec": med(&["auths_per_sec"]),
        "handshakes_per_sec": med(&["handshakes_per_sec"]),
        "duration_secs": med(&["duration_secs"]),
        "open_at_peak": med(&["held", "open_at_peak"]),
        "background_open": med(&["background", "open"]),
        "background_alive_after": med(&["background", "alive_after"]),
        "alive_at_peak": med(&["held", "alive_at_peak"]),
        "server_rss_kib_at_peak": max(&["memory", "peak", "vm_rss_kib"]),
        "server_rss_kib_before": med(&["memory", "before", "vm_rss_kib"]),
        "server_hwm_kib": max(&["memory", "after", "vm_hwm_kib"]),
        "server_cpu_ms_per_handshake": med(&["memory", "cpu_ms_per_handshake"]),
        "false_accepts_by_kind": runs.first().map(|r| {
            r["by_kind"].as_array().map(|k| {
                k.iter()
                    .filter(|k| k["false_accepts"].as_u64().unwrap_or(0) > 0)
                    .map(|k| json!({"kind": k["kind"], "false_accepts": k["false_accepts"]}))
                    .collect::<Vec<_>>()
            })
        }),
    })
}

/// Every scenario against one server.
fn drive(
    chainproof: &Path,
    dir: &Path,
    port: u16,
    pid: u32,
    target: &str,
) -> Result<Value, String> {
    let mut out = serde_json::Map::new();
    for s in SCENARIOS {
        let mut runs = Vec::new();
        for repeat in 1..=REPEATS {
            runs.push(load(chainproof, dir, port, pid, target, s, repeat)?);
        }
        let mut summary = summarize(&runs);
        summary["scenario"] = json!(s.what);
        summary["concurrency"] = json!(s.concurrency);
        summary["hold"] = json!(s.hold);
        out.insert(s.name.to_owned(), summary);
    }
    Ok(Value::Object(out))
}

fn text_of(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": text_of(Command::new("uname").arg("-r")),
        "date": text_of(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])),
        "mosquitto": text_of(Command::new("sh").args(["-c", "mosquitto -h 2>&1 | head -1"])),
        // Other work on the machine moves the figures: say how busy it was.
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

fn ns(ms: f64) -> f64 {
    (ms * 1e6).round()
}

/// The rows of `target/bench-results/gateway.json` (shape and ids: benches/README.md, read by
/// `cargo xtask bench-report`): `gateway-auth`/`mosquitto-auth` and `gateway-p99-1000` are
/// the ids its targets look up.
fn rows(gw: &Value, mq: &Value) -> Vec<Value> {
    let mut rows = Vec::new();
    for (scenario, tag, label) in [
        ("burst", "1000", "1,000 connecting at once"),
        (
            "paced",
            "paced",
            "10 in flight, accepted connections held open",
        ),
        (
            "held",
            "held-1000",
            "10 in flight with 1,000 connections already open",
        ),
    ] {
        for (who, id, v) in [
            ("chainproof gateway", "gateway", gw),
            ("mosquitto", "mosquitto", mq),
        ] {
            let s = &v[scenario];
            for (p, key) in [("p50", "p50_ms"), ("p99", "p99_ms")] {
                rows.push(json!({
                    "id": format!("{id}-{p}-{tag}"),
                    "name": format!("{who}: {p} handshake (TCP connect to CONNACK), {label}"),
                    "median_ns": ns(number(s, &[key])),
                    "note": format!(
                        "median of {REPEATS} runs; {} accepted, false accepts {}",
                        number(s, &["accepted"]),
                        number(s, &["false_accepts_max"])
                    ),
                }));
            }
        }
    }
    for (who, id, v) in [
        ("chainproof gateway", "gateway", gw),
        ("mosquitto", "mosquitto", mq),
    ] {
        let s = &v["throughput"];
        let rate = number(s, &["auths_per_sec"]);
        rows.push(json!({
            "id": format!("{id}-auth"),
            "name": format!("{who}: time per device authentication (100 in flight)"),
            "median_ns": (1e9 / rate).round(),
            "note": format!("{rate:.0} authentications/s (median of {REPEATS} runs)"),
        }));
        let rss = |k: &str| number(&v["burst"], &[k]) / 1024.0;
        rows.push(json!({
            "id": format!("{id}-rss-held"),
            "name": format!("{who}: resident memory with every accepted device connected"),
            "value": (rss("server_rss_kib_at_peak") * 10.0).round() / 10.0,
            "unit": "MiB",
            "note": format!("VmRSS, {:.1} MiB before the run", rss("server_rss_kib_before")),
        }));
    }
    rows
}

/// The commit measured, marked when tracked files differ from it.
fn commit() -> String {
    let head = text_of(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(root()),
    );
    let dirty = !text_of(
        Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(root()),
    )
    .is_empty();
    if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    }
}

/// `cargo xtask bench-gateway`.
pub fn bench_gateway(_args: &[String]) -> Result<(), String> {
    if !super::have("mosquitto") {
        return Err("mosquitto is missing: run `cargo xtask setup`".into());
    }
    build_component()?;
    run(Command::new("cargo").args([
        "build",
        "--release",
        "-p",
        "chainproof-gateway",
        "--bin",
        "chainproof",
    ]))?;
    let chainproof = root().join("target/release/chainproof");
    let dir: PathBuf = root().join("target/bench-gateway");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    {
        // mosquitto started as root reads its files as its own user.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
    }
    let (gw_port, mq_port, up_port) = (free_port()?, free_port()?, free_port()?);
    run(Command::new(&chainproof).args([
        "loadtest",
        "--generate",
        dir.to_str().ok_or("non-UTF-8 path")?,
        "--devices",
        &GENERATED.to_string(),
        "--bad-percent",
        &BAD_PERCENT.to_string(),
        "--gateway-port",
        &gw_port.to_string(),
        "--mosquitto-port",
        &mq_port.to_string(),
        "--upstream",
        &format!("127.0.0.1:{up_port}"),
    ]))?;

    // The gateway's upstream: a plain local mosquitto, as in the tests.
    let up_conf = dir.join("upstream.conf");
    std::fs::write(
        &up_conf,
        format!("listener {up_port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .map_err(|e| format!("{}: {e}", up_conf.display()))?;
    let component = root().join("target/wasm32-wasip2/release/chainproof_component.wasm");
    let gateway_results = {
        let mut up = Command::new("mosquitto");
        up.arg("-c").arg(&up_conf);
        let _upstream = Server::start(
            "upstream mosquitto",
            up,
            &dir.join("upstream.log"),
            "running",
        )?;
        let config = dir.join("gateway.toml");
        let mut gw = with_fd_limit(
            &chainproof,
            &[
                "gateway",
                "--config",
                config.to_str().ok_or("non-UTF-8 path")?,
            ],
        );
        gw.env("CHAINPROOF_COMPONENT", &component);
        let gateway = Server::start(
            "chainproof gateway",
            gw,
            &dir.join("gateway.log"),
            "upstream: connected",
        )?;
        drive(&chainproof, &dir, gw_port, gateway.pid(), "gateway")?
    };
    let mosquitto_results = {
        let conf = dir.join("mosquitto.conf");
        let mq = with_fd_limit(
            Path::new("mosquitto"),
            &["-c", conf.to_str().ok_or("non-UTF-8 path")?],
        );
        let broker = Server::start("mosquitto", mq, &dir.join("mosquitto.log"), "running")?;
        drive(&chainproof, &dir, mq_port, broker.pid(), "mosquitto")?
    };

    let machine = machine();
    let gw_rate = number(&gateway_results, &["throughput", "auths_per_sec"]);
    let mq_rate = number(&mosquitto_results, &["throughput", "auths_per_sec"]);
    let report = json!({
        "group": "gateway",
        "rows": rows(&gateway_results, &mosquitto_results),
        "ratios": [{
            "name": "gateway / mosquitto, authentications per second (100 in flight)",
            "value": gw_rate / mq_rate,
            "note": "rate ratio; at least 1 is the target",
        }],
        "extra": {
            "date": machine["date"],
            "commit": commit(),
            "machine": format!("{} cores, {}, Linux {}", machine["cores"], machine["cpu"].as_str().unwrap_or(""), machine["kernel"].as_str().unwrap_or("")),
            "load average at the end": machine["loadavg_at_end"],
            "mosquitto": machine["mosquitto"],
            "devices": DEVICES,
            "bad actors (percent)": BAD_PERCENT,
            "repeats": REPEATS,
            "gateway_results": gateway_results,
            "mosquitto_results": mosquitto_results,
            "targets": {
                "auths_per_sec_ratio_to_mosquitto": gw_rate / mq_rate,
                "gateway_p99_ms_burst": number(&gateway_results, &["burst", "p99_ms"]),
                "gateway_p99_ms_paced": number(&gateway_results, &["paced", "p99_ms"]),
                "gateway_p99_ms_held_1000": number(&gateway_results, &["held", "p99_ms"]),
                "p99_target_ms": 20,
            },
            "runs": "target/bench-gateway/*.json (one per run, every connection)",
        },
    });
    let out_dir = root().join("target/bench-results");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let out = out_dir.join("gateway.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&report["extra"]["targets"]).unwrap_or_default()
    );
    println!("xtask: wrote {}", out.display());
    Ok(())
}
