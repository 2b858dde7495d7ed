//! `cargo bench --bench scrub`: the key scrubber on 1 MiB bodies (docs/security.md).
//!
//! - `apikey_flood`: 1 MiB made of 130,000 `apikey=` values (the case that took 6.5 s when the
//!   scrubber searched from every match again);
//! - `json_with_echoes`: a 1 MiB JSON reply whose URLs escape slashes (`\/`), with the key echoed
//!   raw, percent-encoded and `\u`-escaped every 16 KiB;
//! - `clean_json`: the same reply without the key (the guard's usual 2xx).
//!
//! The time reported is the CPU time of the benchmarking thread (`CLOCK_THREAD_CPUTIME_ID`), not
//! wall time: the development machine is shared, and wall time there measures the neighbours.

use budget::account::Scrubber;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const KEY: &str = "5ec7e7c0-1eak-4b2f-9c3e-d0n7l3akm3e0";
const MIB: usize = 1 << 20;

fn apikey_flood() -> Vec<u8> {
    // "apikey=12345&" is 13 bytes: 130,000 of them are 1,690,000 bytes; cut to 1 MiB.
    let mut body = Vec::with_capacity(2 * MIB);
    let mut i = 0u32;
    while body.len() < MIB {
        body.extend_from_slice(format!("apikey={}&", i % 100_000).as_bytes());
        i += 1;
    }
    body.truncate(MIB);
    body
}

fn json_rows(with_key: bool) -> Vec<u8> {
    let mut body = b"{\"backlinks\": [".to_vec();
    let mut row = 0u32;
    while body.len() < MIB {
        let echo = if with_key && row.is_multiple_of(100) {
            let pct: String = KEY.bytes().map(|b| format!("%{b:02X}")).collect();
            let json: String = KEY
                .chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect();
            format!("{KEY} {pct} {json}")
        } else {
            String::new()
        };
        body.extend_from_slice(
            format!(
                "{{\"url_from\": \"https:\\/\\/site{row}.example.com\\/page?a=1&b=2\", \
                 \"anchor\": \"Example &amp; co {echo}\", \"inlink_rank\": {}}},",
                row % 97
            )
            .as_bytes(),
        );
        row += 1;
    }
    body.extend_from_slice(b"{}]}");
    body
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> std::time::Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which lives on this stack frame.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    std::time::Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

fn bench(c: &mut Criterion) {
    let scrubber = Scrubber::new(Some(KEY));
    let mut group = c.benchmark_group("scrub 1 MiB");
    group.sample_size(20);
    for (name, body) in [
        ("apikey_flood", apikey_flood()),
        ("json_with_echoes", json_rows(true)),
        ("clean_json", json_rows(false)),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = thread_cpu_time();
                for _ in 0..iters {
                    std::hint::black_box(scrubber.scrub_bytes(&body).len());
                }
                thread_cpu_time().saturating_sub(start)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
