//! A server's memory and CPU time, and the open-file limit, read from `/proc` (Linux).

use serde::Serialize;

/// Linux reports CPU time in `/proc/PID/stat` in USER_HZ ticks, 100 per second on every
/// architecture Linux supports (the kernel converts its own HZ to it).
const USER_HZ: f64 = 100.0;

/// Resident memory and CPU time of a process.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MemorySample {
    /// `VmRSS`: resident now, KiB.
    pub vm_rss_kib: u64,
    /// `VmHWM`: the most it was ever resident, KiB.
    pub vm_hwm_kib: u64,
    /// User and system CPU time used so far, seconds (`None` when unreadable).
    pub cpu_secs: Option<f64>,
}

/// utime + stime from a `/proc/PID/stat` line: fields 14 and 15, counted after the command
/// name in parentheses (which may itself hold spaces and parentheses).
fn cpu_secs(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn field_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// `VmRSS` and `VmHWM` of `pid` from `/proc/PID/status`; `None` when it cannot be read
/// (the process is gone, or not Linux).
pub fn sample(pid: u32) -> Option<MemorySample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(MemorySample {
        vm_rss_kib: field_kib(&status, "VmRSS")?,
        vm_hwm_kib: field_kib(&status, "VmHWM")?,
        cpu_secs: std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| cpu_secs(&s)),
    })
}

/// This process's soft limit on open files (`ulimit -n`), from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(field_kib(status, "VmRSS"), Some(1024));
        assert_eq!(field_kib(status, "VmHWM"), Some(2048));
        assert_eq!(field_kib(status, "VmSwap"), None);
    }

    #[test]
    fn reads_cpu_time_after_the_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194304 122 0 0 0 250 50 0 0 20 0 1";
        assert_eq!(cpu_secs(stat), Some(3.0));
        assert_eq!(cpu_secs("42 (x) S 1"), None);
    }

    #[test]
    fn samples_itself() {
        let own = sample(std::process::id()).map(|m| m.vm_rss_kib);
        assert!(own.is_some_and(|kib| kib > 0));
    }
}
