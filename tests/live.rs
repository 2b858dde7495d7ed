//! The live API: the simulator itself, `budget balance`, live `plan`/`check`, retries, failures,
//! and that the key never leaks.

use crate::support::simulator::{self, raw_get, Fault, Simulator, KEY};

#[test]
fn simulator_accepts_both_auth_methods_and_counts_them() {
    let sim = Simulator::start();
    let auth = format!("Token {KEY}");
    let (status, body) = raw_get(
        sim.addr(),
        "/v1/account/subscription",
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"expiraton_date\":\"2099-02-18 14:20:02\""),
        "{body}"
    );
    let (status, _) = raw_get(
        sim.addr(),
        &format!("/v1/account/subscription?apikey={KEY}"),
        &[],
    );
    assert_eq!(status, 200);
    let (status, body) = raw_get(sim.addr(), "/v1/account/subscription", &[]);
    assert_eq!(
        (status, body.as_str()),
        (400, "{\"error_description\":\"No token\"}")
    );
    let (status, body) = raw_get(sim.addr(), "/v1/account/subscription?apikey=wrong", &[]);
    assert_eq!(status, 400);
    assert!(body.contains("Authentication failed"), "{body}");
    assert_eq!(
        sim.read(|s| (s.requests, s.header_auth, s.query_auth)),
        (4, 1, 2)
    );
}

#[test]
fn simulator_rolling_window_rejects_beyond_n_per_second() {
    let sim = Simulator::start();
    sim.set(|s| s.rate_limit = Some(2));
    let path = format!("/v1/account/subscription?apikey={KEY}");
    // Three requests well within one second: the third is over a window of 2.
    let statuses: Vec<u16> = (0..3).map(|_| raw_get(sim.addr(), &path, &[]).0).collect();
    assert_eq!(statuses, [200, 200, 429]);
    let (_, body) = raw_get(sim.addr(), &path, &[]);
    assert!(
        body.contains("\"code\":429") && body.contains("call-rate limit"),
        "{body}"
    );
}

#[test]
fn simulator_serves_queued_faults_then_recovers() {
    let sim = Simulator::start();
    sim.set(|s| {
        s.fail_next(1, Fault::BadGatewayHtml);
        s.fail_next(1, Fault::InsufficientFunds { status: 402 });
        s.expiry_key = simulator::ExpiryKey::Documented;
    });
    let path = format!("/v1/account/subscription?apikey={KEY}");
    let (status, body) = raw_get(sim.addr(), &path, &[]);
    assert_eq!(status, 502);
    assert!(body.contains("<title>502 Bad Gateway</title>"));
    assert_eq!(raw_get(sim.addr(), &path, &[]).0, 402);
    let (status, body) = raw_get(sim.addr(), &path, &[]);
    assert_eq!(status, 200);
    assert!(body.contains("\"expiration_date\""), "{body}");
}
