//! Packaging around the binary: the pre-commit hooks (`.pre-commit-hooks.yaml`), the guard's
//! container image (`Dockerfile`, which no test here can build: the defaults it documents are
//! checked against the real binary instead), and the LICENSE and CHANGELOG the crate promises.

use serde_yaml::Value;

use crate::support::{budget, root, Run, Scratch};

/// The hooks of `.pre-commit-hooks.yaml`: (id, entry split into words).
fn hooks() -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).expect("manifest");
    let list: Value = serde_yaml::from_str(&text).expect("the manifest is YAML");
    list.as_sequence()
        .expect("a list of hooks")
        .iter()
        .map(|hook| {
            let id = hook["id"].as_str().expect("id").to_string();
            let entry = hook["entry"].as_str().expect("entry");
            assert_eq!(hook["files"].as_str(), Some(r"\.budget\.ya?ml$"), "{id}");
            (id, entry.split_whitespace().map(str::to_string).collect())
        })
        .collect()
}

/// Runs a hook's entry the way pre-commit does: the entry's words, then the file names.
fn run_hook(entry: &[String], files: &[String]) -> Run {
    assert_eq!(entry[0], "budget", "the entry runs budget");
    budget()
        .args(&entry[1..])
        .args(files)
        // A key and an API that refuses connections: a hook that called the API would exit 3.
        .env("SERANKING_API_KEY", "not-a-real-key")
        .env("SERANKING_API_URL", "http://127.0.0.1:9")
        .output()
        .expect("run the hook")
        .into()
}

#[test]
fn the_pre_commit_hooks_validate_workflow_files_offline() {
    let hooks = hooks();
    let ids: Vec<&str> = hooks.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["budget-validate", "budget-validate-system"]);
    let mut shipped: Vec<String> = std::fs::read_dir(root().join("workflows"))
        .expect("workflows/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .map(|p| p.display().to_string())
        .collect();
    shipped.sort();
    assert!(shipped.len() >= 5, "{shipped:?}");
    let s = Scratch::new();
    let broken = s.file(
        "broken.budget.yaml",
        "steps:\n  - endpoint: backlinks/sumary\n    targets: ten\n",
    );
    // 3 targets × 100 units = 300 units, above its own cap of 299.
    let capped = s.file(
        "capped.budget.yaml",
        "name: Capped\nbudget: {max_units: 299}\nsteps: [{endpoint: backlinks/count, targets: 3}]\n",
    );
    for (id, entry) in &hooks {
        let ok = run_hook(entry, &shipped);
        ok.code(0);
        assert_eq!(ok.stderr, "", "{id}: --quiet prints no warning");
        run_hook(entry, std::slice::from_ref(&broken))
            .code(2)
            .stderr_has("unknown endpoint `backlinks/sumary`; did you mean `backlinks/summary`?")
            .stderr_has("field `targets`");
        run_hook(entry, std::slice::from_ref(&capped))
            .code(1)
            .stdout_has("max_units");
    }
}

/// The image's defaults, read from the Dockerfile and tried on the binary: reachable from
/// outside the container, so a client token is required, and the guard will not start
/// without one (fail closed when no token file is mounted).
#[test]
fn the_guard_image_starts_only_with_a_client_token() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let instruction = |name: &str| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .map(str::to_string)
            .collect()
    };
    assert!(instruction("FROM").len() >= 2, "a multi-stage build");
    assert!(
        text.contains("cargo build --release --locked"),
        "built from Cargo.lock"
    );
    let user = instruction("USER");
    assert_eq!(user, ["65532:65532"], "the distroless non-root user");
    assert_eq!(instruction("EXPOSE"), ["8787"]);
    assert_eq!(
        instruction("ENTRYPOINT"),
        [r#"["/usr/local/bin/budget", "guard"]"#]
    );
    let cmd = instruction("CMD");
    assert_eq!(cmd.len(), 1);
    let args: Vec<String> = serde_json::from_str(&cmd[0]).expect("CMD in exec form");
    assert_eq!(
        args,
        [
            "--listen",
            "0.0.0.0:8787",
            "--client-token-file",
            "/run/secrets/budget-client-token"
        ]
    );

    // Without the mounted file: refused at start (exit 2), before any listening or API call.
    let mut missing = args.clone();
    missing[3] = Scratch::new()
        .path()
        .join("budget-client-token")
        .display()
        .to_string();
    let refused: Run = budget()
        .arg("guard")
        .args(&missing)
        .env("SERANKING_API_KEY", "not-a-real-key")
        .output()
        .expect("run")
        .into();
    refused
        .code(2)
        .stderr_has("error: --client-token-file: cannot read")
        .stderr_has("no such file");
    // And without the flag at all, as after `docker run IMAGE --listen 0.0.0.0:8787`.
    let bare: Run = budget()
        .args(["guard", "--listen", "0.0.0.0:8787"])
        .env("SERANKING_API_KEY", "not-a-real-key")
        .output()
        .expect("run")
        .into();
    bare.code(2)
        .stderr_has("0.0.0.0:8787 is reachable from other machines");

    let ignored = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    assert!(
        ignored.lines().any(|l| l == "target/"),
        "the build context leaves target/ out"
    );
}

#[test]
fn the_license_and_the_changelog_are_there() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    assert!(manifest.contains("\nlicense = \"MIT\"\n"));
    let license = std::fs::read_to_string(root().join("LICENSE")).expect("LICENSE");
    assert!(license.starts_with("MIT License\n\nCopyright (c) 2026 the budget authors\n"));
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).expect("CHANGELOG.md");
    let unreleased = changelog
        .find("\n## [Unreleased]\n")
        .expect("an Unreleased section");
    let first = changelog
        .find(&format!("\n## [{}] - ", env!("CARGO_PKG_VERSION")))
        .expect("a section for the crate's version");
    assert!(unreleased < first, "Unreleased comes first");
}
