"""The monitoring kit in deploy/: Prometheus alert rules (checked and unit-tested by
promtool) and the Grafana dashboard, both naming only series a running nchat serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.factories import UserFactory
from tests.fixtures.metrics import busy, scrape
from tests.realtime.conftest import start_live, stop_live

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "nchat-dashboard.json"

# Prometheus makes `up` itself, for every target it scrapes.
SYNTHETIC = {"up"}
# Words of PromQL that look like metric names once functions and labels are gone.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "inf", "nan"}
# Grafana's variables, as Prometheus would see them once Grafana has filled them in.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$instance": ".*"}


# As the browser tests without Chromium: skipped, saying so (README), and run by CI, which
# installs the package.
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is missing: it comes with Debian's `prometheus` package",
)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path is not None
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]
    return rules


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    queries += [
        variable["definition"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return queries


def filled_in(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    # label_values(selector, label) is Grafana's: Prometheus answers it for the selector.
    return re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", query)


def metric_names(query: str) -> set[str]:
    """The series a PromQL expression selects: what is left once strings, label matchers,
    ranges, grouping clauses, functions and keywords are taken out."""
    query = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)
    query = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", query)
    query = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", query)
    # Numbers and durations (2e9, offset 1m).
    query = re.sub(r"(?<![\w:])\d[\w.]*", " ", query)
    words = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", query)
    return {word for word, call in words if not call and word.lower() not in KEYWORDS}


@needs_promtool
def test_the_alert_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


@needs_promtool
def test_the_alert_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", str(ALERTS_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_alerts_cover_what_operators_are_paged_for() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "NchatInstanceDown",
        "NchatHighErrorRate",
        "NchatHighLatency",
        "NchatJobQueueBacklog",
        "NchatNotificationsFailing",
        "NchatDatabasePoolSaturated",
        "NchatEventDeliveryLag",
        "NchatHighMemory",
    } <= names
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


@needs_promtool
def test_the_dashboard_is_grafana_json_whose_queries_prometheus_parses(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    titles = " | ".join(panel["title"].lower() for panel in panels)
    for topic in (
        "requests per second",
        "5xx",
        "latency",
        "event streams",
        "delivery lag",
        "jobs",
        "notifications",
        "database pool",
        "cpu",
        "memory",
    ):
        assert topic in titles, topic
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
    # promtool parses every query as a recording rule's expression.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query:{n}", "expr": filled_in(query)}
                    for n, query in enumerate(dashboard_queries())
                ],
            }
        ]
    }
    as_rules = tmp_path / "dashboard-queries.yml"
    as_rules.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(as_rules))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_metric_name_reader_finds_series_not_functions_or_labels() -> None:
    query = (
        'sum by (instance) (rate(nchat_http_requests_total{job="nchat", status=~"5.."}[5m]))'
        " / on (instance) group_left nchat_up_total > bool 2e9 unless process_open_fds offset 1m"
    )
    expected = {"nchat_http_requests_total", "nchat_up_total", "process_open_fds"}
    assert metric_names(query) == expected


@pytest.mark.usefixtures("clean_db")
async def test_every_series_the_alerts_and_the_dashboard_use_is_served(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    used = {
        name
        for query in [rule["expr"] for rule in alert_rules()] + dashboard_queries()
        for name in metric_names(filled_in(query))
    }
    live = await start_live(database_url, tmp_path)
    try:
        async with busy(live, make_user) as http:
            served = (await scrape(http)).names()
    finally:
        await stop_live(live)
    assert used - SYNTHETIC, "no metric names read from the rules and the dashboard"
    assert sorted(used - SYNTHETIC - served) == []
