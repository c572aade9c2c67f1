//! Compose port mappings: `[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]` strings,
//! numbers and the long map syntax.

use serde_json::Value;

pub(super) fn port_entry(item: &Value) -> Result<(), &'static str> {
    match item {
        Value::Number(n) => port_number(&n.to_string()).map(|_| ()),
        Value::String(s) => port_string(s),
        Value::Object(m) => {
            if let Some(t) = m.get("target") {
                port_number(&t.to_string())?;
            }
            match m.get("published") {
                Some(Value::String(p)) => port_range(p).map(|_| ()),
                Some(Value::Number(n)) => port_number(&n.to_string()).map(|_| ()),
                _ => Ok(()),
            }?;
            match m.get("protocol").and_then(Value::as_str) {
                Some(p) if !["tcp", "udp", "sctp"].contains(&p) => Err("protocol tcp, udp or sctp"),
                _ => Ok(()),
            }
        }
        _ => Err("a port number, a \"[[ip:]published:]target[/protocol]\" string or a map"),
    }
}

const PORT_FORMAT: &str =
    "[[ip:]published:]target[/protocol] with ports 1-65535, e.g. \"8080:80/tcp\"";

/// `[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]`; an IPv6 host address is bracketed.
fn port_string(s: &str) -> Result<(), &'static str> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((spec, proto)) => (spec, Some(proto)),
        None => (s, None),
    };
    if proto.is_some_and(|p| !["tcp", "udp", "sctp"].contains(&p)) {
        return Err("protocol tcp, udp or sctp");
    }
    let rest = if let Some(stripped) = spec.strip_prefix('[') {
        let (ip, rest) = stripped.split_once("]:").ok_or(PORT_FORMAT)?;
        ip.parse::<std::net::Ipv6Addr>().map_err(|_| PORT_FORMAT)?;
        rest
    } else {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [_] | [_, _] => spec,
            [ip, _, _] => {
                ip.parse::<std::net::Ipv4Addr>().map_err(|_| PORT_FORMAT)?;
                &spec[ip.len() + 1..]
            }
            _ => return Err(PORT_FORMAT),
        }
    };
    let (published, target) = match rest.split_once(':') {
        Some((p, t)) => (Some(p), t),
        None => (None, rest),
    };
    let target = port_range(target)?;
    if let Some(published) = published.filter(|p| !p.is_empty()) {
        let published = port_range(published)?;
        if published.1 - published.0 != target.1 - target.0 && target.0 != target.1 {
            return Err("published and target ranges of the same length");
        }
    }
    Ok(())
}

fn port_range(s: &str) -> Result<(u32, u32), &'static str> {
    match s.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (port_number(lo)?, port_number(hi)?);
            if lo > hi {
                Err("a range low-high with low <= high")
            } else {
                Ok((lo, hi))
            }
        }
        None => port_number(s).map(|p| (p, p)),
    }
}

fn port_number(s: &str) -> Result<u32, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 5 {
        return Err(PORT_FORMAT);
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n),
        _ => Err("ports between 1 and 65535"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        for ok in [
            "80",
            "8080:80",
            "127.0.0.1:8080:80",
            "8000-8010:8000-8010",
            "53:53/udp",
            "[::1]:80:80",
            "9000-9010:80",
        ] {
            assert_eq!(port_string(ok), Ok(()), "{ok}");
        }
        for bad in [
            "0",
            "70000:80",
            "8080:80/icmp",
            "8000-8010:80-81",
            "a:b",
            "1.2.3:80:80",
            "10-5:80",
        ] {
            assert!(port_string(bad).is_err(), "{bad}");
        }
    }
}
