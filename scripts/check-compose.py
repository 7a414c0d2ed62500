"""What docker-compose.yml must promise a user, checked without a Docker engine:
every long-running service has a health check, dependencies wait on
conditions, one image is built once and reused, secrets come from the env
file (no password written in the file), migrations run as a one-shot."""
import sys

import yaml

path = sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"
with open(path) as f:
    doc = yaml.safe_load(f)
services = doc.get("services") or {}
problems = []
ours = ["command-gateway", "command-pump", "worker", "realtime"]
for required in ["postgres", "temporal", "setup", *ours]:
    if required not in services:
        problems.append(f"missing service {required}")
builders = [name for name, svc in services.items() if "build" in svc]
if builders != ["setup"]:
    problems.append(f"exactly one service (setup) builds the image, found {builders}")
image = services.get("setup", {}).get("image")
for name, svc in services.items():
    if "image" not in svc and "build" not in svc:
        problems.append(f"{name}: needs image or build")
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        problems.append(f"{name}: depends_on must name a condition for each dependency")
        deps = {}
    for dep, how in deps.items():
        if dep not in services:
            problems.append(f"{name}: depends on unknown service {dep}")
        elif not (how or {}).get("condition"):
            problems.append(f"{name}: depends on {dep} without a condition")
    if name != "setup" and "healthcheck" not in svc:
        problems.append(f"{name}: no healthcheck")
    env = svc.get("environment") or {}
    for key, value in (env.items() if isinstance(env, dict) else []):
        if ("PASSWORD" in key or "SECRET" in key or key.endswith("PWD")) and value:
            problems.append(f"{name}: {key} is written in the compose file; put it in kitchen.env")
for name in ours:
    svc = services.get(name, {})
    if svc.get("image") != image:
        problems.append(f"{name}: must run the image setup builds ({image})")
    if (svc.get("depends_on") or {}).get("setup", {}).get("condition") != "service_completed_successfully":
        problems.append(f"{name}: must start after setup completed successfully")
if "kitchen.env" not in str(services.get("setup", {}).get("env_file")):
    problems.append("setup: secrets come from env_file kitchen.env")
if problems:
    sys.exit(f"{path}: " + "; ".join(problems))
print(f"{path}: {len(services)} services, one image, health checks and conditions ok")
