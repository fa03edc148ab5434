#!/usr/bin/env bash
# tests/e2e/test_install.sh: scripts/install, into temporary DESTDIRs only (never /).
# rvs runs from this tree's target/release with the lab's config (one namespace, one veth,
# no traffic: the rules are only text here) and is driven through the INSTALLED names
# $DEST/usr/sbin/ipvsadm, ipvsadm-save and ipvsadm-restore (symbolic links to the installed
# rvsadm), which find it by $RVS_SOCKET as rvsadm does.
# Cases: the files and links an install makes; a second install changes nothing and keeps an
# edited config; ipvsadm drives rvs (save, -C, restore, compare; the package's restore clears
# first; texts naming ipvsadm as called; exit statuses); --uninstall leaves the empty DESTDIR
# empty; the real ipvsadm (the ipvsadm package's programs copied from this machine, a
# stand-in script where the package is absent) is left untouched without --replace-ipvsadm,
# kept aside as NAME.real with it, never over an existing NAME.real, and put back by
# --uninstall; a /sbin of its own (no merged /usr) gets the names too.
# shellcheck disable=SC2317,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

INSTALL="$REPO_DIR/scripts/install"
CONFIG="$RUN_DIR/rvs-install.toml"
ns_add d
ns_add p
veth_add d d-out p eth0
{ rvs_conf_admin "$RVS_SOCK"; rvs_conf_iface d-out 198.18.0.1/24; } >"$CONFIG"
start_rvs "$CONFIG"

# A DESTDIR per case family; each a fresh directory of this run (never /).
new_dest() {   # NAME
  local d="$RUN_DIR/$1"
  mkdir "$d"
  printf '%s\n' "$d"
}

# install_into DEST [ARGS...]: scripts/install --destdir DEST, its output in $LOG_DIR.
install_into() {
  local dest="$1"; shift
  case "$dest" in "$RUN_DIR"/?*) ;; *) die "refusing to install outside the run directory: '$dest'" ;; esac
  "$INSTALL" --destdir "$dest" "$@"
}

# snapshot DIR: every entry's type, mode, path and link target, and every file's sha256.
snapshot() {
  (cd "$1" && find . -mindepth 1 -printf '%y %m %p %l\n' | LC_ALL=C sort &&
    find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2)
}

# A stand-in script that says which it is: something else at a name (NAME.real taken), or
# the real ipvsadm's programs where the package is not installed.
fake_real() {   # PATH
  mkdir -p "$(dirname "$1")"
  printf '#!/bin/sh\necho "real %s $*"\n' "$(basename "$1")" >"$1"
  chmod 755 "$1"
}

# The existing real ipvsadm a DESTDIR gets: the ipvsadm package's ipvsadm, ipvsadm-save and
# ipvsadm-restore as installed on this machine (Debian's, in /sbin; with a /sbin/NAME that is
# already rvs's link, its NAME.real), else stand-ins. They are copied, never run: the real
# ipvsadm would act on the kernel's IPVS (absent here: it only says "Can't initialize ipvs").
# Whether a name holds them is a byte comparison with $REAL_FROM.
REAL_FROM="$RUN_DIR/real-ipvsadm"
mkdir -p "$REAL_FROM"
REAL_KIND="the ipvsadm package's"
for n in ipvsadm ipvsadm-save ipvsadm-restore; do
  src=""
  if dpkg-query -W -f='${Status}' ipvsadm 2>/dev/null | grep -q "install ok installed"; then
    for f in $(dpkg -L ipvsadm | grep -E "/s?bin/$n\$"); do
      if [ -f "$f" ] && ! [ -L "$f" ]; then src="$f"; elif [ -f "$f.real" ] && ! [ -L "$f.real" ]; then src="$f.real"; fi
      [ -z "$src" ] || break
    done
  fi
  if [ -n "$src" ]; then cp -p "$src" "$REAL_FROM/$n"; log "real $n: $src ($(sha256sum <"$src" | cut -c1-16)...)"
  else fake_real "$REAL_FROM/$n"; REAL_KIND="stand-in"; log "real $n: a stand-in (no ipvsadm package)"; fi
done
unset n src f
put_real() {   # PATH: the real program of PATH's name (ipvsadm, ipvsadm-save, ipvsadm-restore) there
  mkdir -p "$(dirname "$1")"
  cp -p "$REAL_FROM/$(basename "$1")" "$1"
}
is_real() {   # PATH NAME: PATH holds the real NAME, byte for byte
  cmp -s "$REAL_FROM/$2" "$1" || { warn "$1 is not the real $2 ($REAL_KIND)"; return 1; }
}

DEST="$(new_dest dest)"
SBIN="$DEST/usr/sbin"
VIP=198.18.0.100

# ------------------------------------------------------------------------------------ a
case_a_install() {
  local out; out="$(install_into "$DEST" 2>&1)"
  printf '%s\n' "$out" | sed 's/^/    install| /'
  log "installed tree:"; (cd "$DEST" && find . -mindepth 1 -printf '    %y %m %p %l\n' | LC_ALL=C sort)
  cmp "$RVS_BIN" "$DEST/usr/local/sbin/rvs"
  cmp "$RVSADM_BIN" "$DEST/usr/local/sbin/rvsadm"
  cmp "$REPO_DIR/config.example" "$DEST/etc/rvs/rvs.toml"
  cmp "$REPO_DIR/README.md" "$DEST/usr/local/share/doc/rvs/README.md"
  assert_eq "755 644" "$(stat -c %a "$DEST/usr/local/sbin/rvs") $(stat -c %a "$DEST/etc/rvs/rvs.toml")" "modes"
  local unit="$DEST/etc/systemd/system/rvs.service"
  assert_contains "$(cat "$unit")" $'\nExecStart=/usr/local/sbin/rvs --config /etc/rvs/rvs.toml\n' "unit ExecStart"
  assert_contains "$(cat "$unit")" "Documentation=file:///usr/local/share/doc/rvs/README.md" "unit Documentation"
  local n
  for n in ipvsadm ipvsadm-save ipvsadm-restore; do
    assert_eq "../local/sbin/rvsadm" "$(readlink "$SBIN/$n")" "$n link"
  done
  assert_eq "$(wc -l <"$DEST/usr/local/share/rvs/installed")" \
    "$(grep -c . "$DEST/usr/local/share/rvs/installed")" "manifest: one action a line"
  log "manifest: $(wc -l <"$DEST/usr/local/share/rvs/installed") actions"
  # --prefix: the unit and the links follow it.
  local opt; opt="$(new_dest opt)"
  install_into "$opt" --prefix /opt/rvs >/dev/null
  assert_contains "$(cat "$opt/etc/systemd/system/rvs.service")" "ExecStart=/opt/rvs/sbin/rvs --config" "--prefix unit"
  assert_eq "../../opt/rvs/sbin/rvsadm" "$(readlink "$opt/usr/sbin/ipvsadm")" "--prefix link"
  assert_eq "rvs-ok" "$("$opt/usr/sbin/ipvsadm" -v >/dev/null && echo rvs-ok)" "--prefix link resolves"
  install_into "$opt" --prefix /opt/rvs --uninstall >/dev/null
  assert_eq "" "$(ls -A "$opt")" "--prefix uninstall"
}

# ------------------------------------------------------------------------------------ b
case_b_idempotent() {
  local before after
  printf '\n# edited by the operator\n' >>"$DEST/etc/rvs/rvs.toml"
  before="$(snapshot "$DEST")"
  local out; out="$(install_into "$DEST" 2>&1)"
  assert_contains "$out" "kept $DEST/etc/rvs/rvs.toml" "config kept"
  after="$(snapshot "$DEST")"
  assert_eq "$before" "$after" "a second install changes nothing"
  assert_eq "# edited by the operator" "$(tail -n1 "$DEST/etc/rvs/rvs.toml")" "the operator's edit survives"
  # Back to config.example's text, so that --uninstall may remove it (case d).
  cp "$REPO_DIR/config.example" "$DEST/etc/rvs/rvs.toml"
}

# ------------------------------------------------------------------------------------ c
case_c_ipvsadm_drives_rvs() {
  local ipvsadm="$SBIN/ipvsadm" saved="$RUN_DIR/saved" rc out
  "$ipvsadm" -A -t "$VIP:80" -s wrr -p
  "$ipvsadm" -a -t "$VIP:80" -r 198.18.1.11:80 -m -w 2
  "$ipvsadm" -a -t "$VIP:80" -r 198.18.1.12:80 -m -w 1
  "$ipvsadm" -A -u "$VIP:53" -s rr
  "$ipvsadm" -a -u "$VIP:53" -r 198.18.1.11:53 -g
  "$SBIN/ipvsadm-save" -n >"$saved"
  log "ipvsadm-save -n:"; sed 's/^/    /' "$saved"
  assert_eq "$(rvsadm -S -n)" "$(cat "$saved")" "ipvsadm-save -n is rvsadm -S -n"
  assert_eq "$("$ipvsadm" -S -n)" "$(cat "$saved")" "ipvsadm -S -n"
  assert_contains "$(cat "$saved")" "-A -t $VIP:80 -s wrr -p 360" "ipvsadm's -p default"
  assert_eq "$("$ipvsadm" -L -n)" "$(rvsadm -L -n)" "ipvsadm -L -n is rvsadm's"
  "$ipvsadm" -C
  assert_eq "0" "$("$ipvsadm" -S -n | wc -l)" "-C cleared the table"
  { echo "# rules of $(date +%F)"; cat "$saved"; } | "$SBIN/ipvsadm-restore"
  assert_eq "$(cat "$saved")" "$("$SBIN/ipvsadm-save" -n)" "ipvsadm-restore < saved, saved again"
  # The package's ipvsadm-restore clears first; ipvsadm -R adds to what is there.
  "$ipvsadm" -A -t "$VIP:8080"
  "$SBIN/ipvsadm-restore" <"$saved"
  assert_eq "$(cat "$saved")" "$("$SBIN/ipvsadm-save" -n)" "ipvsadm-restore cleared the extra service"
  "$ipvsadm" -C
  "$ipvsadm" -A -t "$VIP:8080"
  "$ipvsadm" -R <"$saved"
  assert_contains "$("$ipvsadm" -S -n)" "-A -t $VIP:8080 -s wlc" "ipvsadm -R keeps what is there"
  assert_eq "$(($(wc -l <"$saved") + 1))" "$("$ipvsadm" -S -n | wc -l)" "ipvsadm -R added the saved lines"

  # Texts naming the program: argv[0] as typed, as ipvsadm.c prints it.
  rc=0; out="$("$ipvsadm" -w 3 2>&1)" || rc=$?
  log "$ipvsadm -w 3 -> $rc: $out"
  assert_eq "255 Try \`$ipvsadm -h' or '$ipvsadm --help' for more information." "$rc $out" "no command: the Try line"
  rc=0; out="$(PATH="$SBIN:$PATH" ipvsadm -w 3 2>&1)" || rc=$?
  assert_eq "255 Try \`ipvsadm -h' or 'ipvsadm --help' for more information." "$rc $out" "by PATH: ipvsadm"
  assert_eq "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)" "$("$ipvsadm" -v)" "-v"
  out="$("$ipvsadm" -h)"
  assert_contains "$out" $'Usage:\n  '"$ipvsadm"$' -A|E virtual-service' "-h usage lines"
  assert_not_contains "$out" "  rvsadm -" "no rvsadm usage line"
  rc=0; out="$("$ipvsadm" -L -n -t "$VIP:81" 2>&1)" || rc=$?
  assert_eq "1" "$rc" "-L of a missing service: status 1 ($out)"
  rc=0; out="$("$ipvsadm" -A -t "$VIP:80" 2>&1)" || rc=$?
  assert_eq "255 Service already exists" "$rc $out" "kernel error: status and text"
  rc=0; out="$("$SBIN/ipvsadm-save" -x 2>&1)" || rc=$?
  assert_eq "1 ipvsadm-save: Script to save the IPVS table to stdout.
   With the -n option, prints out the table in numeric format." "$rc $out" "ipvsadm-save -x: the script's help"
  # A rules file with a line ipvsadm -R stops at: the lines before stay, the Try line names
  # ipvsadm (the script runs it by PATH), the status is -R's.
  rc=0
  out="$(printf '%s\n' "-A -t $VIP:443 -s rr" "-w 3" "-A -t $VIP:444 -s rr" | "$SBIN/ipvsadm-restore" 2>&1)" || rc=$?
  log "ipvsadm-restore of a bad line -> $rc: $out"
  assert_eq "255 Try \`ipvsadm -h' or 'ipvsadm --help' for more information." "$rc $out" "restore: bad line"
  assert_eq "-A -t $VIP:443 -s rr" "$("$SBIN/ipvsadm-save" -n)" "restore: cleared, the line before kept"
  "$ipvsadm" -C
  # Without a daemon: the name's own message, status 2.
  rc=0; out="$(RVS_SOCKET="$RUN_DIR/none.sock" "$ipvsadm" -Ln 2>&1)" || rc=$?
  assert_eq "2" "$rc" "no daemon: status"
  assert_contains "$out" "ipvsadm: cannot talk to rvs at $RUN_DIR/none.sock" "no daemon: text"
}

# ------------------------------------------------------------------------------------ d
case_d_uninstall() {
  local out; out="$(install_into "$DEST" --uninstall 2>&1)"
  printf '%s\n' "$out" | sed 's/^/    uninstall| /'
  assert_eq "" "$(cd "$DEST" && find . -mindepth 1)" "the DESTDIR is empty again"
  rc=0; install_into "$DEST" --uninstall >/dev/null 2>&1 || rc=$?
  assert_eq "1" "$rc" "a second --uninstall: nothing to do, status 1"
}

# ------------------------------------------------------------------------------------ e
case_e_real_ipvsadm_left_alone() {
  local dest before out n
  dest="$(new_dest real)"
  for n in ipvsadm ipvsadm-save ipvsadm-restore; do put_real "$dest/usr/sbin/$n"; done
  before="$(snapshot "$dest")"
  out="$(install_into "$dest" 2>&1)"
  log "install beside a real ipvsadm:"; printf '%s\n' "$out" | grep 'left' | sed 's/^/    /'
  assert_contains "$out" "left $dest/usr/sbin/ipvsadm alone" "reported"
  assert_contains "$out" "--replace-ipvsadm" "says how to ask"
  for n in ipvsadm ipvsadm-save ipvsadm-restore; do
    assert_eq "$(grep " ./usr/sbin/$n\$" <<<"$before")" "$(snapshot "$dest" | grep " ./usr/sbin/$n\$")" "$n untouched"
    is_real "$dest/usr/sbin/$n" "$n"
  done
  log "$REAL_KIND ipvsadm, ipvsadm-save, ipvsadm-restore untouched"
  [ -x "$dest/usr/local/sbin/rvsadm" ]
  install_into "$dest" --uninstall >/dev/null
  assert_eq "$before" "$(snapshot "$dest")" "uninstall: as before"
}

# ------------------------------------------------------------------------------------ f
case_f_replace_keeps_the_real_one() {
  local dest before after out n
  dest="$(new_dest replace)"
  for n in ipvsadm ipvsadm-save ipvsadm-restore; do put_real "$dest/usr/sbin/$n"; done
  before="$(snapshot "$dest")"
  out="$(install_into "$dest" --replace-ipvsadm 2>&1)"
  assert_contains "$out" "moved $dest/usr/sbin/ipvsadm to $dest/usr/sbin/ipvsadm.real" "reported"
  for n in ipvsadm ipvsadm-save ipvsadm-restore; do
    assert_eq "../local/sbin/rvsadm" "$(readlink "$dest/usr/sbin/$n")" "$n is rvsadm"
    is_real "$dest/usr/sbin/$n.real" "$n"
  done
  assert_contains "$("$dest/usr/sbin/ipvsadm" -Ln)" "IP Virtual Server version 1.2.1" "ipvsadm is rvs's now"
  after="$(snapshot "$dest")"
  install_into "$dest" --replace-ipvsadm >/dev/null
  assert_eq "$after" "$(snapshot "$dest")" "a second --replace-ipvsadm changes nothing"
  install_into "$dest" --uninstall >/dev/null
  assert_eq "$before" "$(snapshot "$dest")" "uninstall: the real ones back, as before"

  # NAME.real taken by something else: nothing is clobbered, status 1.
  dest="$(new_dest collide)"
  put_real "$dest/usr/sbin/ipvsadm"
  fake_real "$dest/usr/sbin/ipvsadm.real"
  before="$(snapshot "$dest")"
  rc=0; out="$(install_into "$dest" --replace-ipvsadm 2>&1)" || rc=$?
  assert_eq "1" "$rc" "collision: status"
  assert_contains "$out" "cannot keep $dest/usr/sbin/ipvsadm aside: $dest/usr/sbin/ipvsadm.real exists" "collision: text"
  local both='\./usr/sbin/ipvsadm(\.real)?( |$)'
  assert_eq "$(grep -E "$both" <<<"$before")" "$(snapshot "$dest" | grep -E "$both")" "collision: both untouched"
  install_into "$dest" --uninstall >/dev/null
  assert_eq "$before" "$(snapshot "$dest")" "collision: uninstall as before"
}

# ------------------------------------------------------------------------------------ g
case_g_own_sbin() {
  local dest before
  dest="$(new_dest split)"
  put_real "$dest/sbin/ipvsadm"       # Debian's package installs into /sbin
  mkdir -p "$dest/usr/sbin"
  before="$(snapshot "$dest")"
  install_into "$dest" >/dev/null 2>&1
  is_real "$dest/sbin/ipvsadm" ipvsadm
  assert_eq "$(grep " ./sbin/ipvsadm\$" <<<"$before")" "$(snapshot "$dest" | grep " ./sbin/ipvsadm\$")" "/sbin/ipvsadm left alone"
  assert_eq "../usr/local/sbin/rvsadm" "$(readlink "$dest/sbin/ipvsadm-save")" "/sbin/ipvsadm-save linked"
  assert_eq "$(rvsadm -S -n)" "$("$dest/sbin/ipvsadm-save" -n)" "/sbin/ipvsadm-save works"
  assert_eq "../local/sbin/rvsadm" "$(readlink "$dest/usr/sbin/ipvsadm")" "/usr/sbin/ipvsadm linked"
  install_into "$dest" --uninstall >/dev/null
  assert_eq "$before" "$(snapshot "$dest")" "uninstall: as before"
}

run_case "a. install into an empty DESTDIR: binaries, unit, config, README, links; --prefix" case_a_install
run_case "b. a second install changes nothing and keeps an edited config" case_b_idempotent
run_case "c. the installed ipvsadm, ipvsadm-save, ipvsadm-restore drive rvs" case_c_ipvsadm_drives_rvs
run_case "d. --uninstall leaves the DESTDIR as it was (empty)" case_d_uninstall
run_case "e. a real ipvsadm is left untouched without --replace-ipvsadm" case_e_real_ipvsadm_left_alone
run_case "f. --replace-ipvsadm keeps the real ones as NAME.real, never over one; uninstall restores" \
  case_f_replace_keeps_the_real_one
run_case "g. a /sbin of its own gets the names too, its real ipvsadm left alone" case_g_own_sbin
if stop_rvs; then pass "h. SIGTERM: exit 0, admin socket removed, XDP detached"
else fail "h. SIGTERM: exit 0, admin socket removed, XDP detached"; fi
finish
