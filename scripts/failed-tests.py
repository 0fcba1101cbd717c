#!/usr/bin/env python3
"""Prints the failed .NET tests (JUnit reports under DIR) and failed monitoring checks, a few lines each.

test.sh calls it just before its summary line so that the tail of a long CI log names what failed.
Usage: failed-tests.py JUNIT_DIR [MONITORING_LOG]
"""
import pathlib
import sys
import xml.etree.ElementTree as ET

MAX_LINES = 8

def main() -> int:
    found = 0
    for report in sorted(pathlib.Path(sys.argv[1]).rglob("*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is None:
                continue
            if found == 0:
                print("== failed")
            found += 1
            print(f"FAILED {case.get('classname')}.{case.get('name')} ({case.get('time')} s)")
            text = (problem.get("message") or "") + "\n" + (problem.text or "")
            lines = [l for l in text.splitlines() if l.strip()][:MAX_LINES]
            for line in lines:
                print("    " + line.strip()[:300])
    if len(sys.argv) > 2 and pathlib.Path(sys.argv[2]).exists():
        for line in pathlib.Path(sys.argv[2]).read_text(errors="replace").splitlines():
            if line.startswith("FAIL "):
                if found == 0:
                    print("== failed")
                found += 1
                print("FAILED monitoring: " + line[5:])
    return 0

if __name__ == "__main__":
    sys.exit(main())
