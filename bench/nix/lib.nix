# A small NixOS-style module system in plain Nix (builtins only, no nixpkgs),
# the Nix side of the evaluation benchmark (bench/compare.sh).
#
# What it does, like nixpkgs' lib.evalModules and like stoa-lang:
# - modules are attribute sets or functions of { config, ... } returning
#   { imports ? [], options ? {}, config ? {} } (or just config);
#   `imports` are followed transitively, each path once;
# - `options` declarations from every module are merged into one tree;
# - every module's `config` is merged, option by option, type-directed:
#   priorities (mkOverride/mkDefault/mkForce; the declared default lowest),
#   then scalars must agree, lists concatenate, attrsOf merges by key,
#   submodules field by field, nullOr needs all-null or none, anything merges
#   attribute sets deeply and needs equal leaves; every value is type-checked
#   (int ranges, enums, ports, IPv4/CIDR/MAC/path formats);
# - a definition of an undeclared option is an error;
# - `config` passed to the module functions is the merged result itself:
#   the fixpoint comes from laziness, as in NixOS.
let
  inherit (builtins)
    all any attrNames concatLists concatMap elem filter foldl' genList head
    isAttrs isBool isFunction isInt isList isString length listToAttrs
    mapAttrs match removeAttrs tail throw toJSON typeOf;

  mkOverride = priority: content: { _type = "override"; inherit priority content; };
  isOverride = v: isAttrs v && v ? _type && v._type == "override";
  isOption = v: isAttrs v && v ? _type && v._type == "option";

  # Keep only the strongest definitions (lowest priority number).
  # A definition is { prio, value, file }.
  strongest = defs:
    let
      unwrap = d: if isOverride d.value then unwrap (d // { prio = d.value.priority; value = d.value.content; }) else d;
      ds = map unwrap defs;
      best = foldl' (m: d: if d.prio < m then d.prio else m) 1501 ds;
    in filter (d: d.prio == best) ds;

  fail = path: msg: throw "option `${path}': ${msg}";

  showVal = v: if isString v then "\"${v}\"" else if isInt v || isBool v then toJSON v else typeOf v;

  scalar = name: check: {
    inherit name check;
    merge = path: defs:
      let v = (head defs).value; in
      if !(check v) then fail path "${showVal v} is not ${name}"
      else if all (d: d.value == v) defs then v
      else fail path "conflicting definitions ${toJSON (map (d: d.value) defs)}";
  };

  ipv4Re = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}";

  types = rec {
    str = scalar "a string" isString;
    bool = scalar "a boolean" isBool;
    int = scalar "an integer" isInt;
    intBetween = lo: hi: scalar "an integer in ${toString lo}..${toString hi}" (v: isInt v && v >= lo && v <= hi);
    port = intBetween 1 65535;
    enum = vs: scalar "one of ${toJSON vs}" (v: elem v vs);
    ipv4 = scalar "an IPv4 address" (v: isString v && match ipv4Re v != null);
    cidr = scalar "an IPv4 address/prefix" (v: isString v && match "${ipv4Re}/(3[0-2]|[12]?[0-9])" v != null);
    mac = scalar "a MAC address" (v: isString v && match "([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}" v != null);
    path = scalar "an absolute path" (v: isString v && match "/.*" v != null);

    # stoa's `secret("name")` reference, as its JSON form: { "$secret": name }.
    secret = scalar "a secret reference" (v: isAttrs v && v ? "$secret" && isString v."$secret");

    either = a: b: {
      name = "${a.name} or ${b.name}";
      # Scalar alternatives: the first whose check the value passes.
      merge = path: defs: if a.check (head defs).value then a.merge path defs else b.merge path defs;
    };

    nullOr = t: {
      name = "null or ${t.name}";
      merge = path: defs:
        if all (d: d.value == null) defs then null
        else if any (d: d.value == null) defs then fail path "null and non-null definitions"
        else t.merge path defs;
    };

    listOf = t: {
      name = "list of ${t.name}";
      merge = path: defs:
        let
          items = concatMap (d:
            if isList d.value then map (v: { inherit (d) prio file; value = v; }) d.value
            else fail path "${showVal d.value} is not a list") defs;
        in genList (i: t.merge "${path}.[${toString i}]" [ (builtins.elemAt items i) ]) (length items);
    };

    attrsOf = t: {
      name = "attribute set of ${t.name}";
      merge = path: defs:
        let
          checked = map (d: if isAttrs d.value then d else fail path "${showVal d.value} is not an attribute set") defs;
          zipped = builtins.zipAttrsWith (_: vs: vs)
            (map (d: mapAttrs (_: v: { inherit (d) prio file; value = v; }) d.value) checked);
        in mapAttrs (k: ds: mergeOption "${path}.${k}" { type = t; } ds) zipped;
    };

    anything = {
      name = "anything";
      merge = path: defs:
        if all (d: isAttrs d.value) defs then
          mapAttrs (k: ds: anything.merge "${path}.${k}" ds)
            (builtins.zipAttrsWith (_: vs: vs) (map (d: mapAttrs (_: v: d // { value = v; }) d.value) defs))
        else
          let v = (head defs).value; in
          if all (d: d.value == v) defs then v
          else fail path "conflicting definitions";
    };

    # A submodule: declared options, definitions merged field by field.
    submodule = options: {
      name = "submodule";
      merge = path: defs: mergeTree path options
        (map (d: if isAttrs d.value then d else fail path "${showVal d.value} is not an attribute set") defs);
    };
  };

  mkOption = { type, default ? null, description ? "", example ? null }@args:
    { _type = "option"; inherit type description; hasDefault = args ? default; default = default; };

  # Merges the definitions of one option: the declared default at the lowest
  # priority, then the type's merge of the strongest definitions.
  mergeOption = path: opt: defs:
    let
      all' = defs ++ (if opt.hasDefault or false then [ { prio = 1500; value = opt.default; file = "<default>"; } ] else [ ]);
      best = strongest all';
    in
    if all' == [ ] then fail path "used but not defined"
    else opt.type.merge path best;

  # Merges definitions (attribute sets) against an option tree: options at
  # the leaves, nested attribute sets of options in between. Undeclared
  # attributes are errors. An option without definition nor default is left
  # out (reading it fails).
  mergeTree = path: tree: defs:
    let
      undeclared = concatMap (d: map (k: { inherit k; inherit (d) file; })
        (filter (k: !(tree ? ${k})) (attrNames d.value))) defs;
      at = k: concatMap (d:
        if d.value ? ${k} then
          let v = d.value.${k}; in
          if isOverride v && !(isOption tree.${k}) then
            [ (d // { prio = v.priority; value = v.content; }) ]
          else [ (d // { value = v; }) ]
        else [ ]) defs;
      field = k: opt:
        let p = if path == "" then k else "${path}.${k}"; ds = at k; in
        if isOption opt then mergeOption p opt ds
        else mergeTree p opt (map (d: if isAttrs d.value then d else fail p "${showVal d.value} is not an attribute set") ds);
      keep = k: opt: !(isOption opt) || opt.hasDefault || at k != [ ];
      fields = filter (k: keep k tree.${k}) (attrNames tree);
    in
    if undeclared != [ ] then
      let u = head undeclared; in
      fail (if path == "" then u.k else "${path}.${u.k}") "does not exist (defined in ${u.file})"
    else listToAttrs (map (k: { name = k; value = field k tree.${k}; }) fields);

  # Deep merge of option declaration trees.
  mergeDecls = a: b:
    a // mapAttrs (k: v:
      if a ? ${k} && !(isOption v) && !(isOption a.${k}) then mergeDecls a.${k} v
      else if a ? ${k} then throw "option `${k}' declared twice"
      else v) b;

  # { modules, args ? {} } -> { config, options }
  evalModules = { modules, args ? { } }:
    let
      load = m: { key = if isAttrs m || isFunction m then "<inline>" else toString m; value = if isAttrs m || isFunction m then m else import m; };
      # Transitive imports, each path once (breadth first).
      collect = seen: queue:
        if queue == [ ] then [ ]
        else
          let m = load (head queue); in
          if m.key != "<inline>" && elem m.key seen then collect seen (tail queue)
          else
            let
              body = if isFunction m.value then m.value (args // { inherit config; }) else m.value;
              shaped = if body ? options || body ? config || body ? imports then body
                else { config = body; };
            in [ { file = m.key; options = shaped.options or { }; config = shaped.config or { }; } ]
              ++ collect (seen ++ [ m.key ]) (tail queue ++ (shaped.imports or [ ]));
      mods = collect [ ] modules;
      options = foldl' mergeDecls { } (map (m: m.options) mods);
      config = mergeTree "" options (map (m: { prio = 100; value = m.config; file = m.file; }) mods);
    in { inherit config options; };
in
{
  inherit types mkOption evalModules mkOverride;
  mkDefault = mkOverride 1000;
  mkForce = mkOverride 50;
}
