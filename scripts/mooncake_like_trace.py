#!/usr/bin/env python3
"""Writes a synthetic trace in Mooncake's JSONL format (timestamp ms, input_length,
output_length, hash_ids: one id per 512-token block of the prompt, equal prefixes giving
equal leading ids) over a steady window of a chat service with prefix reuse: conversations whose
every turn re-sends the whole history (the earlier turn's full blocks are its prefix),
system prompts shared between conversations (Zipf popularity), and some first turns
carrying a long document of their own. Synthetic: not a copy of Mooncake's trace (which
cannot be downloaded at build time); every parameter is an option below. Deterministic
for a seed.

  scripts/mooncake_like_trace.py --seed 1 > scenarios/traces/mooncake_like_chat.jsonl
"""
import argparse
import json
import math
import random
import sys

BLOCK = 512


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minutes", type=float, default=8.0, help="span of conversation starts")
    p.add_argument("--keep_from_s", type=float, default=60.0,
                   help="requests before this are dropped (conversations still ramping up)")
    p.add_argument("--keep_until_s", type=float, default=420.0,
                   help="requests from this on are dropped (conversations winding down)")
    p.add_argument("--sessions_per_s", type=float, default=8.0, help="conversation starts per second")
    p.add_argument("--mean_turns", type=float, default=2.0, help="geometric number of turns")
    p.add_argument("--turn_gap_s", type=float, default=20.0, help="mean gap between turns (exponential)")
    p.add_argument("--system_prompts", type=int, default=16)
    p.add_argument("--zipf", type=float, default=1.0, help="popularity exponent of the system prompts")
    p.add_argument("--document_share", type=float, default=0.5, help="first turns carrying a document")
    a = p.parse_args()
    rng = random.Random(a.seed)
    next_id = [0]

    def new_ids(n):
        ids = list(range(next_id[0], next_id[0] + n))
        next_id[0] += n
        return ids

    def lognormal(median, sigma, lo, hi):
        return int(min(hi, max(lo, round(median * math.exp(rng.gauss(0, sigma))))))

    # System prompts: whole blocks each, shared by every conversation that uses them.
    systems = []
    for _ in range(a.system_prompts):
        blocks = rng.randint(2, 8)
        systems.append((blocks * BLOCK, new_ids(blocks)))
    weights = [1 / (i + 1) ** a.zipf for i in range(a.system_prompts)]

    requests = []
    t = 0.0
    end = a.minutes * 60
    while True:
        t += rng.expovariate(a.sessions_per_s)
        if t >= end:
            break
        sys_tokens, sys_ids = rng.choices(systems, weights)[0]
        tokens, ids = sys_tokens, list(sys_ids)  # the history: full blocks only in ids
        if rng.random() < a.document_share:
            tokens += lognormal(6000, 0.6, 1000, 24000)
        at = t
        turns = 1
        while rng.random() > 1 / a.mean_turns:
            turns += 1
        for _ in range(turns):
            tokens += lognormal(300, 0.8, 16, 4000)  # the user's message
            tokens = min(tokens, 32000)
            full = tokens // BLOCK
            blocks = math.ceil(tokens / BLOCK)
            if len(ids) > full:  # the history's last block was partial: its content changed
                ids = ids[:full]
            ids = ids + new_ids(blocks - len(ids))
            output = lognormal(200, 0.7, 8, 2000)
            requests.append((round(at * 1000), tokens, output, list(ids)))
            tokens += output  # the answer joins the history
            ids = ids[:full]  # only the prompt's full blocks carry over
            at += rng.expovariate(1 / a.turn_gap_s)
    # A steady window: conversations started before it end inside it, and ones started in
    # it go on past its end; a prompt whose earlier turns fell before it misses them.
    requests = [r for r in requests if a.keep_from_s * 1000 <= r[0] < a.keep_until_s * 1000]
    requests.sort(key=lambda r: (r[0], r[3][0] if r[3] else 0))
    for ts, n_in, n_out, ids in requests:
        sys.stdout.write(json.dumps({"timestamp": ts, "input_length": n_in,
                                     "output_length": n_out, "hash_ids": ids}) + "\n")


if __name__ == "__main__":
    main()
