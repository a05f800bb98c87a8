"""Timing helpers shared by the benchmark scripts (imported from the bench/ folder)."""
import os
import statistics
import subprocess
import sys
import tempfile
import time


def median_ms(fn, warmup, repeats):
    """The median wall time of `repeats` calls of fn() after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def synchronized(fn, device):
    """fn followed by a device synchronisation when `device` is a GPU (a torch.device), so that the
    kernels it queued are inside the time; fn itself on the CPU."""
    if device.type != "cuda":
        return fn
    import torch  # only the GPU case needs it; the CPU-only scripts import this file without torch

    def run():
        fn()
        torch.cuda.synchronize(device)
    return run


def run_measured(argv, env=None, cwd=None):
    """Runs argv; returns (stdout, wall seconds, peak RSS in MiB of that process, from os.wait4).
    Exits with the command's stderr when it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(argv)} failed:\n{err.read().decode()}")
        return out.read().decode(), wall, usage.ru_maxrss / 1024.0
