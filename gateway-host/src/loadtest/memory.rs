//! A server's memory and the open-file limit, read from `/proc` (Linux).

use serde::Serialize;

/// Resident memory of a process.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct MemorySample {
    /// `VmRSS`: resident now, KiB.
    pub vm_rss_kib: u64,
    /// `VmHWM`: the most it was ever resident, KiB.
    pub vm_hwm_kib: u64,
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
    fn samples_itself() {
        let own = sample(std::process::id()).map(|m| m.vm_rss_kib);
        assert!(own.is_some_and(|kib| kib > 0));
    }
}
