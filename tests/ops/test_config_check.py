"""Configuration is checked before any request: a misspelt key, in the environment or a TOML
file, is a usage error (exit 2) naming the nearest known key; a secret in .dlt/config.toml
says where it belongs; `chatfunnel config check` shows every setting with its origin and no
secret. Every documented example passes the check."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from pipelines.errors import EXIT_OK, EXIT_USAGE
from tests.ops.conftest import PYTHON, ROOT, TOKEN, subprocess_env

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "sources").glob("*/README.md"))]


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "pipelines", *args], cwd=cwd, env=subprocess_env(**env),
                          capture_output=True, text=True, timeout=120, check=False)


def write_dlt(folder: Path, config: str = "", secrets: str = "") -> None:
    (folder / ".dlt").mkdir(exist_ok=True)
    (folder / ".dlt" / "config.toml").write_text(config)
    (folder / ".dlt" / "secrets.toml").write_text(secrets)


def test_a_misspelt_environment_variable_stops_the_run_before_any_request(emulator, duck_target, dlt_env) -> None:
    emu = emulator(scale=20)
    typo = cli("run", "leeloo", "--progress", "none", cwd=dlt_env,
               SOURCES__LEELOO__MAX_REQUEST="5")
    assert typo.returncode == EXIT_USAGE, typo.stderr
    assert ("SOURCES__LEELOO__MAX_REQUEST (environment) is not a setting (did you mean "
            "SOURCES__LEELOO__MAX_REQUESTS?)") in typo.stderr
    assert "Traceback" not in typo.stderr and "\n" not in typo.stderr.strip()  # one paragraph
    assert emu.request_counts()["total"] == 0
    spelt = cli("run", "leeloo", "--progress", "none", "--no-transform",
                cwd=dlt_env, SOURCES__LEELOO__MAX_REQUESTS="5")
    assert spelt.returncode == EXIT_OK, spelt.stderr
    assert 0 < emu.request_counts()["total"] <= 5  # the setting, spelt right, is obeyed


def test_a_dlt_runtime_setting_of_the_wrong_type_is_one_paragraph_before_any_request(emulator, duck_target,
                                                                                        dlt_env) -> None:
    emu = emulator(scale=20)
    bad = cli("run", "leeloo", "--progress", "none", cwd=dlt_env, RUNTIME__REQUEST_MAX_ATTEMPTS="abc")
    assert bad.returncode == EXIT_USAGE, bad.stderr
    assert "request_max_attempts is 'abc', which is not a valid int" in bad.stderr
    assert "RUNTIME__REQUEST_MAX_ATTEMPTS" in bad.stderr
    assert "Traceback" not in bad.stderr and "\n" not in bad.stderr.strip()
    assert emu.request_counts()["total"] == 0


def test_an_unknown_key_in_config_toml_is_named_with_the_nearest(tmp_path: Path) -> None:
    write_dlt(tmp_path, config="[chatfunnel]\nmax_runtime_hour = 2\n\n[sources.leeloo.accounts.acme]\nsweep_run = 3\n",
              secrets='[sources.leeloo.accounts.acme]\napi_token = "acme-token-1234567"\n')
    for command in (["status"], ["run", "leeloo"], ["config", "check"]):
        done = cli(*command, cwd=tmp_path)
        assert done.returncode == EXIT_USAGE, (command, done.stderr)
        assert ("max_runtime_hour under [chatfunnel] in .dlt/config.toml is not a setting "
                "(did you mean max_runtime_hours?)") in done.stderr
        assert ("sweep_run under [sources.leeloo.accounts.acme] in .dlt/config.toml is not a setting "
                "(did you mean sweep_runs?)") in done.stderr
        assert "acme-token-1234567" not in done.stdout + done.stderr
    assert not (tmp_path / "chatfunnel.duckdb").exists()


def test_a_token_in_config_toml_is_a_usage_error_saying_where_it_belongs(tmp_path: Path) -> None:
    write_dlt(tmp_path, config='[sources.leeloo]\napi_token = "misplaced-token-987"\n')
    done = cli("run", "leeloo", cwd=tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert ("api_token under [sources.leeloo] in .dlt/config.toml is a secret: put it in .dlt/secrets.toml "
            "(same section) or the environment variable SOURCES__LEELOO__API_TOKEN, not in config.toml") in done.stderr
    assert "misplaced-token-987" not in done.stdout + done.stderr
    assert "ValueNotSecretException" not in done.stderr and "report the message" not in done.stderr


def test_dlts_refusal_of_a_secret_is_explained_by_its_type() -> None:
    """A secret the check does not know of (dlt finds it while resolving) is still a usage error."""
    from dlt.common.configuration.exceptions import ValueNotSecretException

    from pipelines.config.accounts import Account
    from pipelines.errors import InvalidConfiguration
    from pipelines.operations.diagnosis import explain

    cause = ValueNotSecretException("config.toml", "destination.postgres.credentials")
    try:
        raise RuntimeError("dlt wraps it") from cause
    except RuntimeError as wrapped:
        error = explain(wrapped, step="preflight", account=Account("leeloo"), secret_env="SOURCES__LEELOO__API_TOKEN",
                        destination="postgres", disks=[])
    assert isinstance(error, InvalidConfiguration) and error.exit_code == EXIT_USAGE
    assert "DESTINATION__POSTGRES__CREDENTIALS" in str(error) and ".dlt/secrets.toml" in str(error)


def test_config_check_shows_each_setting_with_its_origin_and_no_secret(tmp_path: Path) -> None:
    write_dlt(tmp_path, config="[sources.leeloo]\nsweep_runs = 3\n\n[alerts]\non_success = true\n",
              secrets='[sources.leeloo]\napi_token = "default-token-55555"\n\n'
                      '[sources.leeloo.accounts.acme]\napi_token = "acme-token-66666"\nrequests_per_minute = 120\n')
    done = cli("config", "check", cwd=tmp_path, SOURCES__LEELOO__CONCURRENCY="2")
    assert done.returncode == EXIT_OK, done.stderr
    out = done.stdout
    blocks = {b.splitlines()[0]: b for b in out.split("\n\n")}
    default, acme = blocks["leeloo [sources.leeloo]"], blocks["leeloo/acme [sources.leeloo.accounts.acme]"]
    assert re.search(r"api_token +set \(secrets\.toml\)\n", default)
    assert re.search(r"sweep_runs +3  \(config\.toml\)", default)
    assert re.search(r"concurrency +2  \(environment\)", default)
    assert re.search(r"window_overlap_hours +24  \(default\)", default)
    # an account inherits what it does not set; the environment wins over a file, as in dlt
    assert re.search(r"requests_per_minute +120  \(secrets\.toml\)", acme)
    assert re.search(r"sweep_runs +3  \(config\.toml\)", acme) and re.search(r"concurrency +2  \(environment\)", acme)
    assert re.search(r"on_success +True  \(config\.toml\)", blocks["[alerts]"])
    assert "salebot: not configured (set SOURCES__SALEBOT__API_KEY" in out
    assert "token-55555" not in out + done.stderr and "token-66666" not in out + done.stderr


def _documented_toml() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in re.findall(r"```toml\n(.*?)```", doc.read_text(), re.S):
            file = "secrets.toml" if "secrets.toml" in block.splitlines()[0] else "config.toml"
            found.append((file, block))
    return found


def test_the_repository_config_and_every_documented_example_pass_the_check() -> None:
    from pipelines.operations.configcheck import env_problems, toml_problems

    examples = _documented_toml()
    assert len(examples) >= 4
    for file, block in [*examples, ("config.toml", (ROOT / ".dlt" / "config.toml").read_text())]:
        assert toml_problems(file, tomllib.loads(block)) == [], block
    names = set()
    for doc in DOCS:
        names.update(re.findall(r"`((?:SOURCES__(?:LEELOO|SALEBOT)|CHATFUNNEL|ALERTS)__[A-Z0-9_]*[A-Z0-9])[=`]",
                                doc.read_text()))
    assert {"SOURCES__LEELOO__MAX_REQUESTS", "CHATFUNNEL__MAX_RUNTIME_HOURS", "ALERTS__ON_SUCCESS"} <= names
    assert env_problems(dict.fromkeys(names, "1")) == []


@pytest.mark.parametrize("section, key", [("sources.leeloo.people", "anything"), ("sources.salebot.schema", "naming"),
                                          ("sources.leeloo.data_writer", "buffer_max_items")])
def test_keys_dlt_itself_reads_in_a_source_section_are_not_refused(section: str, key: str) -> None:
    """dlt's own sub-tables of [sources.<source>] (schema, data writer, a resource's) are left alone."""
    from pipelines.operations.configcheck import env_problems, toml_problems

    doc = tomllib.loads(f'[{section}]\n{key} = "x"\n')
    assert toml_problems("config.toml", doc) == []
    assert env_problems({f"{section.replace('.', '__').upper()}__{key.upper()}": "x"}) == []


def test_a_valid_configuration_runs(emulator, duck_target, dlt_env) -> None:
    """The check refuses nothing a real run uses (the test environment's own variables)."""
    emulator(scale=20)
    done = cli("config", "check", cwd=dlt_env)
    assert done.returncode == EXIT_OK, done.stderr
    assert "configuration OK" in done.stdout and TOKEN not in done.stdout


def test_a_named_accounts_inbox_and_secret_are_its_own(dlt_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What config check shows for keys an account never inherits is what a run uses."""
    from pipelines.config.accounts import Account
    from pipelines.config.registry import SOURCES
    from pipelines.operations.configcheck import account_block

    monkeypatch.setenv("SOURCES__SALEBOT__API_KEY", "default-key-1")
    monkeypatch.setenv("SOURCES__SALEBOT__WEBHOOK_SECRET", "default-secret-abcdefgh")
    monkeypatch.setenv("SOURCES__SALEBOT__ACCOUNTS__ACME__API_KEY", "acme-key-2")
    acme = Account("salebot", "acme")
    shown = {s.key: s for s in account_block(SOURCES["salebot"], acme).settings}
    assert shown["webhook_store"].shown == SOURCES["salebot"].settings(acme)["webhook_store"]
    assert shown["webhook_store"].shown != SOURCES["salebot"].settings(Account("salebot"))["webhook_store"]
    assert shown["webhook_secret"].shown == "not set"  # the unnamed account's is never inherited
    assert shown["api_key"].shown == "set (environment)"


def test_every_key_dlt_looks_up_in_a_source_section_during_a_run_is_known(
        emulator, duck_target, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check's known keys against dlt's real lookups: spy on the environment provider (dlt
    asks it first, for every key, at every section it tries) through a whole run."""
    from dlt.common.configuration.providers.environ import EnvironProvider

    from pipelines.config.options import RunOptions
    from pipelines.operations.configcheck import NOT_SETTINGS, known_sections
    from pipelines.run.lifecycle import run_account

    emulator(scale=20)
    asked: set[tuple[tuple[str, ...], str]] = set()
    original = EnvironProvider.get_value

    def spy(self, key, hint, pipeline_name, *sections):  # type: ignore[no-untyped-def]
        asked.add((tuple(sections), key))
        return original(self, key, hint, pipeline_name, *sections)

    monkeypatch.setattr(EnvironProvider, "get_value", spy)
    assert run_account(RunOptions(source="leeloo", progress="none")).error is None
    known = known_sections()
    in_sections = {(s, k) for s, k in asked if s in known}
    assert {k for s, k in in_sections if s == ("sources", "leeloo")} >= {"api_token", "sweep_runs", "max_requests"}
    assert {(s, k) for s, k in in_sections if k not in known[s] and k not in NOT_SETTINGS} == set()


def test_the_reports_time_zone_is_a_setting_of_every_source_and_account() -> None:
    """Read by the reports, not by the source function: still a known key, and a typo of it is not."""
    from pipelines.operations.configcheck import env_problems, toml_problems

    for name in ("SOURCES__LEELOO__REPORTS_TIMEZONE", "SOURCES__SALEBOT__REPORTS_TIMEZONE",
                 "SOURCES__LEELOO__ACCOUNTS__ACME__REPORTS_TIMEZONE"):
        assert env_problems({name: "Europe/Moscow"}) == [], name
    doc = tomllib.loads('[sources.salebot.accounts.acme]\nreports_timezone = "Asia/Vladivostok"\n')
    assert toml_problems("config.toml", doc) == []
    (typo,) = env_problems({"SOURCES__LEELOO__REPORTS_TIMEZON": "Europe/Moscow"})
    assert "SOURCES__LEELOO__REPORTS_TIMEZONE" in typo.text
