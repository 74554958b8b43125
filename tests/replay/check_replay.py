#!/usr/bin/env python3
"""Checks a bourse-replay output against its input without knowing the answers.

Usage: check_replay.py INPUT OUTPUT

- every non-blank input line has exactly one accepted/rejected line, in order,
  before anything it caused;
- order and trade ids count 1, 2, 3... in acceptance order;
- final books are sorted best first and uncrossed;
- money is conserved: for every asset, the final balances add up to accepted
  deposits minus accepted withdrawals (fees move funds, never create them).
"""
import json
import sys
from decimal import Decimal


def fail(msg):
    print("check_replay: " + msg)
    sys.exit(1)


def main():
    inputs = open(sys.argv[1]).read().split("\n")
    if inputs and inputs[-1] == "":
        inputs.pop()
    outputs = [json.loads(line) for line in open(sys.argv[2])]
    refs = [i + 1 for i, line in enumerate(inputs) if line.strip()]
    acks = [o for o in outputs if o["type"] in ("accepted", "rejected")]
    if [a["ref"] for a in acks] != refs:
        fail("acks do not match the non-blank input lines one to one, in order")
    net = {}
    next_order, next_trade, seen_final = 1, 1, False
    for o in outputs:
        t = o["type"]
        if t in ("book", "balance"):
            seen_final = True
            continue
        if seen_final:
            fail("event after the final state")
        if t == "accepted":
            cmd = json.loads(inputs[o["ref"] - 1])
            if cmd["op"] == "place":
                if o["order_id"] != next_order:
                    fail("order id %d, expected %d" % (o["order_id"], next_order))
                next_order += 1
            if cmd["op"] in ("deposit", "withdraw"):
                amount = Decimal(cmd["amount"]) * (1 if cmd["op"] == "deposit" else -1)
                asset = cmd["asset"].upper()
                net[asset] = net.get(asset, Decimal(0)) + amount
        elif t == "trade":
            if o["id"] != next_trade:
                fail("trade id %d, expected %d" % (o["id"], next_trade))
            next_trade += 1
            if Decimal(o["qty"]) <= 0 or Decimal(o["price"]) <= 0:
                fail("trade with a non-positive price or qty")
    totals = {}
    for o in outputs:
        if o["type"] == "book":
            bids = [Decimal(p) for p, _ in o["bids"]]
            asks = [Decimal(p) for p, _ in o["asks"]]
            if bids != sorted(bids, reverse=True) or asks != sorted(asks):
                fail("book %s not sorted best first" % o["market"])
            if bids and asks and bids[0] >= asks[0]:
                fail("book %s crossed" % o["market"])
        if o["type"] == "balance":
            amount = Decimal(o["available"]) + Decimal(o["hold"])
            totals[o["asset"]] = totals.get(o["asset"], Decimal(0)) + amount
    for asset in set(net) | set(totals):
        if net.get(asset, Decimal(0)) != totals.get(asset, Decimal(0)):
            fail("asset %s: balances %s, net deposits %s" % (asset, totals.get(asset), net.get(asset)))
    print("check_replay: %d lines, %d orders, %d trades, money conserved" %
          (len(refs), next_order - 1, next_trade - 1))


if __name__ == "__main__":
    main()
