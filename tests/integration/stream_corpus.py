#!/usr/bin/env python3
"""Writes the hostile archive corpus of test_stream into OUTDIR.

    stream_corpus.py OUTDIR HOSTFILE

HOSTFILE is a file outside any extraction destination that the archives try
to reach. Every archive is made here at test time, so no binary is
committed. The expected outcome of each is asserted by test_stream.c.
"""
import gzip
import io
import os
import sys
import tarfile


def member(tf, name, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if data else None)


def special(tf, name, kind, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = 0o644
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti)


def write(outdir, name, build, fmt=tarfile.PAX_FORMAT, gz=False):
    path = os.path.join(outdir, name)
    with tarfile.open(path, "w:gz" if gz else "w", format=fmt) as tf:
        build(tf)
    return path


def main():
    outdir, host = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)

    write(outdir, "trav1.tar", lambda tf: (member(tf, "ok.txt", b"ok"),
                                          member(tf, "../x", b"evil")))
    write(outdir, "trav2.tar", lambda tf: member(tf, "a/../../x", b"evil"))
    write(outdir, "abs.tar",
          lambda tf: member(tf, os.path.dirname(host) + "/abs-x", b"evil"))

    def symlink_out(tf):
        special(tf, "lnk", tarfile.SYMTYPE, linkname="../outside")
        member(tf, "lnk/through.txt", b"evil")
    write(outdir, "symlink_out.tar", symlink_out)

    def symlink_abs(tf):
        special(tf, "lnk", tarfile.SYMTYPE, linkname=os.path.dirname(host))
        member(tf, "lnk/through2.txt", b"evil")
    write(outdir, "symlink_abs.tar", symlink_abs)

    def hardlink(tf):
        special(tf, "hl", tarfile.LNKTYPE, linkname=host)
        special(tf, "hl2", tarfile.LNKTYPE, linkname="../outside/host.txt")
    write(outdir, "hardlink.tar", hardlink)

    def devices(tf):
        special(tf, "dev", tarfile.CHRTYPE, devmajor=1, devminor=3)
        special(tf, "blk", tarfile.BLKTYPE, devmajor=7, devminor=0)
        special(tf, "fifo", tarfile.FIFOTYPE)
        member(tf, "plain.txt", b"plain")
    write(outdir, "devices.tar", devices)

    # Declared size larger than the data: the header promises 100000 bytes.
    path = write(outdir, "short.tar",
                 lambda tf: member(tf, "big.bin", b"z" * 100000),
                 fmt=tarfile.USTAR_FORMAT)
    with open(path, "r+b") as f:
        f.truncate(512 + 4096)

    # A gzip bomb: a few KiB that unpack to 32 MiB of zeros.
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        member(tf, "zeros.bin", bytes(32 << 20))
    with open(os.path.join(outdir, "bomb.tar.gz"), "wb") as f:
        f.write(gzip.compress(raw.getvalue(), 9))

    def many(tf):
        for i in range(100000):
            member(tf, "m/%06d" % i, b"")
    write(outdir, "many.tar.gz", many, fmt=tarfile.USTAR_FORMAT, gz=True)

    write(outdir, "longname.tar",
          lambda tf: (member(tf, "L" * 4100, b"long"),
                      member(tf, "d/" * 200 + "deep.txt", b"deep"),
                      member(tf, "after.txt", b"after")))
    write(outdir, "ctrl.tar",
          lambda tf: member(tf, "c\x01t\x1b[31m\nl.txt", b"ctrl"))
    with open(os.path.join(outdir, "notatar.bin"), "wb") as f:
        f.write(bytes(range(256)) * 64)


if __name__ == "__main__":
    main()
