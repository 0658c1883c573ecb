"""Shared fixtures.

`shared_dir` points at ../shared (read in place, never copied). In a user's fresh clone it
does not exist: tests that need it skip with a clear reason. `.ci/run` refuses to run
without it, so CI never skips them silently.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _loopback_coverage() -> Path:
    """config/coverage.toml with its Google News base on a closed loopback port.

    Why: any test that runs the app with a subscription makes managed search feeds for the
    city (issue 12); with the real base they would be fetched from the internet. The queries
    stay the product's own, so coverage still runs end to end — its fetches are refused at
    once. Exported as CIVIC_ALERTS_COVERAGE, so bot subprocesses inherit it.
    """
    real = (PROJECT_ROOT / "config" / "coverage.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^base_url = ".*"$', 'base_url = "http://127.0.0.1:9/rss/search"', real)
    assert "news.google.com/rss" not in text
    path = Path(tempfile.mkdtemp(prefix="civic-coverage-")) / "coverage.toml"
    path.write_text(text, encoding="utf-8")
    return path


if not os.environ.get("CIVIC_ALERTS_COVERAGE"):
    os.environ["CIVIC_ALERTS_COVERAGE"] = str(_loopback_coverage())
SHARED_DIR = Path(os.environ.get("CIVIC_ALERTS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "feeds-real").is_dir():
        if os.environ.get("CIVIC_ALERTS_REQUIRE_SHARED"):
            pytest.fail(f"CI requires ../shared but it is missing at {SHARED_DIR}")
        pytest.skip(f"needs ../shared (not present at {SHARED_DIR}); CI provides it")
    return SHARED_DIR


@pytest.fixture(scope="session")
def real_feeds_dir(shared_dir: Path) -> Path:
    return shared_dir / "feeds-real"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "civic-alerts.sqlite3"


# --- the quick run (issue 16): `python -m pytest -q -m "not slow" -n 4 --dist loadfile` ----------
#
# The long tests, in one place rather than a decorator in each file (several people edit those
# files at once). Measured with `--durations` on a busy 2-core machine: these were 60% of a
# 9-minute run. Each area keeps a fast test in the quick run (the crash drills keep a 1-kill
# version, the e2e behaviours are unit-tested through the stand-in contract and the cogs); the
# full run (`python -m pytest -q`, `.ci/run`) runs everything. Entries are node-id prefixes.
SLOW = (
    "tests/e2e/",  # the real bot process against the Discord stand-in: a 30 s world per module
    "tests/faults/test_discord_faults.py",  # Discord faults against the real bot process
    "tests/faults/test_discord_secrets.py",  # runs the e2e world again to search its output
    "tests/faults/test_discord_input.py::test_search_survives_hostile_text",  # fuzz: 10,000 strings
    "tests/faults/test_discord_input.py::test_subscribe_survives_hostile_text",
    "tests/faults/test_discord_input.py::test_feeds_add_survives_hostile_urls",
    "tests/faults/test_discord_input.py::test_cli_search_survives_hostile_text",
    "tests/faults/test_discord_input.py::test_zz_fuzz_counts",
    "tests/faults/test_hostile_cycle.py::test_hostile_feeds_in_one_cycle_with_healthy_feeds",
    "tests/test_cli.py::test_search_answers_hostile_queries_and_finds_by_two_headline_words",  # 30 processes
    "tests/test_cli.py::test_poll_all_real_feeds_stores_every_item_and_second_run_is_silent",
    "tests/test_poller.py::test_parsing_stays_off_the_event_loop_during_a_50_feed_cycle",
    "tests/push/test_cli_push.py::test_subscriptions_add_list_remove_never_show_a_secret",
    "tests/push/test_cli_push.py::test_sigkill_during_push_delivery_loses_nothing",
    "tests/push/test_cli_push.py::test_destinations_file_is_validated_and_synced_at_run_once",
    "tests/coverage/test_budget.py::test_200_cities_at_once_stay_within_the_budget_and_each_is_polled_within_an_interval",
    "tests/coverage/test_cli_coverage.py::test_subscribing_portland_or_lists_managed_feeds_for_oregon_in_both_languages",
    "tests/push/test_zz_secrets.py",  # the push secret search; test_secrets.py keeps the console one
    "tests/push/test_failures.py::test_a_destination_that_keeps_failing_is_paused_with_a_reason_not_dropped",
    "tests/standin_tests/test_gateway.py::test_invalid_session_forces_fresh_identify",
    "tests/rules/test_rules_delivery.py::test_daily_digest_at_0800_chicago_once_per_day_for_a_year",
    "tests/faults/test_interrupts.py::test_ctrl_c_while_parse_workers_run_gives_no_traceback[0.05]",
    "tests/faults/test_interrupts.py::test_ctrl_c_while_parse_workers_run_gives_no_traceback[1.0]",
    "tests/push/test_cli_push.py::test_subscriptions_test_sends_a_marked_message_and_reports_in_one_line",
    "tests/test_cli.py::test_poll_second_run_stores_nothing_even_without_http_caching",
    "tests/faults/test_database_faults.py::test_backup_while_another_process_writes",
    # issue 16 g, measured with --durations on a shared 2-core machine (load 3-9): the longest
    # quick-run tests after the platform merges. Slack and Telegram keep a 1-kill crash drill
    # in the quick run (parametrized in their files); Matrix keeps its e2e and fault tests.
    "tests/matrix/test_matrix_crash.py",  # a real Synapse, 3 SIGKILLs: 48 s with setup/teardown
    "tests/matrix/test_matrix_ratelimit.py",  # the 429 storm against Synapse: 25 s
    "tests/push/test_cli_push.py::test_acceptance_add_then_run_once_posts_exactly_one_and_a_second_run_posts_nothing",
    "tests/faults/test_discord_unreachable.py::test_run_retries_an_unreachable_discord_with_one_line_each_and_no_voice_warnings",
    # issue 16 item 11, measured with --durations and per-test CPU under `-n 4` on 2 shared
    # cores (load 5-7): the quick run's longest. PostgreSQL keeps its smoke tests in the quick
    # run (the store contract suite on both backends, tests/pg/test_pg_store.py, `db check` and
    # `search` through the CLI); Matrix keeps its e2e on a real Synapse, Telegram its e2e, each
    # chat its adapter units; the console, Slack and Discord keep their 1-kill crash drills.
    "tests/pg/test_chaos.py",  # four workers SIGKILLed: waits out a 30 s feed interval (50 s)
    "tests/pg/test_cli_pg.py::test_poll_once_real_feeds_same_stories_as_sqlite",  # 22-27 s
    "tests/pg/test_cli_pg.py::test_two_poll_once_processes_store_each_story_once",  # 8-31 s
    "tests/test_all_adapters.py",  # all five chat stand-ins and one bot process: 20-27 s
    "tests/telegram/test_crash.py",  # the 1-kill drill waits out the delivery window: 13-28 s
    "tests/telegram/test_faults.py",  # 13-21 s
    "tests/telegram/test_spanish.py",  # a second Telegram world: 8-18 s
    "tests/matrix/test_matrix_credentials.py",  # three bot logins against Synapse: 30-58 s
    "tests/matrix/test_matrix_faults.py",  # 15-33 s with its world
    "tests/matrix/test_matrix_spanish.py",  # a third Matrix world: 10-12 s
    "tests/relevance/test_quiet_output.py",  # the relevance suite again in a pytest subprocess
    "tests/ingest/test_parse.py::test_ten_thousand_items_capped",  # the hostile drill keeps the cap
    "tests/test_clustering_db.py::test_real_feeds_decide_as_the_in_memory_index",  # the generated corpus stays
    "tests/push/test_cli_push.py::test_subscriptions_add_lang",  # 10-13 s of CLI processes
    "tests/adapters/test_topics_are_data.py::test_poll_once_json_prints_the_new_topic",  # a poll process
    "tests/test_run_console.py::test_sigkilled_service_leaves_no_worker_processes_behind",
    "tests/faults/test_stop_during_poll.py::test_a_signal_during_the_first_poll_stops_without_a_traceback[SIGINT]",
)
# The delivery suite's "narrow" profile paces real sends at 2 a second; Discord's and the
# console's profiles run the same tests in the quick run.
SLOW_IN = ("tests/test_delivery.py::", "[narrow]")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        narrow = item.nodeid.startswith(SLOW_IN[0]) and SLOW_IN[1] in item.nodeid
        if narrow or item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


# The throwaway PostgreSQL server (session-scoped; skips without one unless
# CIVIC_ALERTS_REQUIRE_POSTGRES=1): tests/store runs its contract suite on it too.
from tests.pgserver import pg_server  # noqa: E402, F401
