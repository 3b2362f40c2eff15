"""``liaison bench``: measure a Liaison deployment, and the bare ceiling of its stack.

``run_bench(config)`` (``messaging.bench.runner``) is the entry point the CLI and the tests
share; it returns the JSON report. The modules, each owning one concern:

- ``config``: the options, parsed once by the CLI into a frozen ``BenchConfig``;
- ``deployment``: a private Redis + ``liaison serve`` on free ports, or a given server;
- ``population``: professionals, an organisation and patients' dossiers, through the real API;
- ``workload``: closed- and open-loop senders (the SDK) and WebSocket receivers;
- ``senders``: the same senders in child processes (``--client-procs``);
- ``baseline``: the bare aiohttp + Ed25519 + XADD server the ratios compare against;
- ``sockets``, ``queue_depth``: the capacity modes (``modes``: what they share);
- ``procstat``: CPU and RSS read from ``/proc`` and ``getrusage``;
- ``report``, ``histogram``, ``progress``: figures, the PNG and the terminal line.
"""
