#!/usr/bin/env python3
"""The Nix side of the evaluation benchmark: the inventory of
bench/gen_inventory.py (N hosts, 20 containers each, 10 modules: node,
container base, docker-in-LXC, GPU passthrough, six services) as plain Nix
modules for the module system of bench/nix/lib.nix (builtins only, no
nixpkgs).

  DIR/lib.nix           the module system (a copy of bench/nix/lib.nix)
  DIR/core.nix          stoa's core option declarations (networking, machine,
                        proxmox, deployment, files), generated from
                        `STOA options --json` (or a copy of bench/nix/core.nix)
  DIR/modules/*.nix     the ten bench modules, line for line
  DIR/hosts/hNNNN.nix   one file per host, the same values
  DIR/default.nix       evaluates every host, runs the cross-host checks
                        (VMIDs and container addresses unique across the
                        inventory) and returns a summary after forcing every
                        host's whole configuration with deepSeq

usage: gen_nix.py N DIR [STOA]  (with STOA: core.nix from that binary's options)
       gen_nix.py --core STOA > bench/nix/core.nix   (regenerate core.nix)
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def nix_str(s):
    return json.dumps(s).replace("${", "\\${")


def nix_val(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return nix_str(v)
    if isinstance(v, list):
        return "[ " + " ".join(f"({nix_val(x)})" for x in v) + " ]"
    if isinstance(v, dict):
        return "{ " + " ".join(f"{nix_str(k)} = {nix_val(x)};" for k, x in v.items()) + " }"
    raise TypeError(v)


def nix_type(t, sub=None):
    """A stoa type as `options --json` prints it -> a Nix type expression;
    `sub` is the Nix text of the submodule's options, if any."""
    t = t.strip()
    simple = {
        "str": "types.str", "bool": "types.bool", "int": "types.int", "port": "types.port",
        "ipv4": "types.ipv4", "cidr": "types.cidr", "mac": "types.mac", "path": "types.path",
        "anything": "types.anything", "secret": "types.secret",
    }
    if t in simple:
        return simple[t]
    if t.startswith("either(") and t.endswith(")"):
        a, b = split_args(t[len("either("):-1])
        return f"(types.either {nix_type(a, sub)} {nix_type(b, sub)})"
    if t == "submodule":
        return f"(types.submodule {sub})"
    for pre, fn in [("nullable(", "types.nullOr"), ("list_of(", "types.listOf"), ("attrs_of(", "types.attrsOf")]:
        if t.startswith(pre) and t.endswith(")"):
            return f"({fn} {nix_type(t[len(pre):-1], sub)})"
    if t.startswith("int(") and t.endswith(")"):
        lo, hi = t[4:-1].split(",")
        return f"(types.intBetween {int(lo)} {int(hi)})"
    if t.startswith("enum_of(") and t.endswith(")"):
        return f"(types.enum {nix_val(json.loads(t[len('enum_of('):-1]))})"
    raise ValueError(f"unknown type {t!r}")


def split_args(s):
    """`a, b` at the top nesting level."""
    depth = 0
    for i, c in enumerate(s):
        depth += c in "([" and 1 or (c in ")]" and -1 or 0)
        if c == "," and depth == 0:
            return s[:i].strip(), s[i + 1:].strip()
    raise ValueError(s)


def core_nix(stoa):
    """stoa's core option declarations (`stoa options --json`, the options
    declared in <stoa>/core/*.rhai) as one Nix module."""
    with tempfile.TemporaryDirectory() as empty:  # a project with no modules of its own
        with open(f"{empty}/stoa.toml", "w") as f:
            f.write("[project]\n")
        os.makedirs(f"{empty}/modules")
        os.makedirs(f"{empty}/hosts")
        with open(f"{empty}/hosts/x.rhai", "w") as f:  # `options` needs a host
            f.write('#{ config: #{ networking: #{ hostname: "x" } } }\n')
        raw = subprocess.run([stoa, "-C", empty, "options", "--json"], capture_output=True, text=True, check=True).stdout
    opts = [o for o in json.loads(raw) if o["declared_in"].startswith("<stoa>/core/")]
    # A tree: namespaces are dicts; an option is {"": o, ...children}.
    tree = {}
    for o in sorted(opts, key=lambda o: o["path"]):
        node = tree
        for seg in o["path"].split("."):
            if seg in ("*", "<name>"):
                continue
            node = node.setdefault(seg, {})
        node[""] = o

    def emit(node, ind):
        pad = "  " * ind
        out = []
        for k in sorted(x for x in node if x):
            child = node[k]
            key = k if k.replace("_", "a").isalnum() and not k[0].isdigit() else nix_str(k)
            if "" in child:
                o = child[""]
                sub = None
                if "submodule" in o["type"]:
                    sub = "{\n" + emit(child, ind + 2) + pad + "  }"
                fields = [f"type = {nix_type(o['type'], sub)};"]
                if not o["required"]:
                    fields.append(f"default = {nix_val(o['default'])};")
                fields.append(f"description = {nix_str(o['description'])};")
                out.append(f"{pad}{key} = mkOption {{\n" + "".join(f"{pad}  {f}\n" for f in fields) + f"{pad}}};\n")
            else:
                out.append(f"{pad}{key} = {{\n" + emit(child, ind + 1) + f"{pad}}};\n")
        return "".join(out)

    return ("# stoa's core option declarations (compiler/core/*.rhai), generated by\n"
            "# `bench/gen_nix.py --core STOA` from `stoa options --json`. Do not edit.\n"
            "let inherit (import ./lib.nix) mkOption types; in\n{\n  options = {\n"
            + emit(tree, 2) + "  };\n}\n")


NODE = r'''{ config, ... }:
let
  inherit (import ../lib.nix) mkOption types;
  i = config.bench.index;
  net = "10.${toString (i / 250)}.${toString (i - i / 250 * 250)}";
in
{
  options.bench.index = mkOption { type = types.int; description = "Host index."; };
  config = {
    networking = {
      hostname = "h${toString i}";
      nameservers = [ "${net}.1" ];
      interfaces.eno1 = { method = "manual"; };
      bridges.vmbr0 = { ports = [ "eno1" ]; address = "${net}.2/24"; gateway = "${net}.1"; };
    };
    machine.gpus = [ { index = 0; model = "Tesla P40"; } { index = 1; model = "Tesla P40"; } ];
    deployment.tags = [ "bench" ];
  };
}
'''

CT = r'''{ config, ... }:
let
  inherit (import ../lib.nix) mkOption types;
  i = config.bench.index;
  net = "10.${toString (i / 250)}.${toString (i - i / 250 * 250)}";
in
{
  options.bench.cts = mkOption {
    type = types.attrsOf (types.submodule {
      n = mkOption { type = types.intBetween 0 99; description = "Container number on the host."; };
      cores = mkOption { type = types.intBetween 1 64; default = 2; description = "Cores."; };
      memory = mkOption { type = types.intBetween 64 1048576; default = 2048; description = "Memory (MiB)."; };
      docker = mkOption { type = types.bool; default = false; description = "Runs Docker."; };
      gpus = mkOption { type = types.listOf (types.intBetween 0 7); default = [ ]; description = "GPUs."; };
    });
    default = { };
    description = "Benchmark containers.";
  };
  config.proxmox.containers = builtins.mapAttrs (name: c: {
    vmid = 1000 + i * 100 + c.n;
    hostname = "h${toString i}-${name}";
    template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
    cores = c.cores;
    memory = c.memory;
    swap = 512;
    onboot = true;
    net = [ { ip = "${net}.${toString (10 + c.n)}/24"; gw = "${net}.1"; } ];
    tags = [ "bench" ];
  }) config.bench.cts;
}
'''

DOCKER = r'''{ config, ... }:
let cts = config.bench.cts; in
{
  config.proxmox.containers = builtins.listToAttrs (map (name: {
    inherit name;
    value = { features = { nesting = true; keyctl = true; }; };
  }) (builtins.filter (name: cts.${name}.docker) (builtins.attrNames cts)));
}
'''

GPU = r'''{ config, ... }:
let cts = config.bench.cts; in
{
  config.proxmox.containers = builtins.listToAttrs (map (name: {
    inherit name;
    value = { gpus = cts.${name}.gpus; };
  }) (builtins.filter (name: cts.${name}.gpus != [ ]) (builtins.attrNames cts)));
}
'''

SERVICE = r'''{ config, ... }:
let
  inherit (import ../lib.nix) mkOption types;
  s = config.svc.s@K@;
in
{
  options.svc.s@K@ = {
    on = mkOption { type = types.listOf types.str; default = [ ]; description = "Containers running service @K@."; };
    port = mkOption { type = types.port; default = 80@K@; description = "Port."; };
  };
  config.proxmox.containers = builtins.listToAttrs (map (name: {
    inherit name;
    value.compose.s@K@ = {
      services.app = {
        image = "nginx:1.27.@K@";
        restart = "unless-stopped";
        ports = [ "${toString s.port}:80" ];
        volumes = [ "data:/data" ];
      };
      volumes.data = { };
    };
  }) s.on);
}
'''

DEFAULT = r'''# Every host of the inventory through the module system of lib.nix; the
# result is a summary, computed after forcing each host's whole
# configuration (deepSeq), so that printing does not dominate.
let
  lib = import ./lib.nix;
  core = import ./core.nix;
  hostFiles = import ./hosts.nix;
  eval = file: (lib.evalModules { modules = [ core file ]; }).config;
  hosts = map eval hostFiles;
  containers = builtins.concatMap (h: builtins.attrValues h.proxmox.containers) hosts;
  unique = what: xs:
    let n = builtins.length (builtins.attrNames (builtins.listToAttrs (map (x: { name = toString x; value = null; }) xs))); in
    if n == builtins.length xs then true else throw "duplicate ${what}";
in
builtins.deepSeq hosts {
  hosts = builtins.length hosts;
  containers = builtins.length containers;
  vmidsUnique = unique "VMID" (map (c: c.vmid) containers);
  addressesUnique = unique "address" (builtins.concatMap (c: map (n: n.ip) c.net) containers);
  composeProjects = builtins.length (builtins.concatMap (c: builtins.attrNames c.compose) containers);
}
'''


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    if sys.argv[1] == "--core":
        sys.stdout.write(core_nix(sys.argv[2]))
        return
    n, out = int(sys.argv[1]), sys.argv[2]
    write(f"{out}/lib.nix", open(f"{HERE}/nix/lib.nix").read())
    if len(sys.argv) > 3:
        write(f"{out}/core.nix", core_nix(sys.argv[3]))
    else:
        write(f"{out}/core.nix", open(f"{HERE}/nix/core.nix").read())
    write(f"{out}/default.nix", DEFAULT)
    for name, text in [("node", NODE), ("ct", CT), ("docker", DOCKER), ("gpu", GPU)]:
        write(f"{out}/modules/{name}.nix", text)
    for k in range(6):
        write(f"{out}/modules/svc{k}.nix", SERVICE.replace("@K@", str(k)))
    imports = " ".join(f"../modules/{m}.nix" for m in ["node", "ct", "docker", "gpu"] + [f"svc{k}" for k in range(6)])
    for i in range(n):
        cts = " ".join(
            f'ct{j} = {{ n = {j}; docker = {"true" if j % 2 == 0 else "false"};'
            + (f" gpus = [ {j % 2} ];" if j < 2 else "")
            + (" memory = 4096;" if j % 5 == 0 else "")
            + " };"
            for j in range(20)
        )
        svc = " ".join(
            "s%d.on = [ %s ];" % (k, " ".join('"ct%d"' % j for j in range(k * 2, 20, 6) if j % 2 == 0))
            for k in range(6)
        )
        write(f"{out}/hosts/h{i:04d}.nix",
              f"{{\n  imports = [ {imports} ];\n  config = {{\n    bench.index = {i};\n"
              f"    bench.cts = {{ {cts} }};\n    svc = {{ {svc} }};\n  }};\n}}\n")
    write(f"{out}/hosts.nix", "[\n" + "".join(f"  ./hosts/h{i:04d}.nix\n" for i in range(n)) + "]\n")


if __name__ == "__main__":
    main()
