//! The property strings of a container config (`mpN`, `netN`, `devN`,
//! `features`, sizes and booleans) as the values of stoa's options.

use super::rhai::V;
use super::ImportError;

/// The default key's bare value and the `key=value` parts of a property
/// string (`default=` spelled out also counts as the default key).
pub(super) fn split_props<'a>(value: &'a str, default: &str) -> (&'a str, Vec<(&'a str, &'a str)>) {
    let mut first = "";
    let mut props = Vec::new();
    for (i, part) in value.split(',').enumerate() {
        match part.split_once('=') {
            Some((k, v)) if k == default => first = v,
            Some((k, v)) => props.push((k, v)),
            None if i == 0 => first = part,
            None => props.push((part, "")),
        }
    }
    (first, props)
}

pub(super) fn flag(vmid: u32, k: &str, v: &str) -> Result<bool, ImportError> {
    match v {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" => Ok(false),
        _ => Err(ImportError::Unsupported {
            vmid,
            key: k.to_owned(),
            why: format!("{v:?} is not a boolean"),
        }),
    }
}

pub(super) fn list(v: &str, sep: char) -> V {
    V::List(v.split(sep).filter(|s| !s.is_empty()).map(V::s).collect())
}

/// `PVE::JSONSchema::parse_size` to MiB: `8G`, `512M`, `1T`, bytes.
pub(super) fn size_mib(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "T" => n.checked_mul(1 << 20),
        "G" => n.checked_mul(1 << 10),
        "M" => Some(n),
        "K" => Some(n / 1024),
        _ => s.parse::<u64>().ok().map(|b| b >> 20),
    }
}

/// A size in whole GiB (stoa declares disks in GiB).
pub(super) fn gib(vmid: u32, k: &str, s: &str) -> Result<i64, ImportError> {
    size_mib(s)
        .filter(|m| *m > 0 && m % 1024 == 0)
        .and_then(|m| i64::try_from(m / 1024).ok())
        .ok_or_else(|| ImportError::Unsupported {
            vmid,
            key: k.to_owned(),
            why: format!("size {s:?} is not a whole number of GiB"),
        })
}

fn unsupported(vmid: u32, k: &str, why: String) -> ImportError {
    ImportError::Unsupported {
        vmid,
        key: k.to_owned(),
        why,
    }
}

/// `mpN`: a storage volume as `<storage>:<GiB>` (Proxmox names it), or a
/// host path (bind mount).
pub(super) fn mount(vmid: u32, k: &str, v: &str) -> Result<V, ImportError> {
    let (volume, props) = split_props(v, "volume");
    let mut path = None;
    let mut size = None;
    let mut opts = Vec::new();
    for (p, val) in props {
        match p {
            "mp" => path = Some(val),
            "size" => size = Some(gib(vmid, k, val)?),
            "acl" | "backup" | "quota" | "replicate" | "ro" | "shared" => {
                opts.push((p.to_owned(), V::Bool(flag(vmid, k, val)?)))
            }
            "mountoptions" => opts.push((p.to_owned(), list(val, ';'))),
            _ => {
                return Err(unsupported(
                    vmid,
                    k,
                    format!("stoa has no option for `{p}`"),
                ))
            }
        }
    }
    let path = path.ok_or_else(|| unsupported(vmid, k, "it has no mount path (mp=)".into()))?;
    let volume = if volume.starts_with('/') {
        volume.to_owned()
    } else {
        let storage = volume
            .split_once(':')
            .map(|(s, _)| s)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| unsupported(vmid, k, format!("{volume:?} is not a volume")))?;
        let size =
            size.ok_or_else(|| unsupported(vmid, k, "a storage volume without a size".into()))?;
        format!("{storage}:{size}")
    };
    let mut map = vec![
        ("volume".to_owned(), V::s(volume)),
        ("path".to_owned(), V::s(path)),
    ];
    map.extend(opts);
    Ok(V::Map(map))
}

/// `netN`: every property, the MAC address included.
pub(super) fn nic(vmid: u32, k: &str, v: &str) -> Result<V, ImportError> {
    let mut map = Vec::new();
    let mut has_name = false;
    let (bare, props) = split_props(v, "name");
    for (p, val) in props
        .into_iter()
        .chain(Some(("name", bare)).filter(|(_, n)| !n.is_empty()))
    {
        let value =
            match p {
                "name" => {
                    has_name = true;
                    V::s(val)
                }
                "bridge" | "gw" | "gw6" | "hwaddr" | "ip" | "ip6" => V::s(val),
                "firewall" | "link_down" => V::Bool(flag(vmid, k, val)?),
                "mtu" | "rate" | "tag" => V::Int(val.parse().map_err(|_| {
                    unsupported(vmid, k, format!("{p}={val} is not a whole number"))
                })?),
                "trunks" => {
                    let ids: Result<Vec<V>, _> = val
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(|t| t.parse().map(V::Int))
                        .collect();
                    V::List(ids.map_err(|_| unsupported(vmid, k, format!("trunks={val}")))?)
                }
                "type" if val == "veth" => continue,
                _ => {
                    return Err(unsupported(
                        vmid,
                        k,
                        format!("stoa has no option for `{p}={val}`"),
                    ))
                }
            };
        map.push((p.to_owned(), value));
    }
    if !has_name {
        return Err(unsupported(vmid, k, "it has no interface name".into()));
    }
    let order = ["name", "bridge", "hwaddr", "ip", "gw", "ip6", "gw6"];
    map.sort_by_key(|(p, _)| order.iter().position(|o| o == p).unwrap_or(order.len()));
    Ok(V::Map(map))
}

/// `devN`: a device node passed through.
pub(super) fn device(vmid: u32, k: &str, v: &str) -> Result<V, ImportError> {
    let (path, props) = split_props(v, "path");
    let mut map = vec![("path".to_owned(), V::s(path))];
    for (p, val) in props {
        let entry = match p {
            "uid" | "gid" => V::Int(
                val.parse()
                    .map_err(|_| unsupported(vmid, k, format!("{p}={val}")))?,
            ),
            "mode" => V::s(val),
            "deny-write" => V::Bool(flag(vmid, k, val)?),
            _ => {
                return Err(unsupported(
                    vmid,
                    k,
                    format!("stoa has no option for `{p}`"),
                ))
            }
        };
        map.push((p.replace('-', "_"), entry));
    }
    Ok(V::Map(map))
}

pub(super) fn features(vmid: u32, v: &str) -> Result<Vec<(String, V)>, ImportError> {
    let mut map = Vec::new();
    let (bare, props) = split_props(v, "");
    if !bare.is_empty() {
        return Err(unsupported(
            vmid,
            "features",
            format!("`{bare}` is not `name=value`"),
        ));
    }
    for (p, val) in props {
        match p {
            "nesting" | "keyctl" | "fuse" | "mknod" | "force_rw_sys" => {
                if flag(vmid, "features", val)? {
                    map.push((p.to_owned(), V::Bool(true)));
                }
            }
            "mount" => map.push((p.to_owned(), list(val, ';'))),
            _ => {
                return Err(unsupported(
                    vmid,
                    "features",
                    format!("stoa has no option for `{p}`"),
                ))
            }
        }
    }
    Ok(map)
}
