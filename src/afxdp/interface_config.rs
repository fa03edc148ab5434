//! `[[interface]]`: the devices rvs owns, how its XDP program and sockets
//! attach to each, and the addresses and VIPs it answers for there.

use super::socket_options::ZeroCopy;
use super::XdpMode;
use crate::net::config_addr::{addr, addr6, cidr, cidr6};
use crate::wire::vlan::MAX_VID;
use serde::Deserialize;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInterface {
    name: String,
    xdp_mode: Option<String>,
    queues: Option<Vec<u32>>,
    zerocopy: Option<String>,
    vlan: Option<i64>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    vips: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InterfaceConfig {
    pub name: String,
    /// The 802.1Q VID of this logical interface on device `name`; 0: untagged.
    pub vlan: u16,
    pub xdp_mode: XdpMode,
    /// Queues to bind; `None` = every receive queue of the device.
    pub queues: Option<Vec<u32>>,
    /// XDP_ZEROCOPY asked for ("try", falling back to copy), refused
    /// ("off"), or left to the kernel ("kernel", the default).
    pub zerocopy: ZeroCopy,
    pub addresses: Vec<(Ipv4Addr, u8)>,
    pub vips: Vec<Ipv4Addr>,
    /// The IPv6 entries of `addresses` and `vips` (one list each in the
    /// file, as `ip addr` lists both families).
    pub addresses6: Vec<(Ipv6Addr, u8)>,
    pub vips6: Vec<Ipv6Addr>,
    /// `[[route]]`s of IPv6 whose gateway is on this interface.
    pub routes6: Vec<crate::net::route_config::Route6>,
}

impl InterfaceConfig {
    /// The logical interface's name: the device's, or for a VLAN `device.vid` as Linux names it.
    pub fn logical_name(&self) -> String {
        match self.vlan {
            0 => self.name.clone(),
            v => format!("{}.{v}", self.name),
        }
    }
}

impl XdpMode {
    /// As `xdp_mode` spells it (the `ip link` and libxdp names too).
    pub fn parse(s: &str) -> Option<XdpMode> {
        match s {
            "native" | "drv" => Some(XdpMode::Native),
            "generic" | "skb" => Some(XdpMode::Generic),
            "auto" => Some(XdpMode::Auto),
            _ => None,
        }
    }
}

/// Every `[[interface]]`, in the file's order (an interface's position is its id).
pub fn parse_interfaces(raw: &[RawInterface]) -> Result<Vec<InterfaceConfig>, String> {
    let mut interfaces = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let k = format!("interface[{i}]");
        if r.name.is_empty() || r.name.len() > 15 {
            return Err(format!("{k}.name: '{}' is not an interface name", r.name));
        }
        let vlan = match r.vlan {
            None => 0,
            Some(v) if (1..=i64::from(MAX_VID)).contains(&v) => v as u16,
            Some(v) => return Err(format!("{k}.vlan: {v} is not a VLAN id (1-{MAX_VID})")),
        };
        let mode = r.xdp_mode.as_deref().unwrap_or("auto");
        let xdp_mode = XdpMode::parse(mode)
            .ok_or_else(|| format!("{k}.xdp_mode: '{mode}' is not one of native, generic, auto"))?;
        let zc = r.zerocopy.as_deref().unwrap_or("kernel");
        let zerocopy =
            ZeroCopy::parse(zc).ok_or_else(|| format!("{k}.zerocopy: '{zc}' is not one of try, off, kernel"))?;
        if let Some((j, first)) =
            interfaces.iter().enumerate().find(|(_, x): &(usize, &InterfaceConfig)| x.name == r.name)
        {
            same_device(&k, j, first, vlan, xdp_mode, &r.queues, zerocopy)?;
            if interfaces.iter().any(|x| x.name == r.name && x.vlan == vlan) {
                return Err(match vlan {
                    0 => format!("{k}.name: '{}' is listed twice", r.name),
                    v => format!("{k}: '{}' vlan {v} is listed twice", r.name),
                });
            }
        }
        let (mut addresses, mut addresses6, mut vips, mut vips6) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (j, a) in r.addresses.iter().enumerate() {
            let key = format!("{k}.addresses[{j}]");
            if a.contains(':') {
                addresses6.push(cidr6(&key, a)?);
            } else {
                addresses.push(cidr(&key, a)?);
            }
        }
        for (j, v) in r.vips.iter().enumerate() {
            let key = format!("{k}.vips[{j}]");
            if v.contains(':') {
                vips6.push(addr6(&key, v)?);
            } else {
                vips.push(addr(&key, v)?);
            }
        }
        if addresses.is_empty() && vips.is_empty() && addresses6.is_empty() && vips6.is_empty() {
            return Err(format!(
                "{k} ({}): no addresses and no vips: rvs could neither answer on it nor route through it",
                r.name
            ));
        }
        if r.queues.as_ref().is_some_and(|q| q.is_empty()) {
            return Err(format!("{k}.queues: empty (leave it out to bind every queue)"));
        }
        interfaces.push(InterfaceConfig {
            name: r.name.clone(),
            vlan,
            xdp_mode,
            queues: r.queues.clone(),
            zerocopy,
            addresses,
            vips,
            addresses6,
            vips6,
            routes6: Vec::new(),
        });
    }
    if interfaces.is_empty() {
        return Err("the configuration names no [[interface]]".into());
    }
    Ok(interfaces)
}

/// Entry `k`, a second logical interface on the device of entry `j`
/// (`first`): a device is either untagged or a trunk of VLANs, and its XDP
/// program and sockets are set once, so its device keys must agree.
fn same_device(
    k: &str,
    j: usize,
    first: &InterfaceConfig,
    vlan: u16,
    xdp_mode: XdpMode,
    queues: &Option<Vec<u32>>,
    zerocopy: ZeroCopy,
) -> Result<(), String> {
    let name = &first.name;
    if (vlan == 0) != (first.vlan == 0) {
        return Err(format!(
            "{k}: '{name}' is both untagged and a VLAN trunk (interface[{j}]): rvs takes a device's frames either untagged or all tagged, give each untagged network its own device"
        ));
    }
    if xdp_mode != first.xdp_mode || *queues != first.queues || zerocopy != first.zerocopy {
        return Err(format!(
            "{k}: xdp_mode, queues and zerocopy of '{name}' differ from interface[{j}]'s: they are the device's, give every VLAN of it the same"
        ));
    }
    Ok(())
}

/// The devices of `interfaces`: each device's first entry, with its index
/// (the id of the device's port).
pub fn devices(interfaces: &[InterfaceConfig]) -> impl Iterator<Item = (usize, &InterfaceConfig)> {
    interfaces.iter().enumerate().filter(|&(i, ic)| interfaces.iter().position(|x| x.name == ic.name) == Some(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<InterfaceConfig>, String> {
        #[derive(Deserialize)]
        struct File {
            interface: Vec<RawInterface>,
        }
        parse_interfaces(&toml::from_str::<File>(text).map_err(|e| e.to_string())?.interface)
    }

    #[test]
    fn modes_addresses_and_errors() {
        let c = parse("[[interface]]\nname = \"a\"\nxdp_mode = \"skb\"\nvips = [\"198.18.0.100\"]\n[[interface]]\nname = \"b\"\naddresses = [\"198.18.1.1/24\"]").unwrap();
        assert_eq!((c[0].xdp_mode, c[1].xdp_mode), (XdpMode::Generic, XdpMode::Auto));
        assert_eq!(c[1].addresses, vec![(Ipv4Addr::new(198, 18, 1, 1), 24)]);
        // One list per kind, both families in it.
        let c = parse("[[interface]]\nname = \"a\"\naddresses = [\"198.18.1.1/24\", \"2001:db8:1::1/64\"]\nvips = [\"2001:db8::100\"]").unwrap();
        assert_eq!(c[0].addresses, vec![(Ipv4Addr::new(198, 18, 1, 1), 24)]);
        assert_eq!(c[0].addresses6, vec![("2001:db8:1::1".parse().unwrap(), 64)]);
        assert_eq!((c[0].vips.len(), c[0].vips6.clone()), (0, vec!["2001:db8::100".parse::<Ipv6Addr>().unwrap()]));
        let e = parse("[[interface]]\nname = \"a\"\naddresses = [\"fe80::1/64\"]").unwrap_err();
        assert!(e.starts_with("interface[0].addresses[0]: 'fe80::1' is not a unicast address"), "{e}");
        let e = parse("[[interface]]\nname = \"a\"\nxdp_mode = \"fast\"\nvips = [\"198.18.0.100\"]").unwrap_err();
        assert_eq!(e, "interface[0].xdp_mode: 'fast' is not one of native, generic, auto");
        let e = parse("[[interface]]\nname = \"a\"\nvips = [\"198.18.0.100\"]\n[[interface]]\nname = \"a\"\nvips = [\"198.18.0.101\"]").unwrap_err();
        assert_eq!(e, "interface[1].name: 'a' is listed twice");
        let e = parse("[[interface]]\nname = \"a\"\nqueues = []\nvips = [\"198.18.0.100\"]").unwrap_err();
        assert_eq!(e, "interface[0].queues: empty (leave it out to bind every queue)");
        let e = parse("[[interface]]\nname = \"0123456789abcdef\"\nvips = [\"198.18.0.100\"]").unwrap_err();
        assert_eq!(e, "interface[0].name: '0123456789abcdef' is not an interface name");
        assert_eq!(parse_interfaces(&[]).unwrap_err(), "the configuration names no [[interface]]");
    }

    #[test]
    fn vlans_on_one_device() {
        let c = parse("[[interface]]\nname = \"t\"\nvlan = 100\naddresses = [\"198.18.0.1/24\"]\n[[interface]]\nname = \"u\"\naddresses = [\"198.18.2.1/24\"]\n[[interface]]\nname = \"t\"\nvlan = 200\naddresses = [\"198.18.1.1/24\"]").unwrap();
        assert_eq!(c.iter().map(|i| (i.name.as_str(), i.vlan)).collect::<Vec<_>>(), [("t", 100), ("u", 0), ("t", 200)]);
        assert_eq!(devices(&c).map(|(i, d)| (i, d.name.as_str())).collect::<Vec<_>>(), [(0, "t"), (1, "u")]);
        let two = |a: &str, b: &str| {
            parse(&format!("[[interface]]\nname = \"t\"\n{a}\nvips = [\"198.18.0.100\"]\n[[interface]]\nname = \"t\"\n{b}\nvips = [\"198.18.0.101\"]")).unwrap_err()
        };
        assert_eq!(two("vlan = 100", "vlan = 100"), "interface[1]: 't' vlan 100 is listed twice");
        assert!(two("vlan = 100", "").starts_with("interface[1]: 't' is both untagged and a VLAN trunk (interface[0])"));
        assert!(two("", "vlan = 7").starts_with("interface[1]: 't' is both untagged and a VLAN trunk (interface[0])"));
        assert!(two("vlan = 1\nxdp_mode = \"skb\"", "vlan = 2")
            .starts_with("interface[1]: xdp_mode, queues and zerocopy of 't' differ"));
        for bad in ["0", "4095", "-1", "70000"] {
            let e =
                parse(&format!("[[interface]]\nname = \"t\"\nvlan = {bad}\nvips = [\"198.18.0.100\"]")).unwrap_err();
            assert_eq!(e, format!("interface[0].vlan: {bad} is not a VLAN id (1-4094)"));
        }
        assert!(parse("[[interface]]\nname = \"t\"\nvlan = \"100\"\nvips = [\"198.18.0.100\"]").is_err());
    }

    #[test]
    fn zerocopy_key() {
        let c = parse("[[interface]]\nname = \"a\"\nzerocopy = \"try\"\nvips = [\"198.18.0.100\"]\n[[interface]]\nname = \"b\"\nzerocopy = \"off\"\nvips = [\"198.18.0.101\"]\n[[interface]]\nname = \"c\"\nvips = [\"198.18.0.102\"]").unwrap();
        assert_eq!((c[0].zerocopy, c[1].zerocopy, c[2].zerocopy), (ZeroCopy::Try, ZeroCopy::Off, ZeroCopy::Kernel));
        let e = parse("[[interface]]\nname = \"a\"\nzerocopy = \"yes\"\nvips = [\"198.18.0.100\"]").unwrap_err();
        assert_eq!(e, "interface[0].zerocopy: 'yes' is not one of try, off, kernel");
        assert!(parse("[[interface]]\nname = \"a\"\nzerocopy = true\nvips = [\"198.18.0.100\"]").is_err());
    }
}
