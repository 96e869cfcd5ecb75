#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_sequence and fuzz_preload (fuzz/corpus/sequence/).

Each seed is an 8-byte header and 32-byte records (fuzz/sequence/engine.h):
one opcode byte, then parameters at the offsets of the op's enum in
engine.c (OPEN_*, CR_*, AD_*, IN_*, PV_*, SG_*, BC_*, MM_*, BD_*).  The
seeds are short hand-written scenarios: a working enclave built and then
each call aimed at one check of spec/linux-driver.md.

Usage: make-sequence-seeds.py OUTDIR [SEQUENCE_REGRESSIONS PRELOAD_REGRESSIONS]
(the second form also writes the reproducers of fuzz/known.h's defects).
"""
import os
import struct
import sys

OPEN, CLOSE, CREATE, ADD, INIT, PROVISION, RESTRICT, MODIFY, REMOVE, AUGMENT, BADCMD, MMAP, MPROTECT, MUNMAP, BUILD, VFS = range(16)
GOOD, NULL, NONE, RO, STR_NONE, STR_RO, KERNEL, NONCANON, MISALIGN = range(9)


def rec(op, **kw):
    """A record: keyword p<N>=byte or p<N>=(bytes) at parameter offset N."""
    b = bytearray(32)
    b[0] = op
    for k, v in kw.items():
        i = 1 + int(k[1:])
        if isinstance(v, (bytes, bytearray)):
            b[i:i + len(v)] = v
        else:
            b[i] = v & 0xFF
    return bytes(b)


def u16(v):
    return struct.pack('<H', v)


def u32(v):
    return struct.pack('<I', v)


def u64(v):
    return struct.pack('<Q', v & (2**64 - 1))


def build(slot=0, size=1, k=0, nreg=3, perm=0, mapprot=3, attr=0, nomeasure=0, ntcs=1, data=0):
    """BD_*: open + CREATE + ADD TCS/REG + INIT (+ MAP_FIXED of the ELRANGE when mapprot is not None)."""
    m = 0 if mapprot is None else 8 | mapprot
    return rec(BUILD, p0=slot, p1=size, p2=k, p3=nreg - 1, p4=perm, p5=m, p6=attr, p7=nomeasure, p8=ntcs, p9=data)


def hdr(threads=False, seed=0, split=0):
    return bytes([1 if threads else 0, seed, split, 0, 0, 0, 0, 0])


# SG_* layout: FD ARG OFFSEL OFFPG(2) LENPG LENSEL INJ VAL RND(8) SICLS SIFLAGS SIPOKE MIS
def sgx2(op, slot=0, arg=GOOD, offsel=0, offpg=0, lenpg=0, lensel=0, inj=0, val=0, rnd=0, sicls=GOOD, siflags=0,
         sipoke=0):
    return rec(op, p0=slot, p1=arg, p2=offsel, p3=u16(offpg), p5=lenpg, p6=lensel, p7=inj, p8=val, p9=u64(rnd),
               p17=sicls, p18=siflags, p19=sipoke)


# MM_* layout: FD ADDRSEL PG(4) DELTA LENSEL LENPG(2) PROT TYPE FA FB OFF RND(8) ENC
def mm(op, fd=0, addrsel=0, pg=0, delta=0, lensel=0, lenpg=0, prot=3, typ=0, fa=1, fb=0, off=0, rnd=0, enc=0):
    return rec(op, p0=fd, p1=addrsel, p2=u32(pg), p6=delta, p7=lensel, p8=u16(lenpg), p10=prot, p11=typ, p12=fa,
               p13=fb, p14=off, p15=u64(rnd), p23=enc)


# CR_* layout: FD ARG SRC SIZE BASE K SSA MISC ATTR XFRM POKEOFF(2) POKEVAL POKEEN RND(8) RND2(8)
def create(slot=0, arg=0xFF, src=0xFF, size=2, base=0, k=0, ssa=0, misc=0, attr=0, xfrm=0, poke=None, rnd=0, rnd2=0):
    kw = dict(p0=slot, p1=arg, p2=src, p3=size, p4=base, p5=k, p6=ssa, p7=misc, p8=attr, p9=xfrm, p14=u64(rnd),
              p22=u64(rnd2))
    if poke:
        kw.update(p10=u16(poke[0]), p12=poke[1], p13=1)
    return rec(CREATE, **kw)


# AD_* layout: FD ARG SRC OFFSEL OFFPG(2) LENPG SICLS SIFLAGS SIPOKE FLAGS MIS RND(8) LENSEL
def add(slot=0, arg=0xFF, src=0, offsel=0, offpg=0, lenpg=0, sicls=0xFF, siflags=0, sipoke=0, flags=1, mis=0, rnd=0,
        lensel=0):
    return rec(ADD, p0=slot, p1=arg, p2=src, p3=offsel, p4=u16(offpg), p6=lenpg, p7=sicls, p8=siflags, p9=sipoke,
               p10=flags, p11=mis, p12=u64(rnd), p20=lensel)


# IN_* layout: FD ARG SIG MODE FIELD VAL(8) FLIP(2) AMASK XMASK MMASK RND(8)
def init(slot=0, arg=0xFF, sig=0xFF, mode=0, field=0, val=0, flip=0, amask=0, xmask=0, mmask=0):
    return rec(INIT, p0=slot, p1=arg, p2=sig, p3=mode, p4=field, p5=u64(val), p13=u16(flip), p15=amask, p16=xmask,
               p17=mmask)


def seeds():
    s = {}
    s['build-map'] = hdr() + build()
    s['build-16m-rx'] = hdr() + build(size=5, nreg=16, perm=2, mapprot=5, ntcs=2, data=3)
    s['build-two-enclaves'] = hdr() + build(slot=0, k=0) + build(slot=1, size=3, k=1, mapprot=1)
    s['build-no-measure'] = hdr() + build(nomeasure=1, perm=3, mapprot=7)
    s['build-kss-aexnotify'] = hdr() + build(attr=2) + build(slot=1, attr=3, k=2)
    # SGX2 ioctls on an initialised enclave: each loop path.
    b = build(size=3, nreg=8)
    s['restrict-ok'] = hdr() + b + sgx2(RESTRICT, offpg=1, lenpg=3, val=1)
    s['restrict-w-without-r'] = hdr() + b + sgx2(RESTRICT, offpg=1, val=2)
    s['restrict-tcs-einval'] = hdr() + b + sgx2(RESTRICT, offpg=0, lenpg=1, val=1)
    s['restrict-hole-efault'] = hdr() + b + sgx2(RESTRICT, offpg=7, lenpg=5, val=1)
    s['restrict-result-in'] = hdr() + b + sgx2(RESTRICT, offpg=1, inj=1)
    s['modify-tcs'] = hdr() + b + sgx2(MODIFY, offpg=2, lenpg=1, val=0) + sgx2(MODIFY, offpg=2, val=0)
    s['modify-trim-then-remove'] = hdr() + b + sgx2(MODIFY, offpg=1, lenpg=2, val=1) + sgx2(REMOVE, offpg=1, lenpg=2)
    s['modify-bad-type-ro-arg'] = hdr() + b + sgx2(MODIFY, arg=RO, offpg=1, val=2)
    s['remove-reg-eperm'] = hdr() + b + sgx2(REMOVE, offpg=3)
    s['augment-then-restrict'] = hdr() + b + sgx2(AUGMENT, offpg=12, lenpg=3) + sgx2(RESTRICT, offpg=12, lenpg=1, val=1)
    s['augment-over-added'] = hdr() + b + sgx2(AUGMENT, offpg=8, lenpg=3)
    s['augment-bad-secinfo'] = hdr() + b + sgx2(AUGMENT, offpg=12, siflags=4) + sgx2(AUGMENT, offpg=12, sipoke=9)
    s['augment-count-straddle'] = hdr() + b + sgx2(AUGMENT, arg=STR_RO, offpg=13)
    s['sgx2-before-init'] = hdr() + rec(OPEN) + create() + sgx2(RESTRICT) + sgx2(AUGMENT) + sgx2(REMOVE)
    # CREATE: the driver's and ECREATE's checks.
    o = rec(OPEN)
    s['create-bad-size'] = hdr() + o + create(size=13) + create(size=14)
    s['create-small-misaligned'] = hdr() + o + create(size=1) + create(base=2) + create(size=0, base=1)
    s['create-xfrm-attr'] = hdr() + o + create(xfrm=2) + create(attr=7) + create(attr=6) + create(xfrm=4)
    s['create-32bit'] = hdr() + o + create(attr=2, base=1, size=4) + add(siflags=4, src=1) + init()
    s['create-hostile-ptrs'] = hdr() + o + create(arg=NULL) + create(src=STR_NONE) + create(src=MISALIGN) + \
        create(arg=KERNEL) + create(src=RO)
    s['create-twice'] = hdr() + o + create() + create()
    s['create-reserved-poke'] = hdr() + o + create(poke=(100, 1)) + create(poke=(200, 1)) + create(poke=(70, 1))
    # ADD_PAGES
    oc = o + create(size=3)
    s['add-tcs-invalid'] = hdr() + oc + add(src=2, siflags=4) + add(src=1, siflags=4, offpg=1)
    s['add-secinfo-checks'] = hdr() + oc + add(siflags=6) + add(siflags=7) + add(siflags=8) + add(siflags=11) + \
        add(sipoke=5) + add(sicls=STR_NONE)
    s['add-src-run-past-pool'] = hdr() + oc + add(src=14, lenpg=4)
    s['add-src-hostile'] = hdr() + oc + add(src=17) + add(src=18) + add(src=19) + add(src=16) + add(src=22)
    s['add-busy'] = hdr() + oc + add(lenpg=2) + add(offsel=5)
    s['add-range'] = hdr() + oc + add(offsel=1) + add(offsel=4) + add(lensel=3) + add(lensel=2) + add(lensel=1)
    s['add-arg-ro'] = hdr() + oc + add(arg=RO) + add(arg=STR_RO, offpg=2) + add(arg=STR_NONE)
    s['add-after-init'] = hdr() + build() + add(offpg=8)
    # INIT
    s['init-variants'] = hdr() + oc + add(src=1, siflags=4) + init(mode=1, field=0) + init(mode=2, flip=600) + \
        init(mode=1, field=8) + init(mode=1, field=4, val=0) + init()
    s['init-masks'] = hdr() + oc + add(src=1, siflags=4) + init(amask=1, xmask=1, mmask=1) + init(mode=1, field=2, val=0x80)
    s['init-reserved'] = hdr() + oc + add(src=1, siflags=4) + init(mode=1, field=3, val=1 << 40) + init(mode=3) + init(mode=5)
    s['init-kss-ids'] = hdr() + o + create(attr=4) + add(src=1, siflags=4) + init(mode=1, field=9) + init(mode=1, field=10)
    s['init-twice'] = hdr() + build() + init()
    # PROVISION and the attribute mask.
    s['provision'] = hdr() + rec(OPEN, p0=1, p1=2) + o + create(attr=5) + add(src=1, siflags=4) + init() + \
        rec(PROVISION, p0=0, p2=1) + init()
    s['provision-bad-fd'] = hdr() + o + rec(PROVISION, p2=4) + rec(PROVISION, p2=6) + rec(PROVISION, p1=NULL, p2=5)
    s['provision-file-ioctl'] = hdr() + rec(OPEN, p0=1, p1=3) + sgx2(RESTRICT, slot=1) + \
        mm(MMAP, fd=1, addrsel=1, fa=1)
    # Commands the driver does not have, closed and foreign descriptors.
    s['bad-commands'] = hdr() + o + rec(BADCMD, p2=1) + rec(BADCMD, p2=2, p3=u32(0x305)) + \
        rec(BADCMD, p2=3, p3=u32(0x12345)) + rec(BADCMD, p0=4) + rec(BADCMD, p0=5)
    s['closed-fd'] = hdr() + o + rec(CLOSE) + sgx2(RESTRICT) + rec(CLOSE) + rec(CLOSE, p0=5)
    # mmap / mprotect / munmap
    s['mmap-reserve-then-create'] = hdr() + o + mm(MMAP, addrsel=1, lensel=0, lenpg=31, prot=0, fa=0) + \
        create(size=2, base=5) + add(src=1, siflags=4) + init() + mm(MMAP, addrsel=0, lensel=1, prot=3)
    s['mmap-after-init-outside'] = hdr() + build() + mm(MMAP, addrsel=2, lensel=0, lenpg=1) + \
        mm(MMAP, addrsel=0, lensel=7)
    s['mmap-flags'] = hdr() + build(mapprot=None) + mm(MMAP, typ=2) + mm(MMAP, typ=1, fb=2) + mm(MMAP, typ=3) + \
        mm(MMAP, fa=2) + mm(MMAP, fa=0)
    s['mmap-prot-above-ceiling'] = hdr() + build(perm=1, mapprot=None) + mm(MMAP, prot=3) + mm(MMAP, prot=1)
    s['mmap-hostile-addr'] = hdr() + build(mapprot=None) + mm(MMAP, addrsel=5) + mm(MMAP, addrsel=6) + \
        mm(MMAP, addrsel=8, lensel=0, lenpg=3) + mm(MMAP, addrsel=9) + mm(MMAP, addrsel=7) + mm(MMAP, lensel=2) + \
        mm(MMAP, lensel=4) + mm(MMAP, off=2)
    s['mmap-anon-over-enclave'] = hdr() + build() + mm(MMAP, fa=1 | 4, lensel=0, lenpg=0) + rec(CLOSE) + \
        mm(MUNMAP, addrsel=0, lensel=1)
    s['mprotect-ceiling-holes'] = hdr() + build(perm=1) + mm(MPROTECT, prot=1) + mm(MPROTECT, prot=3) + \
        mm(MPROTECT, lensel=7) + mm(MPROTECT, addrsel=2, lensel=0, lenpg=3)
    s['munmap-split-close'] = hdr() + build(size=3) + mm(MUNMAP, pg=2, lensel=0, lenpg=1) + rec(CLOSE) + \
        mm(MUNMAP, addrsel=0, lensel=1)
    s['close-while-mapped'] = hdr() + build() + rec(CLOSE) + sgx2(RESTRICT) + mm(MPROTECT, prot=1)
    s['canary-neighbours'] = hdr() + build() + mm(MMAP, addrsel=11, fa=0) + mm(MMAP, addrsel=11, fa=2) + \
        mm(MPROTECT, addrsel=11, prot=1)
    # EPC pressure: enclaves until the EPC is full of SECS and VA pages, then pages that must be evicted.
    s['epc-pressure'] = hdr() + b''.join(build(slot=i, size=4, k=i, nreg=16, mapprot=None) for i in range(4)) + \
        sgx2(RESTRICT, offpg=2, lenpg=10, val=1) + sgx2(AUGMENT, offpg=40, lenpg=40)
    # Two threads: the second replays the first ops on its own enclaves.
    s['threads-build-sgx2'] = hdr(threads=True, split=3) + b + sgx2(RESTRICT, offpg=1, lenpg=3, val=1) + \
        sgx2(AUGMENT, offpg=12, lenpg=8) + sgx2(MODIFY, offpg=4, lenpg=2, val=1)
    s['threads-pressure'] = hdr(threads=True, split=7) + b''.join(
        build(slot=i, size=4, k=i, nreg=16) for i in range(4)) + sgx2(AUGMENT, offpg=40, lenpg=50)
    s['vfs-ioctls'] = hdr() + o + rec(VFS, p2=0) + rec(VFS, p2=2, p3=1) + rec(VFS, p2=3, p3=1) + rec(VFS, p2=3, p1=NULL)
    return s


def regressions():
    """Reproducers of the defects of fuzz/known.h, one per FZ_ switch (fuzz/regressions/sequence/)."""
    r = {}
    o = rec(OPEN)
    b = build(mapprot=None)
    r['known-noreplace-over-host'] = hdr() + b + mm(MMAP, addrsel=11, pg=0, fa=2)
    r['known-create-huge-size'] = hdr() + o + create(size=12) + create(size=11)
    r['ioctl-cmd-upper-bits'] = hdr() + o + create()[:31] + b'\x01'  # CR_HI: SGX_IOC_ENCLAVE_CREATE | 1 << 32
    r['mprotect-prot-first'] = hdr() + build() + mm(MPROTECT, prot=0x08 | 1) + mm(MPROTECT, lensel=2, prot=0x10)
    r['embed-open-mode'] = hdr() + rec(OPEN, p2=1) + create() + add(src=1, siflags=4) + init() + \
        mm(MMAP, lensel=1, prot=3)
    r['mmap-check-order'] = hdr() + b + mm(MMAP, typ=2, lensel=6, fa=0)
    r['mmap-prot-bits'] = hdr() + b + mm(MMAP, lensel=1, prot=0x08 | 1)
    r['mmap-flags-ignored'] = hdr() + b + mm(MMAP, lensel=1, fb=1) + mm(MMAP, lensel=1, off=2) + \
        mm(MMAP, lensel=1, fa=1 | 0x80) + mm(MMAP, lensel=1, typ=1, fb=2)
    r['munmap-einval-unmaps'] = hdr() + build() + mm(MUNMAP, pg=1, lensel=6)
    r['mmap-fixed-refused-keeps-old'] = hdr() + build(perm=1, mapprot=1) + mm(MMAP, lensel=1, prot=3)
    r['provision-fd-upper-bits'] = hdr() + rec(OPEN, p0=1, p1=2) + o + create(attr=5) + \
        rec(PROVISION, p0=0, p2=1, p3=1)
    r['modify-types-bad-type-no-copy'] = hdr() + build() + sgx2(MODIFY, arg=RO, offpg=1, val=2)
    r['add-pages-copies-count-only'] = hdr() + o + create() + add(arg=STR_RO, src=1, siflags=4)
    r['mmap-fixed-range-unchecked-abort'] = hdr() + o + create() + mm(MMAP, addrsel=8, pg=1, lensel=0, lenpg=3)
    r['mmap-fixed-range-unchecked-wrap'] = hdr() + o + mm(MMAP, addrsel=1, pg=0, lensel=4, lenpg=0)
    r['embed-foreign-mmap-over-enclave'] = hdr() + build() + mm(MMAP, fa=1 | 4, lensel=1) + rec(CLOSE)
    r['mprotect-not-per-vma'] = hdr() + build() + mm(MPROTECT, lensel=7, prot=1)
    r['mprotect-end-wraps'] = hdr() + build(size=3) + mm(MPROTECT, pg=8, lensel=4, lenpg=3, prot=1)
    ops = b''.join(build(slot=0, size=4, k=i % 4, nreg=16, mapprot=None) + rec(CLOSE) for i in range(11))
    r['reclaim-release-race'] = hdr(threads=True, split=21) + ops
    p = {}
    p['preload-fixed-unmaps-first'] = hdr() + build() + mm(MMAP, fd=5, lensel=0, lenpg=0) + \
        mm(MMAP, fd=4, lensel=0, lenpg=0)
    p['preload-provision-deref'] = hdr() + build() + rec(PROVISION, p1=NONCANON, p2=0)
    return r, p


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    if len(sys.argv) > 3:
        for d, items in zip(sys.argv[2:4], regressions()):
            os.makedirs(d, exist_ok=True)
            for name, data in items.items():
                with open(os.path.join(d, name), 'wb') as f:
                    f.write(data)


if __name__ == '__main__':
    main()
