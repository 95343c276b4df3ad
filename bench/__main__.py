"""Run every benchmark against one embedded nats-server and print JSON.

Usage: python -m bench [--only NAME[,NAME]] [--quick]

Each module `bench/bench_<name>.py` exposes `run(ctx: BenchContext) -> dict`. The baselines
(`bench_baseline`) always run first; later benchmarks divide by `ctx.baseline`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench
from bench.context import BenchContext
from bus.embedded import EmbeddedNatsServer


def _modules() -> list[str]:
    names = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_")
    )
    names.remove("baseline")
    return ["baseline", *names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--quick", action="store_true", help="smaller workloads (smoke run)")
    args = parser.parse_args(argv)
    wanted = [n for n in args.only.split(",") if n]
    names = _modules()
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {names}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mtq-bench-") as tmp:
        server = EmbeddedNatsServer(data_dir=Path(tmp) / "nats")
        with server:
            ctx = BenchContext(
                nats_url=server.url, server=server, work_dir=Path(tmp), quick=args.quick
            )
            for name in names:
                if wanted and name not in wanted and name != "baseline":
                    continue
                print(f"[bench] {name} ...", file=sys.stderr, flush=True)
                started = time.perf_counter()
                module = importlib.import_module(f"bench.bench_{name}")
                result = module.run(ctx)
                results[name] = result
                if name == "baseline":
                    ctx.baseline = dict(result)
                print(
                    f"[bench] {name} done in {time.perf_counter() - started:.1f}s",
                    file=sys.stderr,
                    flush=True,
                )
    print(json.dumps(results, indent=2, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
