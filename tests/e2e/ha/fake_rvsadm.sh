#!/bin/sh
# tests/e2e/ha/fake_rvsadm.sh: an rvsadm stand-in for test_ha.sh's rvs-notify case.  Appends
# its arguments (without --socket PATH) to $FAKE_RVSADM_LOG, and answers as rvsadm does when
# the sync daemons are in the state rvs-notify must tolerate: --start-daemon "Daemon has
# already run", --stop-daemon "No daemon is running" (exit 1).  --role takes
# $FAKE_RVSADM_ROLE_SECS (default 0) and fails (exit 2) if $FAKE_RVSADM_ROLE_FAILS is set.
[ "$1" = --socket ] && shift 2
echo "$*" >>"$FAKE_RVSADM_LOG"
case $1 in
    --role)
        sleep "${FAKE_RVSADM_ROLE_SECS:-0}"
        if [ -n "${FAKE_RVSADM_ROLE_FAILS:-}" ]; then echo "connect: No such file or directory" >&2; exit 2; fi ;;
    --start-daemon) echo "Daemon has already run" >&2; exit 1 ;;
    --stop-daemon) echo "No daemon is running" >&2; exit 1 ;;
esac
exit 0
