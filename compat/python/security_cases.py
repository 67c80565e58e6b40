"""The security cases of the compatibility suite (compat/security_test.go),
shared by the Python drivers: one process runs every case of SPEC (a JSON
file) with the driver's run_case, and prints per case
RESULT<TAB>name<TAB>ok or RESULT<TAB>name<TAB>FAIL<TAB>what the client said.
"""
import json
import sys
import time


def run(spec, run_case):
    with open(spec) as f:
        cases = json.load(f)["cases"]
    for c in cases:
        try:
            got = run_case(c)
            if got != c["values"]:
                raise AssertionError("read back %r, want %r" % (got, c["values"]))
            line = "ok"
        except BaseException as e:  # the client's own exception text
            line = "FAIL\t%s: %s" % (type(e).__name__, str(e).replace("\n", " ").replace("\t", " "))
        print("RESULT\t%s\t%s" % (c["name"], line))
        sys.stdout.flush()


def deadline(seconds=20):
    return time.monotonic() + seconds
