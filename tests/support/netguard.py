"""A socket guard: any attempt to reach a non-loopback host is recorded and refused.

Built on Python audit hooks (``socket.connect``, ``socket.getaddrinfo``, ...), so it
sees every connection made from Python, whichever library makes it. Installed for the
whole test session by conftest, and in subprocesses with ``python -c`` (see
``GUARDED_RUN``).
"""

from __future__ import annotations

import ipaddress
import socket
import sys

violations: list[str] = []
_installed = False


def is_local(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return True
    host = host.decode() if isinstance(host, bytes) else host
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost means a DNS lookup


def _address_host(address: object) -> object:
    return address[0] if isinstance(address, tuple) and address else address


def _hook(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return
        host = _address_host(address)
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
        host = args[0]
    else:
        return
    if not is_local(host):
        violations.append(f"{event} -> {host!r}")
        raise OSError(f"network access blocked by the test guard: {event} {host!r}")


def install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


GUARDED_RUN = (
    "import sys, runpy; from support import netguard; netguard.install();"
    "sys.argv = ['generate.py', *sys.argv[1:]];"
    "code = 0\n"
    "try:\n    runpy.run_path('generate.py', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code or 0\n"
    "print('NETGUARD-VIOLATIONS:', len(netguard.violations), netguard.violations, file=sys.stderr)\n"
    "sys.exit(code)"
)
