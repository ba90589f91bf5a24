"""Time until PostgreSQL and Redis accept connections, from each source found here.

PostgreSQL is timed cold (initdb, no cluster cache) and warm (the cached cluster
copied, as `netra test` does after its first run on a machine); Redis needs no
cache. Each start is followed by a stop; the median of `--repeat` starts is printed.

    .venv/bin/python bench/testing/service_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Protocol

from netra.env import IsolatedEnvironment, process_environment
from netra.testing.services import postgres_binaries, redis_binary, start_postgres, start_redis

ENVIRONMENTS = (process_environment(), IsolatedEnvironment({"PATH": "/nonexistent"}))


class Service(Protocol):
    def stop(self) -> None: ...


def report(name: str, start: Callable[[], Service], repeat: int) -> None:
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        service = start()
        seconds.append(time.perf_counter() - began)
        service.stop()
    print(
        f"{name:42s} median {statistics.median(seconds) * 1000:6.0f} ms"
        f"   min {min(seconds) * 1000:6.0f}   max {max(seconds) * 1000:6.0f}"
    )


def main(repeat: int) -> None:
    postgres = {found for env in ENVIRONMENTS if (found := postgres_binaries(env))}
    for bin_dir, source in sorted(postgres):
        cold = partial(start_postgres, bin_dir, source)
        report(f"postgres ({source}), cold: initdb", cold, repeat)
        with tempfile.TemporaryDirectory() as cache:
            warm = partial(start_postgres, bin_dir, source, cache_dir=Path(cache))
            warm().stop()  # fills the cache
            report(f"postgres ({source}), warm: cached cluster", warm, repeat)
    redis = {found for env in ENVIRONMENTS if (found := redis_binary(env))}
    for binary, source in sorted(redis):
        report(f"redis ({source})", partial(start_redis, binary, source), repeat)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    main(parser.parse_args().repeat)
