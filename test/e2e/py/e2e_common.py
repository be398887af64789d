"""What every e2e client script shares: how it reports a failed check (stderr, exit code 1)."""
import sys


def fail(msg):
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
