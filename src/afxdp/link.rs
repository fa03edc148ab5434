//! Facts about a network device, read from sysfs.

use crate::wire::ethernet::{parse_mac, Mac};

#[derive(Debug, Clone)]
pub struct Link {
    pub name: String,
    pub mac: Mac,
    pub mtu: u16,
    pub rx_queues: u32,
}

fn read(name: &str, what: &str) -> Result<String, String> {
    let p = format!("/sys/class/net/{name}/{what}");
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("interface {name}: cannot read {p}: {e}"))
}

impl Link {
    pub fn probe(name: &str) -> Result<Link, String> {
        if !std::path::Path::new(&format!("/sys/class/net/{name}")).exists() {
            return Err(format!("interface {name}: no such device"));
        }
        let mac =
            parse_mac(&read(name, "address")?).ok_or_else(|| format!("interface {name}: unreadable MAC address"))?;
        let mtu = read(name, "mtu")?.parse::<u16>().map_err(|_| format!("interface {name}: unreadable MTU"))?;
        let rx_queues = std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
            .map(|d| {
                d.filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("rx-")).count() as u32
            })
            .unwrap_or(1)
            .max(1);
        Ok(Link { name: name.to_string(), mac, mtu, rx_queues })
    }

    /// Refuse a device whose MTU allows frames longer than `max_frame`, what
    /// one UMEM frame receives: the kernel would drop them before rvs saw them.
    pub fn check_frame_fits(&self, max_frame: usize) -> Result<(), String> {
        // An Ethernet header in front of the MTU's worth of IP.
        let max_mtu = max_frame.saturating_sub(14);
        if self.mtu as usize > max_mtu {
            return Err(format!(
                "interface {}: MTU {} is more than rvs can receive: a frame must fit one UMEM frame \
                 ({max_frame} bytes after the kernel's XDP headroom), so the MTU can be at most {max_mtu} \
                 (ip link set {} mtu {max_mtu})",
                self.name, self.mtu, self.name
            ));
        }
        Ok(())
    }
}
