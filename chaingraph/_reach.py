"""The compiled kernel of :func:`chaingraph.flow.reach` on the in-memory view.

A time-respecting breadth-first search over the money CSR of
:class:`~chaingraph.view.MemoryView` (rows grouped by sending node, time-ordered),
compiled by numba. Imported by ``flow.reach`` on first use, so ``import
chaingraph`` does not load numba; the machine code is cached on disk
(``cache=True``), so only the first call on a machine compiles (seconds).

Per hop, the windows to follow are in node order: a window whose node has no
row in the window's time buckets (a 64-bit mask per node, kept next to its
row range) is passed over without touching its rows (about half the windows
of the last hops at 10M transfers); otherwise its rows are found by a binary
search in its node's rows (a short scan for nodes with few rows), the rows not
followed before are followed, and their arrivals are sorted by receiving node
(LSD radix sort) and then by time within a node, which gives the next hop's
windows in node order again and the nodes first reached at this hop in code
order. The last hop opens no windows: its arrivals are sorted by receiver the
same way and only the receivers not reached before are kept, with their
earliest arrival. Memory is touched in ascending order as far as possible, a
row's time, receiver and visit mark share one array (one or two cache lines
per window), the next windows' nodes and rows are prefetched, and the per-node
arrays sit on 2 MB pages, because a reach of 100k accounts is bound by memory
latency more than by arithmetic.

One thread: on this 2-core machine under a load average of 3.5-5, following
each hop's windows in two numba threads (``prange``, same answers) was no
faster in wall time (workqueue layer, or OpenMP with passive waiting) and
with OpenMP's default spinning about 4x slower.
"""

from __future__ import annotations

import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic



@intrinsic
def _prefetch(typingctx, ary, idx):
    """Hint the CPU to load ``ary[idx]`` into cache (``llvm.prefetch``; no effect on results)."""
    sig = types.void(ary, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        arr = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer2(context, builder, data=arr.data,
                                        shape=cgutils.unpack_tuple(builder, arr.shape),
                                        strides=cgutils.unpack_tuple(builder, arr.strides),
                                        layout=aryty.layout, inds=[args[1]], wraparound=False,
                                        boundscheck=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # read, keep in all cache levels, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _radix_sort(su, st, du, dt, n, passes, digit, hist, carry):
    """Stable LSD radix sort of the first n node codes su (with their times st when carry),
    ping-ponging with the buffers du, dt; returns the two arrays holding the sorted run."""
    nb = 1 << digit
    for p in range(passes):
        shift = p * digit
        for d in range(nb + 1):
            hist[d] = 0
        for i in range(n):
            hist[((su[i] >> shift) & (nb - 1)) + 1] += 1
        for d in range(nb):
            hist[d + 1] += hist[d]
        for i in range(n):
            d = (su[i] >> shift) & (nb - 1)
            j = hist[d]
            du[j] = su[i]
            if carry:
                dt[j] = st[i]
            hist[d] = j + 1
        su, st, du, dt = du, dt, su, st
    return su, st


@njit(cache=True, nogil=True, inline="always")
def _window_bits(lo, hi, t0, shift, tcut):
    """The time buckets (see :func:`_bucket_masks`) that a window ``lo``..``hi`` overlaps, as
    bits; all bits for a window unbounded on both sides (it also follows rows without a time)."""
    nat = -9223372036854775808
    big = 9223372036854775807
    if lo == nat and hi == big:
        return -1
    if hi < t0:
        return 0
    bl = 0 if lo < t0 else (63 if lo >= tcut else (lo - t0) >> shift)
    bh = 63 if hi >= tcut else (hi - t0) >> shift
    upper = -1 if bh == 63 else (1 << (bh + 1)) - 1
    return (-1 << bl) & upper


@njit(cache=True, nogil=True)
def reach_bfs(node, rows, t0, shift, tcut, seeds, lo0, hi0, w, hops, mark, seen, stamp,
              au, at, bu, bt, wn, wlo, whi, out, out_hop, out_first, hist):
    """Time-respecting reach from ``seeds`` over a money CSR; see :func:`chaingraph.flow.reach`.

    Node ``v``'s rows are ``s:e`` with ``node[2v + 1] = s | e << 32``, and
    ``node[2v]`` has bit ``b`` set if one of them has a time in bucket ``b``
    (``t0 + b << shift`` up to the next; ``tcut`` is where bucket 63 starts;
    see :func:`_bucket_masks`). They are in time order: row
    ``r`` is ``rows[2r]`` (its time, int64 ns, NaT first) and ``rows[2r + 1]``
    (``mark << 32 | receiver``: the row is followed in this call if its upper
    half equals ``mark``; see :class:`Scratch`). The seeds'
    window is ``lo0``..``hi0`` (NaT: unbounded below, int64 max: unbounded
    above; rows without a time are followed only from a window unbounded on
    both sides). Each hop follows, in every window of a node, the rows not
    followed before whose time is within it; an arrival at ``t`` opens
    ``t``..``t + w`` at its receiver for the next hop, and an arrival less
    than a second (counted in whole seconds from the hop's earliest arrival)
    after the previous window of that node closes extends it. An arrival
    without a time reaches its node but opens no window.

    ``seen`` (per node) marks the nodes reached: an entry is marked if it
    equals ``stamp``, so nothing is reset afterwards (the caller gives a new
    stamp per call and clears ``seen`` before reusing one; likewise a new
    ``mark`` per call). ``au`` .. ``whi`` are work buffers of at least as many
    entries as rows, ``out``, ``out_hop`` and ``out_first`` of one more than
    the nodes, ``hist`` of 4097.

    The last hop opens no windows: its rows are followed without marks, its
    arrivals sorted by receiver, and only the receivers not reached before
    are kept, with their earliest arrival.

    Returns the number ``k`` of nodes reached: ``out[:k]`` their codes,
    ``out_hop[:k]`` the hop that first reached them and ``out_first[:k]`` their
    earliest arrival at that hop (NaT for seeds), ordered by hop, then code
    (seeds first, with hop 0).
    """
    nat = -9223372036854775808
    big = 9223372036854775807
    sec = 1_000_000_000
    n_nodes = len(node) >> 1
    bits = 1
    while (1 << bits) < n_nodes:
        bits += 1
    passes = (bits + 10) // 11          # radix digits of at most 11 bits
    digit = (bits + passes - 1) // passes
    n_out = 0
    nw = 0
    for v in seeds:
        seen[v] = stamp
        out[n_out] = v
        out_hop[n_out] = 0
        out_first[n_out] = nat
        n_out += 1
        wn[nw] = v
        wlo[nw] = lo0
        whi[nw] = hi0
        nw += 1
    for h in range(1, hops + 1):
        # follow the rows of each window: arrivals (receiver, time); at the last hop only
        # the receivers first reached and their earliest arrival are needed (no windows)
        final = h == hops
        na = 0
        tmin = big
        for k in range(nw):
            if k + 16 < nw:
                _prefetch(node, 2 * wn[k + 16])
            if k + 8 < nw:   # the rows of a window ahead: all of them (16 at most), or search probes
                va = wn[k + 8]
                if node[2 * va] & _window_bits(wlo[k + 8], whi[k + 8], t0, shift, tcut) != 0:
                    se = node[2 * va + 1]
                    a0 = 2 * (se & 0xFFFFFFFF)
                    a1 = 2 * (se >> 32)
                    if a1 - a0 <= 32:
                        for q in range(a0, a1, 8):
                            _prefetch(rows, q)
                        _prefetch(rows, a1 - 1)
                    else:
                        q = (a1 - a0) >> 2
                        _prefetch(rows, a0)
                        _prefetch(rows, a0 + 2 * q)
                        _prefetch(rows, a0 + q)
                        _prefetch(rows, a0 + 3 * q)
            v, lo, hi = wn[k], wlo[k], whi[k]
            if node[2 * v] & _window_bits(lo, hi, t0, shift, tcut) == 0:
                continue    # no row of v in the window's time buckets
            se = node[2 * v + 1]
            s, e = se & 0xFFFFFFFF, se >> 32
            unbounded = lo == nat and hi == big
            n = e - s
            if n > 8:   # first row at or after lo (branch-free halving)
                while n > 1:
                    half = n >> 1
                    s = s + half if rows[2 * (s + half - 1)] < lo else s
                    n -= half
                s = s + 1 if rows[2 * s] < lo else s
            for r in range(s, e):
                tr = rows[2 * r]
                if tr > hi:
                    break
                x = rows[2 * r + 1]
                if tr < lo or (tr == nat and not unbounded) or (x >> 32) == mark:
                    continue
                if not final:   # no later hop reads the mark
                    rows[2 * r + 1] = (mark << 32) | (x & 0xFFFFFFFF)
                au[na] = x & 0xFFFFFFFF
                at[na] = tr
                na += 1
                if tr != nat and tr < tmin:
                    tmin = tr
        if final:   # the receivers first reached, in code order, with their earliest arrival
            su, st = _radix_sort(au, at, bu, bt, na, passes, digit, hist, True)
            a = 0
            while a < na:
                u = su[a]
                if a + 16 < na:
                    _prefetch(seen, su[a + 16])
                tr = st[a]
                b = a + 1
                while b < na and su[b] == u:
                    if st[b] < tr:
                        tr = st[b]
                    b += 1
                if seen[u] != stamp:
                    out[n_out] = u
                    out_hop[n_out] = h
                    out_first[n_out] = tr
                    n_out += 1
                a = b
            break
        if na == 0:
            break
        # arrivals by receiver (stable LSD radix sort on the node code)
        su, st = _radix_sort(au, at, bu, bt, na, passes, digit, hist, True)
        # per receiver: arrival times sorted, first reached, next windows
        nw = 0
        a = 0
        while a < na:
            u = su[a]
            if a + 16 < na:
                _prefetch(seen, su[a + 16])
            b = a + 1
            while b < na and su[b] == u:
                b += 1
            if b - a > 24:
                st[a:b].sort()
            else:   # most receivers have one or two arrivals
                for i in range(a + 1, b):
                    x = st[i]
                    j = i - 1
                    while j >= a and st[j] > x:
                        st[j + 1] = st[j]
                        j -= 1
                    st[j + 1] = x
            if seen[u] != stamp:
                seen[u] = stamp
                out[n_out] = u
                out_hop[n_out] = h
                out_first[n_out] = st[a]
                n_out += 1
            i = a
            while i < b and st[i] == nat:
                i += 1
            while i < b:
                lo = st[i]
                last = lo
                j = i + 1
                while j < b and (st[j] - tmin) // sec <= (last + w - tmin) // sec + 1:
                    last = st[j]
                    j += 1
                wn[nw] = u
                wlo[nw] = lo
                whi[nw] = last + w
                nw += 1
                i = j
            a = b
    return n_out


@njit(cache=True, nogil=True)
def _bucket_masks(start, t, t0, shift):
    """Per node: bit ``b`` set if one of its rows has a time in bucket ``b``, that is
    ``t0 + b << shift`` up to ``t0 + (b + 1) << shift`` (rows without a time: no bit)."""
    nat = -9223372036854775808
    out = np.zeros(len(start) - 1, np.int64)
    for v in range(len(start) - 1):
        m = 0
        for r in range(start[v], start[v + 1]):
            if t[r] != nat:
                m |= 1 << ((t[r] - t0) >> shift)
        out[v] = m
    return out


def _huge_empty(n: int, dtype) -> np.ndarray:
    """An uninitialised array aligned to 2 MB, in an allocation of at least 4 MB: numpy
    advises Linux to back those with 2 MB pages (fewer TLB misses)."""
    dtype = np.dtype(dtype)
    nbytes = n * dtype.itemsize
    raw = np.empty(max(nbytes, 1 << 22) + (1 << 21), np.uint8)
    off = -raw.ctypes.data % (1 << 21)
    return raw[off:off + nbytes].view(dtype)


class Scratch:
    """Visit stamps and work buffers of :func:`reach_bfs` for one money index, reused.

    Also holds the index as the kernel reads it: per node its row range and
    time-bucket mask side by side (``node``; the data's time span in 64
    buckets), and each row's time, receiver and visit mark side by side in
    one int64 array (a window's rows in one or two cache lines instead of one
    per column; fresh numpy arrays, which Linux can back with huge pages:
    fewer TLB misses). The work buffers have an entry per row (or node, if
    more) but are only allocated, not written: memory is committed as far as
    a query reaches.
    """

    def __init__(self, start: np.ndarray, t: np.ndarray, other: np.ndarray):
        self.source = (start, t, other)
        n_rows, n_nodes = len(other), len(start) - 1
        if n_nodes >= 2**31 or n_rows >= 2**31:
            raise ValueError("the compiled reach takes fewer than 2**31 nodes and rows")
        start = np.asarray(start, np.int64)
        t = np.asarray(t, np.int64)
        timed = t[t != np.iinfo(np.int64).min]
        self.t0 = int(timed.min()) if len(timed) else 0
        span = int(timed.max()) - self.t0 if len(timed) else 0
        self.shift = 0
        while (span >> self.shift) >= 64:
            self.shift += 1
        self.tcut = min(self.t0 + (63 << self.shift), 2**63 - 1)   # where the last bucket starts
        self.node = _huge_empty(2 * n_nodes, np.int64)
        self.node[0::2] = _bucket_masks(start, t, self.t0, self.shift)
        self.node[1::2] = start[:-1] | (start[1:] << 32)
        self.rows = np.empty(2 * n_rows, np.int64)
        self.rows[0::2] = t
        self.rows[1::2] = other
        self.mark = 0
        self.seen = _huge_empty(n_nodes, np.uint8)
        self.seen[:] = 0
        size = max(n_rows, n_nodes, 1)
        # au, at, bu, bt, wn, wlo, whi: node codes int32, times int64
        self.buffers = tuple(np.empty(size, np.int32 if k in (0, 2, 4) else np.int64) for k in range(7))
        self.out = np.empty(n_nodes + 1, np.int64)
        self.out_hop = np.empty(n_nodes + 1, np.int64)
        self.out_first = np.empty(n_nodes + 1, np.int64)
        self.hist = np.empty(4097, np.int64)
        self.stamp = 0
        self.lock = threading.Lock()

    def next_stamp(self) -> np.uint8:
        """A stamp for a call (``seen``)."""
        self.stamp = self.stamp + 1 if self.stamp < 255 else 1
        if self.stamp == 1:     # stamps wrapped: forget every mark
            self.seen[:] = 0
        return np.uint8(self.stamp)

    def next_mark(self) -> np.int64:
        """A row mark for a call (upper half of ``rows[2r + 1]``)."""
        self.mark += 1
        if self.mark == 2**31:  # marks wrapped: forget them (after 2**31 calls)
            self.rows[1::2] &= 0xFFFFFFFF
            self.mark = 1
        return np.int64(self.mark)


def run(seeds, lo0: int, hi0: int, w: int, hops: int, scratch: Scratch):
    """Codes, hops and first arrivals of the nodes reached (see :func:`reach_bfs`) over the
    money index ``scratch`` was made from."""
    with scratch.lock:
        k = reach_bfs(scratch.node, scratch.rows, np.int64(scratch.t0), np.int64(scratch.shift),
                      np.int64(scratch.tcut), np.asarray(seeds, np.int64), np.int64(lo0), np.int64(hi0),
                      np.int64(w), np.int64(hops), scratch.next_mark(), scratch.seen, scratch.next_stamp(),
                      *scratch.buffers, scratch.out, scratch.out_hop, scratch.out_first, scratch.hist)
        return scratch.out[:k].copy(), scratch.out_hop[:k].copy(), scratch.out_first[:k].copy()
