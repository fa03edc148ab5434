//! A real server at one of the host's own addresses is the director itself (`Local`), as the
//! kernel's inet_addr_type() == RTN_LOCAL makes it: decided at every add and edit, and again
//! when the host's addresses change; only with a way to the host stack.

use super::own_addrs::LocalHost;
use super::Control;
use crate::api::command::{Command, ListFormat};
use crate::ipvsadm::format::{list_services, save};
use crate::pipeline::Shared;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

const OWN: Ipv4Addr = Ipv4Addr::new(198, 18, 9, 1);

/// The host as the tests make it: its addresses, and every set of servers it was told to serve.
#[derive(Default)]
struct HostState {
    addrs: BTreeSet<Ipv4Addr>,
    served: Vec<BTreeSet<(Ipv4Addr, u16)>>,
}

struct FakeHost {
    state: Arc<Mutex<HostState>>,
    delivers: bool,
}

impl LocalHost for FakeHost {
    fn addresses(&mut self) -> Result<BTreeSet<Ipv4Addr>, String> {
        Ok(self.state.lock().unwrap().addrs.clone())
    }
    fn delivers(&self) -> bool {
        self.delivers
    }
    fn serve(&mut self, servers: &BTreeSet<(Ipv4Addr, u16)>) {
        self.state.lock().unwrap().served.push(servers.clone());
    }
}

fn control(addrs: &[Ipv4Addr], delivers: bool) -> (Control, Arc<Mutex<HostState>>) {
    let state = Arc::new(Mutex::new(HostState { addrs: addrs.iter().copied().collect(), served: Vec::new() }));
    let mut ctl = Control::new(Arc::new(Shared::new()));
    ctl.set_local_host(Some(Box::new(FakeHost { state: state.clone(), delivers })));
    (ctl, state)
}

fn run(ctl: &mut Control, line: &str) {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    let cmd: Command = crate::ipvsadm::args::parse(&argv).unwrap_or_else(|e| panic!("{line}: {e}"));
    ctl.apply(&cmd).unwrap_or_else(|e| panic!("{line}: {e}"));
}

fn listing(ctl: &Control) -> String {
    let fmt = ListFormat { numeric: true, ..ListFormat::default() };
    let l = list_services(&ctl.views(), None, &fmt).unwrap();
    println!("{l}");
    l
}

fn last_served(state: &Mutex<HostState>) -> Vec<(Ipv4Addr, u16)> {
    state.lock().unwrap().served.last().map(|s| s.iter().copied().collect()).unwrap_or_default()
}

#[test]
fn a_real_server_at_a_host_address_is_local_from_its_add() {
    let (mut ctl, state) = control(&[OWN, Ipv4Addr::LOCALHOST], true);
    run(&mut ctl, "-A -t 198.18.0.100:80 -s rr");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 198.18.9.1:8081 -m");
    let l = listing(&ctl);
    assert!(l.contains("  -> 198.18.9.1:8081              Local   1      0          0"), "{l}");
    assert!(l.contains("  -> 198.18.1.11:80               Masq    1      0          0"), "{l}");
    let s = save(&ctl.views(), true);
    println!("{s}");
    assert!(s.contains("-a -t 198.18.0.100:80 -r 198.18.9.1:8081 -g -w 1\n"), "{s}");
    assert_eq!(last_served(&state), vec![(OWN, 8081)], "its replies are asked back from the host");
    // The data plane's snapshot holds the decision: what each new connection copies.
    let table = ctl.shared().services.load();
    let (_, rt) = table.get(0).unwrap();
    let flags: Vec<(String, bool)> = rt.dests.iter().map(|d| (d.addr.to_string(), d.is_local())).collect();
    println!("{flags:?}");
    assert_eq!(flags, [("198.18.9.1".to_string(), true), ("198.18.1.11".to_string(), false)]);
}

#[test]
fn the_host_gaining_and_losing_the_address_is_followed() {
    let (mut ctl, state) = control(&[], true);
    run(&mut ctl, "-A -t 198.18.0.100:80 -s rr");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 198.18.9.1:8081 -m");
    assert!(listing(&ctl).contains("  -> 198.18.9.1:8081              Masq    1"));
    assert!(last_served(&state).is_empty());
    state.lock().unwrap().addrs.insert(OWN);
    ctl.refresh_local();
    assert!(listing(&ctl).contains("  -> 198.18.9.1:8081              Local   1"), "Local once the host has it");
    assert_eq!(last_served(&state), vec![(OWN, 8081)]);
    state.lock().unwrap().addrs.remove(&OWN);
    ctl.refresh_local();
    assert!(listing(&ctl).contains("  -> 198.18.9.1:8081              Masq    1"), "its method again");
    assert!(last_served(&state).is_empty(), "no reply rule left");
    println!("served, in order: {:?}", state.lock().unwrap().served);
    assert_eq!(state.lock().unwrap().served.len(), 2, "told only of changes");
}

#[test]
fn an_add_or_edit_asks_the_host_as_it_is_then() {
    let (mut ctl, state) = control(&[], true);
    run(&mut ctl, "-A -t 198.18.0.100:80 -s rr");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 198.18.9.1:8081 -m");
    // Given to the host between two commands, before any tick: the edit sees it.
    state.lock().unwrap().addrs.insert(OWN);
    run(&mut ctl, "-e -t 198.18.0.100:80 -r 198.18.9.1:8081 -m -w 3");
    assert!(listing(&ctl).contains("  -> 198.18.9.1:8081              Local   3"));
}

#[test]
fn without_a_way_to_the_host_only_the_loopback_net_is_local() {
    let (mut ctl, state) = control(&[OWN], false);
    run(&mut ctl, "-A -t 198.18.0.100:80 -s rr");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 198.18.9.1:8081 -m");
    run(&mut ctl, "-a -t 198.18.0.100:80 -r 127.0.0.1:8081 -m");
    let l = listing(&ctl);
    assert!(l.contains("  -> 198.18.9.1:8081              Masq    1"), "keeps its method: {l}");
    assert!(l.contains("  -> 127.0.0.1:8081               Local   1"), "{l}");
    assert!(state.lock().unwrap().served.is_empty());
}

/// -S writes Local as -g (ipvsadm's fwd_switch), and -R of that (-g takes the service's port)
/// gives the same rules back.
#[test]
fn save_and_restore_keep_a_local_server_local() {
    let (mut ctl, _) = control(&[OWN], true);
    run(&mut ctl, "-A -t 198.18.0.100:8081 -s rr");
    run(&mut ctl, "-a -t 198.18.0.100:8081 -r 198.18.9.1:8081 -m -w 2");
    let saved = save(&ctl.views(), true);
    let (mut again, state) = control(&[OWN], true);
    for line in saved.lines() {
        run(&mut again, line);
    }
    let restored = save(&again.views(), true);
    println!("{saved}{restored}");
    assert_eq!(saved, restored);
    assert!(listing(&again).contains("  -> 198.18.9.1:8081              Local   2"));
    assert_eq!(last_served(&state), vec![(OWN, 8081)]);
}
