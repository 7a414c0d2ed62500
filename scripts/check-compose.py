"""Syntax and shape check of docker-compose.yml (no Docker engine needed)."""
import sys

import yaml

with open(sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml") as f:
    doc = yaml.safe_load(f)
services = doc.get("services") or {}
problems = []
for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        problems.append(f"{name}: needs image or build")
    for dep in (svc.get("depends_on") or {}):
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
for required in ["postgres", "temporal", "command-gateway", "command-pump", "worker", "realtime"]:
    if required not in services:
        problems.append(f"missing service {required}")
if problems:
    sys.exit("docker-compose.yml: " + "; ".join(problems))
print(f"docker-compose.yml: {len(services)} services, syntax ok")
