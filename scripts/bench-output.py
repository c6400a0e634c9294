#!/usr/bin/env python3
"""The output path, measured for scripts/bench: the same producer through `cat > FILE`,
`tee FILE >/dev/null`, `vigil run` (log + passthrough to /dev/null) and, when installed, supervisord
(stdout_logfile), in interleaved rounds (the order rotates each round), each measure's median and
spread. CPU is the supervising process's own (user + system), never the producer's:
  - cat, tee: their rusage from wait4 (they have no children);
  - vigil: its rusage from wait4 (itself and the trainer it reaped) minus the producer's own rusage,
    which the producer writes to a file as it exits;
  - supervisord: /proc/PID/stat once its log holds every byte (it keeps running; then it is stopped).
Also vigil's resident memory while the data passes (sampled every 20 ms while its log holds some
but not all of the data), its peak over the whole run (start-up and the end's reports included),
and when idle. The compared vigil runs the default policy (no live rules, no metrics); a
thirty-second of the data also goes through vigil with the pytorch policy, whose live rules and
metrics then work on every line (each holds "loss", the nan-loss rule's literal, and is a metrics
line): its throughput, CPU and memory, reported with no target.

  bench-output.py --vigil BIN [--size-mb N] [--rounds R] [--dir DIR]
"""
import argparse
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PRODUCER = r'''
import os, resource, sys
total = int(sys.argv[1])
line = b"step 12345 loss=0.123456 lr=0.001 throughput=1234.5 samples/s .............................\n"
chunk = line * (65536 // len(line))
view = memoryview(chunk)
written = 0
while written < total:
    written += os.write(1, view[:min(len(chunk), total - written)])
if len(sys.argv) > 2:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(sys.argv[2], "w") as f:
        f.write(f"{usage.ru_utime + usage.ru_stime}\n")
'''


def cpu(usage):
    return usage.ru_utime + usage.ru_stime


def run_pipe(consumer, out_path, total, producer):
    """producer | consumer; the consumer's wall time from the pipeline's start and its own CPU."""
    start = time.perf_counter()
    with open(out_path if consumer[0] == "cat" else os.devnull, "wb") as sink:
        prod = subprocess.Popen([sys.executable, producer, str(total)], stdout=subprocess.PIPE)
        cons = subprocess.Popen(consumer, stdin=prod.stdout, stdout=sink)
        prod.stdout.close()
        _, status, usage = os.wait4(cons.pid, 0)
        prod.wait()
    wall = time.perf_counter() - start
    cons.returncode = status
    return wall, cpu(usage), None


def run_vigil(vigil, work, total, producer, round_number, extends=None):
    """The default policy (no live rules) or, with `extends`, that shipped policy's, the log unrotated."""
    logs = os.path.join(work, "logs")
    shutil.rmtree(logs, ignore_errors=True)
    policy = os.path.join(work, "bench.json5")
    with open(policy, "w") as f:
        f.write("{ " + (f'extends: "{extends}", ' if extends else "") + "output: { logMaxBytes: 0 } }\n")
    cpu_file = os.path.join(work, "producer.cpu")
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(
            [vigil, "run", "--name", "tput", "--log-dir", logs, "--policy", policy, "--quiet", "--",
             sys.executable, producer, str(total), cpu_file],
            stdout=sink, stderr=subprocess.DEVNULL)
        peak = [0, 0]  # while the data passes (the log has some of it, not all), over the whole run
        done = threading.Event()
        log = os.path.join(logs, "tput", "attempt-001.log")

        def sample():
            while not done.is_set():
                try:
                    with open(f"/proc/{child.pid}/status") as status:
                        for line in status:
                            if line.startswith("VmRSS:"):
                                rss = int(line.split()[1])
                                peak[1] = max(peak[1], rss)
                                if 0 < (os.path.getsize(log) if os.path.exists(log) else 0) < total:
                                    peak[0] = max(peak[0], rss)
                except OSError:
                    pass
                done.wait(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench-output: vigil run exited {os.waitstatus_to_exitcode(status)}")
    logged = os.path.getsize(os.path.join(logs, "tput", "attempt-001.log"))
    if logged != total:
        raise SystemExit(f"bench-output: vigil logged {logged} of {total} bytes")
    with open(cpu_file) as f:
        producer_cpu = float(f.read())
    return wall, cpu(usage) - producer_cpu, peak


def run_supervisord(supervisord, work, total, producer):
    directory = os.path.join(work, "supervisor")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    log = os.path.join(directory, "out.log")
    conf = os.path.join(directory, "supervisord.conf")
    with open(conf, "w") as f:
        f.write(f"""[supervisord]
nodaemon=true
logfile={directory}/supervisord.log
pidfile={directory}/supervisord.pid
[program:bench]
command={sys.executable} {producer} {total}
stdout_logfile={log}
stdout_logfile_maxbytes=0
autorestart=false
startsecs=0
""")
    start = time.perf_counter()
    daemon = subprocess.Popen([supervisord, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # supervisord does not exit when its program does: wait until the log holds every byte (a bench
    # may poll; the 10 ms grain is far below the seconds measured).
    deadline = time.monotonic() + 600
    while (os.path.getsize(log) if os.path.exists(log) else 0) < total:
        if time.monotonic() > deadline or daemon.poll() is not None:
            daemon.kill()
            raise SystemExit("bench-output: supervisord did not log every byte")
        time.sleep(0.01)
    wall = time.perf_counter() - start
    with open(f"/proc/{daemon.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    return wall, ticks / os.sysconf("SC_CLK_TCK"), None


def idle_rss(vigil, work):
    """vigil's resident memory 5 s into a trainer that prints nothing for 8 s."""
    logs = os.path.join(work, "logs-idle")
    child = subprocess.Popen(
        [vigil, "run", "--name", "idle", "--log-dir", logs, "--quiet", "--", "sleep", "8"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(5)
    rss = 0
    with open(f"/proc/{child.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    child.wait()
    return rss


def summary(values, unit, digits=2):
    median = statistics.median(values)
    return f"{median:.{digits}f} {unit} (min {min(values):.{digits}f}, max {max(values):.{digits}f}, n={len(values)})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", required=True)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    options = parser.parse_args()
    total = options.size_mb * 1024 * 1024
    gigabytes = total / 2**30
    work = tempfile.mkdtemp(prefix="vigil-bench-output.", dir=options.dir)
    producer = os.path.join(work, "produce.py")
    with open(producer, "w") as f:
        f.write(PRODUCER)
    supervisord = shutil.which("supervisord")
    paths = ["cat", "tee", "vigil"] + (["supervisord"] if supervisord else []) + ["vigil-pytorch"]
    # The pytorch policy on every line: each holds "loss", the nan-loss live rule's literal, so its
    # regex runs on each (the scan's worst case), and each is a metrics line (a JSON line in
    # metrics.jsonl per output line). A thirty-second of the data, reported, no target.
    live_total = max(1, total // 32)
    live_rss = []
    wall = {p: [] for p in paths}
    cpu_per_gb = {p: [] for p in paths}
    rss_peaks = []
    rss_run_peaks = []
    try:
        for round_number in range(options.rounds):
            order = paths[round_number % len(paths):] + paths[:round_number % len(paths)]
            for path in order:
                out = os.path.join(work, f"{path}.out")
                if path == "cat":
                    w, c, _ = run_pipe(["cat"], out, total, producer)
                elif path == "tee":
                    w, c, _ = run_pipe(["tee", out], out, total, producer)
                elif path == "vigil-pytorch":
                    w, c, peak = run_vigil(options.vigil, work, live_total, producer, round_number, "pytorch")
                    live_rss.append(peak[0] / 1024)
                    wall[path].append(w)
                    cpu_per_gb[path].append(c / (live_total / 2**30))
                    continue
                elif path == "vigil":
                    w, c, peak = run_vigil(options.vigil, work, total, producer, round_number)
                    rss_peaks.append(peak[0] / 1024)
                    rss_run_peaks.append(peak[1] / 1024)
                else:
                    w, c, _ = run_supervisord(supervisord, work, total, producer)
                wall[path].append(w)
                cpu_per_gb[path].append(c / gigabytes)
                for leftover in (out, os.path.join(work, "logs")):
                    if os.path.isdir(leftover):
                        shutil.rmtree(leftover, ignore_errors=True)
                    elif os.path.exists(leftover):
                        os.remove(leftover)
        size_of = {p: live_total if p == "vigil-pytorch" else total for p in paths}
        rate = {p: [size_of[p] / 2**20 / w for w in wall[p]] for p in paths}
        row = "{:<52} {}"
        print(f"output path: {options.size_mb} MiB per path, {options.rounds} interleaved rounds, medians")
        compared = [p for p in paths if p != "vigil-pytorch"]
        for p in compared:
            print(row.format(f"  throughput: {p}", summary(rate[p], "MB/s", 0)))
        for p in compared:
            print(row.format(f"  CPU of the supervising process: {p}", summary(cpu_per_gb[p], "CPU-s/GB")))
        ratios = [v / t for v, t in zip(cpu_per_gb["vigil"], cpu_per_gb["tee"])]
        print(row.format("  vigil CPU / tee CPU (target ≤ 0.6)", summary(ratios, "×")))
        if supervisord:
            ratios = [v / s for v, s in zip(cpu_per_gb["vigil"], cpu_per_gb["supervisord"])]
            print(row.format("  vigil CPU / supervisord CPU (target ≤ 0.6)", summary(ratios, "×")))
        else:
            print(row.format("  vigil CPU / supervisord CPU", "supervisord not installed (pip install supervisor)"))
        ratios = [v / t for v, t in zip(rate["vigil"], rate["tee"])]
        print(row.format("  throughput vigil / tee (target ≥ 1.0)", summary(ratios, "×")))
        print(row.format("  vigil RSS while the data passes (target ≤ 10 MiB)", summary(rss_peaks, "MiB", 1)))
        print(row.format("  vigil RSS peak, start-up and end of run too", summary(rss_run_peaks, "MiB", 1)))
        print(row.format("  vigil RSS idle (target ≤ 10 MiB)", f"{idle_rss(options.vigil, work) / 1024:.1f} MiB"))
        print(f"  with the pytorch policy ({live_total >> 20} MiB, its live rules on every line, no target):")
        print(row.format("    throughput", summary(rate["vigil-pytorch"], "MB/s", 0)))
        print(row.format("    CPU of vigil", summary(cpu_per_gb["vigil-pytorch"], "CPU-s/GB")))
        print(row.format("    vigil RSS while the data passes", summary(live_rss, "MiB", 1)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
