//! `machine.*`: facts about the hardware (declared in `core/machine.rhai`).

use serde::Deserialize;

/// `machine`: what the node is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Machine {
    /// `machine.hardware`: free text, e.g. "Dell R730". Default "".
    #[serde(default)]
    pub hardware: String,
    /// `machine.role`: free text, e.g. "Proxmox VE; AI/ML workloads". Default "".
    #[serde(default)]
    pub role: String,
    /// `machine.description`: free text for the docs. Default "".
    #[serde(default)]
    pub description: String,
    /// `machine.gpus`: the GPUs containers may be given. Default `[]`.
    #[serde(default)]
    pub gpus: Vec<Gpu>,
}

/// `machine.gpus[i]`: one GPU of the node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// `index`: the NVIDIA device number, `/dev/nvidia<index>` (0..=63).
    pub index: i64,
    /// `model`: e.g. "Tesla P40".
    pub model: String,
}
