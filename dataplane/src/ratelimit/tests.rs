use std::{net::Ipv4Addr, sync::Arc};

use super::*;
use crate::config::units::Period;

fn identity(user: &str, key: u64) -> Identity {
    Identity {
        user: Arc::from(user),
        key: KeyId(key),
        method: crate::auth::Method::ApiKey,
        scopes: crate::auth::scope::Scopes::ALL,
    }
}

#[test]
fn each_budget_refuses_past_its_rate_and_says_when_to_return() {
    let config = RateLimits {
        per_ip: Rate::new(3, Period::Minute),
        per_user: Rate::new(2, Period::Hour),
        per_api_key: Rate::new(1, Period::Hour),
        ..RateLimits::default()
    };
    let limits = Limits::from_config(&config);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    for _ in 0..3 {
        limits.check_ip(a).expect("within budget");
    }
    let refused = limits.check_ip(a).unwrap_err();
    assert_eq!(refused.scope, Scope::Ip);
    assert!(refused.retry_after > Duration::from_secs(15), "{refused:?}");
    assert!(
        refused.retry_after <= Duration::from_secs(20),
        "{refused:?}"
    );
    limits
        .check_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)))
        .expect("another address has its own budget");

    limits.check_identity(&identity("ci", 1)).expect("first");
    assert_eq!(
        limits.check_identity(&identity("ci", 1)).unwrap_err().scope,
        Scope::ApiKey
    );
    limits
        .check_identity(&identity("ci", 2))
        .expect("another key of the same user");
    assert_eq!(
        limits.check_identity(&identity("ci", 3)).unwrap_err().scope,
        Scope::User
    );
}

#[test]
fn failed_authentications_block_the_address() {
    let config = RateLimits {
        auth_failures_per_ip: Some(Rate::new(2, Period::Minute)),
        ..RateLimits::default()
    };
    let limits = Limits::from_config(&config);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    limits.failed_authentication(a);
    limits.failed_authentication(a);
    limits.check_ip(a).expect("two failures are within budget");
    limits.failed_authentication(a);
    let refused = limits.check_ip(a).unwrap_err();
    assert_eq!(refused.scope, Scope::AuthFailures);
    assert!(refused.retry_after > Duration::ZERO);
    limits
        .check_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)))
        .expect("other addresses are not blocked");
}

#[test]
fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
    let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
    assert_eq!(limiter_key(a), limiter_key(b));
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
    assert_eq!(limiter_key(mapped), IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
}

#[test]
fn a_flood_of_distinct_addresses_does_not_grow_memory_without_bound() {
    // 1000/second: one request's budget refills within a millisecond.
    let budget: Budget<IpAddr> = Budget::new(Scope::Ip, Rate::new(1000, Period::Second), 1000);
    let flood = |from: u32| {
        for n in from..from + 20_000 {
            let _ = budget.check(&IpAddr::V4(Ipv4Addr::from(n)));
        }
    };
    flood(0);
    // Cleaning runs at most once a second.
    std::thread::sleep(Duration::from_millis(1100));
    flood(1 << 24);
    // Over the soft cap: the refilled keys of the first wave were dropped
    // when the size was next looked at.
    assert!(
        budget.len() <= 20_000 + CHECK_EVERY as usize,
        "{}",
        budget.len()
    );
    std::thread::sleep(Duration::from_millis(20));
    budget.forget_refilled();
    assert!(budget.is_empty(), "{}", budget.len());
}

#[test]
fn an_operation_spends_its_cost_from_every_budget_it_touches() {
    let config = RateLimits {
        per_ip: Rate::new(5, Period::Hour),
        per_user: Rate::new(5, Period::Hour),
        per_api_key: Rate::new(3, Period::Hour),
        ..RateLimits::default()
    };
    let limits = Limits::from_config(&config);
    let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let ci = identity("ci", 1);
    limits.spend(a, Some(&ci), 0).expect("nothing to spend");
    limits.spend(a, Some(&ci), 2).expect("within every budget");
    let refused = limits.spend(a, Some(&ci), 2).unwrap_err();
    assert_eq!(refused.scope, Scope::ApiKey, "the key had one request left");
    limits.spend(a, None, 1).expect("the address has one left");
    assert_eq!(limits.spend(a, None, 1).unwrap_err().scope, Scope::Ip);
    let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let whole = limits.spend(b, None, 6).unwrap_err();
    assert_eq!(whole.scope, Scope::Ip, "a cost above the whole budget");
}
