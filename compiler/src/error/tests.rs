use super::*;

#[test]
fn paths_display() {
    let p = OptionPath::parse_plain("proxmox.containers")
        .key("ai-gpu0")
        .key("net")
        .index(0)
        .key("ip");
    assert_eq!(p.to_string(), "proxmox.containers.ai-gpu0.net[0].ip");
    let f = OptionPath::parse_plain("files")
        .key("/etc/motd")
        .key("mode");
    assert_eq!(f.to_string(), "files.\"/etc/motd\".mode");
    let j = OptionPath::root().pointer("/services/web/ports/0/a~1b");
    assert_eq!(j.to_string(), "services.web.ports[0].\"a/b\"");
}

#[test]
fn errors_display_and_codes() {
    let e = RenderError::new(
        OptionPath::parse_plain("proxmox.containers.ai-gpu0.memory"),
        Problem::OutOfRange {
            value: 8,
            min: 16,
            max: None,
        },
    );
    assert_eq!(
        e.to_string(),
        "proxmox.containers.ai-gpu0.memory: 8 is out of range: must be at least 16"
    );
    assert_eq!(
        e.code().map(|c| c.to_string()).as_deref(),
        Some("stoa::compiler::range")
    );
}
