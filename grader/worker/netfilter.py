"""A tiny seccomp filter that refuses every socket family but AF_UNIX (and io_uring).

Used by the ``process`` backend, which has no network namespace. Unix sockets stay allowed
because ``DataLoader(num_workers>0)`` and multiprocessing need them.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

from .procs import prctl

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
AF_UNIX = 1
X32_BIT = 0x40000000
# machine -> (AUDIT_ARCH, socket nr, io_uring_setup nr)
ARCHES = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}

LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _program(arch: int, socket_nr: int, uring_nr: int) -> bytes:
    """BPF: other arch -> ENOSYS; x32 or io_uring -> EPERM; socket(!AF_UNIX) -> EAFNOSUPPORT."""
    return b"".join(
        [
            _insn(LD_W_ABS, 0, 0, 4),  # 0: arch
            _insn(JEQ_K, 1, 0, arch),  # 1: native? -> 3
            _insn(RET_K, 0, 0, RET_ERRNO | errno.ENOSYS),  # 2
            _insn(LD_W_ABS, 0, 0, 0),  # 3: syscall nr
            _insn(JGE_K, 6, 0, X32_BIT),  # 4: x32 -> 11
            _insn(JEQ_K, 5, 0, uring_nr),  # 5: io_uring_setup -> 11
            _insn(JEQ_K, 0, 3, socket_nr),  # 6: socket? else -> 10
            _insn(LD_W_ABS, 0, 0, 16),  # 7: family (args[0], low word)
            _insn(JEQ_K, 1, 0, AF_UNIX),  # 8: AF_UNIX -> 10
            _insn(RET_K, 0, 0, RET_ERRNO | errno.EAFNOSUPPORT),  # 9
            _insn(RET_K, 0, 0, RET_ALLOW),  # 10
            _insn(RET_K, 0, 0, RET_ERRNO | errno.EPERM),  # 11
        ]
    )


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_network() -> bool:
    """Install the filter in this process (inherited by its children); False if unsupported."""
    spec = ARCHES.get(platform.machine())
    if spec is None:
        return False
    prog = _program(*spec)
    buf = ctypes.create_string_buffer(prog)
    fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buf))
    if not prctl(PR_SET_NO_NEW_PRIVS, 1):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0
    except (OSError, AttributeError):
        return False
