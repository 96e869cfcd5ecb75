#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_elf (fuzz/corpus/elf/).

Each seed is 8 layout bytes (fuzz_elf.c, config_from) followed by a small
synthetic x86-64 static PIE: a valid one, variants with shared pages,
PT_DYNAMIC and bss, and one variant per message of the image builder
(docs/layout.md "ELF requirements"; tests/sdk/test_image.c has the same
list).

Usage: make-elf-seeds.py OUTDIR
"""
import os
import struct
import sys

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_TLS, PT_GNU_STACK = 1, 2, 3, 7, 0x6474E551
R, W, X = 4, 2, 1


def elf(segs, entry=0x1240, etype=3, machine=62, cls=2, data=1, version=1, phentsize=56, phnum=None, phoff=64,
        extra=b'', dyn=None):
    """segs: (type, flags, offset, vaddr, filesz, memsz); the file is padded to cover every segment."""
    ph = b''.join(struct.pack('<IIQQQQQQ', t, f, o, v, v, fs, ms, 0x1000) for t, f, o, v, fs, ms in segs)
    n = len(segs) if phnum is None else phnum
    ident = b'\x7fELF' + bytes([cls, data, version]) + bytes(9)
    hdr = ident + struct.pack('<HHIQQQIHHHHHH', etype, machine, 1, entry, phoff, 0, 0, 64, phentsize, n, 64, 0, 0)
    body = bytearray(hdr + ph + extra)
    end = max([o + fs for t, f, o, v, fs, ms in segs if t in (PT_LOAD, PT_DYNAMIC)] + [len(body)])
    body += bytes(max(0, end - len(body)))
    # Code and data bytes: a pattern, so that wrong offsets show.
    for t, f, o, v, fs, ms in segs:
        if t == PT_LOAD and o >= len(hdr + ph + extra):
            for i in range(fs):
                body[o + i] = (o + i * 7) & 0xFF
    if dyn is not None:
        off, entries = dyn
        blob = b''.join(struct.pack('<QQ', tag, val) for tag, val in entries)
        body[off:off + len(blob)] = blob
    return bytes(body)


def layout(n_tcs=0, nssa=0, stack=0, heap=0, flags=0, c5=0, c6=0, size=0):
    return bytes([n_tcs, nssa, stack, heap, flags, c5, c6, size])


def seeds():
    s = {}
    # File offsets congruent to the addresses modulo 4096 but packed: the seeds stay about 1 KiB.
    ok = [(PT_LOAD, R, 0, 0, 0x200, 0x200), (PT_LOAD, R | X, 0x240, 0x1240, 0x40, 0x40),
          (PT_LOAD, R | W, 0x280, 0x2280, 0x30, 0x3000)]
    s['ok-three-segments'] = layout() + elf(ok)
    s['ok-edmm-debug'] = layout(n_tcs=2, heap=3, flags=1 | 2 | (4 << 2), c5=2, c6=1) + elf(ok)
    s['ok-fixed-size'] = layout(size=0x80 | 5) + elf(ok)
    s['ok-xfrm-avx'] = layout(c5=1 << 2, c6=2) + elf(ok)
    shared = [(PT_LOAD, R | X, 0, 0, 0x300, 0x1100), (PT_LOAD, R | W, 0x300, 0x1300, 0x80, 0x2000)]
    s['ok-shared-page'] = layout() + elf(shared, entry=0x100)
    dyn = ok + [(PT_DYNAMIC, R | W, 0x280, 0x2280, 0x30, 0x30), (PT_GNU_STACK, R | W, 0, 0, 0, 0)]
    s['ok-dynamic'] = layout() + elf(dyn, dyn=(0x280, [(6, 0x2000), (0, 0)]))
    s['needed'] = layout() + elf(dyn, dyn=(0x280, [(5, 0x10), (10, 0x20), (1, 1), (0, 0)]))
    s['textrel'] = layout() + elf(dyn, dyn=(0x280, [(22, 0), (0, 0)]))
    s['df-textrel'] = layout() + elf(dyn, dyn=(0x280, [(30, 4), (0, 0)]))
    s['dynamic-outside'] = layout() + elf(ok + [(PT_DYNAMIC, R, 0x9000, 0x2000, 0x30, 0x30)])[:0x300]
    s['bad-magic'] = layout() + b'\x7fELG' + elf(ok)[4:]
    s['class32'] = layout() + elf(ok, cls=1)
    s['big-endian'] = layout() + elf(ok, data=2)
    s['version'] = layout() + elf(ok, version=2)
    s['et-exec'] = layout() + elf(ok, etype=2)
    s['machine'] = layout() + elf(ok, machine=3)
    s['no-phdrs'] = layout() + elf(ok, phnum=0)
    s['pn-xnum'] = layout() + elf(ok, phnum=0xFFFF)
    s['phentsize'] = layout() + elf(ok, phentsize=32)
    s['phoff-beyond'] = layout() + elf(ok, phoff=0x100000)
    s['truncated'] = layout() + elf(ok)[:40]
    s['filesz-gt-memsz'] = layout() + elf([(PT_LOAD, R | X, 0x240, 0x1240, 0x80, 0x40)])
    s['file-range-outside'] = layout() + elf([(PT_LOAD, R | X, 0x240, 0x1240, 0x40, 0x40)])[:0x250]
    s['vaddr-offset-mod'] = layout() + elf([(PT_LOAD, R | X, 0x240, 0x1800, 0x40, 0x40)], entry=0x1800)
    s['beyond-largest'] = layout() + elf([(PT_LOAD, R | X, 0x240, 0x7FFFFFFFF240, 0x40, 0x2000)],
                                           entry=0x7FFFFFFFF240)
    s['w-without-r'] = layout() + elf(ok[:2] + [(PT_LOAD, W, 0x280, 0x2280, 0x30, 0x30)])
    s['overlap'] = layout() + elf([(PT_LOAD, R | X, 0x240, 0x1240, 0x40, 0x1800),
                                   (PT_LOAD, R, 0x300, 0x2300, 0x10, 0x10)])
    s['entry-not-x'] = layout() + elf(ok, entry=0x2280)
    s['interp'] = layout() + elf(ok + [(PT_INTERP, R, 0x200, 0x200, 0x10, 0x10)])
    s['tls'] = layout() + elf(ok + [(PT_TLS, R, 0x280, 0x2280, 0x10, 0x10)])
    s['no-load'] = layout() + elf([(PT_GNU_STACK, R | W, 0, 0, 0, 0)])
    s['enclave-size-small'] = layout(size=0x90) + elf(ok)
    s['ok-ssa-3-pages'] = layout(c6=7 << 1) + elf(ok)
    return s


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
