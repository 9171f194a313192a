"""Binds SIPVicious's socket where the test says.

SIPVicious 0.3.3's svwar and svcrack accept -b (--bindingip) but their main() never passes
it on to the scanner, so they bind every interface and, on loopback, the kernel sends from
127.0.0.1: every tool would share one source address (the PBX's own, in these tests). Python
imports this module at start when its directory is on PYTHONPATH; with SW_SIPVICIOUS_BIND
set, a bind to the wildcard address binds that address instead. Nothing else changes.
"""
import os
import socket

_ADDRESS = os.environ.get("SW_SIPVICIOUS_BIND")

if _ADDRESS:
    _bind = socket.socket.bind

    def _bind_to_given(self, address):
        if isinstance(address, tuple) and address and address[0] in ("", "0.0.0.0"):
            address = (_ADDRESS,) + tuple(address[1:])
        return _bind(self, address)

    socket.socket.bind = _bind_to_given
