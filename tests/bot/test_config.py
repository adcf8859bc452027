"""Config loading: layering, validation messages, the example file, secrets from env."""

from pathlib import Path

import pytest

from bot.config import REPO_ROOT, load_config
from bot.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_builtin_defaults_are_the_oz_demo():
    cfg = load_config(None, environ={})
    assert cfg.bot.generate_command == "oz"
    assert cfg.source == "built-in demo settings"
    assert cfg.discord is None and cfg.reddit is None


def test_example_config_loads_and_describes_a_stormlight_deployment():
    cfg = load_config(REPO_ROOT / "config.example.toml", environ={})
    assert cfg.bot.generate_command == "stormlight"
    assert {"twok", "wor", "ob", "row", "wat"} <= set(cfg.books.aliases)
    assert cfg.reddit is not None and "stormlight_archive" in cfg.reddit.subreddits
    assert cfg.discord is not None and cfg.discord.token_env == "DISCORD_TOKEN"


def test_every_example_key_has_a_comment():
    lines = (REPO_ROOT / "config.example.toml").read_text().splitlines()
    keys = [ln for ln in lines if "=" in ln and not ln.lstrip().startswith("#")
            and not ln.startswith("[")]
    in_aliases = False
    for ln in lines:
        if ln.startswith("["):
            in_aliases = ln.strip() == "[books.aliases]"
        elif ln in keys and not in_aliases and "#" not in ln and not ln.startswith(" "):
            pytest.fail(f"config.example.toml key without a comment: {ln}")


def test_layers_file_then_env_then_flags(tmp_path):
    p = write(tmp_path, "[queue]\nmax_batch = 2\nper_user_pending = 5\n")
    env = {"SPREN_QUEUE__MAX_BATCH": "3", "SPREN_QUEUE__TIMEOUT_S": "9.5"}
    cfg = load_config(p, environ=env, overrides={"queue": {"per_user_pending": "7"}})
    assert cfg.queue.max_batch == 3          # env beats file
    assert cfg.queue.timeout_s == 9.5
    assert cfg.queue.per_user_pending == 7   # flags beat file


def test_config_path_from_env(tmp_path):
    p = write(tmp_path, '[bot]\ngenerate_command = "stormlight"\n')
    assert load_config(None, environ={"SPREN_CONFIG": str(p)}).bot.generate_command == "stormlight"


@pytest.mark.parametrize("text, message", [
    ("[queue]\nmax_batch = \"eight\"\n", "[queue] max_batch must be an integer"),
    ("[queue]\nmax_bach = 3\n", "unknown key [queue] max_bach"),
    ("[nonsense]\nx = 1\n", "unknown section [nonsense]"),
    ("[discord]\nallow_dms = \"maybe\"\n", "[discord] allow_dms must be true or false"),
    ("[guard]\naction = \"shout\"\n", "[guard] action must be"),
    ("[bot]\ngenerate_command = \"Storm Light\"\n", "[bot] generate_command"),
    ("[queue\n", "not valid TOML"),
    ("[stories]\nstop_by = \"anyone\"\n",
     "[stories] stop_by must be 'requester', 'moderators' or 'everyone'"),
    ("[stories]\nmax_passages = 0\n", "[stories] max_passages = 0 is out of range"),
])
def test_bad_config_names_the_key_and_expected_type(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    assert message in str(err.value)


def test_bad_env_override_is_named():
    with pytest.raises(ConfigError, match="max_batch must be an integer"):
        load_config(None, environ={"SPREN_QUEUE__MAX_BATCH": "lots"})


def test_missing_config_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="config.example.toml"):
        load_config(tmp_path / "nope.toml", environ={})


def test_secrets_are_read_from_the_named_variable(monkeypatch):
    cfg = load_config(None, environ={})
    monkeypatch.setenv("MY_TOKEN", " abc ")
    assert cfg.secret("MY_TOKEN") == "abc"
    monkeypatch.delenv("MY_TOKEN")
    assert cfg.secret("MY_TOKEN") is None


def test_data_dir_follows_spren_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SPREN_HOME", str(tmp_path))
    cfg = load_config(None, environ={})
    assert cfg.database_url == f"sqlite:///{tmp_path / 'spren.db'}"
    assert cfg.model_dir() == tmp_path / "models" / "oz-demo"


def test_missing_platform_tokens_are_named_before_anything_loads(monkeypatch, tmp_path):
    from bot.app import platform_secrets

    p = write(tmp_path, '[discord]\ntoken_env = "SPREN_T_TOKEN"\n[reddit]\n'
                        'client_id_env = "SPREN_T_ID"\n')
    cfg = load_config(p, environ={})
    monkeypatch.delenv("SPREN_T_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SPREN_T_TOKEN is empty"):
        platform_secrets(cfg)
    monkeypatch.setenv("SPREN_T_TOKEN", "x")
    monkeypatch.delenv("SPREN_T_ID", raising=False)
    with pytest.raises(ConfigError, match="SPREN_T_ID"):
        platform_secrets(cfg)
    assert platform_secrets(load_config(None, environ={})) == {}


def test_remote_backend_keys_layer_and_are_checked(monkeypatch):
    env = {"SPREN_MODEL__BACKEND": "openai",
           "SPREN_MODEL__URLS": "http://a:8000/v1, http://b:8000/v1",
           "SPREN_MODEL__MAX_CONCURRENCY": "4"}
    cfg = load_config(environ=env, overrides={"model": {"request_timeout_s": "30"}})
    m = cfg.model
    assert (m.backend, m.urls, m.max_concurrency, m.request_timeout_s, m.name) == \
        ("openai", ["http://a:8000/v1", "http://b:8000/v1"], 4, 30.0, "")
    for bad, says in [({"backend": "vllm"}, "'local' or 'openai'"),
                      ({"backend": "openai", "urls": []}, "urls is empty"),
                      ({"max_concurrency": 0}, "max_concurrency"),
                      ({"request_timeout_s": 0}, "request_timeout_s")]:
        with pytest.raises(ConfigError, match=says):
            load_config(environ={}, overrides={"model": bad})


def test_an_empty_token_variable_is_named_before_any_server_is_called(monkeypatch):
    from bot.app import load_remote

    monkeypatch.delenv("INFER_TOKEN", raising=False)
    cfg = load_config(environ={}, overrides={"model": {"backend": "openai",
                                                       "api_key_env": "INFER_TOKEN"}})
    with pytest.raises(ConfigError, match="INFER_TOKEN.*empty"):
        load_remote(cfg)
    with pytest.raises(ConfigError, match="not an http"):
        load_remote(load_config(environ={}, overrides={"model": {"urls": ["ftp://x"]}}))


@pytest.mark.parametrize("text, message", [
    ("[generation]\ntop_p = 7.5\n", "[generation] top_p = 7.5 is out of range: use a value "
                                    "from 1e-06 to 1"),
    ("[generation]\ntemperature = 1e-46\n", "[generation] temperature = 1e-46 is out of range"),
    ("[generation]\ntop_k = 100000000000000000000\n", "[generation] top_k"),
    ("[generation]\ntemperature = nan\n", "[generation] temperature = nan is out of range"),
    ("[generation]\nmax_new_tokens = 500\n", "max_new_tokens = 500 is above "
                                            "max_new_tokens_limit = 400"),
    ("[bot]\nmax_prompt_chars = -1\n", "[bot] max_prompt_chars = -1 is out of range"),
    ("[queue]\ntimeout_s = inf\n", "[queue] timeout_s = inf is out of range"),
    ("[queue]\nmax_pending = 0\n", "[queue] max_pending = 0 is out of range"),
    ("[discord]\ncooldown_s = -10\n", "[discord] cooldown_s = -10.0 is out of range"),
    ("[reddit]\nmax_reply_chars = 50000\n", "[reddit] max_reply_chars = 50000 is out of range: "
                                            "use a value from 200 to 10,000"),
    ("[ingest]\nmax_spine_pages = 0\n", "[ingest] max_spine_pages = 0 is out of range"),
    ("[limits]\nuser_burst = -1\n", "[limits] user_burst = -1 is out of range"),
    ("[bot]\ngenerate_command = \"help\"\n", "'help' is a built-in command name"),
    ("[bot]\ngenerate_command = \"books\"\n", "'books' is a built-in command name"),
    ("[bot]\ngenerate_command = \"stormlightarchivewordsofradiancex\"\n",
     "at most 32 letters"),
    ("[bot]\ngenerate_command = \"sturmlicht\u00e4\"\n", "[bot] generate_command must be"),
])
def test_values_that_make_no_sense_are_refused_at_load(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_ranges_apply_to_environment_and_flags_too():
    with pytest.raises(ConfigError, match=r"\[generation\] top_p = 7.5"):
        load_config(None, environ={"SPREN_GENERATION__TOP_P": "7.5"})
    with pytest.raises(ConfigError, match=r"\[limits\] cheap_workers = 0"):
        load_config(None, environ={}, overrides={"limits": {"cheap_workers": "0"}})


def test_the_example_documents_every_key_and_the_readme_every_limit():
    import dataclasses
    import tomllib

    from bot.config import SECTIONS, _section_type

    example = tomllib.loads((REPO_ROOT / "config.example.toml").read_text())
    missing = [f"[{name}] {f.name}" for name in SECTIONS
               for f in dataclasses.fields(_section_type(name))
               if f.name not in example.get(name, {})]
    assert missing == [], f"config.example.toml lacks {missing}"
    readme = (REPO_ROOT / "README.md").read_text()
    limits = readme[readme.index("## Limits"):readme.index("\n## ", readme.index("## Limits"))]
    for name in ("ingest", "limits"):
        for f in dataclasses.fields(_section_type(name)):
            assert f"`{f.name}`" in limits or f"`[{name}] {f.name}`" in limits, f.name
