#!/usr/bin/env python3
"""Stall ONE thread of a process for a while, leaving its other threads running.

    stall_thread.py TID SECONDS

SIGSTOP would stop every thread of rvs (the announcer too, which would then withdraw
nothing).  ptrace(PTRACE_SEIZE) + PTRACE_INTERRUPT stops exactly the thread TID: a poll
loop that no longer runs, as a loop stuck in a bug would be.  PTRACE_DETACH lets it go on;
if this script dies, the kernel detaches it too.  Prints "stopped EPOCH_MS" once the thread
is stopped and "released" after.
"""
import ctypes
import os
import sys
import time

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid):
    if libc.ptrace(req, tid, None, None) != 0:
        e = ctypes.get_errno()
        sys.exit(f"stall_thread: ptrace({req:#x}, {tid}): {os.strerror(e)}")


def main():
    tid, secs = int(sys.argv[1]), float(sys.argv[2])
    if not 0 < secs <= 30:
        sys.exit("stall_thread: SECONDS must be in (0, 30]")
    ptrace(PTRACE_SEIZE, tid)
    ptrace(PTRACE_INTERRUPT, tid)
    os.waitpid(tid, WALL)
    print(f"stopped {int(time.time() * 1000)}", flush=True)
    time.sleep(secs)
    ptrace(PTRACE_DETACH, tid)
    print("released", flush=True)


main()
