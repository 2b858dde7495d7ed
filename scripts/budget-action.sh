#!/usr/bin/env bash
# The shell logic of the budget GitHub Action (action.yml), kept here so a test can run it
# (tests/action.rs) with a fake GitHub environment. docs/ci.md documents the action for its users.
#
#   budget-action.sh key       the cache key and install directory (outputs key, root, install)
#   budget-action.sh install   cargo install budget from the action's checkout into $BUDGET_ROOT
#   budget-action.sh run       budget check (or plan + gate when INPUT_COMMAND is set), the step
#                              summary, the outputs, and the pull-request comment
#
# Every input comes from the environment (action.yml maps `inputs.x` to INPUT_X), never from text
# pasted into a command line, so no input is ever parsed as shell. What this script keeps:
#   - The API key reaches budget only through SERANKING_API_KEY, and the GitHub token reaches curl
#     only through curl's standard input: neither is ever an argument of a process, nor printed
#     (the ::add-mask:: line is read by the runner, not logged). Tracing stays off.
#   - Text that comes from workflow files, budget's messages or the event is printed only inside a
#     ::stop-commands:: block with a random token, so it cannot issue workflow commands; budget's
#     annotations (::error file=…::…, escaped by budget) are the one exception, and only as whole
#     lines without a carriage return.
#   - Values written to $GITHUB_OUTPUT are checked to be one word or one number.
# It runs with bash 3.2 (macOS) too: no associative arrays, no mapfile, empty arrays guarded.

set -euo pipefail
set +x

marker='<!-- budget-check -->'

log() { printf 'budget-action: %s\n' "$*"; }

# A workflow-command message: `%`, CR and LF escaped, as the runner expects.
escape_data() {
  local s=$1
  s=${s//%/%25}
  s=${s//$'\r'/%0D}
  s=${s//$'\n'/%0A}
  printf '%s' "$s"
}

warn() { printf '::warning::budget action: %s\n' "$(escape_data "$*")"; }

# die CODE MESSAGE: an error annotation, then exit CODE.
die() {
  local code=$1
  shift
  printf '::error::budget action: %s\n' "$(escape_data "$*")"
  exit "$code"
}

random_token() {
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

# Prints files of untrusted text where the runner will not read workflow commands in them.
print_inert() {
  local token
  token=$(random_token)
  printf '::stop-commands::%s\n' "$token"
  cat -- "$@"
  # A leading newline, in case the text does not end with one: the resume line must be a line.
  printf '\n::%s::\n' "$token"
}

# Masks every line of a secret in the log (a key holding a line break is refused by budget, but
# the runner masks line by line). Pure shell: the secret goes to no process and no file.
mask() {
  local rest=${1//$'\r'/$'\n'} line
  while [ -n "$rest" ]; do
    line=${rest%%$'\n'*}
    if [ "$line" = "$rest" ]; then rest=; else rest=${rest#*$'\n'}; fi
    if [ -n "$line" ]; then printf '::add-mask::%s\n' "$line"; fi
  done
}

# set_output NAME VALUE; VALUE is one line (checked by the callers).
set_output() {
  if [ -n "${GITHUB_OUTPUT-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

trim() {
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf '%s' "$s"
}

# The SHA-256 tool: GNU coreutils' sha256sum, or macOS's shasum.
if command -v sha256sum >/dev/null 2>&1; then SHA256=(sha256sum); else SHA256=(shasum -a 256); fi
sha256() { "${SHA256[@]}" "$@"; }

# ---------------------------------------------------------------------------------------------
# key: the cache key of the binary built from this checkout.

cmd_key() {
  local path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this script from action.yml}
  local version requested os arch lock tree key root
  version=$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$path/Cargo.toml" | head -n 1)
  [[ $version =~ ^[0-9A-Za-z.+-]+$ ]] || die 2 "cannot read the crate version from $path/Cargo.toml"
  requested=$(trim "${INPUT_VERSION-}")
  case $requested in
    '' | "$version" | "v$version") ;;
    installed)
      command -v budget >/dev/null 2>&1 ||
        die 2 "version: installed, but there is no budget on PATH; install it in an earlier step or leave version empty"
      set_output install false
      set_output version "$(budget --version | sed -n 's/^budget \([0-9A-Za-z.+-]*\)$/\1/p')"
      log "using the budget found on PATH"
      return 0
      ;;
    *)
      die 2 "version $requested was asked for, but this checkout of the action builds budget $version: pin the action to the ref of that release (uses: OWNER/budget@REF), leave version empty, or say installed to use a budget already on PATH"
      ;;
  esac
  os=${RUNNER_OS:-$(uname -s)}
  arch=${RUNNER_ARCH:-$(uname -m)}
  [[ $os =~ ^[A-Za-z0-9_]+$ && $arch =~ ^[A-Za-z0-9_]+$ ]] || die 2 "unexpected RUNNER_OS or RUNNER_ARCH"
  lock=$(sha256 "$path/Cargo.lock" | cut -c1-16)
  # The sources too: an action used at a branch (…@main) changes without a new version.
  tree=$(
    cd "$path" &&
      find Cargo.toml Cargo.lock src pricing schema -type f -print0 | LC_ALL=C sort -z |
      xargs -0 "${SHA256[@]}" -- | sha256 | cut -c1-16
  )
  key="budget-$version-$os-$arch-$lock-$tree"
  root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/budget-action/$key"
  set_output key "$key"
  set_output root "$root"
  set_output version "$version"
  set_output install true
  if [ -n "${GITHUB_PATH-}" ]; then printf '%s\n' "$root/bin" >>"$GITHUB_PATH"; fi
  log "budget $version, cache key $key"
}

# ---------------------------------------------------------------------------------------------
# install: build from the action's own checkout (the cache step restores $BUDGET_ROOT on a hit).

cmd_install() {
  local path=${GITHUB_ACTION_PATH:?GITHUB_ACTION_PATH is not set: run this script from action.yml}
  local root=${BUDGET_ROOT:?BUDGET_ROOT is not set: run this script from action.yml}
  if [ -x "$root/bin/budget" ]; then
    log "budget is already installed in $root"
    return 0
  fi
  command -v cargo >/dev/null 2>&1 ||
    die 2 "cargo is not on PATH: add a Rust toolchain step before this action (for example dtolnay/rust-toolchain@stable)"
  cargo install --locked --path "$path" --root "$root"
}

# ---------------------------------------------------------------------------------------------
# run

# Fills the array `files` from INPUT_WORKFLOWS: one glob per line, matched from the working
# directory (`**` matches across directories where bash has globstar). A glob that matches
# nothing is an error; a literal path is passed on for budget to report. With `lenient=true` (the
# base branch) both are skipped.
expand_workflows() {
  local IFS= line pattern match known seen
  local -a matches
  files=()
  shopt -s nullglob
  shopt -s globstar 2>/dev/null || true
  while IFS= read -r line || [ -n "$line" ]; do
    pattern=$(trim "$line")
    [ -n "$pattern" ] || continue
    # IFS is empty: the unquoted expansion is globbed but never split into words.
    # shellcheck disable=SC2206
    matches=($pattern)
    if [ "${#matches[@]}" -eq 0 ]; then
      [ "${lenient-false}" = true ] && continue
      die 2 "no workflow file matches \`$pattern\` (the workflows input: one glob per line, relative to $(pwd))"
    fi
    for match in "${matches[@]}"; do
      # The base branch may not have a file the head names: not an error there.
      if [ "${lenient-false}" = true ] && [ ! -e "$match" ]; then continue; fi
      case $match in -*) match="./$match" ;; esac
      seen=false
      for known in ${files[@]+"${files[@]}"}; do
        if [ "$known" = "$match" ]; then seen=true; fi
      done
      # A file matched by two globs is planned once: twice would count its units twice.
      if [ "$seen" = false ]; then files+=("$match"); fi
    done
  done <<<"${INPUT_WORKFLOWS-}"
  shopt -u nullglob
  [ "${#files[@]}" -gt 0 ] || [ "${lenient-false}" = true ] ||
    die 2 "the workflows input is empty: give one glob per line, e.g. workflows/*.yaml"
}

# The baseline from a checkout of the base branch (INPUT_BASE_CHECKOUT): the same globs, planned
# offline from inside it, so paths match the head's. Sets `baseline` to the file, or leaves it
# empty when the base branch has no such workflows or they do not plan (a warning says so).
base_baseline() {
  local base pricing base_code
  baseline=""
  base=$(trim "${INPUT_BASE_CHECKOUT-}")
  [ -n "$base" ] || return 0
  [ -d "$base" ] ||
    die 2 "base-checkout: $base is not a directory; check the base branch out there first (actions/checkout with ref: the base branch and path: $base)"
  local -a base_flags=()
  pricing=$(trim "${INPUT_PRICING-}")
  if [ -n "$pricing" ]; then
    # The head's pricing for both sides: the comparison shows what the workflows change.
    case $pricing in /*) ;; *) pricing="$PWD/$pricing" ;; esac
    base_flags+=("--pricing=$pricing")
  fi
  set +e
  (
    cd -- "$base" || exit 90
    lenient=true
    expand_workflows
    [ "${#files[@]}" -gt 0 ] || exit 91
    budget plan "${files[@]}" ${base_flags[@]+"${base_flags[@]}"} --offline --quiet \
      --format json >.budget-base-plan.json 2>"$tmp/base-stderr"
  )
  base_code=$?
  set -e
  case $base_code in
    0 | 1) baseline="$base/.budget-base-plan.json" ;;
    91) log "the base branch has no workflow file matching the workflows input: no comparison" ;;
    *)
      warn "the base branch's workflows did not plan (exit $base_code), so there is no comparison and max-increase is not checked; budget said:"
      print_inert "$tmp/base-stderr"
      ;;
  esac
}

# The plan flags from the inputs, as `--flag=value` so a value can never be read as a flag.
plan_flags() {
  flags=()
  local value compare
  value=$(trim "${INPUT_RESERVE-}")
  if [ -n "$value" ]; then flags+=("--reserve=$value"); fi
  value=$(trim "${INPUT_UNITS_LEFT-}")
  if [ -n "$value" ]; then flags+=("--units-left=$value"); fi
  value=$(trim "${INPUT_PRICING-}")
  if [ -n "$value" ]; then flags+=("--pricing=$value"); fi
  compare=$(trim "${INPUT_COMPARE_TO-}")
  if [ -n "$(trim "${INPUT_BASE_CHECKOUT-}")" ]; then
    [ -z "$compare" ] || die 2 "give compare-to or base-checkout, not both"
    base_baseline
    compare=$baseline
    # No baseline to compare with: the increase cannot be measured (the warning above says so).
    [ -n "$compare" ] || return 0
  fi
  if [ -n "$compare" ]; then flags+=("--compare-to=$compare"); fi
  # Without a comparison budget refuses --max-increase (exit 2): passed on, so it says why.
  value=$(trim "${INPUT_MAX_INCREASE-}")
  if [ -n "$value" ]; then flags+=("--max-increase=$value"); fi
  return 0
}

# Splits budget's stderr into annotations the runner may read and text it must not.
split_stderr() {
  local line annotation='^::(error|warning|notice)( [^:]*)?::'
  : >"$tmp/annotations"
  : >"$tmp/messages"
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ $annotation && $line != *$'\r'* ]]; then
      printf '%s\n' "$line" >>"$tmp/annotations"
    else
      printf '%s\n' "$line" >>"$tmp/messages"
    fi
  done <"$tmp/stderr"
}

# What an exit code of budget means, for the summary of a run that wrote no report.
meaning() {
  case $1 in
    2) printf 'bad input: a workflow, the pricing file, a flag or the baseline file' ;;
    3) printf 'the balance is unknown: no key or --units-left, the API failed, or the reservation ledger is unusable' ;;
    4) printf 'the report could not be written' ;;
    5) printf 'budget could not do its own work' ;;
    *) printf 'see the log' ;;
  esac
}

# The Markdown for the summary and the comment when budget wrote none: its messages, as an
# indented code block (every line indented, so no line of them can end the block).
failure_note() {
  local code=$1 line count=0
  printf '### ⚠️ budget %s did not run (exit %s: %s)\n\n' "$subcommand" "$code" "$(meaning "$code")"
  while IFS= read -r line || [ -n "$line" ]; do
    count=$((count + 1))
    if [ "$count" -gt 60 ]; then
      printf '    … (more in the log)\n'
      break
    fi
    printf '    %s\n' "$line"
  done <"$tmp/messages"
}

# verdict and total units from budget's pretty-printed JSON (top-level keys are indented by two
# spaces, and a string value never holds a raw line break, so these lines are budget's own).
json_verdict() {
  sed -n 's/^  "verdict": "\([a-z_]*\)",\{0,1\}$/\1/p' "$1" | head -n 1
}
json_units() {
  awk '/^  "total": \{$/ { total = 1; next }
       total && /^  }/ { exit }
       total && /^    "units": [0-9]+,?$/ { gsub(/[^0-9]/, ""); print; exit }' "$1"
}

# A GitHub REST call: api METHOD URL [BODY_FILE]. Sets `status` (000 when curl failed) and leaves
# the reply in $tmp/reply.json. The token goes to curl on its standard input (--config -).
api() {
  local method=$1 url=$2 body=${3-}
  local -a data=()
  if [ -n "$body" ]; then data=(--header 'Content-Type: application/json' --data-binary "@$body"); fi
  status=$(
    printf 'header = "Authorization: Bearer %s"\n' "$token" |
      curl --silent --show-error --config - --request "$method" \
        --header 'Accept: application/vnd.github+json' \
        --header 'X-GitHub-Api-Version: 2022-11-28' \
        --user-agent budget-action --max-time 30 \
        --output "$tmp/reply.json" --write-out '%{http_code}' \
        ${data[@]+"${data[@]}"} --url "$url" 2>"$tmp/curl.err"
  ) || status=000
  [[ $status =~ ^[0-9]{3}$ ]] || status=000
}

# Python runs isolated (-I: no PYTHON* variables, no user site-packages, so an earlier step
# cannot change what it imports) and without the site module (-S: only the standard library's
# json and sys are used; it also halves the start-up time).
pull_request_number() {
  python3 -I -S - "$1" <<'PY'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        event = json.load(f)
except (OSError, ValueError):
    sys.exit(0)
if not isinstance(event, dict):
    sys.exit(0)
number = (event.get("pull_request") or {}).get("number")
issue = event.get("issue") or {}
if number is None and isinstance(issue, dict) and issue.get("pull_request"):
    number = issue.get("number")
if isinstance(number, int) and not isinstance(number, bool) and number > 0:
    print(number)
PY
}

# Prints "ID COUNT": the id of the first comment of a page whose body starts with the marker
# (empty when none) and how many comments the page held; "error" when the page is not a list.
find_comment() {
  python3 -I -S - "$marker" "$tmp/reply.json" <<'PY'
import json, sys
marker, path = sys.argv[1], sys.argv[2]
try:
    with open(path, encoding="utf-8") as f:
        comments = json.load(f)
except (OSError, ValueError):
    comments = None
if not isinstance(comments, list):
    print("error")
    sys.exit(0)
found = ""
for c in comments:
    if isinstance(c, dict) and isinstance(c.get("body"), str) and c["body"].startswith(marker):
        if isinstance(c.get("id"), int) and not isinstance(c.get("id"), bool):
            found = str(c["id"])
            break
print(found or "-", len(comments))
PY
}

# Creates or updates (in place) the one comment that starts with the marker. A comment that
# cannot be written is a warning: the verdict and exit code are what the step is for.
comment() {
  local body=$1 pr api_url repo page id count reply_kind
  [ "$(trim "${INPUT_COMMENT:-true}")" = true ] || return 0
  if ! command -v python3 >/dev/null 2>&1; then
    warn "python3 is not on PATH, so no pull-request comment was written (the job summary has the report)"
    return 0
  fi
  pr=""
  if [ -n "${GITHUB_EVENT_PATH-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
    pr=$(pull_request_number "$GITHUB_EVENT_PATH")
  fi
  if [ -z "$pr" ]; then
    log "not a pull-request event: no comment (the job summary has the report)"
    return 0
  fi
  if [ -z "$token" ]; then
    warn "no github-token: no pull-request comment was written"
    return 0
  fi
  [[ $token =~ ^[A-Za-z0-9_.-]+$ ]] || {
    warn "the github-token holds unexpected characters: no pull-request comment was written"
    return 0
  }
  api_url=${GITHUB_API_URL:-https://api.github.com}
  api_url=${api_url%/}
  repo=${GITHUB_REPOSITORY-}
  if ! [[ $api_url =~ ^https?://[A-Za-z0-9.:/_-]+$ && $repo =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
    warn "GITHUB_API_URL or GITHUB_REPOSITORY is not usable: no pull-request comment was written"
    return 0
  fi
  python3 -I -S -c 'import json, sys; json.dump({"body": sys.stdin.buffer.read().decode("utf-8", "replace")}, sys.stdout)' \
    <"$body" >"$tmp/comment.json"

  id=""
  page=1
  while [ "$page" -le 100 ]; do
    api GET "$api_url/repos/$repo/issues/$pr/comments?per_page=100&page=$page"
    if [ "$status" != 200 ]; then
      warn "cannot list the comments of pull request #$pr (HTTP $status): no comment was written$(fork_hint)"
      return 0
    fi
    read -r reply_kind count < <(find_comment)
    if [ "$reply_kind" = error ]; then
      warn "the comment list of pull request #$pr is not JSON: no comment was written"
      return 0
    fi
    if [ "$reply_kind" != - ]; then
      id=$reply_kind
      break
    fi
    [ "$count" -ge 100 ] || break
    page=$((page + 1))
  done

  if [ -n "$id" ]; then
    api PATCH "$api_url/repos/$repo/issues/comments/$id" "$tmp/comment.json"
    if [ "$status" = 200 ]; then
      log "updated the budget comment on pull request #$pr (comment $id)"
    else
      warn "cannot update comment $id on pull request #$pr (HTTP $status)$(fork_hint)"
    fi
  else
    api POST "$api_url/repos/$repo/issues/$pr/comments" "$tmp/comment.json"
    if [ "$status" = 201 ]; then
      log "commented on pull request #$pr"
    else
      warn "cannot comment on pull request #$pr (HTTP $status)$(fork_hint)"
    fi
  fi
}

fork_hint() {
  case $status in
    401 | 403 | 404) printf '; the job needs permissions: pull-requests: write, and pull requests from forks get a read-only token (docs/ci.md)' ;;
    000) printf '; %s' "$(tr -d '\r\n' <"$tmp/curl.err" | cut -c1-200)" ;;
  esac
}

# Runs budget SUBCOMMAND with the workflows and flags, its JSON on stdout and its Markdown
# summary into $tmp/summary.md; sets `code`.
run_captured() {
  local sub=$1
  : >"$tmp/summary.md"
  set +e
  GITHUB_STEP_SUMMARY="$tmp/summary.md" budget "$sub" "${files[@]}" ${flags[@]+"${flags[@]}"} \
    --format json >"$tmp/report.json" 2>"$tmp/stderr"
  code=$?
  set -e
  split_stderr
}

cmd_run() {
  local code gate_code verdict units body run_url
  # Secrets: the key goes on in SERANKING_API_KEY only; the token stays in this shell.
  if [ -n "${INPUT_API_KEY-}" ]; then
    SERANKING_API_KEY=$INPUT_API_KEY
    export SERANKING_API_KEY
  fi
  unset INPUT_API_KEY
  if [ -n "${SERANKING_API_KEY-}" ]; then mask "$SERANKING_API_KEY"; fi
  token=${INPUT_GITHUB_TOKEN-}
  unset INPUT_GITHUB_TOKEN
  if [ -n "$token" ]; then mask "$token"; fi

  case $(trim "${INPUT_COMMENT:-true}") in
    true | false) ;;
    *) die 2 "the comment input must be true or false" ;;
  esac
  command -v budget >/dev/null 2>&1 || die 2 "budget is not on PATH (the install step did not run?)"
  tmp=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/budget-action.XXXXXX")
  trap 'rm -rf -- "$tmp"' EXIT

  local -a files flags
  expand_workflows
  plan_flags

  local gated
  gated=${INPUT_COMMAND-}
  if [ -n "$(trim "$gated")" ]; then
    subcommand=gate
    # The plan first, with its output kept from the runner's command parser: it validates the
    # workflows, gives the outputs and the comment, and annotates problems.
    run_captured plan
  else
    subcommand=check
    run_captured check
  fi

  if [ ! -s "$tmp/summary.md" ]; then
    failure_note "$code" >"$tmp/summary.md"
  fi
  print_inert "$tmp/messages" "$tmp/summary.md"
  cat -- "$tmp/annotations"

  verdict=$(json_verdict "$tmp/report.json")
  units=$(json_units "$tmp/report.json")
  [[ $verdict =~ ^[a-z_]+$ ]] || verdict=unknown
  [[ $units =~ ^[0-9]+$ ]] || units=""

  if [ "$subcommand" = gate ] && [ "$code" -lt 2 ]; then
    # The gate writes its own summary to the real step summary before it runs the command, and
    # the command's output is the user's: nothing of this run is captured.
    log "running the command behind budget gate"
    set +e
    budget gate "${files[@]}" ${flags[@]+"${flags[@]}"} --quiet --format json -- \
      bash -eo pipefail -c "$gated"
    gate_code=$?
    set -e
    code=$gate_code
    if [ "$code" -ne 0 ]; then
      printf '::error::budget action: budget gate exited with %s (1: over budget, the command was not run; 2 to 5: see the log; else the command'"'"'s own exit code)\n' "$code"
    fi
  elif [ -n "${GITHUB_STEP_SUMMARY-}" ]; then
    cat -- "$tmp/summary.md" >>"$GITHUB_STEP_SUMMARY" ||
      warn "cannot append the report to the job summary"
  fi

  set_output verdict "$verdict"
  set_output units "$units"
  set_output exit-code "$code"
  unset SERANKING_API_KEY

  body="$tmp/comment.md"
  cut_to_fit "$tmp/summary.md" >"$tmp/report.md"
  {
    printf '%s\n' "$marker"
    cat -- "$tmp/report.md"
    run_url=""
    if [[ ${GITHUB_SERVER_URL-} =~ ^https?://[A-Za-z0-9.:_-]+$ &&
      ${GITHUB_REPOSITORY-} =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ &&
      ${GITHUB_RUN_ID-} =~ ^[0-9]+$ ]]; then
      run_url=" · [workflow run]($GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID)"
    fi
    printf '\n<sub>budget %s · exit %s%s</sub>\n' "$subcommand" "$code" "$run_url"
  } >"$body"
  comment "$body"
  exit "$code"
}

# GitHub refuses a comment over 65,536 characters: whole lines of the report up to 60,000 bytes
# (room for the marker and the footer), then a note that the job summary has the rest.
cut_to_fit() {
  local size
  size=$(wc -c <"$1")
  if [ "$size" -le 60000 ]; then
    cat -- "$1"
    return 0
  fi
  LC_ALL=C awk '{ bytes += length($0) + 1; if (bytes > 60000) exit; print }' "$1"
  printf '\n… cut to fit a comment: the job summary has the whole report.\n'
}

main() {
  case ${1-} in
    key) cmd_key ;;
    install) cmd_install ;;
    run) cmd_run ;;
    *)
      printf 'usage: %s key|install|run (see action.yml)\n' "$0" >&2
      exit 2
      ;;
  esac
}

main "$@"
