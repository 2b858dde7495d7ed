//! Endpoint names as users write them, and "did you mean" suggestions.

/// HTTP methods a catalogue name may start with (`GET serp/classic/tasks`) and an entry's
/// `methods` may list, in the order they are shown.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The methods an entry takes when it lists none: the Data API reads parameters from the query of
/// a GET and from the body of a POST (docs/reference.md "The pricing file").
pub const DEFAULT_METHODS: [&str; 2] = ["GET", "POST"];

/// The canonical spelling of an HTTP method a catalogue may list (`get` → `GET`), if it is one.
pub fn method_name(text: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|m| m.eq_ignore_ascii_case(text))
}

/// Strips the forms users paste from URLs: `/v1/backlinks/summary`, `v1/…`, `/…`, a trailing `/`.
pub fn normalize_endpoint(name: &str) -> &str {
    let name = name.trim().trim_end_matches('/');
    let name = name.strip_prefix('/').unwrap_or(name);
    name.strip_prefix("v1/").unwrap_or(name)
}

/// A name's method (when it starts with one, in any case, followed by white space) and the rest.
pub fn split_method(name: &str) -> (Option<&str>, &str) {
    let trimmed = name.trim_start();
    if let Some((word, rest)) = trimmed.split_once(char::is_whitespace) {
        if let Some(method) = METHODS.iter().find(|m| m.eq_ignore_ascii_case(word)) {
            return (Some(method), rest.trim());
        }
    }
    (None, name)
}

/// The catalogue name of an endpoint as a user may write it: the normalized path, after an
/// upper-case method when one is given (`get /v1/serp/classic/tasks/` → `GET serp/classic/tasks`).
/// Two spellings with the same key name the same entry.
pub fn endpoint_key(name: &str) -> String {
    match split_method(name) {
        (Some(method), path) => format!("{method} {}", normalize_endpoint(path)),
        (None, path) => normalize_endpoint(path).to_string(),
    }
}

/// The candidate closest to `name` by edit distance, if it is plausibly a typo of it.
///
/// Accepts up to one edit in three (of the longer name), so `backlink/summery` finds its match
/// but `foo` does not suggest an unrelated endpoint; a swap of two neighbouring letters is one
/// edit (`strsim::osa_distance`). A name more than half again as long as the longest candidate
/// cannot pass that rule, so it is not compared at all: the cost stays bounded whatever its
/// length (a 1 MB endpoint name took 12 s and 326 MB, docs/security.md).
pub fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.collect();
    let longest = candidates.iter().map(|c| c.chars().count()).max()?;
    if name.len() > longest + longest / 2 {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let (best, distance) = candidates
        .into_iter()
        .map(|c| (c, strsim::osa_distance(&name, c)))
        .min_by_key(|&(c, d)| (d, c.len()))?;
    let longer = name.chars().count().max(best.chars().count());
    (distance * 3 <= longer).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn normalizes(input: &str, expected: &str) {
        assert_eq!(normalize_endpoint(input), expected, "input {input:?}");
    }

    #[test]
    fn endpoint_forms() {
        normalizes("backlinks/summary", "backlinks/summary");
        normalizes("/backlinks/summary", "backlinks/summary");
        normalizes("/v1/backlinks/summary", "backlinks/summary");
        normalizes("v1/domain/overview/db/", "domain/overview/db");
        normalizes("  keywords/export ", "keywords/export");
    }

    #[test]
    fn keys_with_methods() {
        assert_eq!(endpoint_key("/v1/backlinks/summary/"), "backlinks/summary");
        assert_eq!(
            endpoint_key("get /v1/serp/classic/tasks"),
            "GET serp/classic/tasks"
        );
        assert_eq!(
            endpoint_key("POST  serp/classic/tasks"),
            "POST serp/classic/tasks"
        );
        assert_eq!(split_method("GETS x"), (None, "GETS x"));
        assert_eq!(
            split_method("serp/classic/tasks"),
            (None, "serp/classic/tasks")
        );
    }

    #[test]
    fn suggestions() {
        let names = ["backlinks/summary", "backlinks/all", "domain/keywords"];
        assert_eq!(
            closest_name("backlinks/sumary", names.into_iter()),
            Some("backlinks/summary")
        );
        assert_eq!(
            closest_name("domain/keyword", names.into_iter()),
            Some("domain/keywords")
        );
        assert_eq!(closest_name("zzz", names.into_iter()), None);
        // A swap of two letters is one edit: "backlinks/summray" is 1 from "backlinks/summary".
        assert_eq!(
            closest_name("backlinks/summray", names.into_iter()),
            Some("backlinks/summary")
        );
    }

    #[test]
    fn long_names_get_no_suggestion_and_cost_nothing() {
        // Invariant: the cost of a suggestion is bounded by the candidates, not by the name. The
        // longest candidate has 17 characters: 25 (17 + 8) are compared, 26 are not. A 10 MB
        // name made the old code allocate an edit matrix of 1.4 GB and abort.
        let names = ["backlinks/summary", "backlinks/all", "domain/keywords"];
        // 25 characters, 8 edits: 8 × 3 = 24 ≤ 25, suggested.
        let near = format!("backlinks/summary{}", "y".repeat(8));
        assert_eq!(
            closest_name(&near, names.into_iter()),
            Some("backlinks/summary")
        );
        // 26 characters: not compared (9 edits, 27 > 26, could not pass anyway).
        let far = format!("backlinks/summary{}", "y".repeat(9));
        assert_eq!(closest_name(&far, names.into_iter()), None);
        let huge = "b".repeat(10 << 20);
        assert_eq!(closest_name(&huge, names.into_iter()), None);
        assert_eq!(closest_name("x", std::iter::empty()), None);
    }
}
