//! The Proxmox side of a test node: its root, its test `/etc/pve`, its
//! doubles.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stoa_test_pvefs::Mounted;

/// The commands a Proxmox node has and this machine lacks. `ifup`
/// (ifupdown2) is the real one. `systemctl` and `nvidia-smi` (the lab's
/// health checks) answer as a healthy node's would.
pub const DOUBLES: [&str; 9] = [
    "pct",
    "lxc-info",
    "ha-manager",
    "pveam",
    "proxmox-backup-manager",
    "docker",
    "ifreload",
    "systemctl",
    "nvidia-smi",
];

/// The template every test node holds in `local` (as after `pveam download`).
pub const TEMPLATE: &str = "debian-12-standard_12.7-1_amd64.tar.zst";

/// The storage a fresh install defines for guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `lvmthin: local-lvm` (an ext4/xfs install): `vm-<vmid>-disk-<N>`.
    LvmThin,
    /// `zfspool: local-zfs` (a ZFS install): `subvol-<vmid>-disk-<N>`.
    ZfsPool,
    /// Only `dir: local` with guest content: `<vmid>/vm-<vmid>-disk-<N>.raw`.
    Dir,
}

impl Storage {
    /// `storage.cfg` as the installer writes it.
    pub fn storage_cfg(self) -> &'static str {
        match self {
            Storage::LvmThin => {
                "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
                 lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n"
            }
            Storage::ZfsPool => {
                "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n\
                 zfspool: local-zfs\n\tpool rpool/data\n\tsparse 1\n\tcontent images,rootdir\n"
            }
            Storage::Dir => {
                "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,rootdir,images\n"
            }
        }
    }

    /// The storage id guests go to.
    pub fn guests(self) -> &'static str {
        match self {
            Storage::LvmThin => "local-lvm",
            Storage::ZfsPool => "local-zfs",
            Storage::Dir => "local",
        }
    }
}

/// How a test node is made.
#[derive(Debug, Clone)]
pub struct PveOptions {
    /// The node's name (`nodes/<name>/` in `/etc/pve`).
    pub name: String,
    /// Its guest storage.
    pub storage: Storage,
    /// Whether `local` already holds [`TEMPLATE`].
    pub template: bool,
    /// Folders under the root mounted as tmpfs (a PBS datastore's 65536
    /// chunk folders are made and deleted there in a blink).
    pub tmpfs: Vec<String>,
    /// The backing folder of the test `/etc/pve`, shared with the other members of a test
    /// cluster (`None`: the node's own).
    pub cluster: Option<PathBuf>,
    /// While this file exists, the cluster has no quorum (`/etc/pve` is read-only).
    pub quorum_file: Option<PathBuf>,
}

impl Default for PveOptions {
    fn default() -> Self {
        PveOptions {
            name: "pve".to_owned(),
            storage: Storage::LvmThin,
            template: true,
            tmpfs: Vec::new(),
            cluster: None,
            quorum_file: None,
        }
    }
}

/// The binary `name` of this workspace, beside the running test executable.
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is missing: build it with `cargo build -p stoa-test-pct -p stoa-test-pvefs` \
         (cargo test --workspace does)",
        p.display()
    );
    p
}

/// A test node's Proxmox side.
pub struct PveNode {
    /// The node root (`/` of the node).
    pub root: PathBuf,
    /// Where the doubles are (put it first on `PATH`).
    pub bin: PathBuf,
    /// The node's name.
    pub name: String,
    /// Its guest storage.
    pub storage: Storage,
    /// The test `/etc/pve`'s backing directory.
    pub backing: PathBuf,
    mount: Option<Mounted>,
    tmpfs: Vec<PathBuf>,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn chmod_x(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl PveNode {
    /// Makes a node in `dir` (`dir/root`, `dir/bin`, `dir/pve`).
    pub fn new(dir: &Path, opts: &PveOptions) -> PveNode {
        let root = dir.join("root");
        let bin = dir.join("bin");
        let backing = opts.cluster.clone().unwrap_or_else(|| dir.join("pve"));
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        std::fs::create_dir_all(&backing).unwrap();
        if !backing.join("storage.cfg").exists() {
            write(&backing.join("storage.cfg"), opts.storage.storage_cfg());
        }
        if opts.template {
            write(
                &root.join("var/lib/vz/template/cache").join(TEMPLATE),
                "a test template\n",
            );
        }
        write_doubles(&bin, &root, &opts.name);
        // The kernel's boot id (a reboot makes a new one: the `systemctl` double).
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
        write(&root.join("proc/sys/kernel/random/boot_id"), &uuid);
        let mut tmpfs = Vec::new();
        for rel in &opts.tmpfs {
            let at = root.join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(&at).unwrap();
            let ok = Command::new("mount")
                .args(["-t", "tmpfs", "-o", "size=256m", "tmpfs"])
                .arg(&at)
                .status()
                .unwrap()
                .success();
            assert!(ok, "mount a tmpfs at {}", at.display());
            tmpfs.push(at);
        }
        let mount = Mounted::mount(
            &bin_path("stoa-test-pvefs"),
            &backing,
            &root.join("etc/pve"),
            &opts.name,
            opts.quorum_file.as_deref(),
        )
        .expect("mount the test /etc/pve");
        PveNode {
            root,
            bin,
            name: opts.name.clone(),
            storage: opts.storage,
            backing,
            mount: Some(mount),
            tmpfs,
        }
    }

    /// `PATH` for commands run as on the node.
    pub fn path_env(&self) -> String {
        format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display())
    }

    /// Lines the doubles recorded so far.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.root.join("calls.log"));
    }

    /// Makes the double `name` fail (or succeed again).
    pub fn set_failing(&self, name: &str, failing: bool) {
        let marker = self.root.join(format!("fail-{name}"));
        if failing {
            std::fs::write(marker, "").unwrap();
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }

    /// `/etc/pve/lxc/<vmid>.conf` on the node (through the test `/etc/pve`).
    pub fn conf_path(&self, vmid: u32) -> PathBuf {
        self.root.join(format!("etc/pve/lxc/{vmid}.conf"))
    }

    /// The config of container `vmid`, if it exists.
    pub fn conf(&self, vmid: u32) -> Option<String> {
        std::fs::read_to_string(self.conf_path(vmid)).ok()
    }

    /// Whether container `vmid` runs (the kernel's view the double keeps).
    pub fn running(&self, vmid: u32) -> bool {
        self.root.join(format!("sys/fs/cgroup/lxc/{vmid}")).is_dir()
    }

    /// Runs the `pct` double as a person at the node would (not recorded).
    pub fn pct(&self, args: &[&str]) -> Output {
        self.double("stoa-test-pct", args)
    }

    /// Runs the `pveam` double (not recorded).
    pub fn pveam(&self, args: &[&str]) -> Output {
        self.double("stoa-test-pveam", args)
    }

    fn double(&self, bin: &str, args: &[&str]) -> Output {
        Command::new(bin_path(bin))
            .args(args)
            .env("PVE_DOUBLE_ROOT", &self.root)
            .env("PVE_DOUBLE_NODE", &self.name)
            .env("PATH", self.path_env())
            .output()
            .unwrap()
    }

    /// Runs `pct` and panics with its words unless it succeeds.
    pub fn pct_ok(&self, args: &[&str]) -> String {
        let out = self.pct(args);
        assert!(
            out.status.success(),
            "pct {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Unmounts the test `/etc/pve` and the tmpfs folders (also done on
    /// drop).
    pub fn unmount(&mut self) {
        self.mount.take();
        for at in self.tmpfs.drain(..) {
            let _ = Command::new("umount").arg("-l").arg(&at).status();
        }
    }
}

impl Drop for PveNode {
    fn drop(&mut self) {
        self.unmount();
    }
}

/// Writes the doubles into `bin`: each appends `name args…` to
/// `<root>/calls.log` and fails when `<root>/fail-<name>` exists, or once
/// when `<root>/fail-<name>-once` exists (which it then deletes); `pct` and
/// `pveam` and `proxmox-backup-manager` then run the stateful doubles, the
/// others succeed.
pub fn write_doubles(bin: &Path, root: &Path, node: &str) {
    std::fs::create_dir_all(bin).unwrap();
    let r = root.display();
    for name in DOUBLES {
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{r}/calls.log'\n\
             if [ -e '{r}/fail-{name}' ]; then echo '{name}: told to fail' >&2; exit 1; fi\n\
             if [ -e '{r}/fail-{name}-once' ]; then rm -f '{r}/fail-{name}-once'; echo '{name}: told to fail once' >&2; exit 1; fi\n"
        );
        match name {
            "pct" | "pveam" | "proxmox-backup-manager" => script.push_str(&format!(
                "PVE_DOUBLE_ROOT='{r}' PVE_DOUBLE_NODE='{node}' exec '{}' \"$@\"\n",
                bin_path(&format!("stoa-test-{name}")).display()
            )),
            // `lxc-info -n VMID -p`: the init pid of a running container (the double's
            // is the VMID; `proc/<pid>/root` links to its file system), nothing for a
            // stopped one; an unknown one is an error, as LXC says it.
            "lxc-info" => script.push_str(&format!(
                "while [ $# -gt 0 ]; do case $1 in -n) v=$2; shift;; esac; shift; done\n\
                 [ -e '{r}/etc/pve/lxc/'\"$v\".conf ] || {{ echo \"$v doesn't exist\" >&2; exit 1; }}\n\
                 if [ -d '{r}/sys/fs/cgroup/lxc/'\"$v\" ]; then echo \"PID:            $v\"; fi\n"
            )),
            // `ha-manager set ct:VMID --state started|stopped`: the HA stack starts or stops
            // the container (here at once, through the `pct` double); `status` answers.
            "ha-manager" => script.push_str(&format!(
                "case \"${{1:-}} ${{3:-}} ${{4:-}}\" in\n\
                 'set --state started') v=${{2#ct:}}; exec '{r}/../bin/pct' start \"$v\" ;;\n\
                 'set --state stopped') v=${{2#ct:}}; exec '{r}/../bin/pct' stop \"$v\" ;;\n\
                 'status  ') echo 'quorum OK'; exit 0 ;;\n\
                 *) echo \"ha-manager: unknown command $*\" >&2; exit 255 ;;\n\
                 esac\n"
            )),
            // `systemctl reboot`: the node comes back with a new boot id.
            "systemctl" => script.push_str(&format!(
                "if [ \"${{1:-}}\" = reboot ]; then mkdir -p '{r}/proc/sys/kernel/random' && \
                 cat /proc/sys/kernel/random/uuid > '{r}/proc/sys/kernel/random/boot_id'; fi\nexit 0\n"
            )),
            _ => script.push_str("exit 0\n"),
        }
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        chmod_x(&path);
    }
}
