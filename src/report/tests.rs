//! Properties of the neutralisation rule (see the top of `report/mod.rs`): for arbitrary names —
//! any Unicode, control characters, `|`, newlines, `::`, `##[`, `<!--` — every format keeps its
//! structure. Each format is parsed back by an independent reader: pulldown-cmark for Markdown,
//! a small RFC 4180 reader for CSV, serde_json for JSON, the line structure for the terminal and
//! GitHub annotations.

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;
use crate::estimate::{self, Assessment, Balance, Totals, WorkflowEstimate};
use crate::guard::EndpointTotals;
use crate::pricing::Pricing;

/// Two workflows of 3 and 1 steps, planned from real workflow files, whose user-controlled
/// strings are then replaced by `names` (workflow names, paths, step names, endpoints).
struct Fixture {
    pricing: &'static Pricing,
    workflows: Vec<WorkflowEstimate>,
    total: Totals,
    assessment: Assessment,
}

/// The strings a fixture takes from the generator.
#[derive(Debug, Clone)]
struct Names {
    workflows: [String; 2],
    paths: [String; 2],
    steps: [String; 4],
    endpoints: [String; 4],
}

const SMALL: &str = "name: Small\nbudget: {max_units: 100}\nsteps:\n  - endpoint: backlinks/summary\n    targets: 3\n";

/// The embedded pricing, parsed once for all cases.
fn pricing() -> &'static Pricing {
    static PRICING: std::sync::OnceLock<Pricing> = std::sync::OnceLock::new();
    PRICING.get_or_init(|| Pricing::embedded().expect("embedded pricing"))
}

fn fixture(names: &Names) -> Fixture {
    let pricing = pricing();
    let texts = [include_str!("../../workflows/docs-example.yaml"), SMALL];
    let mut parsed = Vec::new();
    let mut workflows = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let loaded = crate::workflow::parse(text, Path::new("w.yaml"), pricing).expect("parse");
        let mut w =
            estimate::workflow(&loaded.workflow, pricing.requests_per_second).expect("estimate");
        w.name = names.workflows[i].clone();
        w.path = PathBuf::from(&names.paths[i]);
        parsed.push(loaded.workflow);
        workflows.push(w);
    }
    let steps = workflows.iter_mut().flat_map(|w| w.steps.iter_mut());
    for (i, s) in steps.enumerate() {
        s.name = names.steps[i].clone();
        s.endpoint = names.endpoints[i].clone();
    }
    let total = estimate::totals(&workflows).expect("totals");
    // 26,000 + 300 = 26,300 units against 1,000,000: the total fits, but Small's 300 units are
    // above its max_units of 100, so the verdict is over budget and names the workflow.
    let mut assessment = estimate::assess(
        &parsed,
        &workflows,
        &total,
        Some(Balance::from_flag(1_000_000)),
        None,
        pricing,
    );
    for m in &mut assessment.over_max_units {
        m.workflow = names.workflows[1].clone();
    }
    Fixture {
        pricing,
        workflows,
        total,
        assessment,
    }
}

impl Fixture {
    fn report(&self) -> PlanReport<'_> {
        PlanReport {
            pricing: self.pricing,
            workflows: &self.workflows,
            total: &self.total,
            assessment: &self.assessment,
            offline: false,
            strict_failed: false,
        }
    }

    fn render(&self, format: Format) -> String {
        let mut out = Vec::new();
        plan(&mut out, format, &self.report()).expect("render");
        String::from_utf8(out).expect("UTF-8")
    }
}

impl Fixture {
    /// The HTML page of `budget report`: this plan, a forecast of both workflows (named as the
    /// plan's) with a note quoting a name, and a reconciliation against the plan with no calls,
    /// its journal named like the first path.
    fn render_html(&self, names: &Names) -> String {
        use crate::finance::{parse_datetime, project, projection_cost, ScheduledWorkflow};
        let plan = self.report();
        let now = parse_datetime("2026-11-26").expect("now");
        let scheduled: Vec<ScheduledWorkflow> = self
            .workflows
            .iter()
            .map(|w| ScheduledWorkflow {
                run: None,
                name: w.name.clone(),
                schedule: Some(crate::workflow::Schedule::Daily),
                units_per_run: w.units,
            })
            .collect();
        // 26,300 units a day against 100,000: runs out on day 4.
        let projection = project(
            &scheduled,
            now,
            parse_datetime("2026-12-26").expect("end"),
            Some(100_000),
        )
        .expect("projection");
        let account = crate::workflow::Account {
            tier: "1M".into(),
            billing: crate::pricing::Billing::Monthly,
            overage: Some(crate::pricing::OverageRate::Plan),
            usd_per_million: None,
        };
        let cost = projection_cost(&projection, &account, self.pricing).expect("cost");
        let paths: Vec<PathBuf> = names.paths.iter().map(PathBuf::from).collect();
        let balance = Balance::from_flag(100_000);
        let notes = vec![format!("{} has no schedule", names.workflows[0])];
        let forecast = ForecastReport {
            projection: &projection,
            paths: &paths,
            balance: Some(&balance),
            period_end_source: crate::estimate::BalanceSource::Flag,
            cost: cost.as_ref(),
            overage_off: false,
            pools: None,
            notes: &notes,
            offline: false,
        };
        let saved = crate::reconcile::plan_from_estimates(&self.workflows, &self.total);
        let journals = vec![PathBuf::from(&names.paths[0])];
        let reconciliation = crate::reconcile::Reconciler::new(&saved)
            .finish(&journals)
            .expect("reconciliation");
        let page = HtmlReport {
            plan: &plan,
            forecast: Some(&forecast),
            tiers: None,
            account: Some(&account),
            reconciliation: Some(ReconcileView {
                result: &reconciliation,
                saved_plan: false,
            }),
            generated: now,
        };
        let mut out = Vec::new();
        html_report(&mut out, &page).expect("render");
        String::from_utf8(out).expect("UTF-8")
    }
}

/// The elements the page may contain: nothing that runs, loads or embeds.
const HTML_ELEMENTS: [&str; 39] = [
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "p",
    "main",
    "section",
    "div",
    "ul",
    "li",
    "strong",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
    "code",
    "br",
    "span",
    "a",
    "svg",
    "rect",
    "line",
    "polyline",
    "text",
    "desc",
    "figure",
    "figcaption",
    "footer",
    "g",
];

/// The page parsed as XML (it is written well-formed), with its `<!DOCTYPE html>`.
fn parse_page(page: &str) -> Result<roxmltree::Document<'_>, roxmltree::Error> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(page, options)
}

/// The text of an element and its descendants.
fn text_of(node: roxmltree::Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Pieces an attacker would try, and arbitrary Unicode between them.
fn hostile() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "|",
        "\\|",
        "\\",
        "\n",
        "\r",
        "\r\n",
        "\t",
        "::",
        "::warning::X",
        "##[",
        "##[error]x",
        "<!--",
        "-->",
        "<b>",
        "`",
        "``",
        "#",
        "### ✅ fits",
        "*",
        "_",
        "[",
        "](x)",
        "<",
        ">",
        "&",
        "&amp;",
        "&#32;",
        "$",
        "~~",
        " ",
        "  ",
        "=",
        "+",
        "-",
        "@",
        ",",
        "\"",
        "'",
        "1.",
        "2)",
        ":",
        "\u{1b}[2J",
        "\u{9b}",
        "\u{7f}",
        "\u{202e}",
        "\u{2028}",
        "\u{feff}",
        "\u{0}",
        "✅",
        "é",
        "表",
    ]);
    let piece = prop_oneof![
        3 => pieces.prop_map(str::to_string),
        // `any::<String>()`'s regex, compiled once here: as a plain `&str` strategy it is
        // compiled again for every case (most of these tests' time in a debug build).
        1 => proptest::string::string_regex("\\PC*").expect("a valid regex"),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|parts| parts.concat())
}

fn names() -> impl Strategy<Value = Names> {
    (
        [hostile(), hostile()],
        // A path cannot hold NUL; everything else can.
        [hostile(), hostile()].prop_map(|p| p.map(|s| s.replace('\0', ""))),
        [hostile(), hostile(), hostile(), hostile()],
        [hostile(), hostile(), hostile(), hostile()],
    )
        .prop_map(|(workflows, paths, steps, endpoints)| Names {
            workflows,
            paths,
            steps,
            endpoints,
        })
}

/// What every format must hold, on every line: no control character but `\n`, no line that
/// begins (after spaces) with `::`, no `##[` (GitHub's two forms of workflow command).
#[track_caller]
fn no_commands_no_controls(text: &str) {
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("::"),
            "a line starts a workflow command: {line:?}"
        );
        assert!(!line.contains("##["), "a legacy workflow command: {line:?}");
        assert!(
            !line.chars().any(|c| c.is_control()),
            "a control character: {line:?}"
        );
    }
}

// ---- Markdown: parsed by pulldown-cmark (CommonMark with GFM tables) ----

#[derive(Debug, Default)]
struct Parsed {
    /// Tables, as rows of cells' text (the header row first).
    tables: Vec<Vec<Vec<String>>>,
    /// (level, text) of every heading.
    headings: Vec<(u8, String)>,
    /// The text of every list item.
    items: Vec<String>,
    /// Raw HTML, block or inline.
    html: Vec<String>,
    /// Inline markup other than the tool's own bold and code spans.
    markup: Vec<String>,
}

fn parse_markdown(text: &str) -> Parsed {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut parsed = Parsed::default();
    let mut text_sink: Option<String> = None;
    let mut heading: Option<u8> = None;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(Tag::Table(_)) => parsed.tables.push(Vec::new()),
            Event::Start(Tag::TableHead | Tag::TableRow) => {
                if let Some(table) = parsed.tables.last_mut() {
                    table.push(Vec::new());
                }
            }
            Event::Start(Tag::TableCell | Tag::Item) => text_sink = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                let cell = text_sink.take().unwrap_or_default();
                if let Some(row) = parsed.tables.last_mut().and_then(|t| t.last_mut()) {
                    row.push(cell);
                }
            }
            Event::End(TagEnd::Item) => parsed.items.push(text_sink.take().unwrap_or_default()),
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some(level as u8);
                text_sink = Some(String::new());
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = text_sink.take().unwrap_or_default();
                parsed.headings.push((heading.take().unwrap_or(0), text));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(sink) = &mut text_sink {
                    sink.push_str(&t);
                }
            }
            Event::Html(h) | Event::InlineHtml(h) => parsed.html.push(h.to_string()),
            Event::Start(Tag::Strong | Tag::Paragraph | Tag::List(_) | Tag::HtmlBlock)
            | Event::End(_) => {}
            other => parsed.markup.push(format!("{other:?}")),
        }
    }
    parsed
}

/// `&lt;` `&gt;` `&amp;` `&quot;` `&#39;` `&#35;` back to characters.
fn html_decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#35;", "#")
        .replace("&amp;", "&")
}

// ---- CSV: a small RFC 4180 reader ----

/// Records of RFC 4180 text: fields separated by `,`, records by CRLF or LF, a field in double
/// quotes may hold `,`, `"` (doubled) and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if at_start => {
                quoted = true;
                at_start = false;
                continue;
            }
            (false, ',') => {
                record.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                at_start = true;
                continue;
            }
            (false, c) => field.push(c),
        }
        at_start = false;
    }
    assert!(!quoted, "an unterminated quoted field");
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// A CSV text cell reads as [`safe::visible`] of the name, with a `'` in front exactly when
/// the name's first character other than a space would start a formula.
#[track_caller]
fn csv_cell_is(cell: &str, name: &str) {
    let visible = safe::visible(name);
    let formula = visible
        .trim_start_matches(' ')
        .starts_with(['=', '+', '-', '@']);
    let expected = if formula {
        format!("'{visible}")
    } else {
        visible
    };
    assert_eq!(cell, expected, "name {name:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// The pull-request comment: the same tables, rows, columns and cell texts; one heading;
    /// only the tool's own HTML; no other markup.
    #[test]
    fn markdown_keeps_its_structure(names in names()) {
        let f = fixture(&names);
        let text = f.render(Format::Markdown);
        no_commands_no_controls(&text);
        let parsed = parse_markdown(&text);
        prop_assert!(parsed.markup.is_empty(), "markup {:?} in\n{text}", parsed.markup);

        // The summary table, then one step table per workflow.
        prop_assert_eq!(parsed.tables.len(), 3, "{}", text);
        let summary = &parsed.tables[0];
        prop_assert_eq!(summary.len(), 1 + 2 + 1);
        for (i, row) in summary.iter().enumerate() {
            prop_assert_eq!(row.len(), 6, "row {} of\n{}", i, text);
        }
        for i in 0..2 {
            prop_assert_eq!(&summary[1 + i][0], &safe::visible(&names.workflows[i]));
            prop_assert_eq!(&summary[1 + i][1], &safe::visible(&names.paths[i]));
        }
        let mut step = 0;
        for (table, w) in parsed.tables[1..].iter().zip(&f.workflows) {
            // header, one row per step, the total
            prop_assert_eq!(table.len(), 1 + w.steps.len() + 1, "{}", text);
            for row in table {
                prop_assert_eq!(row.len(), 6);
            }
            for row in &table[1..=w.steps.len()] {
                prop_assert_eq!(&row[1], &safe::visible(&names.steps[step]));
                prop_assert_eq!(&row[2], &safe::visible(&names.endpoints[step]));
                step += 1;
            }
        }

        // One heading: the verdict, naming the workflow over its max_units.
        let lines = verdict_lines(&f.report());
        prop_assert_eq!(
            &parsed.headings,
            &vec![(3, format!("❌ budget: {}", safe::visible(&lines[0])))]
        );
        let items: Vec<String> = lines[1..].iter().map(|l| safe::visible(l)).collect();
        prop_assert_eq!(&parsed.items, &items);

        // The only HTML is the tool's <details> around each workflow's steps.
        let expected: Vec<String> = f
            .workflows
            .iter()
            .flat_map(|w| {
                [
                    format!(
                        "<details><summary>{} — {} units</summary>\n",
                        safe::visible(&w.name),
                        thousands(w.units)
                    ),
                    "</details>\n".to_string(),
                ]
            })
            .collect();
        let html: Vec<String> = parsed.html.iter().map(|h| html_decode(h)).collect();
        prop_assert_eq!(html, expected);
    }

    /// One workflow: its heading holds its name and path, and nothing else becomes a heading.
    #[test]
    fn markdown_heading_of_one_workflow(names in names()) {
        let mut f = fixture(&names);
        f.workflows.truncate(1);
        f.assessment.over_max_units.clear();
        let text = f.render(Format::Markdown);
        no_commands_no_controls(&text);
        let parsed = parse_markdown(&text);
        prop_assert!(parsed.markup.is_empty() && parsed.html.is_empty(), "{}", text);
        prop_assert_eq!(parsed.headings.len(), 2, "{}", text);
        let title = format!("{} ({})", safe::visible(&names.workflows[0]), safe::visible(&names.paths[0]));
        // An empty name leaves the tool's own space first, which a heading drops.
        let title = match names.workflows[0].is_empty() {
            true => title[1..].to_string(),
            false => title,
        };
        prop_assert_eq!(&parsed.headings[1], &(4, title));
        prop_assert_eq!(parsed.tables.len(), 1);
        prop_assert_eq!(parsed.tables[0].len(), 1 + 3 + 1);
    }

    /// CSV: one record per step plus the header, 14 fields each, text cells as written by
    /// `safe::csv_text`, numbers as numbers.
    #[test]
    fn csv_parses_to_the_same_cells(names in names()) {
        let f = fixture(&names);
        let text = f.render(Format::Csv);
        no_commands_no_controls(&text);
        let records = parse_csv(&text);
        prop_assert_eq!(records.len(), 1 + 4, "{}", text);
        for r in &records {
            prop_assert_eq!(r.len(), 14, "{:?}", r);
        }
        let mut step = 0;
        for (i, w) in f.workflows.iter().enumerate() {
            for (n, s) in w.steps.iter().enumerate() {
                let r = &records[1 + step];
                csv_cell_is(&r[0], &names.workflows[i]);
                csv_cell_is(&r[1], &names.paths[i]);
                prop_assert_eq!(&r[2], &(n + 1).to_string());
                csv_cell_is(&r[3], &names.steps[step]);
                csv_cell_is(&r[4], &names.endpoints[step]);
                prop_assert_eq!(&r[12], &s.units.to_string());
                step += 1;
            }
        }
    }

    /// The terminal: no control character but the line ends, one line per table row, the
    /// title line of each workflow as `safe::terminal` wrote it.
    #[test]
    fn terminal_has_no_control_characters(names in names()) {
        let f = fixture(&names);
        let text = f.render(Format::Table);
        no_commands_no_controls(&text);
        // Each table: the header, one row per step, the total.
        let rows = text.lines().filter(|l| l.starts_with('│')).count();
        prop_assert_eq!(rows, (1 + 3 + 1) + (1 + 1 + 1), "{}", text);
        for (i, w) in f.workflows.iter().enumerate() {
            let title = safe::terminal(&format!("{} ({})", names.workflows[i], names.paths[i]));
            prop_assert!(text.lines().any(|l| l == title), "{:?} in\n{}", title, text);
            prop_assert_eq!(&w.name, &names.workflows[i]);
        }
    }

    /// JSON: the exact strings come back, and the raw text holds nothing a terminal or the
    /// runner would act on.
    #[test]
    fn json_round_trips(names in names()) {
        let f = fixture(&names);
        let text = f.render(Format::Json);
        no_commands_no_controls(&text);
        let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        for i in 0..2 {
            prop_assert_eq!(&value["workflows"][i]["name"], &names.workflows[i]);
        }
        prop_assert_eq!(&value["workflows"][0]["steps"][2]["name"], &names.steps[2]);
        prop_assert_eq!(&value["workflows"][1]["steps"][0]["endpoint"], &names.endpoints[3]);
    }

    /// GitHub annotations: each is one line starting with the tool's `::error`, its message
    /// and `file` decode to the neutralised text.
    #[test]
    fn annotations_are_one_line_each(names in names()) {
        let mut f = fixture(&names);
        // One workflow, the one over its max_units: the annotation points at its file.
        f.workflows.remove(0);
        let report = f.report();
        let mut out = Vec::new();
        verdict_annotations(&mut out, &report, None);
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        prop_assert_eq!(lines.len(), 1, "{}", text);
        let line = lines[0];
        prop_assert!(!line.chars().any(|c| c.is_control()));
        prop_assert!(!line.contains("##["));
        let rest = line.strip_prefix("::error ").expect("the tool's command");
        let (properties, message) = rest.split_once("::").expect("properties::message");
        let file = properties.strip_prefix("file=").expect("file property");
        prop_assert!(!file.contains([',', ':']));
        let decode = |t: &str| t.replace("%3A", ":").replace("%2C", ",").replace("%25", "%");
        prop_assert_eq!(decode(file), safe::visible(&names.paths[1]));
        let expected = max_units_line(&f.assessment.over_max_units[0]);
        prop_assert_eq!(message.replace("%25", "%"), safe::visible(&expected));
    }

    /// The HTML page: well-formed, only the tool's own elements (no script, no comment, no
    /// link out of the page), and every name reads back as `safe::visible` wrote it, in the
    /// workflow headings, the step rows, the endpoint cells, the forecast rows and the notes.
    #[test]
    fn html_keeps_its_structure(names in names()) {
        let f = fixture(&names);
        let page = f.render_html(&names);
        let doc = match parse_page(&page) {
            Ok(doc) => doc,
            Err(e) => return Err(TestCaseError::fail(format!("not well-formed ({e}):\n{page}"))),
        };
        for node in doc.descendants() {
            prop_assert!(!node.is_comment() && !node.is_pi(), "{:?} in\n{page}", node);
            if node.is_element() {
                let name = node.tag_name().name();
                prop_assert!(HTML_ELEMENTS.contains(&name), "<{name}> in\n{page}");
                if let Some(href) = node.attribute("href") {
                    prop_assert!(href.starts_with('#'), "a link out: {href}");
                }
                prop_assert!(node.attribute("src").is_none() && node.attribute("style").is_none());
            }
        }
        let by_id = |id: &str| doc.descendants().find(|n| n.attribute("id") == Some(id));
        for (i, name) in names.workflows.iter().enumerate() {
            let heading = by_id(&format!("workflow-{}", i + 1)).expect("workflow heading");
            prop_assert_eq!(text_of(heading), safe::visible(name));
        }
        let steps: Vec<(String, String)> = (1..=2)
            .flat_map(|i| {
                let table = by_id(&format!("plan-steps-{i}")).expect("step table");
                table
                    .descendants()
                    .filter(|n| n.has_tag_name("tbody"))
                    .flat_map(|b| b.children().filter(|r| r.has_tag_name("tr")))
                    .map(|row| {
                        let th = row.children().find(|c| c.has_tag_name("th")).expect("row header");
                        let code = row.descendants().find(|c| c.has_tag_name("code")).expect("endpoint");
                        (text_of(th), text_of(code))
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<(String, String)> = names
            .steps
            .iter()
            .zip(&names.endpoints)
            .map(|(s, e)| (safe::visible(s), safe::visible(e)))
            .collect();
        prop_assert_eq!(steps, expected);
        let forecast = by_id("forecast").expect("forecast table");
        let rows: Vec<String> = forecast
            .descendants()
            .filter(|n| n.has_tag_name("tbody"))
            .flat_map(|b| b.children().filter(|r| r.has_tag_name("tr")))
            .filter_map(|row| row.children().find(|c| c.has_tag_name("th")).map(text_of))
            .collect();
        let workflows: Vec<String> = names.workflows.iter().map(|n| safe::visible(n)).collect();
        prop_assert_eq!(rows, workflows);
        let note = format!("{} has no schedule", safe::visible(&names.workflows[0]));
        prop_assert!(
            doc.descendants().filter(|n| n.has_tag_name("li")).any(|li| text_of(li) == note),
            "no note {note:?}"
        );
    }

    /// The guard's spend by endpoint, whose names are whatever paths clients sent.
    #[test]
    fn guard_summary_in_every_format(endpoints in prop::collection::vec(hostile(), 1..4)) {
        let totals = crate::guard::Totals {
            endpoints: endpoints
                .iter()
                .map(|e| (e.clone(), EndpointTotals { calls: 1, charged_calls: 1, units_charged: 7, ..EndpointTotals::default() }))
                .collect(),
            refused: Default::default(),
            clients: Default::default(),
            outcomes: Default::default(),
        };
        let render = |format| {
            let mut out = Vec::new();
            guard_summary(&mut out, format, &totals, Some(1)).expect("render");
            String::from_utf8(out).expect("UTF-8")
        };
        for format in [Format::Table, Format::Markdown, Format::Csv, Format::Json] {
            no_commands_no_controls(&render(format));
        }
        let parsed = parse_markdown(&render(Format::Markdown));
        prop_assert!(parsed.markup.is_empty() && parsed.html.is_empty());
        prop_assert_eq!(parsed.tables.len(), 1);
        let names: Vec<String> = totals.endpoints.keys().map(|k| safe::visible(k)).collect();
        let cells: Vec<String> = parsed.tables[0][1..=totals.endpoints.len()].iter().map(|r| r[0].clone()).collect();
        prop_assert_eq!(cells, names);
        let records = parse_csv(&render(Format::Csv));
        prop_assert_eq!(records.len(), 1 + totals.endpoints.len() + 1);
        for (record, name) in records[1..].iter().zip(totals.endpoints.keys()) {
            csv_cell_is(&record[0], name);
        }
    }
}

/// The issue's cases, by hand, in each format.
#[test]
fn hostile_names_by_hand() {
    let names = Names {
        workflows: ["Audit\n::warning::X".into(), "x\n### ✅ fits\n<!--".into()],
        paths: ["a.yaml".into(), "b.yaml".into()],
        steps: [
            "=HYPERLINK(\"http://e\")".into(),
            "\u{1b}[31mred".into(),
            "a|b".into(),
            "##[stop-commands]t".into(),
        ],
        endpoints: [
            "backlinks/summary".into(),
            "backlinks/export".into(),
            "backlinks/export/status".into(),
            "backlinks/summary".into(),
        ],
    };
    let f = fixture(&names);
    let table = f.render(Format::Table);
    assert!(table.contains("Audit\\n::warning::X (a.yaml)\n"), "{table}");
    assert!(table.contains("\\u{1b}[31mred"), "{table}");
    assert!(table.contains("#\\u{23}[stop-commands]t"), "{table}");
    let md = f.render(Format::Markdown);
    assert!(
        md.contains("| x\\\\n\\#\\#\\# ✅ fits\\\\n\\<!-- | `b.yaml` |"),
        "{md}"
    );
    assert!(
        md.contains("| 3 | a\\|b | `backlinks/export/status` |"),
        "{md}"
    );
    let csv = f.render(Format::Csv);
    assert!(
        csv.contains(",\"'=HYPERLINK(\"\"http://e\"\")\",backlinks/summary,"),
        "{csv}"
    );
}
