"""HyperQueue (pip install hyperqueue) on the independent workload: its LocalCluster (server and workers in
this process, through the package's native library) with 2 workers of 1 core each (or --workers W of
--cores C), and N tasks running `true` (HyperQueue runs programs; it has no in-process no-op task). Prints one
JSON object.
Usage: python3 hq_bench.py [--tasks N] [--workers W] [--cores C]"""
import argparse
import json
import tempfile
import time

from hyperqueue import Job
from hyperqueue.cluster import LocalCluster, WorkerConfig


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker (tasks it runs at once)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        with LocalCluster(server_dir=directory) as cluster:
            for _ in range(args.workers):
                cluster.start_worker(WorkerConfig(cores=args.cores))
            client = cluster.client()
            warm = Job()
            # Each task writes its stdout and stderr to files in its directory, as Trellis keeps its tasks' logs;
            # the temporary directory keeps them out of the caller's.
            warm.program(["true"], cwd=directory)
            client.wait_for_jobs([client.submit(warm)])
            job = Job()
            for _ in range(args.tasks):
                job.program(["true"], cwd=directory)
            start = time.perf_counter()
            submitted = client.submit(job)
            client.wait_for_jobs([submitted])
            rate = args.tasks / (time.perf_counter() - start)
    print(json.dumps({"independent_true_tasks_per_s": rate}))


if __name__ == "__main__":
    main()
