"""Is the Hugging Face hub reachable? Asked once, in well under a second when it is not: the
hub clients retry a dead network for ~25 s before giving up, far too long to say "offline"."""
from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlparse

PROBE_SECONDS = 3.0
_cache: dict[str, tuple[float, bool]] = {}


def offline_requested() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def reachable(timeout: float = PROBE_SECONDS) -> bool:
    """A TCP connection to the hub endpoint within ``timeout`` (name lookup included; it runs in
    a daemon thread because getaddrinfo has no timeout of its own). Cached for a minute."""
    if offline_requested():
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    hit = _cache.get(host)
    if hit and time.monotonic() - hit[0] < 60:
        return hit[1]
    ok: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    result = bool(ok)
    _cache[host] = (time.monotonic(), result)
    return result
