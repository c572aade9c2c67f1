//! Property strings (`key=value,...` with an optional default key), parsed and
//! printed like `PVE::JSONSchema::parse_property_string` and
//! `print_property_string`, and the container's property-string schemas.

use std::collections::BTreeMap;

use crate::error::{Error, Res};
use crate::formats::{check_value, Check, Format, Ty};
use crate::text::{format_size, parse_boolean};

/// One property of a property-string schema.
#[derive(Clone, Copy, Debug)]
pub struct Prop {
    pub name: &'static str,
    pub check: Check,
    pub optional: bool,
    pub default_key: bool,
}

/// Parsed properties by name (booleans as `1`/`0`).
pub type PMap = BTreeMap<String, String>;

const fn p(name: &'static str, check: Check) -> Prop {
    Prop {
        name,
        check,
        optional: true,
        default_key: false,
    }
}

const fn required(mut prop: Prop) -> Prop {
    prop.optional = false;
    prop
}

const fn default_key(mut prop: Prop) -> Prop {
    prop.default_key = true;
    prop
}

const BOOL: Check = Check::of(Ty::Bool);
const STR: Check = Check::str();

fn mountoptions_ok(v: &str) -> bool {
    const OK: [&str; 6] = [
        "discard", "lazytime", "noatime", "nodev", "noexec", "nosuid",
    ];
    v.split(';').all(|o| OK.contains(&o))
}

fn idmap_ok(v: &str) -> bool {
    v == "passthrough"
        || v.split(';').all(|e| {
            let f: Vec<&str> = e.split(':').collect();
            let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            f.len() == 4
                && (f[0] == "u" || f[0] == "g")
                && num(f[1])
                && num(f[2])
                && num(f[3])
                && !f[3].starts_with('0')
        })
}

fn net_name_ok(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn trunks_ok(v: &str) -> bool {
    v.split(';')
        .all(|t| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
}

fn fstypes_ok(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ';' || c == ' ')
}

fn dev_mode_ok(v: &str) -> bool {
    v.len() == 4 && v.starts_with('0') && v[1..].bytes().all(|c| (b'0'..=b'7').contains(&c))
}

macro_rules! rootfs_props {
    () => {
        [
            default_key(required(p("volume", STR.fmt(Format::MpString)))),
            p("size", STR.fmt(Format::DiskSize)),
            p("acl", BOOL),
            p("mountoptions", STR.pat(mountoptions_ok)),
            p("idmap", STR.pat(idmap_ok)),
            p("ro", BOOL),
            p("quota", BOOL),
            p("replicate", BOOL),
            p("shared", BOOL),
        ]
    };
}

/// `$rootfs_desc`.
pub static ROOTFS: [Prop; 9] = rootfs_props!();

/// `$mp_desc`: the rootfs properties plus `backup`, `mp`, `keepattrs`.
pub static MP: [Prop; 12] = {
    let r = rootfs_props!();
    [
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        p("backup", BOOL),
        required(p("mp", STR.fmt(Format::MpString))),
        p("keepattrs", BOOL),
    ]
};

/// `$unused_desc`.
pub static UNUSED: [Prop; 1] = [default_key(required(p(
    "volume",
    STR.fmt(Format::VolumeId),
)))];

/// `$netconf_desc`.
pub static NET: [Prop; 15] = [
    p("type", STR.en(&["veth"])),
    required(p("name", STR.pat(net_name_ok))),
    p("bridge", STR.pat(net_name_ok)),
    p("hwaddr", STR.fmt(Format::Mac)),
    p("mtu", Check::of(Ty::Int(Some(64), Some(65535)))),
    p("ip", STR.fmt(Format::Ipv4Config)),
    p("gw", STR.fmt(Format::Ipv4)),
    p("ip6", STR.fmt(Format::Ipv6Config)),
    p("gw6", STR.fmt(Format::Ipv6)),
    p("firewall", BOOL),
    p("tag", Check::of(Ty::Int(Some(1), Some(4094)))),
    p("trunks", STR.pat(trunks_ok)),
    p("rate", Check::of(Ty::Num(None, None))),
    p("link_down", BOOL),
    p("host-managed", BOOL),
];

/// `$features_desc`.
pub static FEATURES: [Prop; 6] = [
    p("mount", STR.pat(fstypes_ok)),
    p("nesting", BOOL),
    p("keyctl", BOOL),
    p("fuse", BOOL),
    p("mknod", BOOL),
    p("force_rw_sys", BOOL),
];

/// `$dev_desc`.
pub static DEV: [Prop; 5] = [
    default_key(p("path", STR.fmt(Format::DevString))),
    p("mode", STR.pat(dev_mode_ok)),
    p("uid", Check::of(Ty::Int(Some(0), None))),
    p("gid", Check::of(Ty::Int(Some(0), None))),
    p("deny-write", BOOL),
];

/// `parse_property_string($schema, $data)`.
pub fn parse(schema: &'static [Prop], data: &str) -> Res<PMap> {
    let mut res = PMap::new();
    let mut default_used: Option<&str> = None;
    let find = |k: &str| schema.iter().find(|p| p.name == k);
    for part in data.split(',') {
        if crate::text::trim(part).is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                if res.contains_key(k) {
                    return Err(crate::die!(
                        "duplicate key in comma-separated list property: {k}"
                    ));
                }
                let prop = find(k).ok_or_else(|| {
                    crate::die!("invalid key in comma-separated list property: {k}")
                })?;
                res.insert(k.to_owned(), normalize(prop, v));
            }
            None => {
                if let Some(d) = default_used {
                    return Err(crate::die!(
                        "duplicate key in comma-separated list property: {d}"
                    ));
                }
                let prop = schema.iter().find(|p| p.default_key).ok_or_else(|| {
                    Error::die("value without key, but schema does not define a default key")
                })?;
                default_used = Some(prop.name);
                if res.contains_key(prop.name) {
                    return Err(crate::die!(
                        "duplicate key in comma-separated list property: {}",
                        prop.name
                    ));
                }
                res.insert(prop.name.to_owned(), normalize(prop, part));
            }
            Some(_) => return Err(Error::die("missing key in comma-separated list property")),
        }
    }
    let errors = check_object(schema, &res);
    if !errors.is_empty() {
        return Err(Error::format(errors));
    }
    Ok(res)
}

fn normalize(prop: &Prop, v: &str) -> String {
    match prop.check.ty {
        Ty::Bool => match parse_boolean(v) {
            Some(b) => u8::from(b).to_string(),
            None => v.to_owned(),
        },
        _ => v.to_owned(),
    }
}

fn check_object(schema: &[Prop], res: &PMap) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for prop in schema {
        match res.get(prop.name) {
            None if !prop.optional => errors.push((
                prop.name.to_owned(),
                "property is missing and it is not optional".to_owned(),
            )),
            None => {}
            Some(v) => {
                if let Err(e) = check_value(&prop.check, v) {
                    errors.push((prop.name.to_owned(), e));
                }
            }
        }
    }
    errors
}

/// `print_property_string($data, $schema, $skip)`: the default key's value
/// first, then the required keys, then the rest, each group sorted by name.
/// `size` (format disk-size) holds bytes and is printed with a unit.
pub fn print(schema: &'static [Prop], data: &PMap, skip: &[&str]) -> Res<String> {
    let errors = check_object(schema, data);
    if !errors.is_empty() {
        return Err(Error::format(errors));
    }
    let mut parts: Vec<String> = Vec::new();
    let mut done: Vec<&str> = skip.to_vec();
    let value_of = |prop: &Prop, v: &str| -> Res<String> {
        if matches!(prop.check.format, Some(Format::DiskSize)) {
            if let Ok(n) = v.parse::<u64>() {
                return Ok(format_size(n));
            }
        }
        if v.contains(',') {
            return Err(crate::die!("illegal value with commas for {}", prop.name));
        }
        Ok(v.to_owned())
    };
    if let Some(d) = schema.iter().find(|p| p.default_key) {
        if let Some(v) = data.get(d.name) {
            parts.push(value_of(d, v)?);
        }
        done.push(d.name);
    }
    for pass_required in [true, false] {
        for (k, v) in data {
            if done.contains(&k.as_str()) {
                continue;
            }
            let prop = schema
                .iter()
                .find(|p| p.name == k)
                .ok_or_else(|| crate::die!("invalid key '{k}'"))?;
            if pass_required && prop.optional {
                continue;
            }
            parts.push(format!("{k}={}", value_of(prop, v)?));
            done.push(prop.name);
        }
    }
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mountpoint_round_trip_orders_like_proxmox() {
        let m = parse(&MP, "local:100/x.raw,size=8G,backup=yes,mp=/data").unwrap();
        assert_eq!(m["backup"], "1");
        let mut m = m;
        m.insert("size".into(), (8u64 << 30).to_string());
        assert_eq!(
            print(&MP, &m, &[]).unwrap(),
            "local:100/x.raw,mp=/data,backup=1,size=8G"
        );
    }

    #[test]
    fn errors_like_proxmox() {
        let e = parse(&NET, "bridge=vmbr0").unwrap_err();
        assert_eq!(
            e.to_string(),
            "format error\nname: property is missing and it is not optional\n"
        );
        let e = parse(&NET, "name=eth0,foo=1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid key in comma-separated list property: foo\n"
        );
        let e = parse(&FEATURES, "nesting=maybe").unwrap_err();
        assert_eq!(
            e.to_string(),
            "format error\nnesting: type check ('boolean') failed - got 'maybe'\n"
        );
        assert!(parse(
            &NET,
            "name=eth0,ip=10.0.0.2/24,gw=10.0.0.1,hwaddr=BC:24:11:00:00:01"
        )
        .is_ok());
    }
}
