//! Text output of `proxmox-router`'s `format_and_print_result_full`: bordered
//! tables (UTF-8 borders, as in a UTF-8 locale; not a terminal, so no width
//! limit), and `--output-format json|json-pretty`.

use super::json::Json;

/// A table column: its name (also the header) and whether it is
/// right-aligned (numbers and booleans are).
pub struct Col {
    pub name: &'static str,
    pub right: bool,
}

pub const fn col(name: &'static str) -> Col {
    Col { name, right: false }
}
pub const fn num(name: &'static str) -> Col {
    Col { name, right: true }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn border(widths: &[usize], l: char, fill: char, mid: char, r: char) -> String {
    let mut s = String::new();
    for (i, w) in widths.iter().enumerate() {
        s.push(if i == 0 { l } else { mid });
        s.extend(std::iter::repeat_n(fill, w + 2));
    }
    s.push(r);
    s.push('\n');
    s
}

fn render(headers: &[String], right: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell.lines() {
                widths[i] = widths[i].max(width(line));
            }
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - width(c));
            if right[i] {
                s.push_str(&format!("│ {pad}{c} "));
            } else {
                s.push_str(&format!("│ {c}{pad} "));
            }
        }
        s.push_str("│\n");
        s
    };
    let mut out = border(&widths, '┌', '─', '┬', '┐');
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    out.push_str(&line(&h));
    out.push_str(&border(&widths, '╞', '═', '╪', '╡'));
    for (n, row) in rows.iter().enumerate() {
        let lines: Vec<Vec<&str>> = row.iter().map(|c| c.lines().collect()).collect();
        let height = lines.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..height {
            let cells: Vec<&str> = lines.iter().map(|l| *l.get(k).unwrap_or(&"")).collect();
            out.push_str(&line(&cells));
        }
        if n + 1 == rows.len() {
            out.push_str(&border(&widths, '└', '─', '┴', '┘'));
        } else {
            out.push_str(&border(&widths, '├', '─', '┼', '┤'));
        }
    }
    out
}

/// `format_table`: rows sorted by the first column (as strings); nothing for
/// an empty list.
pub fn table(cols: &[Col], mut rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return String::new();
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    let headers: Vec<String> = cols.iter().map(|c| c.name.to_owned()).collect();
    let right: Vec<bool> = cols.iter().map(|c| c.right).collect();
    render(&headers, &right, &rows)
}

/// `format_object`: a `Name`/`Value` table of the present properties
/// (`(name, text, numeric)`); values are right-aligned only if all are
/// numeric.
pub fn object(rows: &[(String, String, bool)]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let all_right = rows.iter().all(|r| r.2);
    let headers = vec!["Name".to_owned(), "Value".to_owned()];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(n, v, _)| vec![n.clone(), v.clone()])
        .collect();
    render(&headers, &[false, all_right], &body)
}

/// `data_to_text`: booleans as `1`/`0`.
pub fn text(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => String::new(),
        Some(Json::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
        Some(Json::Int(n)) => n.to_string(),
        Some(Json::Str(s)) => s.clone(),
        Some(other) => other.compact(),
    }
}

/// Prints `data` as `--output-format` asks (`text` is the caller's).
pub fn print_json(data: &Json, format: &str) {
    if format == "json-pretty" {
        println!("{}", data.pretty());
    } else {
        println!("{}", data.compact());
    }
}

/// `strftime_local("%c", epoch)` in the C locale, UTC.
pub fn ctime(epoch: i64) -> String {
    let days = epoch.div_euclid(86400);
    let secs = epoch.rem_euclid(86400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WD[days.rem_euclid(7) as usize],
        MON[(month - 1) as usize],
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_like_proxmox_router() {
        let t = table(
            &[col("name"), num("n")],
            vec![
                vec!["b".to_owned(), "10".to_owned()],
                vec!["a".to_owned(), "1".to_owned()],
            ],
        );
        assert_eq!(
            t,
            "┌──────┬────┐\n│ name │  n │\n╞══════╪════╡\n│ a    │  1 │\n├──────┼────┤\n\
             │ b    │ 10 │\n└──────┴────┘\n"
        );
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_700_000_000), "Tue Nov 14 22:13:20 2023");
    }
}
