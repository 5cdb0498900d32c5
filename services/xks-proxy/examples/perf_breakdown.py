#!/usr/bin/env python3
"""Where the CPU of the proxy and the share service goes, from a perf profile.

Reads the output of `perf script -F comm,pid,tid,ip,sym,dso` (call graphs
recorded with `--call-graph dwarf`, inlined frames included) and puts each
sample in one category: the first frame, from the leaf towards the root, that
names a known part (TLS, HTTP, JSON, SigV4, EC, the audit record, logging,
metrics, the runtime...). A sample in the kernel is put by the system call it
serves (socket I/O, the log pipe, the audit file, scheduling). Prints one
Markdown table: per process, the share of its samples in each category and,
given each process's CPU µs per request (`--cpu proxy=120,share=50`), the
µs per request that share stands for.

    perf record -F 499 --call-graph dwarf,32768 -p PROXY,SHARE -o perf.data -- sleep 10
    perf script -i perf.data -F comm,pid,tid,ip,sym,dso > script.txt
    python3 perf_breakdown.py script.txt --pid proxy=PROXY --pid share=SHARE --cpu proxy=120,share=50

Used for docs/benchmarks.md ("Where the CPU goes"); the method is described there.
"""

import argparse
import collections
import re
import sys

# (category, pattern): checked against each user-space frame from the leaf up;
# the first frame that matches any pattern decides. Order matters where one
# frame could match two (a SHA-256 inside SigV4 is SigV4, inside the audit
# writer it is the audit record): the patterns name callers, never shared
# primitives such as sha2, memcpy or malloc.
USER = [
    ("logging (format the line)", r"tracing_subscriber|tracing_core|\btracing::|LogLine|log_request|log_writer"),
    ("audit record (encode, hash, group commit)", r"xks_audit"),
    ("SigV4 verification", r"sigv4"),
    ("EC: DLEQ proof", r"xks_threshold::dleq"),
    ("EC: hash to curve, scalar mult, point codec, combine",
     r"hash_to_curve|xks_awslc|p256::|ecp_nistz|EC_POINT|aws_lc_0_\d+_0_(ec_|EC_|bignum|BN_|p256)|"
     r"xks_threshold::(group|partial|holder|encoding|keypath)"),
    ("HKDF", r"hkdf|xks_threshold::kdf"),
    ("AES-GCM of the request (envelope)", r"xks_threshold::envelope|aes_gcm::|\baes::|ghash::|polyval::|DataKey"),
    ("TLS (rustls, record crypto)", r"rustls"),
    ("JSON and base64", r"serde_json|serde::|xks_wire::xks::request|xks_wire::partner|from_json|to_json|base64"),
    ("metrics", r"metrics::"),
    ("HTTP/2 (h2)", r"\bh2::|<h2::"),
    ("HTTP (hyper)", r"hyper"),
    ("request logic (routing, caches, pool, checks)", r"xks_proxy::|share_service::|xks_service::|xks_wire::"),
    ("async runtime (tokio)", r"tokio::|mio::"),
]
USER = [(name, re.compile(p)) for name, p in USER]
ALLOC = re.compile(r"^(malloc|free|realloc|calloc|_int_malloc|_int_free|_int_realloc|cfree|__libc_malloc|__libc_free|malloc_consolidate|tcache|unlink_chunk)")

# Kernel samples: by the system call (or interrupt) they serve.
SYSCALLS = [
    ("kernel: audit file (write, fdatasync)", r"fdatasync|fsync|ext4|jbd2|xfs_|btrfs"),
    ("kernel: scheduling (futex, epoll, wakeups)", r"futex|epoll|sched_yield|schedule|nanosleep|try_to_wake_up"),
    ("kernel: TCP send (incl. loopback delivery)", r"sendto|sendmsg|writev|tcp_sendmsg|sock_write"),
    ("kernel: TCP receive", r"recvfrom|recvmsg|readv|tcp_recvmsg|sock_read"),
    ("kernel: pipe and file write (log lines)", r"ksys_write|vfs_write|pipe_write"),
    ("kernel: read", r"ksys_read|vfs_read"),
    ("kernel: memory (page faults, mmap)", r"page_fault|exc_page|mmap|munmap|brk|madvise"),
]
SYSCALLS = [(name, re.compile(p)) for name, p in SYSCALLS]


def samples(lines):
    """Yields (pid, frames) where frames go from the leaf to the root: (symbol, dso)."""
    head, frames = None, []
    for line in lines:
        if not line.strip():
            if head:
                yield head, frames
            head, frames = None, []
            continue
        if not line.startswith(("\t", " ")):
            m = re.match(r"\S.*?\s(\d+)/(\d+)", line)
            head, frames = (int(m.group(1)) if m else None), []
            continue
        parts = line.strip().split(" ", 1)
        rest = parts[1] if len(parts) > 1 else ""
        dso = rest[rest.rfind("(") + 1 : -1] if rest.endswith(")") else ""
        sym = rest[: rest.rfind("(")].strip() if rest.endswith(")") else rest
        frames.append((sym, dso))
    if head:
        yield head, frames


def classify(frames):
    """The category of one sample, and whether its leaf is the allocator."""
    if frames and "kernel" in frames[0][1]:
        kernel = " ".join(s for s, d in frames if "kernel" in d)
        user = " ".join(s for s, d in frames if "kernel" not in d)
        if re.search(r"tracing|Stderr|log_writer", user) and re.search(r"write", kernel):
            return "kernel: pipe and file write (log lines)", False
        for name, p in SYSCALLS:
            if p.search(kernel):
                return name, False
        return "kernel: other (interrupts, softirq)", False
    alloc = bool(frames) and bool(ALLOC.match(frames[0][0]))
    for sym, _ in frames:
        for name, p in USER:
            if p.search(sym):
                return name, alloc
    return ("allocator (unattributed)" if alloc else "other user space"), alloc


SELF_TEST = """\
tokio-rt-worker 10/11
\t  1 sha2::sha256::x86::digest_blocks (/x/xks-proxy)
\t  2 xks_wire::xks::sigv4::verify (/x/xks-proxy)
\t  3 hyper::proto::h1::dispatch::Server::poll_msg (/x/xks-proxy)

tokio-rt-worker 10/11
\t  1 _int_malloc (/usr/lib/libc.so.6)
\t  2 serde_json::de::from_str (/x/xks-proxy)
\t  3 xks_proxy::api::App::process (/x/xks-proxy)

tokio-rt-worker 10/12
\t  ffffffff1 anon_pipe_write ([kernel.kallsyms])
\t  ffffffff2 ksys_write ([kernel.kallsyms])
\t  4 __GI___libc_write (/usr/lib/libc.so.6)
\t  5 <std::io::stdio::Stderr as std::io::Write>::write_all (/x/xks-proxy)
\t  6 <tracing_subscriber::fmt::Subscriber as tracing_core::subscriber::Subscriber>::event (/x/xks-proxy)

share-service 20/21
\t  ffffffff3 ext4_sync_file ([kernel.kallsyms])
\t  ffffffff4 __x64_sys_fdatasync ([kernel.kallsyms])
\t  7 xks_audit::writer::Writer::append (/x/share-service)

share-service 20/21
\t  8 aws_lc_0_47_0_aes_gcm_encrypt (/x/share-service)
\t  9 rustls::record_layer::RecordLayer::encrypt_outgoing (/x/share-service)
"""


def self_test():
    """The rules on five samples: a shared primitive counts for its caller, a
    kernel sample for its system call, a TLS record's AES for TLS."""
    got = [(pid, classify(frames)) for pid, frames in samples(SELF_TEST.splitlines())]
    want = [
        (10, ("SigV4 verification", False)),
        (10, ("JSON and base64", True)),
        (10, ("kernel: pipe and file write (log lines)", False)),
        (20, ("kernel: audit file (write, fdatasync)", False)),
        (20, ("TLS (rustls, record crypto)", False)),
    ]
    assert got == want, f"{got} != {want}"
    print("perf_breakdown self-test: 5 samples classified as expected")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script")
    ap.add_argument("--pid", action="append", default=[], help="name=pid, once per process")
    ap.add_argument("--cpu", default="", help="name=µs per request,... (from proxy_load)")
    a = ap.parse_args()
    names = {int(p.split("=")[1]): p.split("=")[0] for p in a.pid}
    cpu = {k: float(v) for k, v in (x.split("=") for x in a.cpu.split(",") if x)}
    counts = {n: collections.Counter() for n in names.values()}
    allocs = collections.Counter()
    with open(a.script, errors="replace") as f:
        for pid, frames in samples(f):
            who = names.get(pid)
            if who is None:
                continue
            cat, alloc = classify(frames)
            counts[who][cat] += 1
            allocs[who] += alloc
    order = list(names.values())
    totals = {n: max(1, sum(counts[n].values())) for n in order}
    share = {n: {c: k / totals[n] for c, k in counts[n].items()} for n in order}
    cats = sorted({c for n in order for c in counts[n]}, key=lambda c: -sum(share[n].get(c, 0) * cpu.get(n, 1) for n in order))
    print("| category | " + " | ".join(f"{n}: % of samples | {n}: µs/request" for n in order) + " |")
    print("|---|" + "---|---|" * len(order))
    for c in cats:
        cells = (f"{share[n].get(c, 0) * 100:.1f} | " + (f"{share[n].get(c, 0) * cpu[n]:.1f}" if n in cpu else "–") for n in order)
        print(f"| {c} | " + " | ".join(cells) + " |")
    total_cells = " | ".join(f"{sum(counts[n].values())} samples | " + (f"{cpu[n]:.0f}" if n in cpu else "–") for n in order)
    print(f"| **total** | {total_cells} |")
    for n in order:
        print(f"\n{n}: leaf in the allocator (malloc/free, any category): {allocs[n] / totals[n] * 100:.1f} % of samples", file=sys.stderr)


if __name__ == "__main__":
    main()
