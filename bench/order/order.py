#!/usr/bin/env python3
"""Turns steptrace outputs into a symbol ordering file for lld (see order.sh).

Usage: order.py BINARY TRACE... > stockade.order

Each executed address is mapped to the function containing it (nm of the unstripped
binary). Functions are grouped by which processes execute them, because each process's
resident text counts on its own towards the peak RSS: the launcher's (depth 0), PID 1's
(depth 1) and the command's before its exec (depth 2) should each cover as few 64 KiB
fault-around windows as possible. The groups are laid out so that each process's functions
form one run:

    launcher only | launcher+PID 1 | all | PID 1+command | PID 1 only | command only

(anything else, e.g. a launcher+command function, goes next to the shared ones). Within a
group, functions keep the order in which they first ran, so that code that runs together
stays together.
"""
import bisect
import subprocess
import sys


def functions(binary):
    out = subprocess.run(["nm", "-n", "-S", "--defined-only", binary],
                         check=True, capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            addr, size, kind, name = parts
        elif len(parts) == 3:
            addr, kind, name = parts
            size = "0"
        else:
            continue
        if kind not in "tTwW":
            continue
        syms.append((int(addr, 16), int(size, 16), name))
    # Aliases share an address; keep the first name (any alias names the same section).
    starts, ends, names = [], [], []
    for i, (addr, size, name) in enumerate(syms):
        if starts and starts[-1] == addr:
            continue
        end = addr + size if size else (syms[i + 1][0] if i + 1 < len(syms) else addr + 1)
        starts.append(addr)
        ends.append(end)
        names.append(name)
    return starts, ends, names


def main():
    binary, traces = sys.argv[1], sys.argv[2:]
    starts, ends, names = functions(binary)
    masks = {}
    first = {}
    unmapped = 0
    for run, trace in enumerate(traces):
        with open(trace) as f:
            for line in f:
                depth, step, off = line.split()
                depth, step, off = min(int(depth), 2), int(step), int(off, 16)
                i = bisect.bisect_right(starts, off) - 1
                if i < 0 or off >= ends[i]:
                    unmapped += 1
                    continue
                name = names[i]
                masks[name] = masks.get(name, 0) | (1 << depth)
                # Earlier runs first, then the order within a run.
                key = (run, step)
                if name not in first or key < first[name]:
                    first[name] = key
    L, P, C = 1, 2, 4
    layout = [L, L | P, L | P | C, L | C, P | C, P, C]
    rank = {mask: i for i, mask in enumerate(layout)}
    order = sorted(masks, key=lambda n: (rank[masks[n]], first[n]))
    index = {n: i for i, n in enumerate(names)}
    for mask in layout:
        total = sum(ends[index[n]] - starts[index[n]] for n in order if masks[n] == mask)
        count = sum(1 for n in order if masks[n] == mask)
        print(f"mask {mask}: {count} functions, {total} bytes", file=sys.stderr)
    if unmapped:
        print(f"{unmapped} addresses outside any function", file=sys.stderr)
    for name in order:
        print(name)


main()
