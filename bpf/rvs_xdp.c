// rvs's XDP program: the host path beside the data path.
//
// Frames for the host's own addresses (the kernel's addresses on this
// interface: SSH, probes, health checks, package updates), ARP about them,
// VRRP (IP protocol 112) and everything that is neither IPv4, ARP nor IPv6
// go to the kernel's stack. IPv6 has two modes. By default only frames to
// rvs's own IPv6 addresses and VIPs (the `rvs_addrs6` map), and neighbour
// solicitations whose target is one of them, go to rvs; all other IPv6
// (the kernel's addresses, link-local traffic, router and multicast
// listener messages) goes to the kernel. When rvs balances IPv6 (settings
// index 1), IPv6 follows IPv4's rule: every global unicast destination but
// the kernel's own addresses (`host_addrs6`) goes to rvs (IPv6 services'
// VIPs, NAT66 replies, whose destination is the client), and so do
// solicitations for any target that is not the kernel's; link-local and
// multicast traffic stays the kernel's.
// Everything else goes to rvs's AF_XDP socket of the receiving queue: VIPs,
// director and FULLNAT local addresses, and NAT replies (whose destination is
// the client, not an address of the director). With IPVS's ignore_tunneled
// sysctl on (the `settings` map), IPv4 of protocols rvs does not balance
// (IPIP, GRE, ESP...) goes to the kernel too, which decapsulates tunnels
// addressed to it (a director that is also a real server).
#include <linux/bpf.h>
#include <linux/if_ether.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)BPF_FUNC_redirect_map;

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} xsks_map SEC(".maps");

// Host addresses, in network byte order.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u8);
} host_addrs SEC(".maps");

// rvs's own IPv6 addresses and VIPs, in network byte order.
struct in6_key {
    __u8 a[16];
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct in6_key);
    __type(value, __u8);
} rvs_addrs6 SEC(".maps");

// The kernel's own IPv6 addresses (link-local ones included), in network
// byte order: the host path when rvs balances IPv6.
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, struct in6_key);
    __type(value, __u8);
} host_addrs6 SEC(".maps");

// Index 0: flags set by rvs at run time (SETTING_*); index 1: non-zero when
// rvs balances IPv6 (see the top).
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u32);
} settings SEC(".maps");

#define SETTING_IGNORE_TUNNELED 1

#define ETH_HLEN_ 14
#define IPPROTO_ICMP_ 1
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_VRRP_ 112
#define IPPROTO_ICMPV6_ 58
#define IPV6_HLEN_ 40
#define ND_NEIGHBOR_SOLICIT_ 135

SEC("xdp")
int rvs_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    unsigned char *p = data;
    __u32 addr;

    if (data + ETH_HLEN_ > end)
        return XDP_PASS;
    __u16 proto = (__u16)(p[12] << 8 | p[13]);
    if (proto == ETH_P_ARP) {
        // Ethernet/IPv4 ARP: the target protocol address at offset 24.
        if (data + ETH_HLEN_ + 28 > end)
            return XDP_PASS;
        __builtin_memcpy(&addr, p + ETH_HLEN_ + 24, 4);
        if (bpf_map_lookup_elem(&host_addrs, &addr))
            return XDP_PASS;
    } else if (proto == ETH_P_IP) {
        if (data + ETH_HLEN_ + 20 > end)
            return XDP_PASS;
        // VRRP belongs to keepalived on the host stack beside rvs; rvs
        // never handles it. Every protocol-112 frame goes up, not only
        // adverts to 224.0.0.18: keepalived's unicast_peer mode sends them to
        // a peer's address of the operator's choosing, and a VRRP frame the
        // kernel has no listener for is dropped there at no cost to rvs.
        __u8 l4 = p[ETH_HLEN_ + 9];
        if (l4 == IPPROTO_VRRP_)
            return XDP_PASS;
        if (l4 != IPPROTO_TCP_ && l4 != IPPROTO_UDP_ && l4 != IPPROTO_ICMP_) {
            __u32 zero = 0;
            __u32 *flags = bpf_map_lookup_elem(&settings, &zero);
            if (flags && (*flags & SETTING_IGNORE_TUNNELED))
                return XDP_PASS;
        }
        __builtin_memcpy(&addr, p + ETH_HLEN_ + 16, 4);
        if (bpf_map_lookup_elem(&host_addrs, &addr))
            return XDP_PASS;
    } else if (proto == ETH_P_IPV6) {
        struct in6_key key;
        if (data + ETH_HLEN_ + IPV6_HLEN_ > end)
            return XDP_PASS;
        __builtin_memcpy(&key, p + ETH_HLEN_ + 24, 16);
        if (!bpf_map_lookup_elem(&rvs_addrs6, &key)) {
            __u32 one = 1;
            __u32 *balancing = bpf_map_lookup_elem(&settings, &one);
            int all_but_kernels = balancing && *balancing;
            // Multicast (ff00::/8) or link-local (fe80::/10).
            int local_scope = key.a[0] == 0xff || (key.a[0] == 0xfe && (key.a[1] & 0xc0) == 0x80);
            if (!local_scope) {
                if (!all_but_kernels || bpf_map_lookup_elem(&host_addrs6, &key))
                    return XDP_PASS;
            } else {
                // A solicitation goes to the target's solicited-node group: the
                // target (ICMPv6 bytes 8..24) says whose it is.
                if (p[ETH_HLEN_ + 6] != IPPROTO_ICMPV6_ || data + ETH_HLEN_ + IPV6_HLEN_ + 24 > end ||
                    p[ETH_HLEN_ + IPV6_HLEN_] != ND_NEIGHBOR_SOLICIT_)
                    return XDP_PASS;
                __builtin_memcpy(&key, p + ETH_HLEN_ + IPV6_HLEN_ + 8, 16);
                if (!bpf_map_lookup_elem(&rvs_addrs6, &key)) {
                    int target_local = key.a[0] == 0xfe && (key.a[1] & 0xc0) == 0x80;
                    if (!all_but_kernels || target_local || bpf_map_lookup_elem(&host_addrs6, &key))
                        return XDP_PASS;
                }
            }
        }
    } else if (proto == ETH_P_8021Q) {
        // 802.1Q: rvs's VLAN interfaces (src/pipeline/vlan.rs). Every tagged
        // frame goes to rvs, the kernel's addresses' too: this host path has
        // no VLAN device to take them (and kernels without 8021q, as the
        // test machines, could not use them anyway); rvs drops and counts
        // what it does not handle.
    } else {
        return XDP_PASS;
    }
    // No socket on this queue: the kernel gets it rather than a void.
    return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
