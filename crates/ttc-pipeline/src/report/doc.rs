//! The report as blocks (headings, paragraphs, tables, figures), rendered to Markdown and
//! to self-contained HTML (SVG figures inline, no network).

/// A piece of the report, rendered to both Markdown and HTML.
pub enum Block {
    Heading(String),
    Para(String),
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Figure {
        file: String,
        svg: String,
        caption: String,
    },
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn render_md(blocks: &[Block]) -> String {
    let mut s = String::new();
    for b in blocks {
        match b {
            Block::Heading(h) => s.push_str(&format!("\n## {h}\n\n")),
            Block::Para(p) => s.push_str(&format!("{p}\n\n")),
            Block::Table { header, rows } => {
                s.push_str(&format!("| {} |\n", header.join(" | ")));
                s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
                for r in rows {
                    s.push_str(&format!("| {} |\n", r.join(" | ")));
                }
                s.push('\n');
            }
            Block::Figure { file, caption, .. } => {
                s.push_str(&format!("![{caption}](figures/{file})\n\n*{caption}*\n\n"));
            }
        }
    }
    s
}

/// The CSS class of a table cell: a verdict gets its colour, a number (or an interval, a
/// percentage, a ratio) is right-aligned, text is left-aligned.
fn cell_class(c: &str) -> &'static str {
    match c {
        "holds" => "v-holds",
        "does not hold" => "v-fails",
        "not significant" => "v-ns",
        "not measurable" => "v-nm",
        // A number, interval or ratio — not a sentence that starts with one.
        _ if c.starts_with(|ch: char| {
            ch.is_ascii_digit() || matches!(ch, '+' | '-' | '−' | '–' | '.' | '[')
        }) && !c.contains(": ")
            && c.chars().count() <= 40 =>
        {
            "n"
        }
        _ => "t",
    }
}

pub fn render_html(title: &str, blocks: &[Block]) -> String {
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.45}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:3px 8px}}\
         th{{background:#eee;text-align:left}}td.n{{text-align:right;white-space:nowrap}}td.t{{text-align:left}}\
         td.v-holds{{background:#d8f0d8;color:#14591a;font-weight:bold}}\
         td.v-fails{{background:#f6d5d5;color:#8a1414;font-weight:bold}}\
         td.v-ns{{background:#fbefd0;color:#6b5000}}td.v-nm{{background:#eee;color:#555}}\
         figure{{margin:1em 0}}figcaption{{font-style:italic;color:#444}}</style></head><body><h1>{}</h1>",
        esc(title),
        esc(title)
    );
    for b in blocks {
        match b {
            Block::Heading(h) => s.push_str(&format!("<h2>{}</h2>", esc(h))),
            Block::Para(p) => s.push_str(&format!("<p>{}</p>", esc(p))),
            Block::Table { header, rows } => {
                s.push_str("<table><tr>");
                for h in header {
                    s.push_str(&format!("<th>{}</th>", esc(h)));
                }
                s.push_str("</tr>");
                for r in rows {
                    s.push_str("<tr>");
                    for c in r {
                        s.push_str(&format!("<td class=\"{}\">{}</td>", cell_class(c), esc(c)));
                    }
                    s.push_str("</tr>");
                }
                s.push_str("</table>");
            }
            Block::Figure { svg, caption, .. } => {
                s.push_str(&format!(
                    "<figure>{svg}<figcaption>{}</figcaption></figure>",
                    esc(caption)
                ));
            }
        }
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_coloured_and_text_is_left_aligned() {
        let html = render_html(
            "t",
            &[Block::Table {
                header: vec!["claim".into(), "verdict".into(), "numbers".into()],
                rows: vec![
                    vec!["a claim".into(), "holds".into(), "+3.5 [+2.3, +4.8]".into()],
                    vec!["another".into(), "does not hold".into(), "43.1%".into()],
                    vec!["third".into(), "not significant".into(), "−1.0".into()],
                    vec!["fourth".into(), "not measurable".into(), "".into()],
                    vec![
                        "fifth".into(),
                        "–".into(),
                        "43.1% vs 40.2%: +2.9 points (95% [+0.1, +5.6])".into(),
                    ],
                ],
            }],
        );
        for want in [
            "<td class=\"t\">a claim</td>",
            "<td class=\"v-holds\">holds</td>",
            "<td class=\"n\">+3.5 [+2.3, +4.8]</td>",
            "<td class=\"v-fails\">does not hold</td>",
            "<td class=\"n\">43.1%</td>",
            "<td class=\"v-ns\">not significant</td>",
            "<td class=\"n\">−1.0</td>",
            "<td class=\"v-nm\">not measurable</td>",
            "<td class=\"t\">43.1% vs 40.2%: +2.9 points",
        ] {
            assert!(html.contains(want), "{want} in {html}");
        }
    }
}
