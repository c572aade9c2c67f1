//! The network diagram as a self-contained SVG: boxes and lines laid out by
//! hand on an integer grid, monospace text measured by character count, so
//! the same lab always gives the same bytes and no tool is needed.
//!
//! Layout, top to bottom: the Internet, the router, a bus line, then one
//! column per active host (the host box, its containers stacked below it on
//! a spine), then a dashed group with the hosts that are not yet active,
//! and a legend.

use std::fmt::Write as _;

use super::markdown::{cores, memory};
use super::model::{Container, Host, Lab};

/// Font size in px.
const FONT: i64 = 12;
/// Width of one character in px: 15/2 (monospace at 12 px is ~7.2).
const CHAR_W2: i64 = 15;
/// Height of one text line.
const LINE_H: i64 = 16;
/// Padding inside a box.
const PAD_X: i64 = 10;
const PAD_Y: i64 = 8;
/// Space around the drawing.
const MARGIN: i64 = 24;
/// Space between columns.
const GAP_X: i64 = 32;
/// Space between stacked boxes.
const GAP_Y: i64 = 14;
/// Indent of containers under their host (the spine runs at half of it).
const INDENT: i64 = 28;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Internet,
    Router,
    Host,
    Inactive,
    Gpu,
    Container,
}

impl Kind {
    fn style(self) -> &'static str {
        match self {
            Kind::Internet => "fill=\"#eef2ff\" stroke=\"#4f46e5\"",
            Kind::Router => "fill=\"#fef3c7\" stroke=\"#b45309\"",
            Kind::Host => "fill=\"#dbeafe\" stroke=\"#1d4ed8\"",
            Kind::Inactive => "fill=\"#f3f4f6\" stroke=\"#6b7280\" stroke-dasharray=\"6 4\"",
            Kind::Gpu => "fill=\"#dcfce7\" stroke=\"#15803d\"",
            Kind::Container => "fill=\"#ffffff\" stroke=\"#4b5563\"",
        }
    }

    fn radius(self) -> i64 {
        match self {
            Kind::Internet => 18,
            _ => 6,
        }
    }
}

/// A box with its lines of text (the first one bold).
struct Node {
    kind: Kind,
    lines: Vec<String>,
    x: i64,
    y: i64,
}

impl Node {
    fn new(kind: Kind, lines: Vec<String>) -> Node {
        let lines = lines.into_iter().filter(|l| !l.is_empty()).collect();
        Node {
            kind,
            lines,
            x: 0,
            y: 0,
        }
    }

    fn w(&self) -> i64 {
        let chars = self
            .lines
            .iter()
            .map(|l| l.chars().count() as i64)
            .max()
            .unwrap_or(0);
        (chars * CHAR_W2 + 1) / 2 + 2 * PAD_X
    }

    fn h(&self) -> i64 {
        self.lines.len() as i64 * LINE_H + 2 * PAD_Y
    }

    fn center_x(&self) -> i64 {
        self.x + self.w() / 2
    }

    fn bottom(&self) -> i64 {
        self.y + self.h()
    }

    fn mid_y(&self) -> i64 {
        self.y + self.h() / 2
    }
}

/// A host with its containers, laid out as a block.
struct Block {
    host: Node,
    containers: Vec<Node>,
}

impl Block {
    fn new(h: &Host) -> Block {
        let kind = if h.active { Kind::Host } else { Kind::Inactive };
        let host = Node::new(
            kind,
            vec![
                h.name.clone(),
                h.hardware.clone(),
                h.role.clone(),
                h.address.map(|a| a.to_string()).unwrap_or_default(),
            ],
        );
        let containers = h.containers.iter().map(container_node).collect();
        Block { host, containers }
    }

    fn w(&self) -> i64 {
        let cts = self
            .containers
            .iter()
            .map(|c| INDENT + c.w())
            .max()
            .unwrap_or(0);
        self.host.w().max(cts)
    }

    fn h(&self) -> i64 {
        let mut h = self.host.h();
        for c in &self.containers {
            h += GAP_Y + c.h();
        }
        h
    }

    /// Places the block with its top-left corner at (x, y).
    fn place(&mut self, x: i64, y: i64) {
        self.host.x = x;
        self.host.y = y;
        let mut cy = self.host.bottom() + GAP_Y;
        for c in &mut self.containers {
            c.x = x + INDENT;
            c.y = cy;
            cy += c.h() + GAP_Y;
        }
    }
}

fn container_node(c: &Container) -> Node {
    let kind = if c.gpus.is_empty() {
        Kind::Container
    } else {
        Kind::Gpu
    };
    let mut size = vec![format!("{} cores", cores(c.cores)), memory(c.memory)];
    if !c.gpus.is_empty() {
        let list: Vec<String> = c.gpus.iter().map(i64::to_string).collect();
        let word = if c.gpus.len() == 1 { "GPU" } else { "GPUs" };
        size.push(format!("{word} {}", list.join(",")));
    }
    let projects: Vec<&str> = c.projects.iter().map(|p| p.name.as_str()).collect();
    Node::new(
        kind,
        vec![
            format!("{} · VMID {}", c.name, c.vmid),
            c.address.map(|a| a.to_string()).unwrap_or_default(),
            size.join(" · "),
            if projects.is_empty() {
                String::new()
            } else {
                format!("docker: {}", projects.join(", "))
            },
        ],
    )
}

/// XML text escaping.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn rect(out: &mut String, n: &Node) {
    let _ = writeln!(
        out,
        "  <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" {} stroke-width=\"1.5\"/>",
        n.x,
        n.y,
        n.w(),
        n.h(),
        n.kind.radius(),
        n.kind.style()
    );
    for (i, line) in n.lines.iter().enumerate() {
        let y = n.y + PAD_Y + (i as i64) * LINE_H + FONT;
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        let _ = writeln!(
            out,
            "  <text x=\"{}\" y=\"{}\"{weight}>{}</text>",
            n.x + PAD_X,
            y,
            esc(line)
        );
    }
}

fn line(out: &mut String, (x1, y1): (i64, i64), (x2, y2): (i64, i64), dashed: bool) {
    let dash = if dashed {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "  <line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#374151\" stroke-width=\"1.5\"{dash}/>"
    );
}

/// Spine and stubs from a block's host to its containers.
fn block_lines(out: &mut String, b: &Block, dashed: bool) {
    let Some(last) = b.containers.last() else {
        return;
    };
    let spine = b.host.x + INDENT / 2;
    line(out, (spine, b.host.bottom()), (spine, last.mid_y()), dashed);
    for c in &b.containers {
        line(out, (spine, c.mid_y()), (c.x, c.mid_y()), dashed);
    }
}

fn block_rects(out: &mut String, b: &Block) {
    rect(out, &b.host);
    for c in &b.containers {
        rect(out, c);
    }
}

/// The whole drawing.
pub fn render(lab: &Lab) -> String {
    let title = {
        let nets: Vec<String> = lab
            .networks()
            .iter()
            .map(|(n, p)| format!("{n}/{p}"))
            .collect();
        if nets.is_empty() {
            "The lab".to_owned()
        } else {
            format!("The lab: {}", nets.join(", "))
        }
    };
    let mut internet = Node::new(Kind::Internet, vec!["Internet".to_owned()]);
    let mut router_lines = vec!["Router".to_owned()];
    router_lines.extend(lab.gateways().iter().map(|g| g.to_string()));
    let mut router = Node::new(Kind::Router, router_lines);

    let mut active: Vec<Block> = lab
        .hosts
        .iter()
        .filter(|h| h.active)
        .map(Block::new)
        .collect();
    let mut inactive: Vec<Block> = lab
        .hosts
        .iter()
        .filter(|h| !h.active)
        .map(Block::new)
        .collect();

    // Vertical positions of the fixed rows.
    let title_y = MARGIN + FONT + 2;
    internet.y = title_y + 18;
    router.y = internet.bottom() + 26;
    let bus_y = router.bottom() + 24;
    let hosts_y = bus_y + 24;

    // Columns: active hosts, then the group of inactive ones.
    let mut x = MARGIN;
    for b in &mut active {
        b.place(x, hosts_y);
        x += b.w() + GAP_X;
    }
    let group_title = "Not yet active";
    let mut group: Option<(i64, i64, i64, i64)> = None;
    if !inactive.is_empty() {
        let inner_w = inactive.iter().map(Block::w).max().unwrap_or(0);
        let title_w = (group_title.chars().count() as i64 * CHAR_W2 + 1) / 2;
        let gw = inner_w.max(title_w) + 2 * PAD_X;
        let mut y = hosts_y + PAD_Y + LINE_H + 6;
        for b in &mut inactive {
            b.place(x + PAD_X, y);
            y += b.h() + GAP_Y;
        }
        let gh = y - GAP_Y + PAD_Y + 2 - hosts_y;
        group = Some((x, hosts_y, gw, gh));
        x += gw + GAP_X;
    }
    let content_w = (x - GAP_X).max(MARGIN + router.w().max(internet.w()));
    let width = content_w + MARGIN;
    let center = (MARGIN + content_w) / 2;
    internet.x = center - internet.w() / 2;
    router.x = center - router.w() / 2;

    // Where the bus meets each column.
    let mut drops: Vec<(i64, bool)> = active.iter().map(|b| (b.host.center_x(), false)).collect();
    if let Some((gx, _, gw, _)) = group {
        drops.push((gx + gw / 2, true));
    }

    let mut bottom = router.bottom();
    for b in active.iter().chain(&inactive) {
        bottom = bottom.max(b.host.y + b.h());
    }
    if let Some((_, gy, _, gh)) = group {
        bottom = bottom.max(gy + gh);
    }

    // Legend.
    let legend_y = bottom + 28;
    let mut legend: Vec<Node> = [
        (Kind::Host, "Proxmox host"),
        (Kind::Inactive, "not yet active"),
        (Kind::Gpu, "container with GPUs"),
        (Kind::Container, "container"),
    ]
    .into_iter()
    .map(|(k, t)| Node::new(k, vec![t.to_owned()]))
    .collect();
    let mut lx = MARGIN;
    for n in &mut legend {
        n.x = lx;
        n.y = legend_y;
        lx += n.w() + 12;
    }
    let width = width.max(lx - 12 + MARGIN);
    let height = legend_y + legend.first().map_or(0, Node::h) + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" \
font-size=\"{FONT}\" fill=\"#111827\">"
    );
    out.push_str("  <title>Network diagram of the lab (generated by stoa docs)</title>\n");
    let _ = writeln!(
        out,
        "  <rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        out,
        "  <text x=\"{MARGIN}\" y=\"{title_y}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        esc(&title)
    );

    // Lines first, boxes over them.
    line(
        &mut out,
        (center, internet.bottom()),
        (center, router.y),
        false,
    );
    if !drops.is_empty() {
        line(&mut out, (center, router.bottom()), (center, bus_y), false);
        let lo = drops
            .iter()
            .map(|d| d.0)
            .min()
            .unwrap_or(center)
            .min(center);
        let hi = drops
            .iter()
            .map(|d| d.0)
            .max()
            .unwrap_or(center)
            .max(center);
        line(&mut out, (lo, bus_y), (hi, bus_y), false);
        for (dx, dashed) in &drops {
            line(&mut out, (*dx, bus_y), (*dx, hosts_y), *dashed);
        }
    }
    for b in &active {
        block_lines(&mut out, b, false);
    }
    for b in &inactive {
        block_lines(&mut out, b, true);
    }
    if let Some((gx, gy, gw, gh)) = group {
        let _ = writeln!(
            out,
            "  <rect x=\"{gx}\" y=\"{gy}\" width=\"{gw}\" height=\"{gh}\" rx=\"8\" fill=\"#fafafa\" \
stroke=\"#6b7280\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
        );
        let _ = writeln!(
            out,
            "  <text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"#4b5563\">{}</text>",
            gx + PAD_X,
            gy + PAD_Y + FONT,
            esc(group_title)
        );
    }
    rect(&mut out, &internet);
    rect(&mut out, &router);
    for b in active.iter().chain(&inactive) {
        block_rects(&mut out, b);
    }
    for n in &legend {
        rect(&mut out, n);
    }
    out.push_str("</svg>\n");
    out
}
