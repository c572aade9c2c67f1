//! Text helpers that behave like the Perl ones Proxmox uses (PVE::Tools,
//! PVE::ParseUtils, PVE::JSONSchema): description encoding, list splitting,
//! disk sizes, and Perl's notion of whitespace and truth.

use std::fmt::Write as _;

/// Perl's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
pub fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Trims Perl whitespace at both ends.
pub fn trim(s: &str) -> &str {
    s.trim_matches(is_perl_space)
}

/// Perl's truth of a string: anything but `""` and `"0"`.
pub fn truthy(s: &str) -> bool {
    !s.is_empty() && s != "0"
}

/// `PVE::Tools::encode_text`: every byte except printable ASCII (0x20..=0x7e)
/// other than `%` and `:` becomes `%XX` (upper-case hex), after UTF-8 encoding.
pub fn encode_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' && b != b':' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `PVE::Tools::decode_text`: URI-unescapes `%XX` (either case) and decodes the
/// bytes as UTF-8 (invalid sequences become U+FFFD, as Encode::decode does).
pub fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Perl's `split(/\n/, $s)`: like `str::split`, but trailing empty fields are
/// dropped (leading and inner ones are kept).
pub fn split_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split('\n').collect();
    while v.last() == Some(&"") {
        v.pop();
    }
    v
}

/// `PVE::Tools::split_list`: NUL-separated if the text has a NUL, else split at
/// commas, semicolons and whitespace.
pub fn split_list(s: &str) -> Vec<String> {
    if s.contains('\0') {
        let mut v: Vec<String> = s.split('\0').map(str::to_owned).collect();
        while v.last().is_some_and(|x| x.is_empty()) {
            v.pop();
        }
        return v;
    }
    s.split(|c: char| c == ',' || c == ';' || is_perl_space(c))
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `PVE::JSONSchema::parse_size`: `\d+(\.\d+)?` with an optional unit K, M, G,
/// T (or KiB, MiB, GiB, TiB); the result in bytes, truncated to an integer.
pub fn parse_size(value: &str) -> Option<u64> {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits_end);
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (number, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let mult: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    match frac {
        None => int.parse::<u64>().ok()?.checked_mul(mult),
        Some(_) => {
            let v: f64 = number.parse().ok()?;
            Some((v * mult as f64) as u64)
        }
    }
}

/// `PVE::JSONSchema::format_size`: the largest unit that divides the size.
pub fn format_size(size: u64) -> String {
    let kb = size / 1024;
    if kb * 1024 != size {
        return size.to_string();
    }
    let mb = kb / 1024;
    if mb * 1024 != kb {
        return format!("{kb}K");
    }
    let gb = mb / 1024;
    if gb * 1024 != mb {
        return format!("{mb}M");
    }
    let tb = gb / 1024;
    if tb * 1024 != gb {
        return format!("{gb}G");
    }
    format!("{tb}T")
}

/// `PVE::JSONSchema::parse_boolean`.
pub fn parse_boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// `PVE::JSONSchema::is_integer`: an optional sign and digits.
pub fn is_integer(v: &str) -> bool {
    let d = v.strip_prefix(['+', '-']).unwrap_or(v);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

/// `PVE::JSONSchema::is_number`: Perl's notion of a decimal number.
pub fn is_number(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mant.is_empty() && mant.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(is_integer);
    mant_ok && exp_ok
}

/// The text of an I/O error as Perl's `$!` shows it: without Rust's
/// ` (os error N)` suffix.
pub fn errno_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_decode_text() {
        assert_eq!(encode_text("a: 50% ok\nnext"), "a%3A 50%25 ok%0Anext");
        assert_eq!(encode_text("grüße"), "gr%C3%BC%C3%9Fe");
        assert_eq!(decode_text("gr%C3%BC%c3%9Fe %3a"), "grüße :");
        assert_eq!(decode_text("100%"), "100%");
        assert_eq!(decode_text("%4"), "%4");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8G"), Some(8 << 30));
        assert_eq!(parse_size("0.5G"), Some(512 << 20));
        assert_eq!(parse_size("512MiB"), Some(512 << 20));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("8g"), None);
        assert_eq!(parse_size("+8G"), None);
        assert_eq!(format_size(8 << 30), "8G");
        assert_eq!(format_size((8 << 30) + (512 << 20)), "8704M");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn lists_and_lines() {
        assert_eq!(split_list(" a,b;c  d"), ["a", "b", "c", "d"]);
        assert_eq!(split_lines("a\n\nb\n\n"), ["a", "", "b"]);
        assert!(is_number("1.5") && is_number(".5") && !is_number("1.5x"));
    }
}
