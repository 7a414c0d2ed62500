#!/usr/bin/env python3
"""A small capacity model of the platform against tenants and replicas (see
docs/scaling.md for what feeds it and what it leaves out).

Each stage is a queue with a measured capacity per replica. For a given number
of tenants, the model derives the peak load of every stage, the replicas it
needs to stay under a target utilisation, and the end-to-end latency from the
measured unloaded latency stretched by each stage's queueing (M/M/c, Erlang C).

    python3 docs/scaling_model.py            # the table of docs/scaling.md
    python3 docs/scaling_model.py --check    # sanity checks (scripts/test)
"""
import math
import sys

# --- Assumptions about households (state them; change them here) -----------
ACTIVE_AT_PEAK = 0.10          # share of tenants active in the busiest hour
COMMANDS_PER_ACTIVE_MIN = 1.0  # commands per active household per minute at peak
EVENTS_PER_COMMAND = 1.5       # createOrder: 1; status changes and timers add some
SOCKETS_PER_ACTIVE = 2.0       # kitchen screen + a phone
TARGET_UTILISATION = 0.6       # headroom for bursts and a lost replica

# --- Capacities measured on the 2-core reference machine (BENCHMARKS.md) ----
# (name, capacity per replica in its unit/s, service time of one unit in ms)
STAGES = {
    # Gateway: row 1, accepted commands/s per instance (INSERT + NOTIFY).
    "gateway": (2200.0, 4.0),
    # Pump: claim + start + mark per command; bounded by Temporal's start RPC.
    "pump": (400.0, 2.5),
    # Temporal: workflows/s of the dev server (SQLite) on 2 cores, row 3's raw
    # limit; a production history host on its own machine does several times
    # more, so this is the conservative figure per "Temporal unit".
    "temporal": (57.0, 9.0),
    # Worker: one unit of work per command (load, decide, append, snapshot).
    "worker": (800.0, 5.0),
    # PostgreSQL primary: ~5 transactions per command (gateway insert, pump
    # claim and mark, worker unit of work, outcome); 9.8k tx/s raw INSERT with
    # 8 clients, 4.3k with a per-row NOTIFY: commands/s = 4300 / 5.
    "postgres": (860.0, 1.2),
    # Realtime: frames/s per instance (row 5, 100 sockets on a tenant).
    "realtime": (300000.0, 0.05),
}
SOCKETS_PER_REALTIME = 10000   # the per-instance socket target (RSS ~20 KB each)
BASE_LATENCY_MS = 23.3         # row 2, POST -> event on a socket, p50, unloaded


def erlang_c_wait(arrival, service_rate, servers):
    """Mean wait in queue (s) of an M/M/c queue; inf when overloaded."""
    a = arrival / service_rate
    if a >= servers:
        return math.inf
    # Erlang B by its recursion (no factorials: stable for thousands of
    # servers), then Erlang C from it.
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = a * blocking / (k + a * blocking)
    p_wait = servers * blocking / (servers - a * (1 - blocking))
    return p_wait / (servers * service_rate - arrival)


def loads(tenants):
    """Peak rates of every stage for `tenants` households."""
    active = tenants * ACTIVE_AT_PEAK
    commands = active * COMMANDS_PER_ACTIVE_MIN / 60.0
    events = commands * EVENTS_PER_COMMAND
    frames = events * SOCKETS_PER_ACTIVE
    load = {stage: commands for stage in STAGES}
    load["realtime"] = frames
    return commands, events, active * SOCKETS_PER_ACTIVE, load


def latency_ms(load, replicas):
    """Unloaded p50 plus every stage's queueing wait at these replicas."""
    wait_ms = 0.0
    for stage, (capacity, service_ms) in STAGES.items():
        # A replica is `concurrency` servers (about capacity x service time),
        # which together serve exactly its measured capacity.
        concurrency = max(1, round(capacity * service_ms / 1000.0))
        per_server = capacity / concurrency
        wait = erlang_c_wait(load[stage], per_server, replicas[stage] * concurrency)
        wait_ms += 1000.0 * wait
    return BASE_LATENCY_MS + wait_ms


def fixed(tenants, replicas):
    """A fixed deployment against a growing number of tenants."""
    _, _, _, load = loads(tenants)
    busiest = max(STAGES, key=lambda s: load[s] / (STAGES[s][0] * replicas[s]))
    utilisation = load[busiest] / (STAGES[busiest][0] * replicas[busiest])
    return busiest, utilisation, latency_ms(load, replicas)


def plan(tenants):
    """The replicas each stage needs to stay under TARGET_UTILISATION."""
    commands, events, sockets, load = loads(tenants)
    replicas = {}
    for stage, (capacity, _) in STAGES.items():
        n = max(1, math.ceil(load[stage] / (capacity * TARGET_UTILISATION)))
        if stage == "realtime":
            n = max(n, math.ceil(sockets / SOCKETS_PER_REALTIME))
        # Two of every stateless service, so one may fail; PostgreSQL counts
        # primaries (tenant shards), each with its standby (docs/scaling.md).
        replicas[stage] = n if stage == "postgres" else max(n, 2)
    return {
        "tenants": tenants, "commands_s": commands, "events_s": events,
        "sockets": sockets, "replicas": replicas,
        "p50_ms": latency_ms(load, replicas),
    }


def table(rows):
    head = "| tenants | peak commands/s | events/s | sockets | gateway | pump | Temporal units | worker | PG primaries | realtime | modelled p50 |"
    out = [head, "|" + "---|" * 11]
    for p in rows:
        r = p["replicas"]
        out.append(
            f"| {p['tenants']:,} | {p['commands_s']:,.0f} | {p['events_s']:,.0f} | {p['sockets']:,.0f} "
            f"| {r['gateway']} | {r['pump']} | {r['temporal']} | {r['worker']} | {r['postgres']} "
            f"| {r['realtime']} | {p['p50_ms']:.1f} ms |"
        )
    return "\n".join(out)


def check():
    small, big = plan(1000), plan(100000)
    assert math.isclose(big["commands_s"], 100 * small["commands_s"])
    assert all(big["replicas"][s] >= small["replicas"][s] for s in STAGES)
    assert erlang_c_wait(10.0, 5.0, 1) == math.inf, "an overloaded queue never drains"
    assert erlang_c_wait(1.0, 100.0, 4) < 0.001
    assert BASE_LATENCY_MS <= big["p50_ms"] < 10 * BASE_LATENCY_MS
    assert math.isinf(fixed(1000000, ONE_BOX)[2]), "one box cannot carry a million tenants"
    print("scaling model: checks pass;", f"100k tenants -> {big['commands_s']:.0f} commands/s at peak")


def fixed_table(replicas, tenant_counts):
    out = ["| tenants | busiest stage | its utilisation | modelled p50 |", "|---|---|---|---|"]
    for n in tenant_counts:
        stage, rho, p50 = fixed(n, replicas)
        shown = "saturated" if math.isinf(p50) else f"{p50:.1f} ms"
        out.append(f"| {n:,} | {stage} | {rho:.0%} | {shown} |")
    return "\n".join(out)


ONE_BOX = {"gateway": 1, "pump": 1, "temporal": 1, "worker": 1, "postgres": 1, "realtime": 1}

if __name__ == "__main__":
    if "--check" in sys.argv:
        check()
    else:
        print("Replicas needed, by tenants:\n")
        print(table([plan(n) for n in (1000, 10000, 100000, 1000000)]))
        print("\nOne of each (today's single machine), by tenants:\n")
        print(fixed_table(ONE_BOX, (10000, 20000, 30000, 35000, 40000)))
