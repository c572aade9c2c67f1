#!/usr/bin/env python3
"""Generates a stoa inventory of N hosts for the evaluation and build
benchmarks: each host has 20 containers and goes through 10 modules (a node
module, a container base, docker-in-LXC, GPU passthrough and six services),
like the lab's hosts. Addresses and VMIDs are unique across the inventory,
so the cross-host checks pass.

usage: gen_inventory.py N DIR
"""
import os
import sys

NODE = r'''#{
  options: #{ bench: #{ index: option(types::int, #{ description: "Host index." }) } },
  config: |cfg| {
    let i = cfg.bench.index;
    let net = `10.${i / 250}.${i % 250}`;
    #{
      networking: #{
        hostname: `h${i}`,
        nameservers: [`${net}.1`],
        interfaces: #{ eno1: #{ method: "manual" } },
        bridges: #{ vmbr0: #{ ports: ["eno1"], address: `${net}.2/24`, gateway: `${net}.1` } },
      },
      machine: #{ gpus: [#{ index: 0, model: "Tesla P40" }, #{ index: 1, model: "Tesla P40" }] },
      deployment: #{ tags: ["bench"] },
    }
  },
}
'''

CT = r'''#{
  options: #{ bench: #{ cts: option(types::attrs_of(types::submodule(#{
    n: option(types::int(0, 99), #{ description: "Container number on the host." }),
    cores: option(types::int(1, 64), #{ default: 2, description: "Cores." }),
    memory: option(types::int(64, 1048576), #{ default: 2048, description: "Memory (MiB)." }),
    docker: option(types::bool, #{ default: false, description: "Runs Docker." }),
    gpus: option(types::list_of(types::int(0, 7)), #{ default: [], description: "GPUs." }),
  })), #{ default: #{}, description: "Benchmark containers." }) } },
  config: |cfg| {
    let i = cfg.bench.index;
    let net = `10.${i / 250}.${i % 250}`;
    let cts = #{};
    for name in cfg.bench.cts.keys() {
      let c = cfg.bench.cts[name];
      cts[name] = #{
        vmid: 1000 + i * 100 + c.n,
        hostname: `h${i}-${name}`,
        template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        cores: c.cores,
        memory: c.memory,
        swap: 512,
        onboot: true,
        net: [#{ ip: `${net}.${10 + c.n}/24`, gw: `${net}.1` }],
        tags: ["bench"],
      };
    }
    #{ proxmox: #{ containers: cts } }
  },
}
'''

DOCKER = r'''#{
  config: |cfg| {
    let cts = #{};
    for name in cfg.bench.cts.keys() {
      if cfg.bench.cts[name].docker { cts[name] = #{ features: #{ nesting: true, keyctl: true } }; }
    }
    #{ proxmox: #{ containers: cts } }
  },
}
'''

GPU = r'''#{
  config: |cfg| {
    let cts = #{};
    for name in cfg.bench.cts.keys() {
      let g = cfg.bench.cts[name].gpus;
      if g.len() > 0 { cts[name] = #{ gpus: g }; }
    }
    #{ proxmox: #{ containers: cts } }
  },
}
'''

SERVICE = r'''#{
  options: #{ svc: #{ s@K@: #{
    on: option(types::list_of(types::str), #{ default: [], description: "Containers running service @K@." }),
    port: option(types::port, #{ default: 80@K@, description: "Port." }),
  } } },
  config: |cfg| {
    let cts = #{};
    for name in cfg.svc.s@K@.on {
      cts[name] = #{ compose: #{ s@K@: #{ services: #{ app: #{
        image: "nginx:1.27.@K@",
        restart: "unless-stopped",
        ports: [`${cfg.svc.s@K@.port}:80`],
        volumes: ["data:/data"],
      } }, volumes: #{ data: #{} } } } };
    }
    #{ proxmox: #{ containers: cts } }
  },
}
'''

HOST = r'''#{
  imports: ["bench/node", "bench/ct", "bench/docker", "bench/gpu", @IMPORTS@],
  config: #{
    bench: #{ index: @I@, cts: #{ @CTS@ } },
    svc: #{ @SVC@ },
  },
}
'''


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(f"{out}/modules/bench", exist_ok=True)
    os.makedirs(f"{out}/hosts", exist_ok=True)
    with open(f"{out}/stoa.toml", "w") as f:
        f.write("[project]\n[eval]\ndeadline_ms = 5000\n")
    for name, text in [("node", NODE), ("ct", CT), ("docker", DOCKER), ("gpu", GPU)]:
        with open(f"{out}/modules/bench/{name}.rhai", "w") as f:
            f.write(text)
    for k in range(6):
        with open(f"{out}/modules/bench/svc{k}.rhai", "w") as f:
            f.write(SERVICE.replace("@K@", str(k)))
    imports = ", ".join(f'"bench/svc{k}"' for k in range(6))
    for i in range(n):
        cts = ", ".join(
            f'"ct{j}": #{{ n: {j}, docker: {"true" if j % 2 == 0 else "false"}'
            + (f", gpus: [{j % 2}]" if j < 2 else "")
            + (", memory: 4096" if j % 5 == 0 else "")
            + " }"
            for j in range(20)
        )
        svc = ", ".join(
            "s%d: #{ on: [%s] }" % (k, ", ".join('"ct%d"' % j for j in range(k * 2, 20, 6) if j % 2 == 0))
            for k in range(6)
        )
        with open(f"{out}/hosts/h{i:04d}.rhai", "w") as f:
            f.write(HOST.replace("@IMPORTS@", imports).replace("@I@", str(i)).replace("@CTS@", cts).replace("@SVC@", svc))


if __name__ == "__main__":
    main()
