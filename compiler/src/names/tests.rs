use super::*;
use std::net::Ipv4Addr;

#[test]
fn vmid_range() {
    assert!(Vmid::new(99).is_err());
    assert!(Vmid::new(100).is_ok());
    assert!(Vmid::new(999_999_999).is_ok());
    assert!(Vmid::new(1_000_000_000).is_err());
    assert!(Vmid::new(-5).is_err());
    assert_eq!("201".parse::<Vmid>().map(Vmid::get), Ok(201));
    assert!("0201".parse::<Vmid>().is_err());
}

#[test]
fn dns_names() {
    assert!(DnsName::new("ai-gpu0").is_ok());
    assert!(DnsName::new("lab.example.org").is_ok());
    assert!(DnsName::new("under_score").is_err());
    assert!(DnsName::new("-lead").is_err());
    assert!(DnsName::new("a..b").is_err());
    assert!(HostName::new("Socrates").is_err());
    assert!(HostName::new("socrates").is_ok());
}

#[test]
fn paths() {
    assert!(AbsPath::new("/etc/motd").is_ok());
    assert!(AbsPath::new("etc/motd").is_err());
    assert!(AbsPath::new("/etc/../shadow").is_err());
    // The node's lists (artifacts.tsv, the container file queues) are tab-separated lines.
    assert!(AbsPath::new("/etc/a\tb").is_err());
    assert!(AbsPath::new("/etc/a\nb").is_err());
    assert!(AbsPath::new("/etc/").is_err());
    assert_eq!(
        AbsPath::new("/opt")
            .and_then(|p| p.join("compose.yaml"))
            .map(String::from),
        Ok("/opt/compose.yaml".to_owned())
    );
}

#[test]
fn macs_and_modes() {
    let m = MacAddr::new("bc:24:11:0a:0b:0c").map(|m| m.to_string());
    assert_eq!(m, Ok("BC:24:11:0A:0B:0C".to_owned()));
    assert!(MacAddr::new("BC:24:11:0A:0B").is_err());
    assert!(!MacAddr::from_octets([1, 0, 0, 0, 0, 0]).is_unicast());
    assert_eq!(FileMode::new("0644").map(FileMode::bits), Ok(0o644));
    assert_eq!(
        FileMode::new("755").map(|m| m.to_string()),
        Ok("0755".to_owned())
    );
    assert!(FileMode::new("0648").is_err());
    assert!(FileMode::new("10644").is_err());
}

#[test]
fn cidr() {
    let c = Ipv4Cidr::new("10.203.3.42/24");
    assert_eq!(c.map(|c| c.to_string()), Ok("10.203.3.42/24".to_owned()));
    assert!(Ipv4Cidr::new("10.203.3.42").is_err());
    assert!(Ipv4Cidr::new("10.203.3.42/33").is_err());
    let c = Ipv4Cidr::new("10.203.3.42/24").ok();
    assert_eq!(
        c.map(|c| c.contains(Ipv4Addr::new(10, 203, 3, 1))),
        Some(true)
    );
    assert_eq!(
        c.map(|c| c.contains(Ipv4Addr::new(10, 203, 4, 1))),
        Some(false)
    );
}
