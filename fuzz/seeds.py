#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).
Run once when a parser changes shape; libFuzzer adds what it finds beside them
(scripts/fuzz keeps those that add coverage, minimised)."""
import base64, hashlib, hmac, json, os, pathlib

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
SECRET = b"fuzzing-hs256-key-0123456789abcdef0123"  # kitchen_adapters::fuzzing::FUZZ_SECRET
TENANT = "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11"
ORDER = "0b5f6c1e-3a2d-4c8e-9f10-2b3c4d5e6f70"
FAR = 4102444800  # 2100-01-01


def write(target, seeds):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        data = seed if isinstance(seed, bytes) else seed.encode()
        (d / f"seed-{i:03}").write_bytes(data)


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(claims, header=None, secret=SECRET):
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(sig)


def claims(**extra):
    c = {"iss": "kitchen-fuzz", "aud": "kitchen", "exp": FAR, "tenant_id": TENANT, "sub": "u1", "role": "member"}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


commands = [
    {"type": "createOrder", "payload": {"orderId": ORDER, "userId": "u1", "items": [{"menuItemId": "soup", "quantity": 2, "specialInstructions": "hot"}]}},
    {"type": "createOrder", "payload": {"orderId": ORDER, "userId": "u1", "items": [{"menuItemId": "soup", "quantity": 1}], "scheduledFor": "2030-01-01T12:00:00Z"}},
    {"id": ORDER, "correlationId": ORDER, "metadata": {"k": "v"}, "type": "createOrder", "payload": {"orderId": ORDER, "userId": "u", "items": [{"menuItemId": "a", "quantity": 1000}]}},
    {"type": "createOrder", "payload": {"orderId": ORDER, "userId": "u", "items": []}},
    {"type": "createOrder", "payload": {"orderId": "nope", "userId": "u", "items": [{"menuItemId": "a", "quantity": 0}]}},
    {"type": "createOrder", "payload": {"orderId": ORDER, "userId": "u", "items": [{"menuItemId": "a", "quantity": 1.5}], "tip": 1}},
    {"type": "updateOrderStatus", "payload": {"orderId": ORDER, "status": "confirmed"}},
    {"type": "updateOrderStatus", "payload": {"orderId": ORDER, "status": "eaten"}},
    {"type": "cancelOrder", "payload": {"orderId": ORDER, "reason": "changed my mind"}},
    {"type": "cancelOrder", "payload": {"orderId": ORDER}},
    {"type": "addMenuItem", "payload": {"menuItemId": "soup", "name": "Soup", "priceCents": 450}},
    {"type": "addMenuItem", "payload": {"menuItemId": "soup", "name": "", "priceCents": -1}},
    {"type": "changeMenuItem", "payload": {"menuItemId": "soup", "name": "Soup", "priceCents": 10000000, "available": False}},
    {"type": "changeMenuItem", "payload": {"menuItemId": "soup"}},
    {"type": "removeMenuItem", "payload": {"menuItemId": "soup"}},
    {"type": "markOrderDue", "payload": {"orderId": ORDER}},
    {"type": "launchRocket", "payload": {}},
    {"type": "createOrder"},
    {"payload": {}},
    {"id": "00000000-0000-0000-0000-000000000000", "type": "cancelOrder", "payload": {"orderId": ORDER}},
    {"type": 7, "payload": []},
]
body_seeds = []
for i, c in enumerate(commands):
    body_seeds.append(bytes([i % 4]) + json.dumps(c).encode())
body_seeds += [b"\x00", b"\x00{", b"\x01[1,2]", b"\x00null", b"\x02\"x\"", b"\x00{\"type\": \"createOrder\", \"payload\": {\"items\": [" + b"{}," * 20 + b"{}]}}",
               b"\x00{\"type\":\"addMenuItem\",\"payload\":{\"menuItemId\":\"\\u0000\",\"name\":\"\\ud800\",\"priceCents\":1e308}}"]
write("command_body", body_seeds)

platform = {"iss": "kitchen-fuzz", "aud": "kitchen-platform", "exp": FAR, "sub": "ops", "role": "platform_admin"}
jwt_seeds = [
    token(claims()), token(claims(role="admin")), token(platform),
    token(claims(), secret=b"not-the-key-not-the-key-0000000000"),
    token(claims(), header={"alg": "HS384"}), token(claims(), header={"alg": "none"}),
    token(claims(), header={"alg": "RS256", "kid": "k1"}), token(claims(), header={"alg": "ES256"}),
    token(claims(), header={"alg": "HS256", "kid": "x" * 300, "crit": ["exp"]}),
    "a.b.c", "abc", "", "..", "eyJ.eyJ.", "Bearer x", "a" * 2000,
    json.dumps(claims()), json.dumps(claims(exp=1)), json.dumps(claims(exp="soon")),
    json.dumps(claims(exp=9223372036854775807)), json.dumps(claims(exp=-9223372036854775808)),
    json.dumps(claims(nbf=FAR)), json.dumps(claims(aud=["kitchen", "x"])), json.dumps(claims(aud="x")),
    json.dumps(claims(iss=None)), json.dumps(claims(tenant_id=None)), json.dumps(claims(tenant_id="00000000-0000-0000-0000-000000000000")),
    json.dumps(claims(tenant_id=12)), json.dumps(claims(tenant_id="household-7")), json.dumps(claims(role=["admin"])),
    json.dumps(platform), json.dumps(dict(platform, role="admin")), json.dumps(dict(platform, aud="kitchen")),
    "{", "{\"exp\": 1e999}",
]
write("jwt", jwt_seeds)

tok = token(claims())
stream_seeds = [
    "after=0", "after=5&access_token=" + tok, "after=-1", "after=18446744073709551615", "after=9223372036854775808",
    "after=abc", "after=1&after=2", "access_token=a%2Eb%2Ec", "access_token=%ZZ", "after=%31%32",
    "epoch=3&after=1", "", "&&&=", "after", "after=",
    "after=1\nBearer " + tok, "\nBearer a.b.c\nkitchen.v1, a.b.c", "\nBearer a.b.c\nkitchen.v1, x.y.z",
    "access_token=a.b.c\nBearer x.y.z", "\n\nkitchen.v1, " + tok, "\nBasic abc", "\nBearer", "\nbearer  a.b.c",
    "\n\nkitchen.v1", "\n\n,,,..,", "\n\u00e9t\u00e9", "access_token=\n\n",
]
write("stream_request", stream_seeds)

event = {"seq": 1, "id": ORDER, "type": "OrderCreated"}
notify_seeds = [
    {"tenant_id": TENANT, "id": ORDER},
    {"tenant_id": TENANT, "first_seq": 1, "last_seq": 3, "events": [event, dict(event, seq=2), dict(event, seq=3)]},
    {"tenant_id": TENANT, "first_seq": 1, "last_seq": 900},
    {"tenant_id": TENANT, "first_seq": 5, "last_seq": 1},
    {"tenant_id": TENANT, "first_seq": -9223372036854775808, "last_seq": 9223372036854775807},
    {"tenant_id": TENANT, "status": "active"}, {"tenant_id": TENANT, "status": None}, {"tenant_id": TENANT},
    {"tenant_id": "00000000-0000-0000-0000-000000000000", "id": "00000000-0000-0000-0000-000000000000"},
    {"tenant_id": "x", "id": 1}, {"tenant_id": TENANT, "first_seq": "1", "last_seq": 2},
    {"tenant_id": TENANT, "first_seq": 1, "last_seq": 1, "events": None},
    {"tenant_id": TENANT, "first_seq": 1, "last_seq": 1, "events": [{"seq": 1}]},
]
write("notify_payload", [json.dumps(n) for n in notify_seeds] + ["", "{", "[]", "null", "\"x\"", "{\"tenant_id\": \"" + TENANT + "\", \"status\": \"\\ud800\"}"])
