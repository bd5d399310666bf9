"""Static checks of the production deployment files.

No Docker engine is needed: these read Dockerfile, docker-compose.yml and
deploy/ and hold them to the configuration contract (pupilpost.settings) and
the routing table (pupilpost.routes).
"""
from __future__ import annotations

import http.server
import importlib
import json
import re
import subprocess
import sys
import threading
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from pupilpost import routes
from pupilpost.settings import SERVICES, PlatformSettings, ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
NGINX_CONF = REPO / "deploy" / "ingress" / "nginx.conf"
INIT_SQL = REPO / "deploy" / "postgres" / "init.sql"
OTEL_CONF = REPO / "deploy" / "otel-collector.yaml"
DEPLOY_README = REPO / "deploy" / "README.md"

EXPECTED_PORTS = {"ingest": 8001, "classifier": 8002, "dispatch": 8003, "audit": 8004, "retention": 8005}
OTEL_ALLOWED = frozenset({
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
})
DEV_ONLY = frozenset({"INGEST_BOOTSTRAP_OPERATOR_TOKEN_FILE"})
OWNER_ROLE = "pupilpost_owner"
TEST_MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # base64 of bytes 0..31

# --------------------------------------------------------------------------- helpers

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: object, env: dict[str, str]) -> str:
    """Compose-style variable interpolation of one value."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        val = env.get(name)
        if op in (":-", "-"):
            if val is None or (op == ":-" and val == ""):
                return arg
            return val
        if op in (":?", "?"):
            if val is None or (op == ":?" and val == ""):
                raise KeyError(f"{name}: {arg}")
            return val
        return val or ""

    return _VAR.sub(sub, str(value))


def env_of(svc: dict) -> dict[str, str]:
    """A compose service's environment as a dict (map or list syntax), uninterpolated."""
    raw = svc.get("environment") or {}
    if isinstance(raw, list):
        out = {}
        for item in raw:
            key, _, val = str(item).partition("=")
            out[key] = val
        return out
    return {k: ("" if v is None else v) for k, v in raw.items()}


def default_of(expr: str) -> tuple[str, str]:
    """('VAR', 'default') from an expression that is exactly ${VAR:-default}."""
    m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*):-([^}]*)\}", expr)
    assert m, f"expected ${{VAR:-default}}, got {expr!r}"
    return m.group(1), m.group(2)


def depends_on(svc: dict) -> dict[str, dict]:
    dep = svc.get("depends_on") or {}
    if isinstance(dep, list):
        return {name: {"condition": "service_started"} for name in dep}
    return {name: (cfg or {"condition": "service_started"}) for name, cfg in dep.items()}


def bind_sources(svc: dict) -> list[tuple[str, str]]:
    """(source, target) of each bind mount in a service's volumes."""
    out = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, dict):
            if vol.get("type") == "bind":
                out.append((vol["source"], vol["target"]))
            continue
        parts = str(vol).split(":")
        if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
            out.append((parts[0], parts[1]))
    return out


def named_volumes(svc: dict) -> list[str]:
    out = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, dict):
            if vol.get("type") == "volume" and vol.get("source"):
                out.append(vol["source"])
            continue
        parts = str(vol).split(":")
        if len(parts) >= 2 and not parts[0].startswith((".", "/", "~")):
            out.append(parts[0])
    return out


def container_ports(svc: dict) -> set[int]:
    out = set()
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.add(int(p["target"]))
        else:
            out.add(int(str(p).split("/")[0].rsplit(":", 1)[-1]))
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines: list[str] = []
    buf = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not buf and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + "\n"
            continue
        buf += line
        if buf.strip():
            lines.append(buf.strip())
        buf = ""
    if buf.strip():
        lines.append(buf.strip())
    out = []
    for line in lines:
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), args.strip()))
    return out


def strip_conf_comments(text: str) -> str:
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def conf_blocks(text: str, keyword: str) -> list[tuple[str, str]]:
    """(arguments, body) of every `keyword ... { body }` block; braces in quotes are text."""
    out = []
    for m in re.finditer(rf"(?:^|[;{{}}\s]){keyword}\s+([^{{;]*?)\s*\{{", text):
        depth, i, quote = 1, m.end(), ""
        while i < len(text) and depth:
            ch = text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            i += 1
        assert depth == 0, f"unbalanced {keyword} block at {m.group(1)!r}"
        out.append((m.group(1).strip(), text[m.end():i - 1]))
    return out


def parse_nginx() -> tuple[dict[str, list[str]], list[tuple[bool, str, str]], str]:
    """Upstreams {name: [server address]}, locations [(exact, path, body)], and the text."""
    text = strip_conf_comments(NGINX_CONF.read_text())
    upstreams = {name: re.findall(r"\bserver\s+([^\s;]+)", body)
                 for name, body in conf_blocks(text, "upstream")}
    locations = []
    for args, body in conf_blocks(text, "location"):
        parts = args.split()
        exact = parts[0] == "="
        if parts[0] in ("=", "^~"):
            parts = parts[1:]
        assert len(parts) == 1, f"unexpected location {args!r}"
        locations.append((exact, parts[0], body))
    return upstreams, locations, text


def nginx_location(locations: list[tuple[bool, str, str]], path: str) -> tuple[bool, str, str] | None:
    """The location nginx picks for `path` (exact match, else longest prefix)."""
    for loc in locations:
        if loc[0] and loc[1] == path:
            return loc
    prefixes = [loc for loc in locations if not loc[0] and path.startswith(loc[1])]
    return max(prefixes, key=lambda loc: len(loc[1])) if prefixes else None


def settings_class(svc: str) -> type[ServiceSettings]:
    """The service's own settings class (services/<svc>/settings.py) if it exists, else the base."""
    try:
        module = importlib.import_module(f"services.{svc}.settings")
    except ImportError:
        return ServiceSettings
    for obj in vars(module).values():
        if (isinstance(obj, type) and issubclass(obj, ServiceSettings)
                and obj.model_config.get("env_prefix") == f"{svc.upper()}_"):
            return obj
    return ServiceSettings


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict), "docker-compose.yml is not a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    svcs = compose.get("services")
    assert isinstance(svcs, dict) and svcs, "docker-compose.yml has no services"
    return svcs


# --------------------------------------------------------------------------- compose


def test_compose_parses_as_yaml(services: dict) -> None:
    for name in ("kafka", "postgres", "otel-collector", "jaeger", "ingress", *SERVICES):
        assert name in services, f"compose has no service {name!r}"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_built_from_dockerfile_runs_it(services: dict, svc: str) -> None:
    spec = services[svc]
    build = spec.get("build")
    assert build is not None, f"{svc} is not built"
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO / context).resolve() == REPO, f"{svc} builds from {context!r}, not the repo root"
    assert (REPO / context / dockerfile).resolve() == DOCKERFILE, f"{svc} builds {dockerfile!r}"
    assert spec.get("command") == ["run", svc], f"{svc} command is {spec.get('command')!r}"


def test_services_share_one_image(services: dict) -> None:
    images = {services[svc].get("image") for svc in SERVICES}
    assert len(images) == 1 and None not in images, f"services use images {images}"


@pytest.mark.parametrize("svc", SERVICES)
def test_env_vars_are_known_settings(services: dict, svc: str) -> None:
    env = env_of(services[svc])
    assert env, f"{svc} sets no environment"
    allowed = (
        {f"PUPILPOST_{field.upper()}" for field in PlatformSettings.model_fields}
        | {f"{svc.upper()}_{field.upper()}"
           for field in {*ServiceSettings.model_fields, *settings_class(svc).model_fields}}
        | OTEL_ALLOWED
        | {name for name in DEV_ONLY if name.startswith(f"{svc.upper()}_")}
    )
    unknown = sorted(set(env) - allowed)
    assert not unknown, f"{svc} sets variables no setting reads: {unknown}"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_env_contract(services: dict, svc: str) -> None:
    env = env_of(services[svc])
    up = svc.upper()
    assert env.get("PUPILPOST_MODE") == "production"
    assert re.fullmatch(r"\$\{PUPILPOST_MASTER_KEY:\?[^}]+\}", str(env.get("PUPILPOST_MASTER_KEY", ""))), (
        f"{svc}: PUPILPOST_MASTER_KEY must be required from the environment")
    assert not set(env) & DEV_ONLY, f"{svc}: development-only settings in the production compose"
    assert env.get(f"{up}_HTTP_HOST") == "0.0.0.0", f"{svc} must listen on all interfaces"
    assert str(env.get(f"{up}_HTTP_PORT")) == str(EXPECTED_PORTS[svc])
    assert EXPECTED_PORTS[svc] == 8000 + routes.PORT_OFFSETS[svc]

    fake = {"PUPILPOST_MASTER_KEY": TEST_MASTER_KEY}
    runtime = urlsplit(interpolate(env[f"{up}_DATABASE_URL"], fake))
    migrate = urlsplit(interpolate(env[f"{up}_MIGRATE_DATABASE_URL"], fake))
    assert runtime.scheme in ("postgresql", "postgres")
    assert runtime.username == f"pp_{svc}", f"{svc} runtime role is {runtime.username!r}"
    assert migrate.username == OWNER_ROLE, f"{svc} migrates as {migrate.username!r}"
    for url in (runtime, migrate):
        assert (url.hostname, url.port or 5432, url.path) == ("postgres", 5432, "/pupilpost")

    assert env.get("PUPILPOST_KAFKA_BOOTSTRAP") == "kafka:9092"
    otlp = urlsplit(env.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    assert (otlp.scheme, otlp.hostname, otlp.port) == ("http", "otel-collector", 4318), (
        "the services export OTLP over HTTP (opentelemetry-exporter-otlp-proto-http)")
    assert env.get("OTEL_SERVICE_NAME"), f"{svc} has no OTEL_SERVICE_NAME"


def test_otel_service_names_are_distinct(services: dict) -> None:
    names = [env_of(services[svc]).get("OTEL_SERVICE_NAME") for svc in SERVICES]
    assert len(set(names)) == len(SERVICES), names


@pytest.mark.parametrize("svc", SERVICES)
def test_env_values_validate_against_settings(services: dict, svc: str) -> None:
    env = {k: interpolate(v, {"PUPILPOST_MASTER_KEY": TEST_MASTER_KEY}) for k, v in env_of(services[svc]).items()}
    platform = PlatformSettings(**{
        field: env[f"PUPILPOST_{field.upper()}"]
        for field in PlatformSettings.model_fields if f"PUPILPOST_{field.upper()}" in env})
    cls = settings_class(svc)
    own = cls(**{
        field: env[f"{svc.upper()}_{field.upper()}"]
        for field in cls.model_fields if f"{svc.upper()}_{field.upper()}" in env})
    assert platform.mode == "production"
    assert platform.kafka_idempotence is True
    assert platform.master_key is not None
    assert own.http_port == EXPECTED_PORTS[svc]
    assert own.pool_min <= own.pool_max


def test_master_key_is_required(services: dict) -> None:
    env = env_of(services["ingest"])
    with pytest.raises(KeyError):
        interpolate(env["PUPILPOST_MASTER_KEY"], {})


@pytest.mark.parametrize("svc", SERVICES)
def test_kafka_idempotence_on(services: dict, svc: str) -> None:
    assert env_of(services[svc]).get("PUPILPOST_KAFKA_IDEMPOTENCE") == "true"


@pytest.mark.parametrize("svc", SERVICES)
def test_service_waits_for_healthy_dependencies(services: dict, svc: str) -> None:
    deps = depends_on(services[svc])
    for infra in ("kafka", "postgres"):
        assert deps.get(infra, {}).get("condition") == "service_healthy", f"{svc} does not wait for {infra}"
        assert services[infra].get("healthcheck", {}).get("test"), f"{infra} has no healthcheck"
    assert "otel-collector" in deps
    assert not services[svc].get("healthcheck", {}).get("disable"), f"{svc} disables its healthcheck"


def test_ingress_waits_for_healthy_services(services: dict) -> None:
    deps = depends_on(services["ingress"])
    for svc in SERVICES:
        assert deps.get(svc, {}).get("condition") == "service_healthy", f"ingress does not wait for {svc}"
        has_check = services[svc].get("healthcheck", {}).get("test") or any(
            instr == "HEALTHCHECK" and args.upper() != "NONE" for instr, args in dockerfile_instructions())
        assert has_check, f"{svc} has no healthcheck to become healthy"


def test_kafka_is_single_node_kraft(services: dict) -> None:
    kafka = services["kafka"]
    assert str(kafka["image"]).startswith("apache/kafka:")
    env = {k: interpolate(v, {}) for k, v in env_of(kafka).items()}
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not any("ZOOKEEPER" in k for k in env)
    node = env["KAFKA_NODE_ID"]
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.startswith(f"{node}@kafka:")
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners and controller not in advertised
    assert voters.rsplit(":", 1)[1] == listeners[controller].rsplit(":", 1)[1]
    # In-network clients reach the broker by its service name.
    client_listeners = [name for name in advertised if name != controller]
    assert [advertised[name] for name in client_listeners] == ["kafka:9092"]
    assert listeners[client_listeners[0]].rsplit(":", 1)[1] == "9092"
    protocol_map = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocol_map)
    # Single node: internal topics cannot ask for more replicas than brokers.
    for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
        assert env.get(key) == "1", key
    cluster_id = env.get("CLUSTER_ID")
    assert cluster_id and re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id), "CLUSTER_ID must be a base64 UUID"


def test_postgres_runs_init_script(services: dict) -> None:
    pg = services["postgres"]
    assert str(pg["image"]).split(":")[1].split(".")[0] == "16"
    mounts = dict(bind_sources(pg))
    assert "./deploy/postgres/init.sql" in mounts
    assert mounts["./deploy/postgres/init.sql"].startswith("/docker-entrypoint-initdb.d/")
    assert mounts["./deploy/postgres/init.sql"].endswith(".sql")


def test_referenced_files_exist(compose: dict, services: dict) -> None:
    declared_volumes = set((compose.get("volumes") or {}).keys())
    for name, spec in services.items():
        for source, _target in bind_sources(spec):
            assert (REPO / source).exists(), f"{name} mounts missing {source}"
        for vol in named_volumes(spec):
            assert vol in declared_volumes, f"{name} uses undeclared volume {vol}"
        for env_file in ([spec["env_file"]] if isinstance(spec.get("env_file"), str) else spec.get("env_file") or []):
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert (REPO / path).exists(), f"{name} reads missing {path}"
        for ref in spec.get("configs") or []:
            src = ref if isinstance(ref, str) else ref["source"]
            assert src in (compose.get("configs") or {}), f"{name} uses undeclared config {src}"
        build = spec.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (REPO / context / dockerfile).is_file(), f"{name} builds missing {dockerfile}"
    for section in ("configs", "secrets"):
        for name, spec in (compose.get(section) or {}).items():
            if isinstance(spec, dict) and "file" in spec:
                assert (REPO / spec["file"]).exists(), f"{section}.{name} file {spec['file']} is missing"


# --------------------------------------------------------------------------- ingress


def test_ingress_serves_nginx_conf_on_8000(services: dict) -> None:
    ingress = services["ingress"]
    assert str(ingress["image"]).startswith("nginx:") and "alpine" in str(ingress["image"])
    mounts = dict(bind_sources(ingress))
    assert mounts.get("./deploy/ingress/nginx.conf") == "/etc/nginx/nginx.conf"
    assert 8000 in container_ports(ingress)
    _, _, text = parse_nginx()
    assert re.search(r"\blisten\s+8000\s*;", text)


def test_nginx_upstreams_point_at_service_ports(services: dict) -> None:
    upstreams, _, _ = parse_nginx()
    used = {svc for _, svc in routes.ROUTES}
    for svc in used:
        assert svc in upstreams, f"no upstream for {svc}"
        port = env_of(services[svc])[f"{svc.upper()}_HTTP_PORT"]
        assert upstreams[svc] == [f"{svc}:{port}"], f"upstream {svc} is {upstreams[svc]}"


def test_nginx_locations_route_like_routes_table() -> None:
    upstreams, locations, text = parse_nginx()
    assert not re.search(r"\blocation\s+~", text), "regex locations would break longest-prefix routing"

    def served_by(path: str) -> str | None:
        loc = nginx_location(locations, path)
        if loc is None:
            return None
        m = re.search(r"\bproxy_pass\s+http://([^\s;/]+)", loc[2])
        if not m:
            return None
        servers = upstreams.get(m.group(1))
        assert servers, f"{path}: proxy_pass to undefined upstream {m.group(1)}"
        return servers[0].rsplit(":", 1)[0]

    for prefix, svc in routes.ROUTES:
        for path in (prefix, prefix + "/", prefix + "/a/b"):
            assert served_by(path) == svc, f"ingress sends {path} to {served_by(path)}, ROUTES says {svc}"
        # Near misses must go where the routes table sends them (or nowhere).
        for path in (prefix + "x", prefix + "-x/y"):
            assert served_by(path) == routes.service_for(path), path
    for path in ("/", "/v1", "/v1/", "/nope", "/readyz"):
        assert served_by(path) == routes.service_for(path), path


def test_nginx_has_own_healthz() -> None:
    _, locations, _ = parse_nginx()
    loc = nginx_location(locations, "/healthz")
    assert loc is not None, "no /healthz location"
    assert re.search(r"\breturn\s+200\b", loc[2]), "/healthz does not answer 200"


# --------------------------------------------------------------------------- postgres roles


def init_sql_defaults() -> dict[str, str]:
    """{environment variable: default password} as init.sql reads them."""
    text = INIT_SQL.read_text()
    defaults = dict(re.findall(r"^\\set\s+(\w+)\s+'([^']*)'", text, re.M))
    return {env: defaults[var] for var, env in re.findall(r"^\\getenv\s+(\w+)\s+(\w+)", text, re.M)
            if var in defaults}


def create_role_options(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2).upper()
            for m in re.finditer(r"CREATE\s+ROLE\s+(\w+)\s+([^;]*);", text, re.I)}


def test_init_sql_creates_database_and_roles() -> None:
    text = re.sub(r"--[^\n]*", "", INIT_SQL.read_text())
    assert re.search(rf"CREATE\s+DATABASE\s+pupilpost\b[^;]*\bOWNER\s+{OWNER_ROLE}\b", text, re.I)
    roles = create_role_options(text)
    for role in [OWNER_ROLE, *(f"pp_{svc}" for svc in SERVICES)]:
        assert role in roles, f"init.sql does not create {role}"
        opts = roles[role].split()
        assert "LOGIN" in opts and "NOSUPERUSER" in opts and "NOBYPASSRLS" in opts, f"{role}: {opts}"
        assert "SUPERUSER" not in opts and "BYPASSRLS" not in opts
    for svc in SERVICES:
        # Runtime roles own nothing and do not inherit the owner's rights.
        assert not re.search(rf"OWNER\s+(TO\s+)?pp_{svc}\b", text, re.I)
        assert not re.search(rf"GRANT\s+{OWNER_ROLE}\s+TO[^;]*\bpp_{svc}\b", text, re.I)


def test_passwords_agree_between_init_sql_and_compose(services: dict) -> None:
    defaults = init_sql_defaults()
    pg_env = env_of(services["postgres"])
    password_vars = {name for name in pg_env if name in defaults}
    assert password_vars == set(defaults), f"postgres passes {password_vars}, init.sql reads {set(defaults)}"
    for name, default in defaults.items():
        assert default_of(pg_env[name]) == (name, default), f"{name} default differs from init.sql"
    for svc in SERVICES:
        env = env_of(services[svc])
        for key in (f"{svc.upper()}_DATABASE_URL", f"{svc.upper()}_MIGRATE_DATABASE_URL"):
            m = re.fullmatch(r"postgres(?:ql)?://[^:]+:(\$\{[^}]+\})@.*", env[key])
            assert m, f"{svc}: {key} has no password variable"
            name, default = default_of(m.group(1))
            assert defaults.get(name) == default, f"{svc}: {key} uses {name}, which init.sql does not set so"


# --------------------------------------------------------------------------- telemetry


def test_otel_collector_config(services: dict) -> None:
    conf = yaml.safe_load(OTEL_CONF.read_text())
    collector = services["otel-collector"]
    assert str(collector["image"]).startswith("otel/opentelemetry-collector-contrib")
    mounts = dict(bind_sources(collector))
    target = mounts.get("./deploy/otel-collector.yaml")
    assert target, "collector does not mount deploy/otel-collector.yaml"
    assert f"--config={target}" in (collector.get("command") or []) or target == "/etc/otelcol-contrib/config.yaml"

    protocols = conf["receivers"]["otlp"]["protocols"]
    assert {"grpc", "http"} <= set(protocols)
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"

    traces = conf["service"]["pipelines"]["traces"]
    assert "otlp" in traces["receivers"]
    assert "batch" in traces["processors"]
    for pipeline in conf["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            for name in pipeline.get(kind, []):
                assert name in (conf.get(kind) or {}), f"pipeline uses undefined {kind[:-1]} {name}"
    to_jaeger = [conf["exporters"][name] for name in traces["exporters"]
                 if name.split("/")[0] == "otlp" and conf["exporters"][name]["endpoint"] == "jaeger:4317"]
    assert to_jaeger, "traces are not exported to jaeger over OTLP"

    jaeger = services["jaeger"]
    assert str(jaeger["image"]).startswith("jaegertracing/all-in-one")
    assert str(env_of(jaeger).get("COLLECTOR_OTLP_ENABLED", "true")).lower() == "true"
    assert 16686 in container_ports(jaeger)


# --------------------------------------------------------------------------- image


def test_dockerfile() -> None:
    instrs = dockerfile_instructions()
    froms = [args for instr, args in instrs if instr == "FROM"]
    assert froms and froms[-1].split()[0] == "python:3.11-slim"

    entrypoint = [json.loads(args) for instr, args in instrs if instr == "ENTRYPOINT"]
    assert entrypoint and entrypoint[-1] == ["pupilpost"]
    cmd = [json.loads(args) for instr, args in instrs if instr == "CMD"]
    assert cmd and cmd[-1] == ["run", "ingest"]

    users = [args for instr, args in instrs if instr == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "image runs as root"

    installs = [args for instr, args in instrs if instr == "RUN" and "pip install" in args]
    assert installs, "the image does not pip install the project"
    assert not any(re.search(r"\[[^\]]*test", args) for args in installs), "test extra installed"
    assert not any(re.search(r"pip install\s+(-e|--editable)\b", args) for args in installs)

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "pupilpost" in pyproject["project"]["scripts"], "ENTRYPOINT pupilpost is not a console script"
    copied = " ".join(args for instr, args in instrs if instr in ("COPY", "ADD"))
    assert "pyproject.toml" in copied
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        top = pattern.rstrip("*").split(".")[0]
        assert re.search(rf"(^|\s|/){re.escape(top)}(/|\s|$)", copied), f"package {top} is not copied"


def test_dockerignore_keeps_the_project() -> None:
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = ["pyproject.toml", *(p.rstrip("*").split(".")[0]
                                 for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"])]
    for name in needed:
        ignored = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            if fnmatch(name, pattern.lstrip("!").strip("/")):
                ignored = not negate
        assert not ignored, f".dockerignore excludes {name}"
    assert any(fnmatch(".git", p) for p in patterns), ".git goes into the build context"


def _healthcheck_command() -> str:
    checks = [args for instr, args in dockerfile_instructions() if instr == "HEALTHCHECK"]
    assert checks, "no HEALTHCHECK"
    m = re.search(r"\bCMD\s+(.*)$", checks[-1], re.S)
    assert m, checks[-1]
    return m.group(1).replace("\n", "")


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="needs /bin/sh")
def test_dockerfile_healthcheck_probes_the_running_service(tmp_path: Path) -> None:
    command = _healthcheck_command()
    assert "/healthz" in command and "urllib" in command
    assert "/proc/1/cmdline" in command
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/usr/local/bin/python\0/usr/local/bin/pupilpost\0run\0dispatch\0")
    command = command.replace("/proc/1/cmdline", str(cmdline))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        def probe(env: dict[str, str]) -> int:
            full = {"PATH": f"{bin_dir}:/usr/bin:/bin", **env}
            return subprocess.run(["/bin/sh", "-c", command], env=full, capture_output=True,
                                  timeout=30).returncode

        _Health.status = 200
        assert probe({"DISPATCH_HTTP_PORT": str(port)}) == 0
        # Another service's port variable is not the one probed.
        assert probe({"INGEST_HTTP_PORT": str(port), "DISPATCH_HTTP_PORT": "9"}) != 0
        _Health.status = 503
        assert probe({"DISPATCH_HTTP_PORT": str(port)}) != 0
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- docs


def test_deploy_readme_lists_the_settings() -> None:
    text = DEPLOY_README.read_text()
    for field in PlatformSettings.model_fields:
        assert f"PUPILPOST_{field.upper()}" in text, f"deploy/README.md does not document PUPILPOST_{field.upper()}"
    for field in ServiceSettings.model_fields:
        assert f"<SVC>_{field.upper()}" in text, f"deploy/README.md does not document <SVC>_{field.upper()}"
    assert "PUPILPOST_KAFKA_IDEMPOTENCE" in text and re.search(r"idempoten", text, re.I)

