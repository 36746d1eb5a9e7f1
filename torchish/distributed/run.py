"""``torchish run``: start N training processes with torchrun's environment (``torchrun``'s analogue).

    torchish run --nproc-per-node 2 train.py --epochs 3
    python -m torchish.distributed.run --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 --nproc-per-node 8 train.py

Each worker gets ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``GROUP_RANK`` and ``NODE_RANK``, and runs the script through
``torchish.distributed._worker``, which initialises ``jax.distributed`` before the script starts
(so the script may create tensors before calling ``init_process_group``).

NOTE [ Launcher lifecycle ]
Workers run in their own session, so a terminal's Ctrl-C reaches them once, through the
launcher: SIGINT, SIGTERM and SIGHUP received by the launcher are forwarded to every worker.
On Linux each worker also gets SIGTERM if the launcher dies.  The launcher polls its workers;
when one fails (non-zero exit) the others get SIGTERM, then SIGKILL after a grace period, and
the launcher exits with the failed worker's code (128 + signal number for a signal).  When all
succeed it exits 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

__all__ = ["main", "parse_args"]

_GRACE_S = 5.0


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="torchish run",
        description="Start training processes with torchrun's environment variables (one launcher per node).")
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=int, default=1, help="processes on this node")
    p.add_argument("--nnodes", type=int, default=1, help="number of nodes")
    p.add_argument("--node-rank", "--node_rank", type=int, default=0, help="this node's rank, 0 .. nnodes-1")
    p.add_argument("--master-addr", "--master_addr", default="127.0.0.1", help="address of the rank 0 node")
    p.add_argument("--master-port", "--master_port", type=int, default=None,
                   help="a free port on the rank 0 node (default 29500; a free one with --standalone)")
    p.add_argument("--standalone", action="store_true", help="single node on a free local port")
    p.add_argument("-m", "--module", action="store_true", help="run the script argument as a Python module")
    p.add_argument("--no-python", "--no_python", action="store_true", help="run the script as an executable")
    p.add_argument("script", help="the training script (or module with -m)")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    args = p.parse_args(argv)
    if args.nproc_per_node < 1 or args.nnodes < 1:
        p.error(f"--nproc-per-node and --nnodes must be positive, got {args.nproc_per_node} and {args.nnodes}")
    if not 0 <= args.node_rank < args.nnodes:
        p.error(f"--node-rank must be in [0, {args.nnodes - 1}], got {args.node_rank}")
    if args.standalone:
        args.nnodes, args.node_rank, args.master_addr = 1, 0, "127.0.0.1"
        if args.master_port is None:
            args.master_port = free_port()
    if args.master_port is None:
        args.master_port = 29500
    return args


def free_port() -> int:
    """A TCP port that is free on this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker_env(args, local_rank: int) -> dict:
    world = args.nnodes * args.nproc_per_node
    env = dict(os.environ)
    env.update({
        "MASTER_ADDR": str(args.master_addr), "MASTER_PORT": str(args.master_port), "WORLD_SIZE": str(world),
        "RANK": str(args.node_rank * args.nproc_per_node + local_rank), "LOCAL_RANK": str(local_rank),
        "LOCAL_WORLD_SIZE": str(args.nproc_per_node), "GROUP_RANK": str(args.node_rank),
        "NODE_RANK": str(args.node_rank), "GROUP_WORLD_SIZE": str(args.nnodes),
        "ROLE_RANK": str(args.node_rank * args.nproc_per_node + local_rank), "ROLE_WORLD_SIZE": str(world),
        "TORCHELASTIC_RUN_ID": env.get("TORCHELASTIC_RUN_ID", "none"),
    })
    return env


def _command(args) -> list:
    if args.no_python:
        return [args.script, *args.script_args]
    target = ["-m", args.script] if args.module else [args.script]
    return [sys.executable, "-m", "torchish.distributed._worker", *target, *args.script_args]


def _die_with_parent() -> None:
    """In the worker, before exec: get SIGTERM when the launcher dies (Linux; best effort)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(procs) -> None:
    """SIGTERM the running workers, SIGKILL those still alive after the grace period."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _exit_code(rc: int) -> int:
    return rc if rc > 0 else 128 - rc


def main(argv=None) -> int:
    """Run the launcher; returns the exit code (0 when every worker succeeded)."""
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    cmd = _command(args)
    procs = []
    forwarded = []

    def forward(signum, frame):
        forwarded.append(signum)
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        for local_rank in range(args.nproc_per_node):
            procs.append(subprocess.Popen(cmd, env=_worker_env(args, local_rank), start_new_session=True,
                                          preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None))
        while True:
            codes = [p.poll() for p in procs]
            failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
            if failed:
                rank, rc = failed[0]
                print(f"torchish run: worker {rank} (local rank) exited with code {rc}; stopping the others",
                      file=sys.stderr, flush=True)
                _stop(procs)
                return _exit_code(rc)
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.05)
    finally:
        _stop(procs)
        for s, h in old.items():
            signal.signal(s, h)


if __name__ == "__main__":
    sys.exit(main())
