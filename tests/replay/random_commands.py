#!/usr/bin/env python3
"""Writes a seeded random bourse-replay input (JSON lines) to stdout.

Usage: random_commands.py SEED LINES

Several users on the two markets of replay.conf: deposits, withdrawals, every
order type and option, cancels, amends, cancel_all, and some malformed lines.
Used by tests/integration/test_replay.sh for the determinism and money checks.
"""
import json
import random
import sys


def main():
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    markets = {"BTCUSDT": (1000.0, 0.5, 0.01, 3), "ETHUSDT": (20.0, 0.01, 0.1, 1)}
    users = [1, 2, 3, 4, 5, 900]
    next_id = [1]
    out = []
    for _ in range(count):
        r = rng.random()
        uid = rng.choice(users)
        if r < 0.12:
            asset = rng.choice(["BTC", "ETH", "USDT", "usdt"])
            scale = {"BTC": 2, "ETH": 50}.get(asset, 2000)
            amount = {"BTC": "%.3f", "ETH": "%.2f"}.get(asset, "%.2f") % (rng.random() * scale + 0.01)
            op = "deposit" if rng.random() < 0.8 else "withdraw"
            out.append({"op": op, "uid": uid, "asset": asset, "amount": amount})
        elif r < 0.70:
            name = rng.choice(list(markets))
            mid, tick, lot, qdig = markets[name]
            side = rng.choice(["buy", "sell"])
            kind = rng.choices(["limit", "market", "stop_limit", "stop_market"], [70, 15, 8, 7])[0]
            cmd = {"op": "place", "uid": uid, "market": name, "side": side, "type": kind}
            price = round(round(mid * (1 + rng.gauss(0, 0.02)) / tick) * tick, 2)
            if kind in ("limit", "stop_limit"):
                cmd["price"] = "%.2f" % price
                cmd["tif"] = rng.choices(["gtc", "ioc", "fok"], [80, 10, 10])[0]
                if cmd["tif"] == "gtc" and rng.random() < 0.1:
                    cmd["post_only"] = True
            if kind.startswith("stop"):
                cmd["stop"] = "%.2f" % round(round(mid * (1 + rng.gauss(0, 0.02)) / tick) * tick, 2)
            if kind in ("market", "stop_market") and side == "buy" and rng.random() < 0.5:
                cmd["quote_qty"] = "%.2f" % (rng.random() * 200 + 1)
            else:
                cmd["qty"] = ("%." + str(qdig) + "f") % (rng.randint(1, 40) * lot)
            if rng.random() < 0.3:
                cmd["stp"] = rng.choice(["none", "cancel_taker", "cancel_maker", "cancel_both"])
            if rng.random() < 0.2:
                cmd["client_id"] = "c%d" % rng.randint(0, 5)
            out.append(cmd)
            next_id[0] += 1
        elif r < 0.82:
            out.append({"op": "cancel", "uid": uid, "market": rng.choice(list(markets)),
                        "order_id": rng.randint(1, next_id[0])})
        elif r < 0.95:
            name = rng.choice(list(markets))
            mid, tick, lot, qdig = markets[name]
            cmd = {"op": "amend", "uid": uid, "market": name, "order_id": rng.randint(1, next_id[0])}
            if rng.random() < 0.6:
                cmd["price"] = "%.2f" % round(round(mid * (1 + rng.gauss(0, 0.02)) / tick) * tick, 2)
            if rng.random() < 0.6 or "price" not in cmd:
                cmd["qty"] = ("%." + str(qdig) + "f") % (rng.randint(1, 40) * lot)
            out.append(cmd)
        elif r < 0.98:
            cmd = {"op": "cancel_all", "uid": uid}
            if rng.random() < 0.5:
                cmd["market"] = rng.choice(list(markets))
            out.append(cmd)
        else:
            out.append(rng.choice(["", "garbage", "[]", '{"op":"place"}', '{"op":"nope","uid":1}']))
    for line in out:
        print(line if isinstance(line, str) else json.dumps(line, separators=(",", ":")))


if __name__ == "__main__":
    main()
