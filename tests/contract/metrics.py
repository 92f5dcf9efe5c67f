"""Reads /metrics with the Prometheus project's own OpenMetrics parser,
which refuses what Prometheus would (a missing # EOF, a counter without
_total, buckets out of order), after the client script's requests."""

import re
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1]) as response:
    content_type = response.headers["content-type"]
    text = response.read().decode()
assert content_type.startswith("application/openmetrics-text"), content_type

families = {family.name: family for family in text_string_to_metric_families(text)}
# A family with no series yet (the task queue of a fresh app) is not printed.
EXPECTED = [
    "fastsaas_http_requests",
    "fastsaas_http_request_duration_seconds",
    "fastsaas_db_connections",
    "fastsaas_websocket_connections",
    "fastsaas_notifications_sent",
]
for expected in EXPECTED:
    assert expected in families, f"{expected} missing from {sorted(families)}"
routes = {sample.labels["route"] for sample in families["fastsaas_http_requests"].samples}
assert "/agents/{id}" in routes, routes
# Route templates only: no id, no query string.
uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
raw = [route for route in routes if uuid.search(route) or "?" in route]
assert not raw, f"raw paths as labels: {raw}"
print(f"{len(families)} families, {sum(len(f.samples) for f in families.values())} samples, routes: {len(routes)}")
