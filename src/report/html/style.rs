//! The page's look: one palette for the light and one for the dark theme, and the style sheet
//! that uses them. The colours are data so that a unit test can hold every pair a reader has to
//! tell apart to WCAG 2.2 level AA (4.5:1 for text, 3:1 for the chart's lines and the bars),
//! computed with WCAG's own relative-luminance formula; nothing here is checked by eye alone.
//!
//! Printing uses the light palette whatever the reader's theme (dark pages print badly), and no
//! rule loads anything: no fonts, no images, no `url()`.

/// One colour of the palette: its CSS custom property (without `--`) and its light and dark
/// values as `#rrggbb`.
pub(super) struct Colour {
    pub name: &'static str,
    pub light: &'static str,
    pub dark: &'static str,
}

const fn colour(name: &'static str, light: &'static str, dark: &'static str) -> Colour {
    Colour { name, light, dark }
}

pub(super) const PALETTE: [Colour; 17] = [
    colour("bg", "#ffffff", "#0d1117"),
    colour("surface", "#f6f8fa", "#161b22"),
    colour("text", "#1f2328", "#e6edf3"),
    colour("muted", "#59636e", "#9198a1"),
    colour("rule", "#d1d9e0", "#3d444d"),
    colour("good", "#116329", "#56d364"),
    colour("good-bg", "#dafbe1", "#0f2d1a"),
    colour("bad", "#a40e26", "#ff7b72"),
    colour("bad-bg", "#ffebe9", "#3c1618"),
    colour("unknown", "#6c4a00", "#e3b341"),
    colour("unknown-bg", "#fff8c5", "#2e2608"),
    colour("projected", "#0550ae", "#58a6ff"),
    colour("balance", "#1a7f37", "#3fb950"),
    colour("exhausted", "#cf222e", "#f85149"),
    colour("period", "#59636e", "#9198a1"),
    colour("expected", "#0550ae", "#58a6ff"),
    colour("worst", "#59636e", "#9198a1"),
];

/// What must stand out from what, and how much (WCAG 2.2: 1.4.3 text 4.5:1, 1.4.11 graphics
/// 3:1): (foreground, background, minimum ratio), in both themes. Table rules and the chart's
/// grid are decoration (the figures are in the cells and the tick labels), so `rule` has none.
#[cfg(test)]
pub(super) const PAIRS: [(&str, &str, f64); 22] = [
    ("text", "bg", 4.5),
    ("text", "surface", 4.5),
    ("muted", "bg", 4.5),
    ("muted", "surface", 4.5),
    ("good", "good-bg", 4.5),
    ("good", "bg", 4.5),
    ("bad", "bad-bg", 4.5),
    ("bad", "bg", 4.5),
    ("unknown", "unknown-bg", 4.5),
    ("unknown", "bg", 4.5),
    ("text", "good-bg", 4.5),
    ("text", "bad-bg", 4.5),
    ("text", "unknown-bg", 4.5),
    // also the colour of links (text)
    ("projected", "bg", 4.5),
    ("projected", "surface", 4.5),
    ("balance", "bg", 3.0),
    ("exhausted", "bg", 3.0),
    ("period", "bg", 3.0),
    ("expected", "bg", 3.0),
    ("worst", "bg", 3.0),
    ("expected", "surface", 3.0),
    ("worst", "surface", 3.0),
];

/// The style sheet: the palette as custom properties (light, then dark for
/// `prefers-color-scheme: dark`, then light again for print), then the rules.
pub(super) fn css() -> String {
    let vars = |pick: fn(&Colour) -> &'static str| -> String {
        PALETTE
            .iter()
            .map(|c| format!("--{}:{};", c.name, pick(c)))
            .collect()
    };
    let light = vars(|c| c.light);
    let dark = vars(|c| c.dark);
    format!(
        ":root{{color-scheme:light dark;{light}}}\n\
         @media (prefers-color-scheme: dark){{:root{{{dark}}}}}\n\
         @media print{{:root{{color-scheme:light;{light}}}}}\n{RULES}"
    )
}

/// The rules, written against the custom properties only.
const RULES: &str = r#"*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",Arial,sans-serif}
header,main,footer{max-width:1120px;margin:0 auto;padding:0 20px}
header{padding-top:20px}
h1{font-size:1.6rem;margin:0 0 4px}
h2{font-size:1.25rem;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--rule)}
h3{font-size:1.05rem;margin:20px 0 6px}
p{margin:6px 0}
.meta,.note,figcaption,caption{color:var(--muted)}
.meta{margin:0}
a{color:var(--projected)}
code,.endpoint{font-family:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em}
.verdict{border:2px solid;border-radius:6px;padding:10px 14px;margin:12px 0}
.verdict p{margin:0 0 4px;font-size:1.15rem;font-weight:700}
.verdict ul{margin:0;padding-left:20px}
.good{color:var(--good);background:var(--good-bg);border-color:var(--good)}
.bad{color:var(--bad);background:var(--bad-bg);border-color:var(--bad)}
.unknown{color:var(--unknown);background:var(--unknown-bg);border-color:var(--unknown)}
.verdict li{color:var(--text)}
.scroll{overflow-x:auto}
.tall{max-height:24rem;overflow-y:auto;width:max-content;max-width:100%}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;padding:0 0 4px;font-size:.9rem}
th,td{padding:4px 7px;border-bottom:1px solid var(--rule);text-align:left;vertical-align:top}
thead th{background:var(--surface);border-bottom:2px solid var(--rule);font-weight:600;vertical-align:bottom}
tfoot th,tfoot td{font-weight:700;border-top:2px solid var(--rule);border-bottom:none}
tbody th{font-weight:400;min-width:7em}
.num{text-align:right;white-space:nowrap}
thead th.num{white-space:normal}
td.flag{font-weight:700}
.over{color:var(--bad);font-weight:700}
.cost{color:var(--muted);font-size:.85em}
.verdict strong{font-weight:600}
.band{display:block}
.band .worst{fill:none;stroke:var(--worst);stroke-width:1}
.band .expected{fill:var(--expected)}
figure{margin:10px 0}
.chart{width:100%;max-width:860px;height:auto;display:block}
.chart text{fill:var(--muted);font-size:12px;font-family:inherit}
.chart .axis{stroke:var(--muted);stroke-width:1}
.chart .grid{stroke:var(--rule);stroke-width:1}
.chart .projected{fill:none;stroke:var(--projected);stroke-width:3;stroke-linejoin:round}
.chart .balance{stroke:var(--balance);stroke-width:2;stroke-dasharray:8 4}
.chart .exhausted{stroke:var(--exhausted);stroke-width:2;stroke-dasharray:2 3}
.chart .period{stroke:var(--period);stroke-width:2;stroke-dasharray:10 3 2 3}
.legend{list-style:none;padding:0;margin:4px 0;display:flex;flex-wrap:wrap;gap:4px 18px}
.legend svg{vertical-align:middle;margin-right:6px}
.legend .projected{stroke:var(--projected);stroke-width:3}
.legend .balance{stroke:var(--balance);stroke-width:2;stroke-dasharray:8 4}
.legend .exhausted{stroke:var(--exhausted);stroke-width:2;stroke-dasharray:2 3}
.legend .period{stroke:var(--period);stroke-width:2;stroke-dasharray:10 3 2 3}
footer{margin-top:32px;padding-bottom:24px;color:var(--muted);font-size:.85rem;border-top:1px solid var(--rule)}
@media print{
body{font-size:10.5pt}
header,main,footer{max-width:none;padding:0}
.scroll,.tall{overflow:visible;max-height:none}
h2{break-after:avoid}
table,figure,.verdict{break-inside:avoid}
thead{display:table-header-group}
.verdict{background:none}
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2.2's relative luminance of `#rrggbb` (sRGB channels linearised, then weighted).
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex colour")) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn ratio(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    fn find(name: &str) -> &'static Colour {
        PALETTE
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no colour {name}"))
    }

    #[test]
    fn the_formula_by_hand() {
        // Black on white is the largest ratio there is: (1 + 0.05) / (0 + 0.05) = 21.
        assert!((ratio("#000000", "#ffffff") - 21.0).abs() < 1e-9);
        // #777777 on white: channel 0x77/255 = 0.4667 -> ((0.4667+0.055)/1.055)^2.4 = 0.1845;
        // (1.05) / (0.1845 + 0.05) = 4.48, just under AA — the classic example.
        let grey = ratio("#777777", "#ffffff");
        assert!((grey - 4.48).abs() < 0.01, "{grey}");
    }

    /// Invariant: every pair a reader must tell apart meets WCAG 2.2 AA in both themes (and so
    /// in print, which uses the light one).
    #[test]
    fn every_pair_meets_wcag_aa_in_both_themes() {
        let mut failures = Vec::new();
        for (fg, bg, minimum) in PAIRS {
            let (f, b) = (find(fg), find(bg));
            for (theme, fc, bc) in [("light", f.light, b.light), ("dark", f.dark, b.dark)] {
                let r = ratio(fc, bc);
                if r < minimum {
                    failures.push(format!(
                        "{theme}: {fg} {fc} on {bg} {bc} is {r:.2}:1 < {minimum}"
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn the_style_sheet_loads_nothing_and_has_both_themes() {
        let css = css();
        for forbidden in ["url(", "@import", "http", "@font-face"] {
            assert!(!css.contains(forbidden), "{forbidden} in the style sheet");
        }
        assert!(css.contains("@media (prefers-color-scheme: dark){:root{--bg:#0d1117;"));
        assert!(css.contains("@media print{:root{color-scheme:light;--bg:#ffffff;"));
        // No `<` in a <style> element (it could close it) and no `&` (the page is also XML).
        assert!(!css.contains('<') && !css.contains('&'));
    }
}
