"""`make cluster`: two gunicorn app servers over HTTPS, one Celery worker, PostgreSQL, Redis, S3 on moto's server
and the local OpenAI-protocol server, all with production settings; Ctrl-C stops every part.

The parts and how they start are in tests/support/cluster.py, which the cluster test and `make load` use too.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import (
    DEFAULT_DATABASE,
    DEFAULT_REDIS_URL,
    DEFAULT_SERVER_URL,
    ClusterOptions,
    flask_command,
    running_cluster,
)
from tests.support.processes import ROOT


def main() -> None:
    from sqlalchemy.exc import OperationalError

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("CLUSTER_POSTGRES_URL", DEFAULT_SERVER_URL),
        help="a PostgreSQL URL on the server to use (env CLUSTER_POSTGRES_URL)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("CLUSTER_DATABASE", DEFAULT_DATABASE),
        help="the cluster's database, created afresh on each start (env CLUSTER_DATABASE)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("CLUSTER_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument(
        "--ports",
        default=os.environ.get("CLUSTER_PORTS", "5001,5002"),
        help="the app servers' ports, comma-separated (env CLUSTER_PORTS)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per app server")
    parser.add_argument("--threads", type=int, default=16, help="threads per gunicorn worker")
    parser.add_argument("--workdir", type=Path, default=ROOT / "instance" / "cluster")
    args = parser.parse_args()
    options = ClusterOptions(
        workdir=args.workdir.resolve(),
        server_url=args.server_url,
        database=args.database,
        redis_url=args.redis_url,
        ports=tuple(int(port) for port in args.ports.split(",")),
        workers=args.workers,
        threads=args.threads,
    )
    # Ctrl-C and `kill` (SIGTERM) both stop the cluster, never leaving its parts behind (SIGINT set explicitly:
    # a shell starting this in the background would have it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # A fresh database each time: moto keeps the bucket in memory, so files would not outlive a run.
        with running_cluster(options, fresh_database=True) as cluster:
            print(flask_command(cluster.env, "users", "ensure-admin").strip())
            print(
                f"PostgreSQL {cluster.database_url.split('@')[-1]}, Redis {options.redis_url}, "
                f"S3 (moto) {cluster.s3_endpoint}, model server {cluster.model_url}"
            )
            print(f"Certificate (self-signed, trust it or accept the warning): {cluster.certificate}")
            for url in cluster.app_urls:
                print(f"App server: {url}/")
            print(f"Logs in {options.workdir / 'logs'}. Ctrl-C stops everything.", flush=True)
            while all(part.running() for part in cluster.parts):
                time.sleep(1)
            stopped = next(part for part in cluster.parts if not part.running())
            print(f"{stopped.name} stopped on its own; stopping the rest. Its log ends with:\n{stopped.log_tail()}")
    except KeyboardInterrupt:
        print("\nStopping the cluster...")
    except (OSError, RuntimeError) as error:
        raise SystemExit(f"workbench: the cluster could not start: {error}") from None
    except OperationalError as error:  # PostgreSQL is not where it was said to be
        raise SystemExit(
            f"workbench: cannot reach PostgreSQL at {options.server_url} (set CLUSTER_POSTGRES_URL): "
            f"{str(error).splitlines()[0]}"
        ) from None
    print("Stopped.")


if __name__ == "__main__":
    main()
