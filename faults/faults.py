#!/usr/bin/env python3
"""Gatehouse under faults: real server processes on loopback, bounded load from this process,
one injected fault per scenario, then the invariants. One line of figures per scenario, then
"N passed, M failed". faults/README.md lists what each scenario checks.

    python3 faults/faults.py BIN POSTGRES_URL WORKDIR [SCENARIO ...]
"""

import sys

import common
import database
import instances
import storage
import storm

SCENARIOS = [storage.f1, database.f2, instances.f3, storage.f4, storage.f5, instances.f6, instances.f7, instances.f8,
             database.f9, storm.f10_storm, storm.f10_logs]

if __name__ == "__main__":
    chosen = sys.argv[4:]
    for run in SCENARIOS:
        if not chosen or any(run.__name__ == c or run.__name__.startswith(c + "_") for c in chosen):
            run()
    passed = sum(common.RESULTS)
    print(f"{passed} passed, {len(common.RESULTS) - passed} failed")
    sys.exit(0 if passed == len(common.RESULTS) else 1)
