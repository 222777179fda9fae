#!/usr/bin/env python3
"""Differential test of wheelfix's archive reading against two other readers.

Usage: zip-differential.py WHEELFIX [--seed N] [--random N] [--keep DIR]

Generates archives, hand-made hostile ones (every class of inconsistency
between local headers, data descriptors, the central directory and its end
records; hidden directories, prepended, trailing and unowned bytes, duplicate
names, overlapping entries, zip64 variants) and seeded random mutations of
valid wheels (byte flips, truncations, field edits, insertions), and reads
each one three ways:

- Python's zipfile (the central directory, as pip reads a wheel);
- a streaming walk of the local headers from the first byte, written here
  and sharing nothing with wheelfix (as streaming unzippers read);
- `wheelfix show --json`, whose verdict covers every entry: it opens the
  archive, verifies each entry's bytes against its RECORD row, and requires
  every row to name an entry.

Property: wheelfix refuses the archive (exit code 2, one `error:` line naming
the wheel, at most a `hint:` line after it, no panic), or zipfile and the
walk both read it, list the same entries with the same bytes, and those
bytes are what RECORD lists. Hand-made cases may also state what wheelfix
must do (accept the valid ones, refuse those the docs say it refuses).
Python 3 standard library only. Exit code 0 when every case holds, 1 otherwise.
"""

import argparse
import base64
import csv
import hashlib
import io
import os
import random
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

LOCAL, CENTRAL, END, END64, LOCATOR64, DESCRIPTOR = (
    0x04034B50, 0x02014B50, 0x06054B50, 0x06064B50, 0x07064B50, 0x08074B50)
MAX_READ = 64 << 20  # no reader here inflates more than this per entry
WHEEL_NAME = "demo-0.1-py3-none-any.whl"
DIST_INFO = "demo-0.1.dist-info"
WHEEL_TXT = b"Wheel-Version: 1.0\nGenerator: zip-differential\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


# ---------------------------------------------------------------- building

class Entry:
    """One entry to write. `local` and `central` override header fields
    (name, method, flags, crc, csize, usize, extra, comment, offset);
    `descriptor` is None, "signed", "unsigned" or "zip64"; `zip64` puts the
    sizes in a zip64 extra field behind 0xFFFFFFFF sentinels."""

    def __init__(self, name, data, method=8, descriptor=None, zip64=False, local=None, central=None,
                 desc=None, raw=None):
        self.name = name.encode() if isinstance(name, str) else name
        self.data = data
        self.method = method
        self.descriptor = descriptor
        self.zip64 = zip64
        self.local = dict(local or {})
        self.central = dict(central or {})
        self.desc = dict(desc or {})
        self.raw = raw  # compressed bytes to write instead of compressing data

    def compressed(self):
        if self.raw is not None:
            return self.raw
        if self.method == 0:
            return self.data
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return c.compress(self.data) + c.flush()


def zip64_extra(values):
    return struct.pack("<HH", 1, 8 * len(values)) + b"".join(struct.pack("<Q", v) for v in values)


def local_header(e, comp):
    crc = zlib.crc32(e.data) & 0xFFFFFFFF
    csize, usize = len(comp), len(e.data)
    flags = 0x08 if e.descriptor else 0
    extra = b""
    if e.zip64:
        extra = zip64_extra([usize, csize])
        csize = usize = 0xFFFFFFFF
    if e.descriptor:
        crc = 0
        if not e.zip64:
            csize = usize = 0
    f = dict(name=e.name, method=e.method, flags=flags, crc=crc, csize=csize, usize=usize, extra=extra,
             version=45 if e.zip64 else 20)
    f.update(e.local)
    return struct.pack("<IHHHHHIIIHH", LOCAL, f["version"], f["flags"], f["method"], 0, 0x21, f["crc"],
                       f["csize"], f["usize"], len(f["name"]), len(f["extra"])) + f["name"] + f["extra"]


def descriptor(e, comp):
    crc = zlib.crc32(e.data) & 0xFFFFFFFF
    d = dict(crc=crc, csize=len(comp), usize=len(e.data))
    d.update(e.desc)
    if e.descriptor == "zip64" or e.zip64:
        body = struct.pack("<IQQ", d["crc"], d["csize"], d["usize"])
    else:
        body = struct.pack("<III", d["crc"], d["csize"], d["usize"])
    return (b"" if e.descriptor == "unsigned" else struct.pack("<I", DESCRIPTOR)) + body


def central_record(e, comp, offset):
    crc = zlib.crc32(e.data) & 0xFFFFFFFF
    csize, usize = len(comp), len(e.data)
    flags = 0x08 if e.descriptor else 0
    extra = b""
    if e.zip64:
        extra = zip64_extra([usize, csize])
        csize = usize = 0xFFFFFFFF
    f = dict(name=e.name, method=e.method, flags=flags, crc=crc, csize=csize, usize=usize, extra=extra,
             comment=b"", offset=offset, version=45 if e.zip64 else 20)
    f.update(e.central)
    return struct.pack("<IHHHHHHIIIHHHHHII", CENTRAL, (3 << 8) | f["version"], f["version"], f["flags"],
                       f["method"], 0, 0x21, f["crc"], f["csize"], f["usize"], len(f["name"]),
                       len(f["extra"]), len(f["comment"]), 0, 0, (0o100644 << 16), f["offset"]) \
        + f["name"] + f["extra"] + f["comment"]


def build(entries, prepend=b"", gaps=None, trailing=b"", end=None, zip64_end=False, end64=None,
          shift_offsets=True, comment=b"", cd_override=None):
    """The archive bytes. `gaps` maps an entry index to bytes put after it;
    `end`/`end64` override end record fields (count, disk_count, size,
    offset); `shift_offsets` makes offsets count the prepended bytes."""
    gaps = gaps or {}
    out = bytearray(prepend)
    records = []
    for i, e in enumerate(entries):
        offset = len(out) if shift_offsets else len(out) - len(prepend)
        comp = e.compressed()
        out += local_header(e, comp)
        out += comp
        if e.descriptor:
            out += descriptor(e, comp)
        records.append(central_record(e, comp, offset))
        out += gaps.get(i, b"")
    cd_offset = len(out) if shift_offsets else len(out) - len(prepend)
    cd = b"".join(records) if cd_override is None else cd_override
    out += cd
    f = dict(count=len(entries), disk_count=len(entries), size=len(cd), offset=cd_offset)
    f.update(end or {})
    if zip64_end:
        g = dict(f)
        g.update(end64 or {})
        end64_at = len(out)
        out += struct.pack("<IQHHIIQQQQ", END64, 44, (3 << 8) | 45, 45, 0, 0, g["disk_count"], g["count"],
                           g["size"], g["offset"])
        out += struct.pack("<IIQI", LOCATOR64, 0, end64_at, 1)
        f = dict(count=0xFFFF, disk_count=0xFFFF, size=0xFFFFFFFF, offset=0xFFFFFFFF)
        f.update(end or {})
    out += struct.pack("<IHHHHIIH", END, 0, 0, f["disk_count"], f["count"], f["size"], f["offset"],
                       len(comment)) + comment
    out += trailing
    return bytes(out)


def record_row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def wheel_files():
    """(name, data) of a small pure wheel, RECORD last and correct."""
    blob = bytes(random.Random(7).randrange(256) for _ in range(3000))
    files = [
        ("demo/__init__.py", b"from .core import answer\n"),
        ("demo/core.py", b"def answer():\n    return 42\n" * 40),
        ("demo/data.bin", blob),
        ("demo/empty.txt", b""),
        (f"{DIST_INFO}/WHEEL", WHEEL_TXT),
    ]
    rows = "".join(record_row(n, d) for n, d in files) + f"{DIST_INFO}/RECORD,,\n"
    return files + [(f"{DIST_INFO}/RECORD", rows.encode())]


def entries(**kw):
    """Entries of the small wheel; keyword arguments apply to every entry."""
    return [Entry(n, d, method=0 if n.endswith(".bin") and not kw.get("method") else kw.get("method", 8),
                  **{k: v for k, v in kw.items() if k != "method"}) for n, d in wheel_files()]


# ---------------------------------------------------------------- readers

def decode_name(raw, flags):
    return raw.decode("utf-8") if flags & 0x800 else raw.decode("cp437")


def read_zipfile(path):
    """[(name, bytes)] as Python's zipfile reads them, or an error string."""
    try:
        with zipfile.ZipFile(path) as z:
            out = []
            for info in z.infolist():
                if info.file_size > MAX_READ:
                    return f"entry {info.filename!r} declares {info.file_size} bytes"
                with z.open(info) as f:
                    data = f.read(MAX_READ + 1)
                if len(data) > MAX_READ:
                    return f"entry {info.filename!r} inflates past the limit"
                out.append((info.filename, data))
            return out
    except Exception as e:  # every failure of the reader is its verdict
        return f"{type(e).__name__}: {e}"


def inflate_stream(buf, start):
    """Inflates raw deflate from buf[start:]; returns (data, end offset)."""
    d = zlib.decompressobj(-15)
    data = d.decompress(buf[start:], MAX_READ + 1)
    if len(data) > MAX_READ or not d.eof:
        raise ValueError("deflate stream does not end")
    return data, len(buf) - len(d.unused_data)


def zip64_sizes(extra):
    pos = 0
    while pos + 4 <= len(extra):
        hid, ln = struct.unpack_from("<HH", extra, pos)
        if hid == 1 and ln >= 16:
            return struct.unpack_from("<QQ", extra, pos + 4)
        pos += 4 + ln
    return None


def walk_local(buf):
    """[(name, bytes)] from a walk of the local headers from offset 0 up to
    the first central directory record, as a streaming unzipper reads, or
    an error string."""
    out = []
    pos = 0
    try:
        while True:
            if pos + 4 > len(buf):
                return "archive ends before the central directory"
            (sig,) = struct.unpack_from("<I", buf, pos)
            if sig == CENTRAL:
                return out
            if sig != LOCAL:
                return f"unknown signature {sig:#010x} at offset {pos}"
            (_, _, flags, method, _, _, crc, csize, usize, n, m) = struct.unpack_from("<IHHHHHIIIHH", buf, pos)
            name = buf[pos + 30:pos + 30 + n]
            extra = buf[pos + 30 + n:pos + 30 + n + m]
            if len(name) != n or len(extra) != m:
                return "truncated local header"
            start = pos + 30 + n + m
            wide = zip64_sizes(extra)
            if wide and (csize == 0xFFFFFFFF or usize == 0xFFFFFFFF):
                usize, csize = wide
            if method not in (0, 8):
                return f"method {method}"
            if flags & 1:
                return "encrypted"
            if flags & 0x08 and method == 8:
                data, end = inflate_stream(buf, start)
                csize_seen = end - start
            elif flags & 0x08 and csize == 0:
                # stored with a descriptor: the first descriptor whose sizes fit
                end = None
                for at in range(start, min(len(buf), start + MAX_READ) - 15):
                    if struct.unpack_from("<I", buf, at)[0] == DESCRIPTOR:
                        c, s = struct.unpack_from("<II", buf, at + 8)
                        if c == s == at - start:
                            end = at
                            break
                if end is None:
                    return "no data descriptor after stored data"
                data, csize_seen = buf[start:end], end - start
            else:
                end = start + csize
                if end > len(buf) or csize > MAX_READ:
                    return "data past the end"
                raw = buf[start:end]
                data = raw if method == 0 else inflate_stream(raw, 0)[0]
                csize_seen = csize
            if flags & 0x08:
                p = end
                if buf[p:p + 4] == struct.pack("<I", DESCRIPTOR):
                    p += 4
                if wide:
                    crc, csize, usize = struct.unpack_from("<IQQ", buf, p)
                    p += 20
                else:
                    crc, csize, usize = struct.unpack_from("<III", buf, p)
                    p += 12
                if csize != csize_seen:
                    return "data descriptor's compressed size disagrees with the data"
                end = p
            if len(data) != usize:
                return f"{name!r}: {len(data)} bytes, the header says {usize}"
            if zlib.crc32(data) & 0xFFFFFFFF != crc:
                return f"{name!r}: CRC mismatch"
            out.append((decode_name(name, flags), data))
            pos = end
    except (struct.error, ValueError, zlib.error, UnicodeDecodeError) as e:
        return f"{type(e).__name__}: {e}"


def record_view(files):
    """{name: (sha256, size)} from the RECORD among `files`, or an error."""
    rec = [d for n, d in files if n == f"{DIST_INFO}/RECORD"]
    if len(rec) != 1:
        return "no single RECORD"
    try:
        rows = list(csv.reader(io.StringIO(rec[0].decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as e:
        return f"RECORD: {e}"
    return {r[0]: tuple(r[1:3]) for r in rows if r}


def run_wheelfix(binary, path):
    try:
        p = subprocess.run([binary, "show", "--json", "--allow-pure-python-wheel", path],
                           capture_output=True, timeout=60, env=dict(os.environ, NO_COLOR="1"))
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def judge(binary, path, expect=None):
    """wheelfix's exit code, and None when the property holds for the
    archive at `path`, else why not."""
    code, _, err = run_wheelfix(binary, path)
    return code, check(code, err, path, expect)


def check(code, err, path, expect):
    """Why the property fails for wheelfix's verdict on `path`, or None."""
    lines = err.splitlines()
    if code == 2:
        if expect == "accept":
            return f"refused, expected accepted: {err.strip()}"
        if not (len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: "))):
            return f"refusal is not one line: {err!r}"
        if not lines[0].startswith("error: ") or path not in lines[0]:
            return f"refusal does not name the wheel: {lines[0]!r}"
        return None
    if code not in (0, 1) or "panicked" in err:
        return f"exit code {code}: {err.strip()}"
    if expect == "refuse":
        return "accepted, expected refused"
    with open(path, "rb") as f:
        buf = f.read()
    central, walked = read_zipfile(path), walk_local(buf)
    if isinstance(central, str):
        return f"wheelfix accepts, zipfile refuses: {central}"
    if isinstance(walked, str):
        return f"wheelfix accepts, the local-header walk refuses: {walked}"
    if sorted(central) != sorted(walked):
        return (f"zipfile and the walk disagree: {sorted(n for n, _ in central)} "
                f"vs {sorted(n for n, _ in walked)}")
    rows = record_view(central)
    if isinstance(rows, str):
        return f"wheelfix accepts: {rows}"
    files = {n: d for n, d in central if not n.endswith("/")}
    listed = {n for n in rows if not n.endswith("/RECORD")}
    if listed != {n for n in files if not n.endswith("/RECORD")}:
        return f"RECORD lists {sorted(listed)}, the archive holds {sorted(files)}"
    for n in listed:
        want = record_row(n, files[n]).strip().split(",", 1)[1]
        if ",".join(rows[n]) != want:
            return f"{n}: RECORD says {rows[n]}, the bytes give {want}"
    return None


# ---------------------------------------------------------------- cases

def same_len(name, old, new):
    assert len(old) == len(new)
    return name.replace(old, new)


def hostile_cases():
    """(label, bytes, expectation) for every class of disagreement."""
    c = [("valid", build(entries()), "accept")]
    c.append(("valid-stored", build(entries(method=0)), "accept"))
    c.append(("valid-zip64-extras", build(entries(zip64=True)), "accept"))
    c.append(("valid-zip64-end", build(entries(), zip64_end=True), "accept"))
    c.append(("valid-descriptors", build(entries(descriptor="signed", method=8)), "accept"))
    c.append(("valid-descriptors-unsigned", build(entries(descriptor="unsigned", method=8)), "accept"))
    # a stored entry whose size only its descriptor gives: a streaming
    # reader has to guess where its data ends
    c.append(("stored-descriptor-signed", build(entries(descriptor="signed")), "refuse"))
    c.append(("stored-descriptor-unsigned", build(entries(descriptor="unsigned")), "refuse"))
    c.append(("valid-archive-comment", build(entries(), comment=b"a comment"), "accept"))

    def edit(i, where, **fields):
        es = entries()
        getattr(es[i], where).update(fields)
        return es

    core = 1  # demo/core.py, deflated
    name = b"demo/core.py"
    c.append(("local-name", build(edit(core, "local", name=same_len(name, b"core", b"cORE"))), "refuse"))
    c.append(("central-name", build(edit(core, "central", name=same_len(name, b"core", b"evil"))), "refuse"))
    c.append(("local-method", build(edit(core, "local", method=0)), "refuse"))
    c.append(("central-method", build(edit(2, "central", method=8)), "refuse"))
    c.append(("local-flags", build(edit(core, "local", flags=0x800)), "refuse"))
    c.append(("central-flags", build(edit(core, "central", flags=0x800)), "refuse"))
    c.append(("local-crc", build(edit(core, "local", crc=1)), "refuse"))
    c.append(("central-crc", build(edit(core, "central", crc=1)), "refuse"))
    c.append(("local-csize", build(edit(core, "local", csize=3)), "refuse"))
    c.append(("central-csize", build(edit(core, "central", csize=3)), "refuse"))
    c.append(("local-usize", build(edit(core, "local", usize=5)), "refuse"))
    c.append(("central-usize", build(edit(core, "central", usize=5)), "refuse"))
    c.append(("central-version-needed", build(edit(core, "central", version=64)), "refuse"))
    c.append(("local-version-needed", build(edit(core, "local", version=64)), None))
    c.append(("entry-comment", build(edit(core, "central", comment=b"hi")), None))
    es = entries(descriptor="signed")
    es[core].desc.update(crc=1)
    c.append(("descriptor-crc", build(es), "refuse"))
    es = entries(descriptor="signed")
    es[core].desc.update(usize=7)
    c.append(("descriptor-size", build(es), "refuse"))
    es = entries(descriptor="signed")
    es[2].desc.update(csize=10)
    c.append(("descriptor-csize-stored", build(es), "refuse"))
    n = len(wheel_files())
    c.append(("eocd-count-low", build(entries(), end=dict(count=n - 1, disk_count=n - 1)), "refuse"))
    c.append(("eocd-count-high", build(entries(), end=dict(count=n + 1, disk_count=n + 1)), "refuse"))
    c.append(("eocd-disk-count", build(entries(), end=dict(disk_count=n - 1)), "refuse"))
    c.append(("eocd-size", build(entries(), end=dict(size=40)), "refuse"))
    c.append(("eocd64-count", build(entries(), zip64_end=True, end64=dict(count=n - 1, disk_count=n - 1)),
              "refuse"))
    # a directory hidden in the data of a stored entry, listing the other
    # entries; the end record points at it rather than at the real one
    files = wheel_files()
    es = [Entry(nm, d) for nm, d in files]
    body, recs = bytearray(), []
    for e in es:
        comp = e.compressed()
        recs.append(central_record(e, comp, len(body)))
        body += local_header(e, comp) + comp
    fake_cd = b"".join(recs)
    h = Entry("demo/hidden.bin", fake_cd, method=0)
    h_off = len(body)
    body += local_header(h, fake_cd)
    fake_at = len(body)
    body += fake_cd
    real_cd = fake_cd + central_record(h, fake_cd, h_off)
    cd_end = len(body) + len(real_cd)
    k = len(files)
    for label, size in [("cd-inside-entry", len(fake_cd)), ("cd-inside-entry-spanning", cd_end - fake_at)]:
        end = struct.pack("<IHHHHIIH", END, 0, 0, k, k, size, fake_at, 0)
        c.append((label, bytes(body) + real_cd + end, "refuse"))
    c.append(("prepended", build(entries(), prepend=b"#!/usr/bin/env python3\n"), "refuse"))
    c.append(("prepended-unshifted", build(entries(), prepend=b"MZ" + bytes(62), shift_offsets=False), "refuse"))
    c.append(("trailing", build(entries(), trailing=b"trailing bytes"), "refuse"))
    c.append(("trailing-local", build(entries(), trailing=local_header(Entry("x", b""), b"")), "refuse"))
    c.append(("gap", build(entries(), gaps={1: b"\0" * 16}), "refuse"))
    c.append(("gap-before-cd", build(entries(), gaps={len(files) - 1: b"junk"}), "refuse"))
    es = entries()
    es[1].name = es[0].name = b"demo/__init__.py"
    es[1].data = es[0].data
    c.append(("duplicate", build(es), "refuse"))
    # overlapping: entry B's header lies inside stored entry A's data
    b_entry = Entry("demo/b.py", b"print('b')\n", method=0)
    b_bytes = local_header(b_entry, b_entry.data) + b_entry.data
    es = entries()
    es.insert(0, Entry("demo/a.bin", b"AAAA" + b_bytes + b"ZZZZ", method=0))
    raw = build(es)
    b_at = raw.index(b_bytes)
    extra_rec = central_record(b_entry, b_entry.data, b_at)
    cd_at = raw.index(struct.pack("<I", CENTRAL))
    end_at = raw.rindex(struct.pack("<I", END))
    cd = raw[cd_at:end_at] + extra_rec
    k = len(es) + 1
    overlap = raw[:cd_at] + cd + struct.pack("<IHHHHIIH", END, 0, 0, k, k, len(cd), cd_at, 0)
    c.append(("overlapping", overlap, "refuse"))
    # the same header read twice: two central records for one local header
    es = entries()
    raw = build(es)
    cd_at = raw.index(struct.pack("<I", CENTRAL))
    end_at = raw.rindex(struct.pack("<I", END))
    first = central_record(es[0], es[0].compressed(), 0)
    cd = raw[cd_at:end_at] + first
    k = len(es) + 1
    twice = raw[:cd_at] + cd + struct.pack("<IHHHHIIH", END, 0, 0, k, k, len(cd), cd_at, 0)
    c.append(("one-header-twice", twice, "refuse"))
    # zip64 variants
    es = entries(zip64=True)
    es[core].central["extra"] = zip64_extra([len(es[core].data), len(es[core].compressed())]) * 2
    c.append(("zip64-two-fields-agree", build(es), None))
    es = entries(zip64=True)
    es[core].central["extra"] = zip64_extra([len(es[core].data), len(es[core].compressed())]) + zip64_extra([1, 2])
    c.append(("zip64-two-fields-disagree", build(es), "refuse"))
    es = entries(zip64=True)
    es[core].central["extra"] = zip64_extra([len(es[core].data)])
    c.append(("zip64-field-short", build(es), "refuse"))
    es = entries(zip64=True)
    es[core].local["extra"] = zip64_extra([len(es[core].data) + 1, len(es[core].compressed())])
    c.append(("zip64-local-size", build(es), "refuse"))
    es = entries(zip64=True)
    es[core].central["extra"] = b""
    c.append(("zip64-sentinel-no-field", build(es), "refuse"))
    c.append(("zip64-end-offset", build(entries(), zip64_end=True, end64=dict(offset=3)), "refuse"))
    c.append(("zip64-end-and-32-bit-disagree",
              build(entries(), zip64_end=True, end=dict(count=3, disk_count=3)), "refuse"))
    # a data descriptor hidden in an entry's data, then a local header: a
    # streaming reader stops at the first one and reads a file the
    # directory never lists
    evil = Entry("demo/evil.py", b"import os\n", method=0)
    hidden = local_header(evil, evil.data) + evil.data
    for label, method in [("descriptor-smuggled-stored", 0), ("descriptor-smuggled-deflated", 8)]:
        es = entries(descriptor="signed")
        e = es[core]
        head = e.data if method == 0 else zlib.compress(e.data, 6)[2:-4]
        fake = struct.pack("<IIII", DESCRIPTOR, zlib.crc32(e.data), len(head), len(e.data))
        e.method, e.raw = method, head + fake + hidden
        if method == 0:
            e.data = e.raw
            e.desc.update(crc=zlib.crc32(e.data))
        e.desc.update(csize=len(e.raw))
        e.central.update(csize=len(e.raw), crc=zlib.crc32(e.data), usize=len(e.data))
        rows = "".join(record_row(x.name.decode(), x.data) for x in es[:-1]) + f"{DIST_INFO}/RECORD,,\n"
        es[-1].data = rows.encode()
        c.append((label, build(es), "refuse"))
    # installability
    es = entries()
    es.insert(0, Entry("demo/core.py/x.py", b"x = 1\n"))
    c.append(("file-and-directory", build(es), "refuse"))
    return c


def mutate(rng, buf):
    """One seeded mutation of a valid archive."""
    b = bytearray(buf)
    kind = rng.randrange(6)
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return "flip", bytes(b)
    if kind == 1:  # truncate
        return "truncate", bytes(b[:rng.randrange(len(b))])
    if kind == 2:  # a header field set to a nearby or boundary value
        sigs = [i for i in range(len(b) - 4) if b[i:i + 2] == b"PK" and b[i + 2] in (1, 3, 5, 6, 7)]
        at = rng.choice(sigs) + rng.choice([4, 6, 8, 10, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 42])
        width = rng.choice([2, 4])
        if at + width > len(b):
            return "field", bytes(b)
        old = int.from_bytes(b[at:at + width], "little")
        new = rng.choice([0, 1, old + 1, max(old - 1, 0), old ^ 0x800, (1 << (8 * width)) - 1, old * 2])
        b[at:at + width] = (new % (1 << (8 * width))).to_bytes(width, "little")
        return "field", bytes(b)
    if kind == 3:  # insert bytes
        at = rng.randrange(len(b))
        b[at:at] = rng.choice([b"\0", b"PK\x03\x04", b"PK\x01\x02", bytes(rng.randrange(256) for _ in range(8))])
        return "insert", bytes(b)
    if kind == 4:  # delete bytes
        at = rng.randrange(len(b))
        del b[at:at + rng.randint(1, 8)]
        return "delete", bytes(b)
    # copy a stretch over another place
    a, z = sorted(rng.randrange(len(b)) for _ in range(2))
    at = rng.randrange(len(b))
    piece = b[a:z][:64]
    b[at:at + len(piece)] = piece
    return "copy", bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheelfix")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--random", type=int, default=500)
    ap.add_argument("--keep", help="write every case into this directory")
    args = ap.parse_args()
    binary = os.path.abspath(args.wheelfix)
    rng = random.Random(args.seed)
    bases = [build(entries()), build(entries(method=0)), build(entries(descriptor="signed", method=8)),
             build(entries(descriptor="unsigned", method=8)), build(entries(zip64=True), zip64_end=True)]
    cases = [(label, data, expect) for label, data, expect in hostile_cases()]
    for i in range(args.random):
        kind, data = mutate(rng, rng.choice(bases))
        cases.append((f"random-{i}-{kind}", data, None))
    failures, verdicts = [], {"accepted": 0, "refused": 0}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        for label, data, expect in cases:
            d = os.path.join(root, label)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, WHEEL_NAME)
            with open(path, "wb") as f:
                f.write(data)
            code, why = judge(binary, path, expect)
            if why:
                failures.append(f"{label}: {why}")
            verdicts["refused" if code == 2 else "accepted"] += 1
    print(f"{len(cases)} archives (seed {args.seed}): {verdicts['accepted']} read alike by every reader, "
          f"{verdicts['refused']} refused by wheelfix; {len(failures)} failures")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
