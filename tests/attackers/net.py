# Network attacker for the escape suite (tests/escape_net.rs): tries to reach listeners the
# test made on the host's loopback, an abstract unix socket and a unix socket in the host's
# /tmp, and sends TOKEN to each. The listeners record what arrives; the test judges that.
#
#   net.py TOKEN TCP4PORT TCP6PORT UDP4PORT UDP6PORT ABSTRACT_NAME UNIX_PATH
import errno
import os
import socket
import sys

token = sys.argv[1].encode()
tcp4, tcp6, udp4, udp6 = (int(p) for p in sys.argv[2:6])
abstract, path = sys.argv[6], sys.argv[7]


def err(e):
    return f"{e.errno} {errno.errorcode.get(e.errno, '?')}" if e.errno else str(e)


def stream(name, family, addr):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(addr)
        s.sendall(token)
        s.close()
        print(f"SENT {name}", flush=True)
    except OSError as e:
        print(f"BLOCKED {name} {err(e)}", flush=True)


def dgram(name, family, addr):
    try:
        s = socket.socket(family, socket.SOCK_DGRAM)
        # Several copies: UDP may drop one; the listener needs only one.
        for _ in range(3):
            s.sendto(token, addr)
        s.close()
        print(f"SENT {name}", flush=True)
    except OSError as e:
        print(f"BLOCKED {name} {err(e)}", flush=True)


stream("tcp4", socket.AF_INET, ("127.0.0.1", tcp4))
stream("tcp6", socket.AF_INET6, ("::1", tcp6))
dgram("udp4", socket.AF_INET, ("127.0.0.1", udp4))
dgram("udp6", socket.AF_INET6, ("::1", udp6))
stream("abstract", socket.AF_UNIX, "\0" + abstract)
stream("unix-path", socket.AF_UNIX, path)
# The host path under other names the sandbox might map it to.
stream("unix-path-proc-root", socket.AF_UNIX, "/proc/1/root" + path)
print("DONE", flush=True)
