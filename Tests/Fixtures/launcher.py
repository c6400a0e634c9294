#!/usr/bin/env python3
"""A launcher shaped like torchrun, for Vigil's tests: it starts its worker (the rest of its command
line) in a session of its own, as torchrun starts its ranks, leaves SIGUSR1 at its default action
(torchrun installs no handler for it), forwards SIGTERM to the worker's group, and exits with the
worker's exit code. With --max-restarts 0 it never restarts the worker.

    launcher.py [--max-restarts 0] -- python trainer.py ARGS...
"""
import os
import signal
import subprocess
import sys


def main():
    args = sys.argv[1:]
    if args[:2] == ["--max-restarts", "0"]:
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: launcher.py [--max-restarts 0] -- COMMAND...", file=sys.stderr)
        return 64
    worker = subprocess.Popen(args, start_new_session=True)

    def forward(signum, _frame):
        try:
            os.killpg(worker.pid, signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    print(f"launcher: worker pid {worker.pid}", flush=True)
    code = worker.wait()
    print(f"launcher: worker exited {code}", flush=True)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
