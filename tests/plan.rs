//! `budget plan` / `budget check` end to end.

use crate::support::run;

#[test]
fn docs_example_costs_26000_units_in_6_requests() {
    // summary: ceil(250/100) = 3 requests, 250 × 100 = 25000 units
    // export:  1 request, 1 × 1000 = 1000 units; status: 2 calls × 0 = 0 units
    let json = run(&["plan", "workflows/docs-example.yaml", "--format", "json"]).code(0).json();
    assert_eq!(json["total"]["units"], 26000);
    assert_eq!(json["total"]["requests"], 6);
}
