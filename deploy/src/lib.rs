//! `stoa-deploy`: puts a host's closure on its node and activates it safely — transports
//! (SSH via russh, a local directory), the node protocol, confirm-or-revert, rollback,
//! generations, node gc, parallel fan-out with progress events, and [`exec()`] (a command
//! on a node or in one of its containers, its output streamed).
//!
//! **Read [`switch()`] first**, then [`SwitchRequest`], the [`transport`] contract and the
//! node scripts in [`node::scripts`]. `docs/node-protocol.md` is the contract with the
//! compiler (closures and `activate`) and describes the node's state.
//!
//! What this crate is not: it does not evaluate or build anything (it depends on
//! `stoa-store` only), never prints and never reads the environment or the clock — the CLI
//! passes targets, keys, provenance and failpoints in, and renders [`Event`]s.
//!
//! Nothing of stoa is installed on a node: every node-side step is a POSIX sh script passed
//! as an argument of `sh -c`, quoted by [`quote::command_line`].

#![deny(missing_docs)]

mod activation;
pub mod closure;
mod error;
pub mod events;
mod exec;
pub mod keys;
pub mod live;
pub mod node;
mod ops;
mod plan;
pub mod quote;
mod reboot;
mod request;
mod secrets;
mod session;
mod switch;
pub mod tar;
pub mod transport;

pub use closure::{parse_artifacts, ArtifactLine, LocalClosure};
pub use error::{DeployError, TransportError};
pub use events::{Event, Failpoint, Progress, Silent, Step};
pub use exec::{exec, ExecEnd, ExecRequest, LINE_LIMIT};
pub use live::{ContainerState, FileState, Live, LiveFile};
pub use ops::{container_config, CONF_LIMIT};
pub use ops::{generations, node_file, node_gc, rollback, Generation, Generations, NodeGcReport};
pub use plan::{
    diff_artifacts, node_plan, node_status, ArtifactChange, NodePlan, NodeStatus, Probe,
    TemplateState,
};
pub use reboot::{reboot, RebootRequest, Rebooted};
pub use request::{
    Action, DriftCheck, HealthCheck, Mode, Outcome, Provenance, RollbackRequest, Safety,
    SwitchRequest,
};
pub use secrets::Secrets;
pub use session::{Current, Node, Timeouts};
pub use switch::{bounded, switch, switch_many};
