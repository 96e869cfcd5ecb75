# SPDX-License-Identifier: MIT
"""gdb support for programs that run enclaves on sgxemu (docs/debugging.md).

    (gdb) source PREFIX/share/sgxemu/gdb/sgxemu.py

or `gdb -x PREFIX/share/sgxemu/gdb/sgxemu.py --args PROGRAM ARGS...`
(`pkg-config --variable=gdbscript sgxemu` gives the path).  It does three
things:

1. Signals.  sgxemu runs enclave code natively and learns of every ENCLU,
   EPC page fault and interrupt through a signal: SIGSEGV, SIGILL and SIGBUS
   (ENCLU traps, enclave page faults), SIGSYS (a system call of enclave code
   under Syscall User Dispatch) and SIGRTMAX-1 (exec's kick, an interrupt of
   a thread in enclave mode).  They are set to pass to the program without
   stopping or printing.  A genuine crash of host code raising one of them
   then reaches the program's own disposition (by default the process ends,
   and gdb says "Program terminated with signal ...").  SIGFPE and SIGTRAP,
   which exec also handles, keep gdb's defaults: the first only comes from a
   real division error, the second is gdb's own.

2. Symbols.  The SDK's loader keeps a list of the loaded enclaves
   (sdk_debug_state in <sgxemu/loader.h>) and calls sdk_debug_event() after
   each change.  A breakpoint there (it never stops) reads the list and
   loads each enclave ELF's symbols at the enclave's base with
   `add-symbol-file FILE -o BASE`, and removes them before the enclave is
   unmapped.  Only DEBUG enclaves (ATTRIBUTES.DEBUG, `debug = yes` in the
   layout) get their symbols, as only they are debuggable on SGX hardware;
   `set sgxemu non-debug on` loads the others' too.  An image loaded from
   memory has no file: `sgxemu add-symbol-file FILE ADDRESS` names it.

3. Breakpoints.  Enclave code pages are shared mappings of the EPC that are
   not writable, so gdb cannot write a software breakpoint there.  Each
   enclave's executable range becomes a read-only memory region (`mem LO HI
   ro`, with `mem inaccessible-by-default` off), so that gdb's automatic
   hardware breakpoints apply to every breakpoint there, its own for `next`
   and `finish` included.  x86-64 has four: breakpoints and watchpoints in
   enclave code share them.

Commands: `sgxemu enclaves`, `sgxemu add-symbol-file FILE ADDRESS`,
`set|show sgxemu non-debug`; `$sgxemu_base` is the base of the enclave
added last.
"""
import os
import re
import signal
import struct

import gdb

_VERSION = 1  # SDK_DEBUG_VERSION
_ENCLAVE_DEBUG = 0x1  # SDK_DEBUG_ENCLAVE_DEBUG
_MAX_ENCLAVES = 65536  # a bound on the walk: the list is in the program's memory
_SIGNALS = ("SIGSEGV", "SIGILL", "SIGBUS", "SIGSYS", "SIG%d" % (signal.SIGRTMAX - 1))


def _say(msg):
    gdb.write("sgxemu: " + msg + "\n")


def _elf(path):
    """(e_entry, [(p_flags, p_offset, p_vaddr, p_filesz, p_memsz)] of PT_LOAD) of a 64-bit ELF."""
    with open(path, "rb") as f:
        hdr = f.read(64)
        if len(hdr) < 64 or hdr[:4] != b"\x7fELF" or hdr[4] != 2 or hdr[5] != 1:
            raise ValueError("not a 64-bit little-endian ELF file")
        entry, phoff = struct.unpack_from("<QQ", hdr, 24)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        if phentsize < 56:
            raise ValueError("bad program header size %d" % phentsize)
        f.seek(phoff)
        ph = f.read(phentsize * phnum)
        if len(ph) < phentsize * phnum:
            raise ValueError("truncated program headers")
    segs = []
    for i in range(phnum):
        p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", ph, i * phentsize)
        if p_type == 1:
            segs.append((p_flags, p_offset, p_vaddr, p_filesz, p_memsz))
    return entry, segs


class _Enclave:
    def __init__(self, base, size, code_start, code_end, path, debug, listed):
        self.base, self.size = base, size
        self.code = (base + code_start, base + code_end) if code_end > code_start else None
        self.path, self.debug, self.listed = path, debug, listed
        self.region = None  # (lo, hi) of the read-only memory region made for it
        self.symfile = None  # the file whose symbols are loaded
        self.symaddr = None  # an address inside them, for remove-symbol-file -a

    def key(self):
        return (self.base, self.size, self.path, self.debug)


class _State:
    """What the script keeps between events; one per gdb session, kept if the script is sourced again."""

    def __init__(self):
        self.known = {}  # base -> _Enclave: what the script has set up in gdb for the current process
        self.mem_default_done = False  # `mem inaccessible-by-default off` done
        self.non_debug = None  # the `sgxemu non-debug` setting
        self.versions_told = set()  # versions of sdk_debug_state the script does not read, said once each
        self.event_bp = None  # the breakpoint on sdk_debug_event


_first = getattr(gdb, "_sgxemu_state", None) is None
if _first:
    gdb._sgxemu_state = _State()
_st = gdb._sgxemu_state


def _inferior():
    inf = gdb.selected_inferior()
    return inf if inf.pid else None


def _read(addr, n):
    return gdb.selected_inferior().read_memory(addr, n).tobytes()


def _listed():
    """{base: _Enclave} of the program's sdk_debug_state, or None when the program has none (yet)."""
    if not _inferior():
        return None
    try:
        state = int(gdb.parse_and_eval("(unsigned long) &sdk_debug_state"))
    except gdb.error:
        return None
    try:
        version, _, _, head = struct.unpack("<IIQQ", _read(state, 24))
    except gdb.MemoryError:
        return None
    if version != _VERSION:
        if version not in _st.versions_told:
            _st.versions_told.add(version)
            _say("sdk_debug_state has version %d, this script reads version %d: no enclave symbols"
                 % (version, _VERSION))
        return None
    found = {}
    p = head
    while p and len(found) < _MAX_ENCLAVES:
        nxt, base, size, cs, ce, path_p, flags, _ = struct.unpack("<QQQQQQII", _read(p, 56))
        path = gdb.Value(path_p).cast(gdb.lookup_type("char").pointer()).string() if path_p else None
        found[base] = _Enclave(base, size, cs, ce, path, bool(flags & _ENCLAVE_DEBUG), True)
        p = nxt
    return found


def _mem_regions():
    """{(lo, hi): number} of gdb's user-defined memory regions."""
    out = gdb.execute("info mem", to_string=True)
    regions = {}
    for m in re.finditer(r"^(\d+)\s+[yn]\s+(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)", out, re.M):
        regions[(int(m.group(2), 16), int(m.group(3), 16))] = int(m.group(1))
    return regions


def _protect(e, lo, hi):
    """Make [lo, hi) a read-only region: gdb then uses hardware breakpoints there."""
    if not _st.mem_default_done:
        # With the default (on), defining one region makes all other memory inaccessible to gdb.
        gdb.execute("set mem inaccessible-by-default off", to_string=True)
        _st.mem_default_done = True
    if (lo, hi) not in _mem_regions():
        gdb.execute("mem 0x%x 0x%x ro" % (lo, hi), to_string=True)
    e.region = (lo, hi)


def _unprotect(e):
    if e.region:
        n = _mem_regions().get(e.region)
        if n is not None:
            gdb.execute("delete mem %d" % n, to_string=True)
        e.region = None


def _load_symbols(e, path):
    """add-symbol-file path at e.base; warn when the file's code is not the enclave's."""
    try:
        entry, segs = _elf(path)
    except (OSError, ValueError) as ex:
        _say("enclave at 0x%x: cannot read %s: %s" % (e.base, path, ex))
        return False
    for flags, off, vaddr, filesz, _ in segs:
        if vaddr <= entry < vaddr + filesz:
            n = min(64, vaddr + filesz - entry)
            with open(path, "rb") as f:
                f.seek(off + entry - vaddr)
                want = f.read(n)
            try:
                have = _read(e.base + entry, n) if _inferior() else want
            except gdb.MemoryError:
                have = want
            if have != want:
                _say("%s differs from the code of the enclave at 0x%x (rebuilt since it was loaded?): "
                     "its symbols may not match" % (path, e.base))
            break
    gdb.execute("add-symbol-file %s -o 0x%x" % (_quote(path), e.base), to_string=True)
    e.symfile, e.symaddr = path, e.base + entry
    return True


def _unload_symbols(e):
    if e.symfile:
        try:
            gdb.execute("remove-symbol-file -a 0x%x" % e.symaddr, to_string=True)
        except gdb.error:
            pass  # the user removed them already
        e.symfile = e.symaddr = None


def _quote(path):
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _want_symbols(e):
    return e.debug or _st.non_debug.value


def _describe(e):
    return "%s at 0x%x" % (e.path or "(from memory)", e.base)


def _adopt(e):
    """A newly listed enclave: its region, its symbols if wanted, $sgxemu_base."""
    if e.code:
        _protect(e, *e.code)
    gdb.set_convenience_variable("sgxemu_base", e.base)
    if e.path is None:
        _say("enclave at 0x%x was loaded from memory: no file to read symbols from "
             "(`sgxemu add-symbol-file FILE 0x%x` names it)" % (e.base, e.base))
    elif not _want_symbols(e):
        _say("enclave %s is not a DEBUG enclave: symbols not loaded "
             "(`set sgxemu non-debug on` loads them)" % _describe(e))
    elif _load_symbols(e, e.path):
        _say("enclave %s: symbols loaded" % _describe(e))


def _drop(e):
    had = e.symfile
    _unload_symbols(e)
    _unprotect(e)
    if had:
        _say("enclave %s at 0x%x: symbols removed (the enclave is going away)" % (had, e.base))


def _sync():
    """Bring gdb in line with the program's list of enclaves."""
    listed = _listed()
    if listed is None:
        return
    for base in list(_st.known):
        e = _st.known[base]
        if e.listed and (base not in listed or listed[base].key() != e.key()):
            _drop(_st.known.pop(base))
    for base, e in listed.items():
        if base not in _st.known:
            _st.known[base] = e
            _adopt(e)


def _forget_all():
    for e in _st.known.values():
        _unload_symbols(e)
        _unprotect(e)
    _st.known.clear()


class _EventBreakpoint(gdb.Breakpoint):
    """On sdk_debug_event: read the list, never stop."""

    def __init__(self):
        super().__init__("sdk_debug_event", internal=True)
        self.silent = True

    def stop(self):
        try:
            _sync()
        except (gdb.error, gdb.MemoryError) as ex:
            _say("reading the list of enclaves failed: %s" % ex)
        return False


class _Prefix(gdb.Command):
    """sgxemu: enclaves of the SDK's loader (docs/debugging.md).

sgxemu enclaves                    -- list the enclaves this script knows
sgxemu add-symbol-file FILE ADDRESS -- load FILE's symbols for the enclave at ADDRESS"""

    def __init__(self):
        super().__init__("sgxemu", gdb.COMMAND_DATA, prefix=True)


class _Enclaves(gdb.Command):
    """List the enclaves: base, size, DEBUG or not, symbols, file."""

    def __init__(self):
        super().__init__("sgxemu enclaves", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        _sync()
        if not _st.known:
            gdb.write("no enclaves\n")
            return
        for base in sorted(_st.known):
            e = _st.known[base]
            if e.listed:
                what = "size 0x%x %s" % (e.size, "debug" if e.debug else "non-debug")
            else:
                what = "added by hand"
            gdb.write("0x%016x %s %s %s\n" % (e.base, what, "symbols" if e.symfile else "no-symbols",
                                              e.symfile or e.path or "(from memory)"))


class _AddSymbolFile(gdb.Command):
    """sgxemu add-symbol-file FILE ADDRESS: FILE is the ELF of the enclave whose base is ADDRESS.

Loads its symbols at ADDRESS and makes its executable segments a read-only
memory region (hardware breakpoints).  For images loaded from memory and
for enclaves of other loaders (e.g. programs under `sgxemu run`)."""

    def __init__(self):
        super().__init__("sgxemu add-symbol-file", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        args = gdb.string_to_argv(arg)
        if len(args) != 2:
            raise gdb.GdbError("usage: sgxemu add-symbol-file FILE ADDRESS")
        path = os.path.abspath(os.path.expanduser(args[0]))
        base = int(gdb.parse_and_eval(args[1]))
        try:
            _, segs = _elf(path)
        except (OSError, ValueError) as ex:
            raise gdb.GdbError("%s: %s" % (path, ex))
        e = _st.known.get(base)
        if e is None:
            e = _st.known[base] = _Enclave(base, 0, 0, 0, path, True, False)
        _unload_symbols(e)
        if not e.code:
            code = [(v & ~0xFFF, (v + m + 0xFFF) & ~0xFFF) for fl, _, v, _, m in segs if fl & 1]
            if code:
                e.code = (base + min(c[0] for c in code), base + max(c[1] for c in code))
                _protect(e, *e.code)
        if _load_symbols(e, path):
            _say("enclave %s at 0x%x: symbols loaded" % (path, base))


class _SetPrefix(gdb.Command):
    """Settings of the sgxemu gdb script."""

    def __init__(self, verb):
        super().__init__(verb + " sgxemu", gdb.COMMAND_DATA, prefix=True)


class _NonDebug(gdb.Parameter):
    """Whether symbols of non-DEBUG enclaves are loaded too (default off: like SGX hardware, only DEBUG
enclaves are debugged)."""

    set_doc = "Set whether the symbols of enclaves without ATTRIBUTES.DEBUG are loaded."
    show_doc = "Show whether the symbols of enclaves without ATTRIBUTES.DEBUG are loaded."

    def __init__(self):
        super().__init__("sgxemu non-debug", gdb.COMMAND_DATA, gdb.PARAM_BOOLEAN)
        self.value = False

    def get_set_string(self):
        for e in _st.known.values():
            if e.debug or not e.listed or not e.path:
                continue
            if self.value and not e.symfile and _load_symbols(e, e.path):
                _say("enclave %s: symbols loaded" % _describe(e))
            elif not self.value and e.symfile:
                _unload_symbols(e)
                _say("enclave %s: symbols removed" % _describe(e))
        return ""

    def get_show_string(self, svalue):
        return "Symbols of non-DEBUG enclaves are %sloaded." % ("" if self.value else "not ")


def _on_stop(event):
    # Attached to a running program, or sourced after its enclaves were loaded: catch up.
    try:
        _sync()
    except (gdb.error, gdb.MemoryError):
        pass


def _on_exit(event):
    _forget_all()


def _arm(event=None):
    """The breakpoint on sdk_debug_event, once a loaded file defines it (the program, or libsgxemu.so)."""
    if _st.event_bp is not None:
        return
    try:
        gdb.parse_and_eval("&sdk_debug_event")
    except gdb.error:
        return
    _st.event_bp = _EventBreakpoint()


def _install():
    gdb.execute("handle %s nostop noprint pass" % " ".join(_SIGNALS), to_string=True)
    _Prefix()
    _Enclaves()
    _AddSymbolFile()
    _SetPrefix("set")
    _SetPrefix("show")
    _st.non_debug = _NonDebug()
    gdb.events.new_objfile.connect(_arm)
    _arm()
    gdb.events.stop.connect(_on_stop)
    gdb.events.exited.connect(_on_exit)
    _say("%s pass to the program without stopping; enclave symbols follow the SDK's loader (docs/debugging.md)"
         % " ".join(_SIGNALS))
    _sync()


if _first:
    _install()
else:
    _say("already sourced")
