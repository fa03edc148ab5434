#!/bin/sh
# tests/e2e/vrrp/notify.sh STATE_FILE STATE [RVSADM SOCKET]: keepalived's notify script in
# test_vrrp.sh.  Writes "STATE SECONDS.NANOSECONDS" (the moment keepalived called it) to
# STATE_FILE and appends the same line to STATE_FILE.log.  With RVSADM and SOCKET it then
# sets that director's rvs role to the newest state's: MASTER -> `rvsadm --role master`,
# BACKUP or FAULT -> `rvsadm --role backup`.
#
# keepalived forks notify scripts without waiting for the previous one: a MASTER and the
# BACKUP that follows it within milliseconds (both directors start as MASTER until they hear
# each other) run at once. So the writers take a lock, and STATE_FILE keeps the newest state
# by its time, whichever script finishes last; the file is replaced by one rename, so a
# reader never sees half a line.
set -eu
now=$(date +%s.%N)
exec 9>>"$1.lock"
flock 9
prev=0
[ -s "$1" ] && prev=$(awk '{print $2}' "$1")
if awk -v a="$now" -v b="$prev" 'BEGIN { exit !(a > b) }'; then
    printf '%s %s\n' "$2" "$now" >"$1.tmp"
    mv -f "$1.tmp" "$1"
fi
printf '%s %s\n' "$2" "$now" >>"$1.log"
if [ $# -ge 4 ]; then
    # Under the lock, and from the file: the newest state wins even if scripts overlap.
    case $(awk '{print $1}' "$1") in
        MASTER) role=master ;;
        *) role=backup ;;
    esac
    "$3" --socket "$4" --role "$role"
    printf 'role %s %s\n' "$role" "$(date +%s.%N)" >>"$1.log"
fi
