//! The facts the page shows, read from each host's merged JSON configuration
//! (only core options: `machine`, `networking`, `deployment`, `proxmox`,
//! `files`). Missing or mistyped values read as absent: the page documents
//! whatever evaluated, it does not validate (that is `stoa check`).

use std::net::Ipv4Addr;

use serde_json::Value;

/// The whole lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    /// Hosts: active first, then by address, then by name.
    pub hosts: Vec<Host>,
}

/// One host of the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name (the inventory name).
    pub name: String,
    /// `machine.hardware`.
    pub hardware: String,
    /// `machine.role`.
    pub role: String,
    /// Management address: the first bridge or interface with a gateway,
    /// else the first with an address.
    pub address: Option<Ipv4Addr>,
    /// Prefix length of `address`.
    pub prefix: Option<u8>,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// `deployment.active`.
    pub active: bool,
    /// `machine.gpus` as (index, model), by index.
    pub gpus: Vec<(i64, String)>,
    /// LXC containers, by VMID.
    pub containers: Vec<Container>,
    /// Paths of `files.*`, sorted.
    pub files: Vec<String>,
}

/// One LXC container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Attribute name under `proxmox.containers`.
    pub name: String,
    /// VMID.
    pub vmid: i64,
    /// Static address of its first interface that has one.
    pub address: Option<Ipv4Addr>,
    /// Cores; `None` means all of the host's.
    pub cores: Option<i64>,
    /// Memory in MiB; `None` means Proxmox's default.
    pub memory: Option<i64>,
    /// GPU indices passed through.
    pub gpus: Vec<i64>,
    /// `description`.
    pub description: String,
    /// Compose projects, by name.
    pub projects: Vec<Project>,
}

/// One Docker compose project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Project name.
    pub name: String,
    /// Services, by name.
    pub services: Vec<Service>,
}

/// One compose service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// `image` (empty when built locally).
    pub image: String,
    /// Published ports as written (`"8080:80"`, `"53:53/udp"`).
    pub ports: Vec<String>,
}

impl Lab {
    /// Reads every host; `hosts` are `(name, merged configuration)`.
    pub fn from_json(hosts: &[(String, Value)]) -> Lab {
        let mut hosts: Vec<Host> = hosts.iter().map(|(n, v)| Host::from_json(n, v)).collect();
        hosts.sort_by(|a, b| {
            (!a.active, a.address.map(u32::from), &a.name).cmp(&(
                !b.active,
                b.address.map(u32::from),
                &b.name,
            ))
        });
        Lab { hosts }
    }

    /// Every container with its host, by VMID.
    pub fn containers(&self) -> Vec<(&Host, &Container)> {
        let mut all: Vec<(&Host, &Container)> = self
            .hosts
            .iter()
            .flat_map(|h| h.containers.iter().map(move |c| (h, c)))
            .collect();
        all.sort_by(|a, b| (a.1.vmid, &a.1.name).cmp(&(b.1.vmid, &b.1.name)));
        all
    }

    /// The gateways of all hosts, deduplicated and sorted.
    pub fn gateways(&self) -> Vec<Ipv4Addr> {
        let mut g: Vec<Ipv4Addr> = self.hosts.iter().filter_map(|h| h.gateway).collect();
        g.sort();
        g.dedup();
        g
    }

    /// The networks (address & prefix) the hosts are on, sorted.
    pub fn networks(&self) -> Vec<(Ipv4Addr, u8)> {
        let mut n: Vec<(Ipv4Addr, u8)> = self
            .hosts
            .iter()
            .filter_map(|h| Some(network(h.address?, h.prefix?)))
            .collect();
        n.sort();
        n.dedup();
        n
    }
}

/// The network address of `addr/prefix`.
pub fn network(addr: Ipv4Addr, prefix: u8) -> (Ipv4Addr, u8) {
    let p = u32::from(prefix.min(32));
    let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
    (Ipv4Addr::from(u32::from(addr) & mask), prefix)
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn obj(v: Option<&Value>) -> impl Iterator<Item = (&String, &Value)> {
    v.and_then(Value::as_object).into_iter().flatten()
}

fn arr(v: Option<&Value>) -> impl Iterator<Item = &Value> {
    v.and_then(Value::as_array).into_iter().flatten()
}

/// `"10.203.3.42/24"` as (address, prefix).
fn cidr(v: Option<&Value>) -> Option<(Ipv4Addr, u8)> {
    let (a, p) = v?.as_str()?.split_once('/')?;
    Some((a.parse().ok()?, p.parse().ok()?))
}

fn ipv4(v: Option<&Value>) -> Option<Ipv4Addr> {
    v?.as_str()?.parse().ok()
}

impl Host {
    fn from_json(name: &str, v: &Value) -> Host {
        // Bridges first (a Proxmox node's address is on vmbr0), then plain
        // interfaces, then VLANs; within each, by name. One with a gateway
        // wins over one without.
        let mut candidates = Vec::new();
        for section in ["bridges", "interfaces", "vlans"] {
            for (_, i) in obj(v.pointer(&format!("/networking/{section}"))) {
                if let Some((addr, prefix)) = cidr(i.get("address")) {
                    candidates.push((addr, prefix, ipv4(i.get("gateway"))));
                }
            }
        }
        let best = candidates
            .iter()
            .find(|c| c.2.is_some())
            .or(candidates.first())
            .copied();
        let gateway = candidates.iter().find_map(|c| c.2);
        let mut gpus: Vec<(i64, String)> = arr(v.pointer("/machine/gpus"))
            .filter_map(|g| {
                Some((
                    g.get("index")?.as_i64()?,
                    g.get("model")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ))
            })
            .collect();
        gpus.sort();
        let mut containers: Vec<Container> = obj(v.pointer("/proxmox/containers"))
            .map(|(n, c)| Container::from_json(n, c))
            .collect();
        containers.sort_by(|a, b| (a.vmid, &a.name).cmp(&(b.vmid, &b.name)));
        let mut files: Vec<String> = obj(v.pointer("/files")).map(|(p, _)| p.clone()).collect();
        files.sort();
        Host {
            name: name.to_owned(),
            hardware: str_at(v, "/machine/hardware").to_owned(),
            role: str_at(v, "/machine/role").to_owned(),
            address: best.map(|b| b.0),
            prefix: best.map(|b| b.1),
            gateway,
            active: v
                .pointer("/deployment/active")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            gpus,
            containers,
            files,
        }
    }

    /// The model of GPU `index`, if the host declares it.
    pub fn gpu_model(&self, index: i64) -> Option<&str> {
        self.gpus
            .iter()
            .find(|g| g.0 == index)
            .map(|g| g.1.as_str())
            .filter(|m| !m.is_empty())
    }
}

impl Container {
    fn from_json(name: &str, c: &Value) -> Container {
        let address = arr(c.get("net")).find_map(|n| cidr(n.get("ip")).map(|x| x.0));
        let mut gpus: Vec<i64> = arr(c.get("gpus")).filter_map(Value::as_i64).collect();
        gpus.sort();
        gpus.dedup();
        let projects = obj(c.get("compose"))
            .map(|(p, proj)| Project {
                name: p.clone(),
                services: obj(proj.get("services"))
                    .map(|(s, svc)| Service {
                        name: s.clone(),
                        image: svc
                            .get("image")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        ports: arr(svc.get("ports")).map(port_text).collect(),
                    })
                    .collect(),
            })
            .collect();
        Container {
            name: name.to_owned(),
            vmid: c.get("vmid").and_then(Value::as_i64).unwrap_or(0),
            address,
            cores: c.get("cores").and_then(Value::as_i64),
            memory: c.get("memory").and_then(Value::as_i64),
            gpus,
            description: c
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            projects,
        }
    }

    /// Whether any compose project runs in it.
    pub fn runs_docker(&self) -> bool {
        !self.projects.is_empty()
    }
}

/// A port entry as text: short syntax as written, long syntax as
/// `published:target/protocol`.
fn port_text(p: &Value) -> String {
    match p {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Object(m) => {
            let part = |k: &str| match m.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let (published, target, protocol) =
                (part("published"), part("target"), part("protocol"));
            let mut s = if published.is_empty() {
                target
            } else {
                format!("{published}:{target}")
            };
            if !protocol.is_empty() && protocol != "tcp" {
                s = format!("{s}/{protocol}");
            }
            s
        }
        other => other.to_string(),
    }
}
