"""The compiled kernel of :func:`chaingraph.flow.reach` on the in-memory view.

A time-respecting breadth-first search over the money CSR of
:class:`~chaingraph.view.MemoryView` (rows grouped by sending node, time-ordered),
compiled by numba. Imported by ``flow.reach`` on first use, so ``import
chaingraph`` does not load numba; the machine code is cached on disk
(``cache=True``), so only the first call on a machine compiles (seconds).

Per hop, the windows to follow are in node order; the rows of each window not
followed before are followed, and their arrivals are sorted by receiving node
(LSD radix sort of ``receiver << 32 | arrival`` keys, their times gathered
after) and then by time within a node, which gives the next hop's windows in
node order again and the nodes first reached at this hop in code order. The
last hop opens no windows: its arrivals at nodes reached before are dropped
as they are made (the nodes reached are a bitset small enough for the L2
cache), the rest sorted by receiver (with their times), and each receiver kept
once, with its earliest arrival.

A window opened by an arrival starts at its node's first row at or after the
arrival, which is the same for every search: each row keeps it (its
*continuation*, computed once with the scratch), and so does the arrival, so
such a window is found without a binary search in its node's rows (a chain
of cache misses in busy nodes), and a window whose first row is after its end
(about half of those of the last hop at 10M transfers) is not made at all (the
continuation also holds that row's time bucket). Only the seeds' windows are
searched for. Where a branch would go either way about as often (a node first
reached or not, a window made or not), the write is done anyway and only the
count moves. Memory is touched in ascending order as far
as possible, a row's time, receiver and visit mark share one array (one or two
cache lines per window), the next windows' rows are prefetched, and the
index and per-node arrays sit on 2 MB pages, because a reach of 100k accounts is bound
by memory latency more than by arithmetic.

One thread. On the 2-core development machine the second vCPU adds about 30%
throughput: a two-thread OpenMP version (windows and radix sort split once a hop
is large, same answers) took the median 10M-transfer search from 11.3 to
9.85-10.3 ms on a quiet machine, but was 4-11% slower at 1M transfers and
12-14% slower at 10M when the other core was busy. Also measured on the saved
10M benchmark index, same process, alternating, and not kept: rows packed into
8 bytes (time in whole seconds, marks in a bitset), 8% slower; node codes
renumbered by in-degree, no change; 8-bit radix digits, 11% slower;
prefetching 16 windows ahead instead of 8, 2% slower; the times and
continuations gathered inside the last radix pass instead of after it, 11%
slower; the per-receiver pass as one branch-free stream over the arrivals, 8%
slower; both radix histograms from one read, no change; arrivals that can change
nothing (node reached, no row of it from 2 s before to 2 s after the window,
a per-row flag) dropped before sorting, 10% slower. (The last hop dropping
arrivals at nodes already reached was 2% slower with a byte per node and an
``if``; with the bitset and no branch it is part of a 13-15% gain.)
"""

from __future__ import annotations

import mmap
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
def _radix_sort(su, st, du, dt, n, passes, digit, shift0, hist, carry):
    """Stable LSD radix sort of the first n keys su by their bits from shift0 on (with their
    times st when carry), ping-ponging with the buffers du, dt; returns the two arrays
    holding the sorted run."""
    nb = 1 << digit
    for p in range(passes):
        shift = shift0 + p * digit
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
def _insertion_sort(x, a, b):
    for i in range(a + 1, b):
        v = x[i]
        j = i - 1
        while j >= a and x[j] > v:
            x[j + 1] = x[j]
            j -= 1
        x[j + 1] = v


@njit(cache=True, nogil=True, inline="always")
def _is_reached(seen, u):
    """1 if node ``u``'s bit is set in the bitset ``seen``, else 0."""
    return np.int64((seen[u >> 6] >> np.uint64(u & 63)) & np.uint64(1))


@njit(cache=True, nogil=True, inline="always")
def _reach_first(seen, u):
    """Set node ``u``'s bit in ``seen``; 1 if it was not set before (first reached), else 0."""
    word = seen[u >> 6]
    bit = np.uint64(1) << np.uint64(u & 63)
    seen[u >> 6] = word | bit
    return np.int64((word & bit) == 0)


@njit(cache=True, nogil=True, inline="always")
def _follow(r, x, tr, na, final, mark, low, rows, cont, ac, ak, au, at, seen):
    """Follow row ``r`` (packed receiver ``x``, time ``tr``): record arrival ``na``
    and return the next arrival's number. Before the last hop the row is marked
    followed and the arrival keeps its continuation and a receiver/number sort key.
    At the last hop (no later hop reads the mark) only the receiver is kept, and
    only if it was not reached before (written anyway and not counted: no branch)."""
    at[na] = tr
    if not final:
        rows[2 * r + 1] = (mark << 32) | (x & low)
        ac[na] = cont[r]
        ak[na] = ((x & low) << 32) | na
        return na + 1
    au[na] = x & low
    return na + 1 - _is_reached(seen, x & low)


@njit(cache=True, nogil=True)
def reach_bfs(start, rows, cont, t0, cshift, seeds, lo0, hi0, w, hops, mark, seen,
              au, at, ac, ak, bu, bt, bc, bk, wn, wlo, whi, wse, out, out_hop, out_first, hist):
    """Time-respecting reach from ``seeds`` over a money CSR; see :func:`chaingraph.flow.reach`.

    ``start[v]:start[v + 1]`` are the rows of node ``v`` in time order: row
    ``r`` is ``rows[2r]`` (its time, int64 ns, NaT first) and ``rows[2r + 1]``
    (``mark << 32 | receiver``: the row is followed in this call if its upper
    half equals ``mark``; see :class:`Scratch`), and ``cont[r]`` its
    continuation (see :func:`_continuations`, made with ``t0`` and ``cshift``).
    The seeds' window is ``lo0``..``hi0`` (NaT: unbounded below, int64 max:
    unbounded above; rows without a time are followed only from a window
    unbounded on both sides). Each hop follows, in every window of a node, the
    rows not followed before whose time is within it; an arrival at ``t`` opens
    ``t``..``t + w`` at its receiver for the next hop, and an arrival less than
    a second (counted in whole seconds from the hop's earliest arrival) after
    the previous window of that node closes extends it. An arrival without a
    time reaches its node but opens no window.

    ``seen`` is a bitset of the nodes reached (a bit per node: 128 KB for a
    million nodes, so it stays in the L2 cache), all clear on entry and cleared
    again before returning; the caller gives a new ``mark`` per call.
    ``au`` .. ``wse`` are work buffers of at least as many
    entries as rows (and seeds), ``out``, ``out_hop`` and ``out_first`` of one
    more than the nodes, ``hist`` of 4097.

    The last hop opens no windows: its rows are followed without marks, the
    arrivals at nodes reached before dropped as they are made, and the rest
    sorted by receiver, each kept once with its earliest arrival.

    Returns the number ``k`` of nodes reached: ``out[:k]`` their codes (int32),
    ``out_hop[:k]`` the hop that first reached them and ``out_first[:k]`` their
    earliest arrival at that hop (NaT for seeds), ordered by hop, then code
    (seeds first, with hop 0).
    """
    nat = -9223372036854775808
    big = 9223372036854775807
    sec = 1_000_000_000
    low = 0xFFFFFFFF
    n_nodes = len(start) - 1
    bits = 1
    while (1 << bits) < n_nodes:
        bits += 1
    passes = (bits + 10) // 11          # radix digits of at most 11 bits
    digit = (bits + passes - 1) // passes
    n_out = 0
    nw = 0
    for v in seeds:
        _reach_first(seen, v)
        out[n_out] = v
        out_hop[n_out] = 0
        out_first[n_out] = nat
        n_out += 1
        wn[nw] = v
        wlo[nw] = lo0
        whi[nw] = hi0
        nw += 1
    for h in range(1, hops + 1):
        # follow the rows of each window: arrivals (receiver, time, continuation); at the
        # last hop only the receivers first reached and their earliest arrival are needed
        final = h == hops
        na = 0
        tmin = big
        if h == 1:   # the seeds' windows: their first rows searched for
            for k in range(nw):
                v, lo, hi = wn[k], wlo[k], whi[k]
                s, e = start[v], start[v + 1]
                unbounded = lo == nat and hi == big
                n = e - s
                while n > 0:   # first row at or after lo
                    half = n >> 1
                    if rows[2 * (s + half)] < lo:
                        s += half + 1
                        n -= half + 1
                    else:
                        n = half
                for r in range(s, e):
                    tr = rows[2 * r]
                    if tr > hi:
                        break
                    x = rows[2 * r + 1]
                    if (tr == nat and not unbounded) or (x >> 32) == mark:
                        continue
                    na = _follow(r, x, tr, na, final, mark, low, rows, cont, ac, ak, au, at, seen)
                    if tr != nat and tr < tmin:
                        tmin = tr
        else:   # windows opened by arrivals: their first row is known (wse, a continuation)
            for k in range(nw):
                if k + 8 < nw:
                    c = wse[k + 8]
                    _prefetch(rows, 2 * (c & low))
                    _prefetch(rows, 2 * (c & low) + 7)
                    if not final:
                        _prefetch(cont, c & low)
                c, hi = wse[k], whi[k]
                s = c & low
                e = s + 0xFFFF - ((c >> 32) & 0xFFFF)
                if e - s == 0xFFFF:   # many rows left: up to the node's end
                    e = start[wn[k] + 1]
                for r in range(s, e):   # times from the window's start on, none NaT
                    tr = rows[2 * r]
                    if tr > hi:
                        break
                    x = rows[2 * r + 1]
                    if (x >> 32) == mark:
                        continue
                    na = _follow(r, x, tr, na, final, mark, low, rows, cont, ac, ak, au, at, seen)
                    if tr < tmin:
                        tmin = tr
        if final:   # the receivers first reached, in code order, with their earliest arrival
            su, st = _radix_sort(au, at, bu, bt, na, passes, digit, 0, hist, True)
            a = 0
            while a < na:
                u = su[a]
                tr = st[a]
                b = a + 1
                while b < na and su[b] == u:
                    if st[b] < tr:
                        tr = st[b]
                    b += 1
                out[n_out] = u
                out_hop[n_out] = h
                out_first[n_out] = tr
                n_out += 1
                a = b
            break
        if na == 0:
            break
        # arrivals by receiver: their keys (receiver << 32 | arrival) radix-sorted, then their
        # times and continuations gathered in that order (one 8-byte stream sorted, not three)
        sk, _ = _radix_sort(ak, at, bk, bt, na, passes, digit, 32, hist, False)
        st, sc = bt, bc
        for i in range(na):
            if i + 16 < na:
                _prefetch(at, sk[i + 16] & low)
                _prefetch(ac, sk[i + 16] & low)
            q = sk[i] & low
            st[i] = at[q]
            sc[i] = ac[q]
        # per receiver: first reached, next windows
        nw = 0
        a = 0
        while a < na:
            u = sk[a] >> 32
            b = a + 1
            while b < na and (sk[b] >> 32) == u:
                b += 1
            tlo, thi, c = st[a], st[a], sc[a]
            for i in range(a + 1, b):
                tlo = min(tlo, st[i])
                thi = max(thi, st[i])
                c = min(c, sc[i])
            out[n_out] = u      # written always, kept if first reached (no branch)
            out_hop[n_out] = h
            out_first[n_out] = tlo
            n_out += _reach_first(seen, u)
            # most receivers' arrivals (one, or a few within the window of the first) make one
            # window, with the first arrival's continuation (the least: for one receiver, a
            # later arrival's is never smaller); it is made only if its node has a row
            # before its end (the continuation's time bucket says): no branch
            if tlo != nat and (thi - tmin) // sec <= (tlo + w - tmin) // sec + 1:
                wn[nw] = u
                whi[nw] = thi + w
                wse[nw] = c
                nw += (c >> 48) << cshift <= thi + w - t0
                a = b
                continue
            if b == a + 1:   # one arrival without a time: no window
                a = b
                continue
            # arrivals further apart: times and continuations sorted apart (the i-th of
            # each belong together), windows merged while the next arrival is within one
            if b - a > 24:
                st[a:b].sort()
                sc[a:b].sort()
            else:
                _insertion_sort(st, a, b)
                _insertion_sort(sc, a, b)
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
                c = sc[i]
                if (c >> 48) << cshift <= last + w - t0:
                    wn[nw] = u
                    whi[nw] = last + w
                    wse[nw] = c
                    nw += 1
                i = j
            a = b
    for i in range(n_out):   # seen left clear for the next call
        seen[out[i] >> 6] = 0
    return n_out


@njit(cache=True, nogil=True)
def _continuations(start, t, other, t0, cshift):
    """Per row (a transfer to node ``u`` at time ``t``): the first row ``r`` of ``u`` at or
    after ``t``, as ``c << 48 | (0xFFFF - left) << 32 | r``, where ``left`` is the number of
    rows from ``r`` to ``u``'s end (``0xFFFF``: that many or more) and ``c`` is ``r``'s time
    bucket ``(time - t0) >> cshift`` (``0x7FFF`` if no row is left); 0 for a row without a
    time. For one ``u`` it never decreases as ``t`` increases.

    The rows are taken grouped by receiver (radix sort of ``u << 32 | row``), so each
    node's rows are searched while in cache (0.85 s for 9M rows; a search per row in
    row order took 3.3 s)."""
    nat = -9223372036854775808
    n_nodes, n_rows = len(start) - 1, len(other)
    bits = 1
    while (1 << bits) < n_nodes:
        bits += 1
    passes = (bits + 10) // 11
    digit = (bits + passes - 1) // passes
    nb = 1 << digit
    a = np.empty(n_rows, np.int64)
    b = np.empty(n_rows, np.int64)
    for r in range(n_rows):
        a[r] = (other[r] << 32) | r
    hist = np.empty(nb + 1, np.int64)
    for p in range(passes):
        shift = 32 + p * digit
        hist[:] = 0
        for i in range(n_rows):
            hist[((a[i] >> shift) & (nb - 1)) + 1] += 1
        for d in range(nb):
            hist[d + 1] += hist[d]
        for i in range(n_rows):
            x = a[i]
            d = (x >> shift) & (nb - 1)
            b[hist[d]] = x
            hist[d] += 1
        a, b = b, a
    out = b
    for i in range(n_rows):
        if i + 16 < n_rows:
            ahead = a[i + 16] & 0xFFFFFFFF
            _prefetch(t, ahead)
            _prefetch(out, ahead)
        u, r = a[i] >> 32, a[i] & 0xFFFFFFFF
        tr = t[r]
        if tr == nat:
            out[r] = 0
            continue
        s, e = start[u], start[u + 1]
        n = e - s
        while n > 0:   # first row of u at or after tr
            half = n >> 1
            if t[s + half] < tr:
                s += half + 1
                n -= half + 1
            else:
                n = half
        c = 0x7FFF if s == e else (t[s] - t0) >> cshift
        out[r] = (c << 48) | ((0xFFFF - min(e - s, 0xFFFF)) << 32) | s
    return out


def _huge_empty(n: int, dtype) -> np.ndarray:
    """An uninitialised array aligned to 2 MB, in an allocation of at least 4 MB: numpy
    advises Linux to back those with 2 MB pages (fewer TLB misses)."""
    dtype = np.dtype(dtype)
    nbytes = n * dtype.itemsize
    raw = np.empty(max(nbytes, 1 << 22) + (1 << 21), np.uint8)
    off = -raw.ctypes.data % (1 << 21)
    return raw[off:off + nbytes].view(dtype)


def _lazy_empty(n: int, dtype) -> np.ndarray:
    """An uninitialised array on 4 KB pages committed as they are first written (an anonymous
    mapping without numpy's huge-page advice): the work buffers are written a little further
    by each larger query, and faulting in a 2 MB page there can stall the query on memory
    compaction (the development machine's /proc/vmstat counts thousands of compaction
    stalls). Measured no slower than huge pages for these buffers."""
    dtype = np.dtype(dtype)
    buf = mmap.mmap(-1, max(n * dtype.itemsize, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype, count=n)


class Scratch:
    """The reached-node bitset and work buffers of :func:`reach_bfs` for one money index, reused.

    Also holds the index as the kernel reads it: CSR offsets, each row's
    time, receiver and visit mark side by side in one int64 array (a window's
    rows in one or two cache lines instead of one per column), and each row's
    continuation (:func:`_continuations`; 8 bytes a row), both on 2 MB pages
    (fewer TLB misses) like the offsets. The work
    buffers have an entry per row (or node, if more) but are only allocated,
    not written: memory is committed as far as a query reaches.
    """

    def __init__(self, start: np.ndarray, t: np.ndarray, other: np.ndarray):
        self.source = (start, t, other)
        n_rows, n_nodes = len(other), len(start) - 1
        if n_nodes >= 2**31 or n_rows >= 2**31:
            raise ValueError("the compiled reach takes fewer than 2**31 nodes and rows")
        t = np.asarray(t, np.int64)
        self.start = _huge_empty(n_nodes + 1, np.int64)
        self.start[:] = start
        timed = t[t != np.iinfo(np.int64).min]
        self.t0 = int(timed.min()) if len(timed) else 0
        span = int(timed.max()) - self.t0 if len(timed) else 0
        self.cshift = 0   # continuations' time buckets: the time span in fewer than 0x7FFF
        while (span >> self.cshift) >= 0x7FFF:
            self.cshift += 1
        # continuations copied onto 2 MB pages (numba's own allocation is not advised so): a
        # window's first lookup is a random access into them; 4-6% less time per seed at 10M
        cont = _continuations(self.start, t, np.asarray(other, np.int64), self.t0, self.cshift)
        self.cont = _huge_empty(n_rows, np.int64)
        self.cont[:] = cont
        del cont
        self.rows = _huge_empty(2 * n_rows, np.int64)
        self.rows[0::2] = t
        self.rows[1::2] = other
        self.mark = 0
        self.seen = np.zeros((n_nodes >> 6) + 1, np.uint64)
        size = max(n_rows, n_nodes, 1)
        # au, at, ac, ak, bu, bt, bc, bk, wn, wlo, whi, wse: node codes int32; times,
        # continuations and sort keys int64
        self.buffers = tuple(_lazy_empty(size, np.int32 if k in (0, 4, 8) else np.int64) for k in range(12))
        self.out = _lazy_empty(n_nodes + 1, np.int32)   # codes as a Categorical holds them: no conversion
        self.out_hop = _lazy_empty(n_nodes + 1, np.int64)
        self.out_first = _lazy_empty(n_nodes + 1, np.int64)
        self.hist = np.empty(4097, np.int64)
        self.lock = threading.Lock()

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
        k = reach_bfs(scratch.start, scratch.rows, scratch.cont, np.int64(scratch.t0), np.int64(scratch.cshift),
                      np.asarray(seeds, np.int64), np.int64(lo0), np.int64(hi0),
                      np.int64(w), np.int64(hops), scratch.next_mark(), scratch.seen,
                      *scratch.buffers, scratch.out, scratch.out_hop, scratch.out_first, scratch.hist)
        return scratch.out[:k].copy(), scratch.out_hop[:k].copy(), scratch.out_first[:k].copy()
