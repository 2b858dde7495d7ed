//! Endpoint names as users write them, and "did you mean" suggestions.

/// HTTP methods a catalogue name may start with (`GET serp/classic/tasks`).
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

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
pub fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    let (best, distance) = candidates
        .map(|c| (c, edit_distance(&name, c)))
        .min_by_key(|&(c, d)| (d, c.len()))?;
    // Accept up to a third of the longer name changed, so `backlink/summery` finds its match
    // but `foo` does not suggest an unrelated endpoint.
    (distance * 3 <= name.len().max(best.len())).then_some(best)
}

/// Edit distance counting a swap of two neighbouring characters as one edit (typists swap).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
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
    fn distance_by_hand() {
        assert_eq!(edit_distance("kitten", "sitting"), 3); // k->s, e->i, +g
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("nmae", "name"), 1); // one swap
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
    }
}
