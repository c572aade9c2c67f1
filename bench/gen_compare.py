#!/usr/bin/env python3
"""One description of a Proxmox node with N containers, written out twice for
the comparative benchmark (bench/compare.sh):

  DIR/stoa/      a stoa project: stoa.toml, modules/bench/app.rhai and
                 hosts/node.rhai (the host goes through the module, which
                 turns each entry of `bench.apps` into an LXC container and
                 a Docker compose project inside it)
  DIR/ansible/   an Ansible project: inventory.ini, host_vars/node.json with
                 the same description, and a copy of bench/ansible/ (the
                 playbook and the Jinja2 templates)

Each deploys to its own test node (scripts/stub-node: a test /etc/pve with
pmxcfs's rules and the stateful `pct` double), with the same result, file
for file:
  R/etc/pve/nodes/pve/lxc/<vmid>.conf      one per container, by `pct create`
  R/ct/<vmid>/opt/stoa/compose/app/compose.yaml  one per container (the
                                           double's container file system)
  R/etc/network/interfaces, R/etc/resolv.conf

The MAC addresses are part of the description (stoa derives one when none is
given, with blake3, which Jinja2 cannot compute). The Ansible side runs the
`pct create` argument vector stoa runs (`create` in host_vars).

usage: gen_compare.py N DIR PORT NODE_ROOT KNOWN_HOSTS IDENTITY PORT_ANSIBLE
       gen_compare.py --bump DIR       change one file: ct0's image tag (both sides)
"""
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

MODULE = r'''// One entry of `bench.apps` = one LXC container running one compose project.
#{
  options: #{ bench: #{ apps: option(types::attrs_of(types::submodule(#{
    vmid: option(types::int(100, 999999), #{ description: "VMID." }),
    ip: option(types::str, #{ description: "Address with prefix length." }),
    hwaddr: option(types::str, #{ description: "MAC address of eth0." }),
    image: option(types::str, #{ description: "Image of the app service." }),
    port: option(types::port, #{ description: "Published port." }),
    cores: option(types::int(1, 64), #{ default: 2, description: "Cores." }),
    memory: option(types::int(64, 1048576), #{ default: 2048, description: "Memory (MiB)." }),
  })), #{ default: #{}, description: "Apps, by container name." }) } },
  config: |cfg| {
    let cts = #{};
    for name in cfg.bench.apps.keys() {
      let a = cfg.bench.apps[name];
      cts[name] = #{
        vmid: a.vmid,
        description: `App ${name}: 100% managed by stoa`,
        template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        cores: a.cores,
        memory: a.memory,
        swap: 512,
        onboot: true,
        net: [#{ ip: a.ip, gw: "10.10.0.1", hwaddr: a.hwaddr }],
        tags: ["bench", "docker"],
        features: #{ nesting: true, keyctl: true },
        compose: #{ app: #{
          services: #{
            web: #{
              image: a.image,
              restart: "unless-stopped",
              ports: [`${a.port}:80`],
              volumes: ["data:/usr/share/nginx/html:ro"],
              environment: #{ APP_NAME: name, TZ: "UTC" },
            },
          },
          volumes: #{ data: #{} },
        } },
      };
    }
    #{ proxmox: #{ containers: cts } }
  },
}
'''


def apps(n):
    out = []
    for j in range(n):
        out.append({
            "name": f"ct{j}",
            "vmid": 200 + j,
            "ip": f"10.10.{1 + j // 250}.{10 + j % 250}/16",
            "hwaddr": "BC:24:11:%02X:%02X:%02X" % (0x10, j // 256, j % 256),
            "image": "nginx:1.27.0",
            "port": 8000 + j,
            "cores": 2 if j % 3 else 4,
            "memory": 2048 if j % 4 else 4096,
        })
    return out


TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"


def create_argv(a):
    """The `pct create` of a container, as stoa's activation runs it."""
    net = (f"name=eth0,bridge=vmbr0,gw=10.10.0.1,hwaddr={a['hwaddr']},"
           f"ip={a['ip']},type=veth")
    return ["pct", "create", str(a["vmid"]), TEMPLATE,
            "--cores", str(a["cores"]), "--features", "keyctl=1,nesting=1",
            "--hostname", a["name"], "--memory", str(a["memory"]), "--net0", net,
            "--onboot", "1", "--rootfs", "local-lvm:8", "--swap", "512",
            "--tags", "bench;docker", "--unprivileged", "1",
            "--description", f"App {a['name']}: 100% managed by stoa", "--start", "1"]


def stoa_host(description, port):
    entries = ",\n".join(
        f'      {a["name"]}: #{{ vmid: {a["vmid"]}, ip: "{a["ip"]}", hwaddr: "{a["hwaddr"]}", '
        f'image: "{a["image"]}", port: {a["port"]}, cores: {a["cores"]}, memory: {a["memory"]} }}'
        for a in description["apps"]
    )
    return f'''#{{
  imports: ["bench/app"],
  config: #{{
    networking: #{{
      hostname: "node",
      domain: "lab.example.org",
      nameservers: ["10.10.0.1", "1.1.1.1"],
      interfaces: #{{ eno1: #{{ method: "manual" }} }},
      bridges: #{{ vmbr0: #{{ ports: ["eno1"], address: "10.10.0.2/16", gateway: "10.10.0.1" }} }},
    }},
    deployment: #{{ target_host: "127.0.0.1", target_port: {port}, confirm_timeout_s: 60 }},
    bench: #{{ apps: #{{
{entries}
    }} }},
  }},
}}
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def generate(n, out, port, root, known_hosts, identity, port_a):
    description = {"root": root, "apps": apps(n)}
    for a in description["apps"]:
        a["create"] = create_argv(a)
    s = f"{out}/stoa"
    write(f"{s}/stoa.toml", "[project]\n[eval]\ndeadline_ms = 20000\n")
    write(f"{s}/modules/bench/app.rhai", MODULE)
    write(f"{s}/hosts/node.rhai", stoa_host(description, port))
    a = f"{out}/ansible"
    if os.path.isdir(a):
        shutil.rmtree(a)
    shutil.copytree(f"{HERE}/ansible", a)
    write(f"{a}/host_vars/node.json", json.dumps(description, indent=1) + "\n")
    write(f"{a}/inventory.ini", (
        f"node ansible_host=127.0.0.1 ansible_port={port_a} ansible_user=root "
        f"ansible_ssh_private_key_file={identity} ansible_python_interpreter=/usr/bin/python3 "
        f"ansible_ssh_common_args='-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes'\n"
    ))


def bump(out):
    """Changes ct0's image tag on both sides (a new tag every call)."""
    p = f"{out}/ansible/host_vars/node.json"
    d = json.load(open(p))
    old = d["apps"][0]["image"]
    new = "nginx:1.27.%d" % (int(old.rsplit(".", 1)[1]) + 1)
    d["apps"][0]["image"] = new
    write(p, json.dumps(d, indent=1) + "\n")
    h = f"{out}/stoa/hosts/node.rhai"
    text = open(h).read()
    text, k = re.subn(r'(ct0: #\{[^}]*image: ")[^"]*(")', lambda m: m.group(1) + new + m.group(2), text)
    assert k == 1, "ct0 not found"
    write(h, text)


def main():
    if sys.argv[1] == "--bump":
        bump(sys.argv[2])
    else:
        generate(int(sys.argv[1]), *sys.argv[2:8])


if __name__ == "__main__":
    main()
