#!/usr/bin/env python3
"""Issue 16's features on and off: writes variants of the shipped examples (each differs
from its example in the one feature named) into OUT, with absolute paths, and with --run
BIN plans each (--threads 1) and prints the recommended plan of each (GPUs, USD/h, TTFT
and TPOT P90, attainment, pools) from its report.md, with the wall and CPU time.

    scripts/feature_variants.py OUT [--run build/quadrant] [NAME ...]

The feature on/off figures of issue 16's closing note (and sim/planner/README.md) come from this script."""
import copy, json, os, re, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "scenarios", "examples")


def load(name):
    d = json.load(open(os.path.join(EX, name + ".json")))
    for k in ("model", "hardware"):
        if isinstance(d.get(k), str):
            d[k] = os.path.normpath(os.path.join(EX, d[k]))
    hw = d.get("hardware")
    if isinstance(hw, dict) and isinstance(hw.get("include"), str):
        hw["include"] = os.path.normpath(os.path.join(EX, hw["include"]))
    trace = d["workload"]["arrival"].get("trace")
    if trace:
        trace["file"] = os.path.normpath(os.path.join(EX, trace["file"]))
    return d


def variants():
    v = {}
    d = load("deepseek-v3-af-disaggregated")
    v["af-dis"] = d  # PD with AF decode units searched beside EP32 units
    e = copy.deepcopy(d); e["search"]["include_colocated"] = True
    v["af-dis-coloc"] = e  # ... and colocated units
    e = copy.deepcopy(d); del e["search"]["af_disaggregated"]
    e["serving"]["decode"] = {"gpu": "H800", "instances": 2, "max_batch_size": 1024,
                              "layout": {"tp": 4, "dp_attention": 8, "ep": 32}}
    v["af-dis-noaf"] = e  # PD without AF
    d = load("deepseek-v3-af-prefill")
    v["af-prefill"] = d
    e = copy.deepcopy(d); del e["search"]["af_disaggregated"]
    v["af-prefill-noaf"] = e  # EP32 prefill units with the dual micro-batch only
    d = load("deepseek-v3-published")
    v["published"] = d
    e = copy.deepcopy(d); e["serving"]["prefill"]["prefix_hit_rate"] = 0
    v["published-nocache"] = e
    d = load("deepseek-v3-prefix-cache")
    v["prefix"] = d
    e = copy.deepcopy(d); e["serving"]["prefill"]["prefix_hit_rate"] = 0
    v["prefix-off"] = e
    d = load("deepseek-v3-mooncake-tier")
    v["tier"] = d
    e = copy.deepcopy(d); del e["serving"]["shared_kv_tier"]
    v["tier-off"] = e
    d = load("deepseek-v3-ep-realism")
    v["ep"] = d
    e = copy.deepcopy(d); del e["search"]["redundant_experts"]
    v["ep-red32fixed"] = e  # the scenario's 32 redundant experts, not searched
    e = copy.deepcopy(d); del e["search"]["redundant_experts"]
    for p in ("prefill", "decode"):
        e["serving"][p]["experts"] = {"redundant": 0, "rebalancer": "none"}
    v["ep-eplb-off"] = e
    e = copy.deepcopy(d); e["serving"]["prefill"]["dual_micro_batch"] = False
    v["ep-dmb-off"] = e
    e = copy.deepcopy(d); e["serving"]["decode"]["dual_micro_batch"] = True
    v["ep-dmb-decode"] = e
    e = copy.deepcopy(d); del e["workload"]["expert_popularity"]
    v["ep-uniform"] = e
    d = load("doubao-chunk-pp-long-prompts")
    v["chunkpp"] = d
    e = copy.deepcopy(d); e["search"]["pp"] = [1]; e["serving"]["prefill"]["layout"]["pp"] = 1
    v["chunkpp-off"] = e
    d = load("deepseek-v3-power-mtp")
    v["mtp"] = d
    e = copy.deepcopy(d); e["search"]["draft_lengths"] = [0]
    v["mtp-off"] = e
    e = copy.deepcopy(d); e["search"]["prefill_gpus"] = ["H800"]; e["search"]["decode_gpus"] = ["H800"]
    e["serving"]["decode"]["gpu"] = "H800"
    v["powercap-off"] = e
    return v


def recommended(md):
    i = md.find("## Recommended plan")
    j = md.find("\n## ", i + 3)
    kv = {}
    for line in md[i:j].splitlines():
        if line.startswith("| ") and "|" in line[2:]:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            if len(cells) >= 2:
                kv[cells[0]] = cells[1]
    p90 = lambda k: (kv.get(k, "").split(" / ") + ["", ""])[1]
    return (f"GPUs {kv.get('GPUs')}  {kv.get('cost per hour')}/h  TTFT P90 {p90('TTFT P50 / P90 / P99')}  "
            f"TPOT P90 {p90('TPOT P50 / P90 / P99')}  attainment {kv.get('SLO attainment (lowest seed)')}  "
            f"{kv.get('pools')}")


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, run, names = args[0], None, []
    rest = args[1:]
    while rest:
        a = rest.pop(0)
        if a == "--run":
            run = os.path.abspath(rest.pop(0))
        else:
            names.append(a)
    os.makedirs(out, exist_ok=True)
    v = variants()
    for n in names or v:
        path = os.path.join(out, n + ".json")
        json.dump(v[n], open(path, "w"), indent=1)
        if not run:
            print(path)
            continue
        t0, c0 = time.time(), os.times()
        subprocess.run([run, "plan", path, "--out", os.path.join(out, n), "--threads", "1", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        c1 = os.times()
        cpu = c1.children_user - c0.children_user
        md = open(os.path.join(out, n, "report.md")).read()
        print(f"{n}: {recommended(md)}  [{time.time() - t0:.1f} s wall, {cpu:.1f} s CPU]", flush=True)


if __name__ == "__main__":
    main()
