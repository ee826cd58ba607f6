#!/usr/bin/env python3
"""Checks the layering of sim/ that the build cannot enforce by itself.

1. No include cycle between sim/'s folders (sim/*.h at the top counts as folder ".").
   A folder includes another when one of its files has `#include "sim/<other>/..."`.
2. Only io/ and cli/, the edges where files are read and written, include nlohmann/json:
   the core and the planner know no JSON (JSON headers sit in /usr/include, so the link
   cannot stop it; the planner's tasks return typed results).
3. The core folders include nothing of io/, planner/ or cli/ (the libraries above the
   core: sim_core must link without them).
4. sim/ includes nothing of calibration/, reports/ or kernels/ except from cli/, the
   command line on top of them all.

Prints each violation (the cycle with one file per edge, or the file and line) and
exits 1; exits 0 with a one-line summary otherwise. Run from anywhere:
    scripts/check_layering.py [REPO_ROOT]
ctest runs it as sim_layering_test.
"""
import os
import re
import sys

NOT_CORE = {"io", "planner", "cli"}
JSON_EDGE = {"io", "cli"}
ABOVE_SIM = ("calibration/", "reports/", "kernels/")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')


def folder_of(rel):  # "engine/simulation.cc" -> "engine", "scenario.h" -> "."
    return rel.split("/")[0] if "/" in rel else "."


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    sim = os.path.join(root, "sim")
    edges = {}  # (from folder, to folder) -> an example "file:line"
    problems = []
    for dirpath, _, files in os.walk(sim):
        for name in sorted(files):
            if not name.endswith((".h", ".cc")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, sim).replace(os.sep, "/")
            src = folder_of(rel)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    where = f"sim/{rel}:{number}"
                    if target.startswith("nlohmann/") and src not in JSON_EDGE:
                        problems.append(f"{where}: {src}/ includes {target}")
                    if target.startswith(ABOVE_SIM) and src != "cli":
                        problems.append(f"{where}: sim/{src}/ includes {target}, a layer above sim")
                    if target.startswith("sim/"):
                        dst = folder_of(target[len("sim/"):])
                        if src not in NOT_CORE and dst in NOT_CORE:
                            problems.append(f"{where}: the core folder {src}/ includes {target}")
                        if dst != src:
                            edges.setdefault((src, dst), where)
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    # Every elementary cycle is not needed: report one cycle per strongly connected
    # component of more than one folder (Tarjan).
    index, low, stack, on_stack, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    for scc in sccs:
        members = set(scc)
        # One cycle through the component: walk from its first folder until it repeats.
        path, seen, v = [], {}, scc[0]
        while v not in seen:
            seen[v] = len(path)
            path.append(v)
            v = sorted(w for w in graph[v] if w in members)[0]
        cycle = path[seen[v]:] + [v]
        steps = [f"{a} -> {b} ({edges[(a, b)]})" for a, b in zip(cycle, cycle[1:])]
        problems.append("include cycle between sim/ folders: " + "; ".join(steps))
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"sim/ layering: {len(graph)} folders, {len(edges)} folder dependencies, no cycle; "
          "JSON only in io/ and cli/, no io/planner/cli in the core; nothing above sim outside cli/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
