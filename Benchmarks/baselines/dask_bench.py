"""Dask distributed on the same workloads as `trellis-benchmarks distributed`: a LocalCluster with 2 worker
processes, independent no-op tasks (tasks/s from submission to the last result) and a chain of no-op tasks
(seconds per hop). Prints one JSON object. Usage: python3 dask_bench.py [--tasks N] [--chain N]"""
import argparse
import json
import time

from dask.distributed import Client, LocalCluster, wait


def noop(x):
    return x


def step(previous):
    return previous + 1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--chain", type=int, default=1_000)
    args = parser.parse_args()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            client.submit(noop, 0).result()  # warm-up
            start = time.perf_counter()
            futures = client.map(noop, range(args.tasks), pure=False)
            wait(futures)
            independent = args.tasks / (time.perf_counter() - start)
            del futures
            start = time.perf_counter()
            future = client.submit(step, 0, pure=False)
            for _ in range(args.chain - 1):
                future = client.submit(step, future, pure=False)
            future.result()
            hop = (time.perf_counter() - start) / args.chain
    print(json.dumps({"independent_tasks_per_s": independent, "chain_ms_per_hop": hop * 1000}))


if __name__ == "__main__":
    main()
