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

pub fn render_html(title: &str, blocks: &[Block]) -> String {
    let mut s = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.45}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;padding:3px 8px;text-align:right}}\
         th{{background:#eee}}figure{{margin:1em 0}}figcaption{{font-style:italic;color:#444}}</style></head><body><h1>{}</h1>",
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
                        s.push_str(&format!("<td>{}</td>", esc(c)));
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
