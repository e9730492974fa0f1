//! Which requests fail: answer matching requests with an error (the n-th,
//! every n-th, or a seeded random fraction), add latency, and drop watches
//! after a time or a number of events.

use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde_json::{Value, json};

/// When a rule fires, counting only the requests it matches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// Every matching request.
    Always,
    /// Only the n-th (1-based).
    Nth(u64),
    /// The n-th, 2n-th, 3n-th, ...
    EveryNth(u64),
    /// The first n.
    FirstN(u64),
    /// Each with this probability, from the seeded generator.
    Fraction(f64),
}

/// What a firing rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer with this HTTP code as a `Status` (409 Conflict, 500, 429, 503, ...).
    Fail(u16),
    /// Wait this long before handling the request.
    Delay(Duration),
}

/// A fault: which requests, when, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// Verbs it matches (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`); empty for all.
    pub verbs: Vec<String>,
    /// Resources it matches (`deployments`, `rustymails/status`); empty for all.
    pub resources: Vec<String>,
    /// `fieldManager`s it matches (writes only carry one); empty for all
    /// requests. Lets a test fault the operator's writes and not kubectl's.
    pub field_managers: Vec<String>,
    /// When it fires.
    pub trigger: Trigger,
    /// What it does.
    pub action: Action,
}

impl FaultRule {
    /// A rule failing every matching request with `code`.
    pub fn fail(code: u16) -> Self {
        Self {
            verbs: Vec::new(),
            resources: Vec::new(),
            field_managers: Vec::new(),
            trigger: Trigger::Always,
            action: Action::Fail(code),
        }
    }

    /// A rule delaying every matching request.
    pub fn delay(d: Duration) -> Self {
        Self {
            action: Action::Delay(d),
            ..Self::fail(0)
        }
    }

    /// Restricts the rule to these verbs.
    pub fn verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = verbs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Restricts the rule to these resources (`plural` or `plural/subresource`).
    pub fn resources(mut self, resources: &[&str]) -> Self {
        self.resources = resources.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Restricts the rule to requests with one of these `fieldManager`s.
    pub fn field_managers(mut self, managers: &[&str]) -> Self {
        self.field_managers = managers.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets when the rule fires.
    pub fn when(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    fn matches(&self, verb: &str, resource: &str, manager: &str) -> bool {
        let base = resource.split('/').next().unwrap_or_default();
        (self.verbs.is_empty() || self.verbs.iter().any(|v| v == verb))
            && (self.field_managers.is_empty() || self.field_managers.iter().any(|m| m == manager))
            && (self.resources.is_empty()
                || self.resources.iter().any(|r| r == resource || r == base))
    }
}

/// Parses `verb=patch|update,resource=deployments,status=409,nth=3` (also
/// `manager=NAME|NAME`, `every=N`, `first=N`, `fraction=0.1`, `latency-ms=50`).
impl FromStr for FaultRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut rule = FaultRule::fail(500);
        let mut action = None;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {part}"))?;
            let num = |v: &str| v.parse::<u64>().map_err(|e| format!("{k}: {e}"));
            match k {
                "verb" => rule.verbs = v.split('|').map(str::to_string).collect(),
                "resource" => rule.resources = v.split('|').map(str::to_string).collect(),
                "manager" => rule.field_managers = v.split('|').map(str::to_string).collect(),
                "status" => {
                    action = Some(Action::Fail(
                        num(v)?.try_into().map_err(|_| "status out of range")?,
                    ))
                }
                "latency-ms" => action = Some(Action::Delay(Duration::from_millis(num(v)?))),
                "nth" => rule.trigger = Trigger::Nth(num(v)?),
                "every" => rule.trigger = Trigger::EveryNth(num(v)?.max(1)),
                "first" => rule.trigger = Trigger::FirstN(num(v)?),
                "fraction" => {
                    rule.trigger =
                        Trigger::Fraction(v.parse().map_err(|e| format!("fraction: {e}"))?)
                }
                other => return Err(format!("unknown fault key {other}")),
            }
        }
        rule.action = action.ok_or("a fault needs status= or latency-ms=")?;
        Ok(rule)
    }
}

/// How watches are dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchFaults {
    /// End every watch after this long.
    pub drop_after: Option<Duration>,
    /// End every watch after this many events.
    pub drop_after_events: Option<u64>,
}

/// The faults in force, with their counters and seeded generator.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<(FaultRule, u64)>,
    rng: StdRng,
    /// How watches are dropped.
    pub watch: WatchFaults,
}

/// What to do with one request.
#[derive(Debug, Default)]
pub struct Decision {
    /// Wait this long first.
    pub delay: Duration,
    /// Then fail with this `Status` (its HTTP code in `code`).
    pub error: Option<Value>,
}

impl Faults {
    /// No faults; `seed` drives `Trigger::Fraction`.
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            watch: WatchFaults::default(),
        }
    }

    /// Adds a rule.
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push((rule, 0));
    }

    /// Removes every rule and watch fault.
    pub fn clear(&mut self) {
        self.rules.clear();
        self.watch = WatchFaults::default();
    }

    /// Decides the fate of a request (`manager`: its `fieldManager`, or empty).
    pub fn decide(&mut self, verb: &str, resource: &str, manager: &str) -> Decision {
        let mut d = Decision::default();
        for (rule, count) in &mut self.rules {
            if !rule.matches(verb, resource, manager) {
                continue;
            }
            *count += 1;
            let fire = match rule.trigger {
                Trigger::Always => true,
                Trigger::Nth(n) => *count == n,
                Trigger::EveryNth(n) => *count % n.max(1) == 0,
                Trigger::FirstN(n) => *count <= n,
                Trigger::Fraction(f) => self.rng.random_bool(f.clamp(0.0, 1.0)),
            };
            if !fire {
                continue;
            }
            match rule.action {
                Action::Delay(t) => d.delay += t,
                Action::Fail(code) if d.error.is_none() => d.error = Some(injected(code, resource)),
                Action::Fail(_) => {}
            }
        }
        d
    }
}

/// The `Status` the real API server answers with for `code`.
fn injected(code: u16, resource: &str) -> Value {
    let (reason, message) = match code {
        409 => (
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource}: the object has been modified; please apply your changes to the latest version and try again (injected)"
            ),
        ),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later (injected)".to_owned(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request (injected)".to_owned(),
        ),
        other => ("InternalError", format!("injected fault {other}")),
    };
    let mut status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    if code == 429 || code == 503 {
        status["details"] = json!({"retryAfterSeconds": 1});
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_count_only_matching_requests() {
        let rule: FaultRule = "verb=patch,resource=deployments,status=409,nth=2"
            .parse()
            .unwrap();
        let mut f = Faults::new(1);
        f.add(rule);
        assert!(f.decide("patch", "configmaps", "").error.is_none());
        assert!(f.decide("patch", "deployments", "").error.is_none());
        assert_eq!(
            f.decide("patch", "deployments/status", "")
                .error
                .map(|e| e["code"].clone()),
            Some(json!(409))
        );
        assert!(f.decide("patch", "deployments", "").error.is_none());
    }

    #[test]
    fn field_manager_filters_fault_only_those_writes() {
        let mut f = Faults::new(1);
        f.add("manager=op,status=500".parse().unwrap());
        assert!(f.decide("patch", "deployments", "kubectl").error.is_none());
        assert!(f.decide("get", "deployments", "").error.is_none());
        assert!(f.decide("patch", "deployments", "op").error.is_some());
    }

    #[test]
    fn fractions_are_deterministic_for_a_seed() {
        let run = || {
            let mut f = Faults::new(7);
            f.add(FaultRule::fail(500).when(Trigger::Fraction(0.5)));
            (0..32)
                .map(|_| f.decide("get", "pods", "").error.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
