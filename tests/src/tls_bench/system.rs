//! What the machine was doing while a measurement ran: the load average, the
//! CPU time the server under test spent, and the CPU time every other
//! process spent (the noise: other builds on a shared machine).
//!
//! Times come from `/proc`, in USER_HZ ticks, which Linux fixes at 100 a
//! second in its user ABI whatever the kernel's own tick rate.

use std::time::{Duration, Instant};

/// `/proc` CPU times are in hundredths of a second.
const TICKS_PER_S: f64 = 100.0;

/// The 1-, 5- and 15-minute load averages, or zeros if unreadable.
pub fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().unwrap_or(0.0));
    [(); 3].map(|()| fields.next().unwrap_or(0.0))
}

/// Fields of `/proc/<pid>/stat` after the parenthesised command name,
/// numbered as in proc(5) (field 3, the state, first).
fn stat_fields(pid: &str) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
    after_name
        .split(' ')
        .map(|f| f.trim().parse::<u64>().unwrap_or(0))
        .collect()
}

/// The value of proc(5) field `n` (1-based) in `fields`.
fn field(fields: &[u64], n: usize) -> u64 {
    fields.get(n - 3).copied().unwrap_or(0)
}

/// The parent of process `pid` (proc(5) field 4), if it is still there.
pub fn parent_pid(pid: u32) -> Option<u32> {
    u32::try_from(field(&stat_fields(&pid.to_string()), 4))
        .ok()
        .filter(|p| *p != 0)
}

/// User plus system ticks of `pid` (proc(5) fields 14 and 15).
fn process_ticks(pid: u32) -> u64 {
    let f = stat_fields(&pid.to_string());
    field(&f, 14) + field(&f, 15)
}

/// Ticks of this process and of its reaped children (wrk runs), proc(5)
/// fields 14 to 17.
fn own_ticks() -> u64 {
    let f = stat_fields("self");
    (14..=17).map(|n| field(&f, n)).sum()
}

/// Busy ticks of the whole machine (`/proc/stat`): user, nice, system, irq
/// and softirq. A process's own times include the interrupt work done while
/// it ran, which the machine's line counts apart, so both are needed here.
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu = stat.lines().next().unwrap_or_default();
    let ticks: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<u64>().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal …
    [0, 1, 2, 5, 6]
        .iter()
        .map(|i| ticks.get(*i).copied().unwrap_or(0))
        .sum()
}

/// Where CPU time went during one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// CPU seconds the server under test used.
    pub server_cpu_s: f64,
    /// CPU used by processes other than the server, the load generator and
    /// this benchmark, in percent of the whole machine.
    pub foreign_cpu_percent: f64,
    /// How long the measurement took.
    pub elapsed: Duration,
}

/// A CPU-time snapshot taken when a measurement starts.
pub struct Sampler {
    pids: Vec<u32>,
    server: u64,
    own: u64,
    machine: u64,
    started: Instant,
}

impl Sampler {
    /// Starts counting for the server processes `pids`.
    pub fn start(pids: Vec<u32>) -> Self {
        Self {
            server: pids.iter().map(|p| process_ticks(*p)).sum(),
            own: own_ticks(),
            machine: machine_ticks(),
            started: Instant::now(),
            pids,
        }
    }

    /// What was used since [`Sampler::start`].
    pub fn finish(self) -> Usage {
        let elapsed = self.started.elapsed();
        let server = self
            .pids
            .iter()
            .map(|p| process_ticks(*p))
            .sum::<u64>()
            .saturating_sub(self.server);
        let own = own_ticks().saturating_sub(self.own);
        let machine = machine_ticks().saturating_sub(self.machine);
        let foreign = machine.saturating_sub(server + own) as f64 / TICKS_PER_S;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Usage {
            server_cpu_s: server as f64 / TICKS_PER_S,
            foreign_cpu_percent: 100.0 * foreign / (cpus * elapsed.as_secs_f64()).max(1e-9),
            elapsed,
        }
    }
}
