//! The enumerated options of an LXC container, with the exact spellings
//! Proxmox accepts.

use serde::Deserialize;

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The spelling written to the config file.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

keyword_enum! {
    /// `ostype`: the distribution inside the container.
    OsType {
        /// Debian.
        Debian = "debian",
        /// Devuan.
        Devuan = "devuan",
        /// Ubuntu.
        Ubuntu = "ubuntu",
        /// CentOS and relatives.
        Centos = "centos",
        /// Fedora.
        Fedora = "fedora",
        /// openSUSE.
        Opensuse = "opensuse",
        /// Arch Linux.
        Archlinux = "archlinux",
        /// Alpine.
        Alpine = "alpine",
        /// Gentoo.
        Gentoo = "gentoo",
        /// NixOS.
        Nixos = "nixos",
        /// No distribution-specific setup by Proxmox.
        Unmanaged = "unmanaged",
    }
}

keyword_enum! {
    /// `arch`: the container's architecture.
    Arch {
        /// x86-64.
        Amd64 = "amd64",
        /// x86.
        I386 = "i386",
        /// 64-bit ARM.
        Arm64 = "arm64",
        /// 32-bit ARM, hard float.
        Armhf = "armhf",
        /// 32-bit RISC-V.
        Riscv32 = "riscv32",
        /// 64-bit RISC-V.
        Riscv64 = "riscv64",
    }
}

keyword_enum! {
    /// `cmode`: what the console attaches to.
    Cmode {
        /// A shell in the container.
        Shell = "shell",
        /// `/dev/console`.
        Console = "console",
        /// A tty device.
        Tty = "tty",
    }
}
