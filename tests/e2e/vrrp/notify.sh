#!/bin/sh
# tests/e2e/vrrp/notify.sh STATE_FILE STATE: keepalived's notify script in test_vrrp.sh.
# Writes "STATE SECONDS.NANOSECONDS" (the moment keepalived called it) to STATE_FILE in one
# rename, so a reader never sees half a line, and appends the same line to STATE_FILE.log.
set -eu
line="$2 $(date +%s.%N)"
printf '%s\n' "$line" >"$1.tmp"
mv -f "$1.tmp" "$1"
printf '%s\n' "$line" >>"$1.log"
