//! Network newtypes: MAC addresses and IPv4 interface addresses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::NameError;

/// A MAC address, printed upper case with `:` like Proxmox does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MacAddr([u8; 6]);

impl MacAddr {
    /// Parses `aa:bb:cc:dd:ee:ff` (either case).
    pub fn new(s: &str) -> Result<Self, NameError> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(NameError::new(
                "MAC address",
                s,
                "must be six ':'-separated hex octets",
            ));
        }
        for (slot, part) in out.iter_mut().zip(&parts) {
            if part.len() != 2 {
                return Err(NameError::new(
                    "MAC address",
                    s,
                    "each octet must be two hex digits",
                ));
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| {
                NameError::new("MAC address", s, "each octet must be two hex digits")
            })?;
        }
        Ok(MacAddr(out))
    }

    /// From raw octets.
    pub fn from_octets(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }

    /// The octets.
    pub fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True when the I/G bit is clear (an individual, not a group address).
    pub fn is_unicast(self) -> bool {
        self.0[0] & 1 == 0
    }
}
impl FromStr for MacAddr {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        MacAddr::new(s)
    }
}
impl TryFrom<String> for MacAddr {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        MacAddr::new(&s)
    }
}
impl From<MacAddr> for String {
    fn from(m: MacAddr) -> String {
        m.to_string()
    }
}
impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}:{b:02X}:{c:02X}:{d:02X}:{e:02X}:{g:02X}")
    }
}

/// An IPv4 interface address with its prefix length, e.g. `10.203.3.42/24`
/// (host bits are kept: this is an address on a subnet, not a network).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Cidr(ipnet::Ipv4Net);

impl Ipv4Cidr {
    /// Parses `a.b.c.d/len`.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if !s.contains('/') {
            return Err(NameError::new(
                "CIDR address",
                s,
                "needs a prefix length, e.g. /24",
            ));
        }
        s.parse::<ipnet::Ipv4Net>()
            .map(Ipv4Cidr)
            .map_err(|_| NameError::new("CIDR address", s, "must look like 10.0.0.2/24"))
    }

    /// The address.
    pub fn addr(&self) -> Ipv4Addr {
        self.0.addr()
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.0.prefix_len()
    }

    /// True if `ip` lies in this address's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.trunc().contains(&ip)
    }
}
impl FromStr for Ipv4Cidr {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        Ipv4Cidr::new(s)
    }
}
impl TryFrom<String> for Ipv4Cidr {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Ipv4Cidr::new(&s)
    }
}
impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}
impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
