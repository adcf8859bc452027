"""compose.yaml, checked without a Docker engine: valid against the Compose specification's
schema, wired to PostgreSQL and to the image, and every spren setting it passes loads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config import load_config
from bot.store.database import normalize_url
from tests.deploy.dockerfile import parse
from tests.paths import REPO_ROOT

COMPOSE = REPO_ROOT / "compose.yaml"
BIN = Path(sys.executable).parent
TEST_ENV = {"POSTGRES_PASSWORD": "pw", "SPREN_SALT": "salt", "DISCORD_TOKEN": "token"}


def _check_schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                           "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=120)


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (error when unset or empty)."""
    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2) or "", m.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg if op == ":-" else ""
    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_is_valid_against_the_compose_spec():
    proc = _check_schema(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schema_check_would_notice_a_mistake(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("depends_on:", "depend_on:", 1))
    assert _check_schema(bad).returncode != 0


def test_spren_waits_for_a_healthy_postgresql_and_uses_it(compose):
    services = compose["services"]
    spren, pg = services["spren"], services["postgres"]
    assert spren["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    url = interpolate(spren["environment"]["SPREN_DATABASE__URL"], TEST_ENV)
    assert normalize_url(url) == "postgresql+psycopg://spren:pw@postgres:5432/spren"
    assert pg["environment"]["POSTGRES_USER"] == "spren"
    assert pg["environment"]["POSTGRES_DB"] == "spren"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):  # no password, no start
        interpolate(spren["environment"]["SPREN_DATABASE__URL"], {})


def _spren_env(compose: dict, **shell: str) -> dict[str, str]:
    """The spren service's environment as compose would set it from this shell."""
    return {k: interpolate(str(v), {**TEST_ENV, **shell})
            for k, v in compose["services"]["spren"]["environment"].items()}


def test_every_spren_setting_in_the_compose_file_loads(compose):
    env = _spren_env(compose)
    cfg = load_config(None, environ=env)
    assert cfg.metrics.listen == "0.0.0.0:9108" and cfg.log.format == "json"
    assert cfg.discord is not None and cfg.discord.enabled
    assert cfg.reddit is not None and not cfg.reddit.enabled
    assert cfg.model.backend == "local" and env["SPREN_SALT"] == "salt"
    remote = load_config(None, environ=_spren_env(compose, SPREN_MODEL_BACKEND="openai"))
    assert remote.model.backend == "openai"
    assert remote.model.urls == ["http://inference:8000/v1"]
    assert remote.model.max_concurrency == 2 and remote.model.request_timeout_s == 120


def test_the_inference_server_is_optional_and_serves_the_image_model(compose):
    services = compose["services"]
    inference = services["inference"]
    assert inference["profiles"] == ["remote"] and "profiles" not in services["spren"]
    assert services["spren"]["depends_on"]["inference"]["required"] is False
    _, (build, runtime) = parse(REPO_ROOT / "Dockerfile")
    model = runtime.env()["SPREN_MODEL__PATH"]
    assert inference["command"][:3] == ["transformers", "serve", model]
    assert services["spren"]["environment"]["SPREN_MODEL__NAME"] == model
    port = inference["command"][inference["command"].index("--port") + 1]
    assert services["spren"]["environment"]["SPREN_MODEL__URLS"] == \
        f"http://inference:{port}/v1"
    build_args = {a.partition("=")[0] for a in build.all("ARG")}
    assert set(inference["build"]["args"]) <= build_args


def test_metrics_are_published_on_loopback_only(compose):
    ports = compose["services"]["spren"]["ports"]
    assert ports == ["127.0.0.1:9108:9108"]
