"""How long the first ``trainprint demo`` takes, and how much memory it needs, as a new user runs it.

Runs the command line ``trainprint demo --out OUT/demo`` (``--seed``, ``--preset``,
``--regenerate`` passed through) as a child process with an empty decode cache (``TRAINPRINT_CACHE``
set to a new folder), and prints its wall time, the seconds of each stage from ``run.json``, and the
peak resident memory of the largest process it started (``resource.getrusage(RUSAGE_CHILDREN)``:
the OS's figure, the same ``/usr/bin/time -v`` prints as "Maximum resident set size"). The numbers
are also written to ``OUT/bench_demo.json``. The target (issue 23): under 2 minutes for the default
``trainprint demo`` on the 2-core reference machine.

    python benchmarks/bench_demo.py --out /tmp/bd                  # the default demo (shipped data)
    python benchmarks/bench_demo.py --out /tmp/bd2 --regenerate    # with the generator trained first

Run it alone on the machine (nothing else CPU-heavy), from the repository root; with
``PYTHONPATH=src`` the repository's code is the one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="new folder: OUT/demo is the demo's --out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="fast")
    ap.add_argument("--regenerate", action="store_true", help="pass --regenerate (trains the generator)")
    args = ap.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        ap.error(f"--out {args.out}: not empty; the benchmark measures a first run")
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "trainprint", "demo", "--out", str(args.out / "demo"), "--seed", str(args.seed),
           "--preset", args.preset] + (["--regenerate"] if args.regenerate else [])
    env = {**os.environ, "TRAINPRINT_CACHE": str(args.out / "cache")}
    t0 = time.perf_counter()
    with open(args.out / "demo.log", "w") as log:
        rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    if rc != 0:
        print(f"bench_demo: the demo exited {rc}; see {args.out / 'demo.log'}", file=sys.stderr)
        return 1
    run = json.loads((args.out / "demo" / "run.json").read_text())
    result = {
        "command": " ".join(["trainprint"] + cmd[3:]), "wall_s": round(wall, 1),
        "peak_rss_gib": round(peak_kb / 2**20, 2), "timings_s": run["timings_s"],
        "torch_threads": run["machine"]["torch_threads"], "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""), "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "data": run["results"].get("data: demo folder"),
    }
    (args.out / "bench_demo.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['command']}: {wall:.1f} s wall ({wall / 60:.2f} min), peak RSS {result['peak_rss_gib']} GiB "
          f"(largest process), {result['cpu_count']} CPUs, torch threads {result['torch_threads']}")
    print(f"data: {result['data']}")
    for stage, s in run["timings_s"].items():
        print(f"  {stage:10s} {s:8.1f} s")
    print(f"  {'(outside stages: start-up, imports, printing)':10s} {wall - sum(run['timings_s'].values()):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
