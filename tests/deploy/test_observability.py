"""The Grafana dashboard and the Prometheus alert rules use only metrics the services expose
(shared/metrics.py), cover what operators watch, and are well formed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.metrics_core import Metric

from shared.metrics import ServiceMetrics
from tests.deploy.support import DEPLOY, OVERLAYS, of_kind, render

DASHBOARD = DEPLOY / "observability" / "grafana-dashboard.json"
ALERTS = DEPLOY / "observability" / "alerts.yaml"
METRIC = re.compile(r"\bikm_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exposed_names() -> set[str]:
    """The series names /metrics can carry (counters gain `_total` in exposition)."""
    families: list[Metric] = list(ServiceMetrics("registry").registry.collect())
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def rules() -> list[dict[str, Any]]:
    rule_object = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in rule_object["spec"]["groups"] for rule in group["rules"]]


def queries(node: Any) -> Iterator[str]:
    """Every PromQL text in the dashboard: targets' `expr`, variables' queries."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield from ([value] if isinstance(value, str) else queries(value))
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def test_dashboard_and_alerts_use_only_exposed_metrics() -> None:
    exposed = exposed_names()
    texts = list(queries(dashboard())) + [rule["expr"] for rule in rules()]
    assert texts
    for text in texts:
        unknown = set(METRIC.findall(text)) - exposed
        assert not unknown, f"{unknown} are not exposed by shared/metrics.py: {text}"


def test_dashboard_shows_what_operators_watch() -> None:
    used = {name for text in queries(dashboard()) for name in METRIC.findall(text)}
    assert {
        "ikm_consumer_lag_messages",
        "ikm_messages_consumed_total",
        "ikm_messages_published_total",
        "ikm_handler_duration_seconds_bucket",
        "ikm_outbox_backlog",
        "ikm_outbox_oldest_unpublished_age_seconds",
        "ikm_dead_letters_total",
        "ikm_http_requests_total",
        "ikm_http_request_duration_seconds_bucket",
        "ikm_ready",
    } <= used
    texts = " ".join(queries(dashboard()))
    assert "histogram_quantile(0.95" in texts
    lag = next(t for t in queries(dashboard()) if "ikm_consumer_lag_messages" in t)
    assert "partition" in lag, "lag per partition"
    consumed = next(t for t in queries(dashboard()) if "ikm_messages_consumed_total" in t)
    assert "event_type" in consumed and "outcome" in consumed


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    variables = {v["name"] for v in board["templating"]["list"]}
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    for text in queries(board):
        assert text.count("(") == text.count(")") and text.count("{") == text.count("}"), text
        for variable in re.findall(r"\$(\w+)", text):
            assert variable in variables or variable.startswith("__"), (variable, text)


def test_alerts_cover_lag_outbox_dead_letters_and_readiness() -> None:
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        for name in set(METRIC.findall(expr)):
            by_metric.setdefault(name, []).append(rule)

    def only(metric: str) -> dict[str, Any]:
        (rule,) = by_metric[metric]
        return rule

    lag = only("ikm_consumer_lag_messages")
    assert "deriv(ikm_consumer_lag_messages[10m])" in lag["expr"] and lag["for"] == "10m"
    outbox = only("ikm_outbox_oldest_unpublished_age_seconds")
    assert re.search(r"\)\s*>\s*300\s*$", outbox["expr"].strip()), "older than 5 minutes"
    dead = only("ikm_dead_letters_total")
    assert "increase(ikm_dead_letters_total[" in dead["expr"] and "> 0" in dead["expr"]
    ready = only("ikm_ready")
    assert "== 0" in ready["expr"] and ready["for"] == "2m"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_deploys_the_alerts_and_the_dashboard(overlay: str) -> None:
    objects = render(overlay)
    (rule,) = of_kind(objects, "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["spec"]
    (config,) = [
        c
        for c in of_kind(objects, "ConfigMap")
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert json.loads(config["data"]["grafana-dashboard.json"]) == dashboard()
