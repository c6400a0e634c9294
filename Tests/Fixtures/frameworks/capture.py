#!/usr/bin/env python3
"""Run a trainer the way a supervisor does and keep what it printed.

    python capture.py --summary DIR      (writes DIR/runs.json from the *.log.json sidecars)
    python capture.py OUT.log [--tail N] [--as BYTES] [--cwd DIR] [--env K=V] [--unset K] [--mark REGEX] -- python train_x.py CASE

The child's stdout and stderr are merged into one pipe (not a terminal), exactly like
`python train.py 2>&1 | cat > OUT.log`, so stdio buffering and progress bars behave as they do
under a supervisor. The raw bytes are kept byte for byte (carriage returns of progress bars
included) in OUT.log.full (not committed); OUT.log is the last N lines (default 80), extended
upwards so that the last Python traceback is whole (with 3 lines before it). OUT.log.json records the exit status and
when output reached the pipe (seconds after start of the first and last chunk, and of each
line that matched --mark), so "nothing arrives until the end" can be seen.

--env K=V sets and --unset K removes a variable of the child's environment (capture_all.sh sets
PYTHONUNBUFFERED=1, as Vigil does for its trainers unless already set).

--as BYTES runs the child under `prlimit --as=BYTES` (address-space cap), so that a huge
allocation fails inside the allocator instead of the machine swapping.
"""
import json
import os
import re
import subprocess
import sys
import time


def summary(here):
    """Write runs.json: per log, its exit status and when output reached the pipe."""
    import glob
    rows = []
    for j in sorted(glob.glob(os.path.join(here, "*", "*.log.json"))):
        d = json.load(open(j))
        e = {"log": os.path.relpath(j[:-5], here), "exit": d["exit"], "secs": d["seconds"],
             "first_out": d["first_output_at"], "last_out": d["last_output_at"]}
        if d["command"][0] == "prlimit":
            e["prlimit"] = d["command"][1]
        if d["marks_first_seen_at"]:
            e["marks"] = d["marks_first_seen_at"]
        rows.append("  " + json.dumps(e, separators=(",", ":"), ensure_ascii=False))
    with open(os.path.join(here, "runs.json"), "w") as f:
        f.write("[\n" + ",\n".join(rows) + "\n]\n")


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--summary"]:
        return summary(argv[1])
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    opts, cmd = argv[:split], argv[split + 1:]
    out = opts.pop(0)
    tail, cap, cwd, env, marks = 80, None, None, dict(os.environ), []
    while opts:
        o = opts.pop(0)
        if o == "--tail":
            tail = int(opts.pop(0))
        elif o == "--as":
            cap = opts.pop(0)
        elif o == "--cwd":
            cwd = opts.pop(0)
        elif o == "--env":
            k, v = opts.pop(0).split("=", 1)
            env[k] = v
        elif o == "--unset":
            env.pop(opts.pop(0), None)
        elif o == "--mark":
            marks.append(opts.pop(0))
        else:
            sys.exit(f"unknown option {o}")
    if cap:
        cmd = ["prlimit", f"--as={cap}"] + cmd
    if cwd:
        os.makedirs(cwd, exist_ok=True)
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=cwd, env=env)
    chunks = []
    while True:
        b = os.read(p.stdout.fileno(), 65536)
        if not b:
            break
        chunks.append((time.monotonic() - start, b))
    rc = p.wait()
    end = time.monotonic() - start
    raw = b"".join(c for _, c in chunks)
    with open(out + ".full", "wb") as f:
        f.write(raw)

    # when each mark first reached the pipe
    seen = {}
    acc = b""
    for t, b in chunks:
        acc += b
        for m in marks:
            if m not in seen and re.search(m.encode(), acc):
                seen[m] = round(t, 2)

    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    first = max(0, len(lines) - tail)
    # not only at a line's start: a progress bar's last frame (no newline) often precedes it
    tb = [i for i, l in enumerate(lines) if b"Traceback (most recent call last):" in l]
    if tb and tb[-1] - 3 < first:
        first = max(0, tb[-1] - 3)  # and the 3 lines before it
    kept = lines[first:]
    with open(out, "wb") as f:
        f.write(b"\n".join(kept) + (b"\n" if kept else b""))
    info = {
        "command": cmd,
        "exit": rc,
        "seconds": round(end, 2),
        "bytes": len(raw),
        "lines": len(lines),
        "kept_from_line": first + 1,
        "first_output_at": round(chunks[0][0], 2) if chunks else None,
        "last_output_at": round(chunks[-1][0], 2) if chunks else None,
        "chunks": len(chunks),
        "marks_first_seen_at": seen,
    }
    with open(out + ".json", "w") as f:
        json.dump(info, f, indent=1)
    print(f"{out}: exit {rc}, {len(raw)} bytes, {len(lines)} lines, {end:.1f}s, "
          f"first output {info['first_output_at']}s, last {info['last_output_at']}s, marks {seen}")


if __name__ == "__main__":
    main()
