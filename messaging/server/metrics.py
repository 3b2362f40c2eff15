"""Process-local counters, rendered in the Prometheus text format."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Metrics:
    """Counters of this process; Prometheus sums them across processes."""

    responses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def render(self, sockets: int, listeners: int, lost_version_checks: int) -> str:
        lines = [
            "# HELP liaison_http_responses_total HTTP responses by route and status.",
            "# TYPE liaison_http_responses_total counter",
        ]
        for (route, status), count in sorted(self.responses.items()):
            lines.append(
                f'liaison_http_responses_total{{route="{route}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP liaison_websockets Open WebSocket streams in this process.",
            "# TYPE liaison_websockets gauge",
            f"liaison_websockets {sockets}",
            "# HELP liaison_wake_listeners Local waiters on device queues in this process.",
            "# TYPE liaison_wake_listeners gauge",
            f"liaison_wake_listeners {listeners}",
            "# HELP liaison_dossier_lost_version_checks_total Dossier changes decided again"
            " because another process changed the dossier first.",
            "# TYPE liaison_dossier_lost_version_checks_total counter",
            f"liaison_dossier_lost_version_checks_total {lost_version_checks}",
        ]
        return "\n".join(lines) + "\n"
