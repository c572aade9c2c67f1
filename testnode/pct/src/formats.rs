//! Value checks of `PVE::JSONSchema` (`check_prop`, `check_type`, and the
//! registered formats the container schema uses), with Proxmox's messages.

use crate::propstr::{self, Prop};
use crate::text::{is_integer, is_number, split_list};

/// A value type of the JSON schema.
#[derive(Clone, Copy, Debug)]
pub enum Ty {
    Str,
    Bool,
    Int(Option<i64>, Option<i64>),
    Num(Option<f64>, Option<f64>),
}

/// A registered format (`format => '...'`) or a property-string format.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    DnsName,
    DnsNameList,
    IpLlList,
    Timezone,
    VolumeId,
    TagList,
    ConfigId,
    Startup,
    MpString,
    DevString,
    Ipv4,
    Ipv6,
    Ipv4Config,
    Ipv6Config,
    Mac,
    DiskSize,
    StorageId,
    Vmid,
    Props(&'static [Prop]),
}

/// The checks of one value (`check_prop` for a scalar).
#[derive(Clone, Copy, Debug)]
pub struct Check {
    pub ty: Ty,
    pub format: Option<Format>,
    /// A `pattern` (matched against the whole value).
    pub pattern: Option<fn(&str) -> bool>,
    pub enumeration: Option<&'static [&'static str]>,
    pub max_length: Option<usize>,
    pub min_length: Option<usize>,
}

impl Check {
    pub const fn of(ty: Ty) -> Check {
        Check {
            ty,
            format: None,
            pattern: None,
            enumeration: None,
            max_length: None,
            min_length: None,
        }
    }
    pub const fn str() -> Check {
        Check::of(Ty::Str)
    }
    pub const fn fmt(mut self, f: Format) -> Check {
        self.format = Some(f);
        self
    }
    pub const fn pat(mut self, p: fn(&str) -> bool) -> Check {
        self.pattern = Some(p);
        self
    }
    pub const fn en(mut self, e: &'static [&'static str]) -> Check {
        self.enumeration = Some(e);
        self
    }
    pub const fn max_len(mut self, n: usize) -> Check {
        self.max_length = Some(n);
        self
    }
    pub const fn min_len(mut self, n: usize) -> Check {
        self.min_length = Some(n);
        self
    }
}

/// `check_type` + `check_prop` for a scalar: the first failing check's message.
pub fn check_value(c: &Check, value: &str) -> Result<(), String> {
    let ty_name = match c.ty {
        Ty::Str => "string",
        Ty::Bool => "boolean",
        Ty::Int(..) => "integer",
        Ty::Num(..) => "number",
    };
    let ok = match c.ty {
        Ty::Str => true,
        Ty::Bool => value == "0" || value == "1",
        Ty::Int(..) => is_integer(value),
        Ty::Num(..) => is_number(value),
    };
    if !ok {
        return Err(format!("type check ('{ty_name}') failed - got '{value}'"));
    }
    if let Some(f) = c.format {
        check_format(f, value).map_err(|e| format!("invalid format - {e}"))?;
    }
    if let Some(p) = c.pattern {
        if !p(value) {
            return Err("value does not match the regex pattern".to_owned());
        }
    }
    if let Some(max) = c.max_length {
        if value.chars().count() > max {
            return Err(format!("value may only be {max} characters long"));
        }
    }
    if let Some(min) = c.min_length {
        if value.chars().count() < min {
            return Err(format!("value must be at least {min} characters long"));
        }
    }
    if is_number(value) {
        let v: f64 = value.parse().unwrap_or(0.0);
        let (min, max) = match c.ty {
            Ty::Int(min, max) => (min.map(|m| m as f64), max.map(|m| m as f64)),
            Ty::Num(min, max) => (min, max),
            _ => (None, None),
        };
        if let Some(max) = max {
            if v > max {
                return Err(format!("value must have a maximum value of {max}"));
            }
        }
        if let Some(min) = min {
            if v < min {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
    }
    if let Some(e) = c.enumeration {
        if !e.contains(&value) {
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                e.join(", ")
            ));
        }
    }
    Ok(())
}

fn dns_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn ipv4(v: &str) -> bool {
    v.parse::<std::net::Ipv4Addr>().is_ok()
}

fn ipv6(v: &str) -> bool {
    v.parse::<std::net::Ipv6Addr>().is_ok()
}

fn cidr(v: &str, addr: fn(&str) -> bool, max: u32) -> bool {
    match v.split_once('/') {
        Some((a, m)) => {
            addr(a) && !m.is_empty() && m.bytes().all(|c| c.is_ascii_digit()) && {
                m.parse::<u32>().is_ok_and(|m| m <= max)
            }
        }
        None => false,
    }
}

fn timezone_ok(tz: &str) -> bool {
    if tz == "UTC" {
        return true;
    }
    // The real check reads the node's zone.tab; where this machine has none,
    // the double accepts the name.
    match std::fs::read_to_string("/usr/share/zoneinfo/zone.tab") {
        Ok(tab) => tab
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .any(|l| l.split('\t').nth(2) == Some(tz)),
        Err(_) => true,
    }
}

/// `pve_parse_startup_order`: `[[order=]N][,up=N][,down=N]`.
fn startup_ok(v: &str) -> bool {
    v.split(',').all(|part| {
        let n = match part.split_once('=') {
            Some(("order" | "up" | "down", n)) => n,
            Some(_) => return false,
            None => part,
        };
        !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit())
    })
}

/// A registered format check; the error is the format's die message.
pub fn check_format(f: Format, v: &str) -> Result<(), String> {
    let fail = |m: &str| Err(format!("{m}\n"));
    match f {
        Format::DnsName => {
            if v.split('.').all(dns_label) {
                Ok(())
            } else {
                fail("value does not look like a valid DNS name")
            }
        }
        Format::DnsNameList => {
            for x in split_list(v) {
                check_format(Format::DnsName, &x)?;
            }
            Ok(())
        }
        Format::IpLlList => {
            for x in split_list(v) {
                let addr = match x.split_once('%') {
                    Some((a, _)) if a.starts_with("fe80:") => a.to_owned(),
                    _ => x.clone(),
                };
                if !(ipv4(&addr) || ipv6(&addr)) {
                    return fail("value does not look like a valid IP address");
                }
            }
            Ok(())
        }
        Format::Timezone => {
            if v == "host" || timezone_ok(v) {
                Ok(())
            } else {
                fail(&format!("invalid time zone '{v}'"))
            }
        }
        Format::VolumeId => crate::storage::parse_volume_id(v)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Format::TagList => {
            for t in split_list(v) {
                let b = t.as_bytes();
                let first = b[0].is_ascii_alphanumeric() || b[0] == b'_';
                let rest = b[1..]
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"_-+.".contains(c));
                if !(first && rest) {
                    return fail("invalid characters in tag");
                }
            }
            Ok(())
        }
        Format::ConfigId => {
            if configid_ok(v) {
                Ok(())
            } else {
                fail(&format!("invalid configuration ID '{v}'"))
            }
        }
        Format::Startup => {
            if startup_ok(v) {
                Ok(())
            } else {
                fail("unable to parse startup options")
            }
        }
        Format::MpString => {
            if v.contains("/./")
                || v.contains("/../")
                || v.ends_with("/.")
                || v.ends_with("/..")
                || v.starts_with("../")
            {
                fail(&format!("{v} contains illegal character sequences"))
            } else {
                Ok(())
            }
        }
        Format::DevString => {
            let bad = v.split('/').any(|c| c == "." || c == "..");
            if bad || !v.starts_with("/dev/") {
                fail(&format!("{v} is not a valid device path"))
            } else {
                Ok(())
            }
        }
        Format::Ipv4 if ipv4(v) => Ok(()),
        Format::Ipv4 => fail("value does not look like a valid IPv4 address"),
        Format::Ipv6 if ipv6(v) => Ok(()),
        Format::Ipv6 => fail("value does not look like a valid IPv6 address"),
        Format::Ipv4Config if v == "dhcp" || v == "manual" || cidr(v, ipv4, 32) => Ok(()),
        Format::Ipv4Config => fail("value does not look like a valid ipv4 network configuration"),
        Format::Ipv6Config if v == "auto" || v == "dhcp" || v == "manual" || cidr(v, ipv6, 128) => {
            Ok(())
        }
        Format::Ipv6Config => fail("value does not look like a valid ipv6 network configuration"),
        Format::Mac => {
            let parts: Vec<&str> = v.split(':').collect();
            let hex2 = |p: &str| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit());
            let unicast = parts[0]
                .chars()
                .nth(1)
                .is_some_and(|c| "02468aceACE".contains(c));
            if parts.len() == 6 && parts.iter().all(|p| hex2(p)) && unicast {
                Ok(())
            } else {
                fail("value does not look like a valid unicast MAC address")
            }
        }
        Format::DiskSize => match crate::text::parse_size(v) {
            Some(_) => Ok(()),
            None => fail(&format!("value does not look like a valid disk size: {v}")),
        },
        Format::StorageId => {
            let b = v.as_bytes();
            if b.len() < 2 {
                fail(&format!(
                    "storage ID '{v}' cannot be shorter than 2 characters"
                ))
            } else if !(b[0].is_ascii_alphabetic()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c)))
            {
                fail(&format!("storage ID '{v}' contains illegal characters"))
            } else {
                Ok(())
            }
        }
        Format::Vmid => {
            let b = v.as_bytes();
            if (3..=9).contains(&b.len())
                && (b'1'..=b'9').contains(&b[0])
                && b.iter().all(u8::is_ascii_digit)
            {
                Ok(())
            } else {
                fail("value does not look like a valid VM ID")
            }
        }
        Format::Props(schema) => propstr::parse(schema, v)
            .map(|_| ())
            .map_err(|e| e.to_string()),
    }
}

/// `$CONFIGID_RE`: `[a-z][a-z0-9_-]+`, case-insensitive.
pub fn configid_ok(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}
