"""Typed, layered configuration: built-in defaults < TOML file < environment < CLI flags.

Secrets never live in the file: keys ending in ``_env`` name the environment variable that
holds the secret (``token_env = "DISCORD_TOKEN"``). Any key can be overridden from the
environment as ``SPREN_<SECTION>__<KEY>`` (for example ``SPREN_DATABASE__URL``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config_checks import validate
from bot.errors import ConfigError
from engine.generation.params import GenParams

_GEN = GenParams()  # the engine's defaults are the config's defaults

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BotConfig:
    name: str = "spren"
    series: str = "Oz"
    generate_command: str = "oz"
    data_dir: str = ""
    hash_user_ids: bool = True
    salt_env: str = "SPREN_SALT"
    source_url: str = "https://example.invalid/spren"
    default_prompt: str = "It was a bright morning when"
    max_prompt_chars: int = 500


@dataclass
class DatabaseConfig:
    url: str = ""


@dataclass
class BooksConfig:
    series_code: str = "oz"
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelConfig:
    backend: str = "local"  # "local" (in-process) or "openai" (OpenAI-compatible servers)
    path: str = "oz-demo"
    device: str = "cpu"
    dtype: str = "auto"
    runtime: str = "auto"  # "auto", "llama" (llama.cpp on model.gguf) or "torch"
    sequences: int = 0  # llama.cpp rows held at once; 0 = [queue] max_batch + 4
    llama_library: str = "auto"  # "auto" (native build if made), "native" or "wheel"
    threads: int = 0
    urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000/v1"])
    name: str = ""
    api_key_env: str = ""
    max_concurrency: int = 8
    request_timeout_s: float = 120.0


@dataclass
class GenerationConfig:
    max_new_tokens: int = _GEN.max_new_tokens
    max_new_tokens_limit: int = 400
    temperature: float = _GEN.temperature
    top_k: int = _GEN.top_k
    top_p: float = _GEN.top_p
    repetition_penalty: float = _GEN.repetition_penalty
    memory_window: int = _GEN.memory_window
    stop_at_sentence: bool = _GEN.stop_at_sentence


@dataclass
class QueueConfig:
    workers: int = 1
    max_batch: int = 8
    shared_batch: int = 0  # 0: the engine's choice (4 for torch, 2 for llama.cpp)
    per_user_pending: int = 3
    max_pending: int = 64
    timeout_s: float = 300.0


@dataclass
class GuardConfig:
    max_copied_words: int = 12
    action: str = "regenerate"
    max_attempts: int = 3


@dataclass
class StatsConfig:
    ewma_span: int = 200
    chart_dir: str = ""


# Ordinary words in the maintained list that books use innocently (checked on the Oz books).
FILTER_ALLOW = ["escort", "girl on", "tied up", "big black", "undressing", "hoe", "poof", "scat",
                "tit", "cum", "bondage"]


@dataclass
class FilterConfig:
    enabled: bool = True
    action: str = "mask"  # mask | regenerate | refuse
    wordlists: list[str] = field(default_factory=lambda: ["english"])
    block: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=lambda: list(FILTER_ALLOW))
    max_regenerations: int = 2


@dataclass
class SpoilersConfig:
    default_policy: str = "all"  # all | none | first N | through <book code>


@dataclass
class PrivacyConfig:
    keep_days: int = 30  # logged prompts and passages older than this are deleted; 0 keeps
    purge_interval_h: float = 6.0


@dataclass
class LogConfig:
    format: str = "text"  # text | json
    level: str = "warning"  # debug | info | warning | error (-v / -vv raise it)


@dataclass
class MetricsConfig:
    listen: str = ""  # HOST:PORT for /metrics and /healthz; empty: off


@dataclass
class IngestConfig:
    """Bounds on what one book file may cost to ingest (see ``engine.corpus.limits``)."""

    max_file_mb: float = 64.0
    max_unpacked_mb: float = 128.0
    max_member_mb: float = 32.0
    max_zip_ratio: float = 100.0
    max_zip_members: int = 10_000
    max_spine_pages: int = 2_000
    max_book_chars: int = 16_000_000
    max_chapters: int = 2_000


@dataclass
class LimitsConfig:
    """Bounds on what users can make the bot do (see ``bot.limits``)."""

    max_input_chars: int = 4000
    cheap_workers: int = 2
    cheap_queue: int = 1000
    cheap_max_wait_s: float = 0.15
    user_per_minute: float = 30.0
    user_burst: int = 10
    reply_cache_mb: float = 64.0


@dataclass
class StoriesConfig:
    """Passage trees: who may press which button, and how long a story may grow."""

    regenerate_by: str = "requester"
    continue_by: str = "everyone"
    stop_by: str = "requester"
    max_passages: int = 200



@dataclass
class DiscordConfig:
    enabled: bool = True
    token_env: str = "DISCORD_TOKEN"
    api_base: str = ""
    gateway_url: str = ""
    dev_guild: int = 0
    edit_interval_s: float = 1.0
    spoiler_guilds: list[int] = field(default_factory=list)
    allowed_channels: list[int] = field(default_factory=list)
    allow_dms: bool = True
    cooldown_s: float = 10.0
    per_user_pending: int = 2
    per_guild_concurrent: int = 10
    message_content: bool = False


@dataclass
class RedditConfig:
    enabled: bool = True
    client_id_env: str = "REDDIT_CLIENT_ID"
    client_secret_env: str = "REDDIT_CLIENT_SECRET"
    username_env: str = "REDDIT_USERNAME"
    password_env: str = "REDDIT_PASSWORD"
    user_agent: str = "spren/0.1 (book passages bot)"
    oauth_url: str = ""
    reddit_url: str = ""
    keyword: str = ""
    continue_keyword: str = "!continue"
    subreddits: list[str] = field(default_factory=list)
    deny_subreddits: list[str] = field(default_factory=list)
    spoiler_subreddits: list[str] = field(default_factory=list)
    ignore_users: list[str] = field(default_factory=list)
    per_thread_cap: int = 3
    per_user_hourly: int = 5
    poll_interval_s: float = 15.0
    ban_recheck_hours: float = 24.0
    max_reply_chars: int = 10000


@dataclass
class Config:
    bot: BotConfig = field(default_factory=BotConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    books: BooksConfig = field(default_factory=BooksConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    stories: StoriesConfig = field(default_factory=StoriesConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    spoilers: SpoilersConfig = field(default_factory=SpoilersConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    discord: DiscordConfig | None = None
    reddit: RedditConfig | None = None
    source: str = "built-in demo settings"

    # ---- derived locations -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """Where the database, built models and charts live (``SPREN_HOME`` moves it)."""
        if self.bot.data_dir:
            return Path(self.bot.data_dir).expanduser()
        home = os.environ.get("SPREN_HOME")
        return Path(home).expanduser() if home else Path.home() / ".local" / "share" / "spren"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'spren.db'}"

    @property
    def chart_dir(self) -> Path:
        return Path(self.stats.chart_dir).expanduser() if self.stats.chart_dir else (
            self.data_dir / "charts"
        )

    def model_dir(self) -> Path:
        """Resolve ``[model] path``: a directory, or a built-in name built under data_dir."""
        p = Path(self.model.path).expanduser()
        if p.is_absolute() or p.exists() or "/" in self.model.path:
            return p
        return self.data_dir / "models" / self.model.path

    def secret(self, env_name: str) -> str | None:
        """Read a secret from the environment variable that a ``*_env`` key names."""
        value = os.environ.get(env_name, "").strip()
        return value or None


SECTIONS = {f.name: f for f in dataclasses.fields(Config) if f.name != "source"}


def _section_type(name: str) -> type:
    hint = typing.get_type_hints(Config)[name]
    if isinstance(hint, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a field type; strings (from env/flags) are parsed."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false",
                                                         "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(f"{where}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table of name = value, got {value!r}")
        return {str(k): _coerce(f"{where}.{k}", v, str) for k, v in value.items()}
    raise ConfigError(f"{where}: unsupported type {hint}")  # pragma: no cover


def _build_section(name: str, values: dict[str, Any], base: Any = None) -> Any:
    cls = _section_type(name)
    obj = base if base is not None else cls()
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            known = ", ".join(sorted(hints))
            raise ConfigError(f"unknown key [{name}] {key}; expected one of: {known}")
        setattr(obj, key, _coerce(f"[{name}] {key}", value, hints[key]))
    return obj


def _env_overrides(environ: typing.Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith("SPREN_") or "__" not in name:
            continue
        section, _, key = name[len("SPREN_"):].partition("__")
        section, key = section.lower(), key.lower()
        if section not in SECTIONS:
            raise ConfigError(
                f"environment variable {name}: unknown section [{section}]; "
                f"expected one of: {', '.join(sorted(SECTIONS))}"
            )
        out.setdefault(section, {})[key] = value
    return out


def load_config(
    path: str | os.PathLike | None = None,
    environ: typing.Mapping[str, str] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """Load the config: defaults < TOML file (``path`` or ``SPREN_CONFIG``) < env < overrides."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("SPREN_CONFIG") or None
    data: dict[str, Any] = {}
    cfg = Config()
    if path:
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist; copy config.example.toml there "
                              "or drop --config / SPREN_CONFIG to use the built-in demo settings")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
        cfg.source = str(p)
    layers = [data, _env_overrides(environ), overrides or {}]
    for layer in layers:
        for section, values in layer.items():
            if section not in SECTIONS:
                raise ConfigError(f"unknown section [{section}]; expected one of: "
                                  f"{', '.join(sorted(SECTIONS))}")
            if not isinstance(values, dict):
                raise ConfigError(f"[{section}] must be a table of keys, got {values!r}")
            current = getattr(cfg, section)
            setattr(cfg, section, _build_section(section, values, current))
    validate(cfg)
    return cfg
