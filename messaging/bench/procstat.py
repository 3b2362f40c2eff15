"""CPU and memory of processes, read from ``/proc`` (others) and ``getrusage`` (this one).

Server CPU is the sum over a process *tree*: ``liaison serve --workers N`` runs its workers as
children, and the figure must cover all of them. A process that starts inside a window counts
its whole life; one that exits inside it loses its last ticks (none do in a bench run).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    tree = _children()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    # After the command: state(0) ppid(1) ... utime(11) stime(12).
    return 0 if fields is None else int(fields[11]) + int(fields[12])


@dataclass(frozen=True, slots=True)
class TreeSample:
    ticks: dict[int, int]

    @classmethod
    def take(cls, *roots: int | None) -> TreeSample:
        """The CPU of ``roots`` and their descendants (none for a root that is None)."""
        return cls(
            {
                pid: cpu_ticks(pid)
                for root in roots
                if root is not None
                for pid in process_tree(root)
            }
        )

    def seconds_since(self, earlier: TreeSample) -> float:
        total = sum(t - earlier.ticks.get(pid, 0) for pid, t in self.ticks.items())
        return max(total, 0) / _TICKS


def machine_busy_seconds() -> float:
    """CPU time spent by every process of the machine (all cores), from ``/proc/stat``.

    Over a window, this minus the bench's own processes is what *other* work took: on a shared
    machine, the figure that says whether a run was disturbed.
    """
    fields = (_PROC / "stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    values = [int(v) for v in fields]
    return (sum(values[:8]) - values[3] - values[4]) / _TICKS


def own_cpu_seconds() -> float:
    """User + system CPU of this process (the load generator), all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kib(pid: int) -> int | None:
    """Resident set size (``VmRSS``) in KiB, or None if the process is gone."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_kib(root: int) -> dict[int, int]:
    return {pid: kib for pid in process_tree(root) if (kib := rss_kib(pid)) is not None}


def raise_open_files_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (inherited by the server started after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
