"""A TCP port that is free now, for the rendezvous of a multi-process test (torchrun, accelerate launch).

A port derived from the pid collides when several test runs share the machine; the operating system's choice
(bind to port 0) does not, short of the small window before the launcher binds it."""

import socket


def free_port() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])
