//! What the benchmarks share: how a figure is rounded for a report, and the
//! memory of a process as `/proc` reports it.

/// `x` rounded to two decimals, as the reports print figures.
pub fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes; `None`
/// when the process or the line is gone.
pub fn status_bytes(pid: u32, line: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(line)?.strip_prefix(':'))?;
    let kib = value
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size_and_a_peak_at_least_as_large() {
        let pid = std::process::id();
        let rss = status_bytes(pid, "VmRSS").expect("VmRSS");
        let peak = status_bytes(pid, "VmHWM").expect("VmHWM");
        assert!(rss > 0 && peak >= rss, "rss {rss}, peak {peak}");
        assert_eq!(status_bytes(pid, "NoSuchLine"), None);
    }

    #[test]
    fn figures_keep_two_decimals() {
        assert_eq!(two_decimals(1.23456), 1.23);
        assert_eq!(two_decimals(-0.126), -0.13);
    }
}
