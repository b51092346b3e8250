#!/usr/bin/env python3
"""Truth tests of graph's pictures and report's page.

On one interpreter (--python, default Debian's /usr/bin/python3.11), on the
core of fixtures/heap_pictures.py:

  * graph's DOT: every edge drawn between two objects is a reference
    py-heap's referents reports (and, into the Target, one that
    gc.get_referrers() found in the process); the blue chain is path's,
    all twenty holders of it; sizes are sys.getsizeof's; a fan-out of
    5,000 Sessions is folded ("4,997 more __main__.Session"); the loop of
    five classes is drawn red; --max-nodes caps the nodes; labels with
    quotes, backslashes, newlines and markup come out escaped; bad
    arguments are clear errors;
  * SVG and PNG are what graphviz drew: the SVG parses, is sized and has a
    node for each node of the DOT; the PNG has its signature and a size;
  * report: the page is well-formed, names no URL, has its pictures, and
    names the fixture's objects; with --chromium, on the demo program's
    core too: headless Chromium renders it (its DOM names the planted
    leaks and their types, every SVG is there, a click sorts a table) and
    its screenshot is not blank;
  * graphviz is not linked (ldd), and with its libgvc.so.6 covered by
    /dev/null (a mount namespace of the check's own, when unshare can make
    one): graph's DOT still comes, graph --output .svg and report's
    pictures say "graphviz's libgvc could not be loaded";
  * with --gdb, report through GDB.

    python3 tests/integration/pictures_checks.py --bin build/bin/py-heap \\
        --cores-dir build/cores [--python PY] [--chromium] [--gdb]

Prints PASS/FAIL lines and ends with "N passed, N failed".
"""
import argparse
import ast
import html.parser
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

from interp import Interp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
results = {"passed": 0, "failed": 0}
INTERP = None


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print("PASS", name)
    else:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, str(detail)[:1500]))
    sys.stdout.flush()


def run(binary, core, *args, json_out=True, ok=True):
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
        [binary, "--core", core] + (["--json"] if json_out else []) + \
        INTERP.py_heap_args() + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if "ERROR: AddressSanitizer" in r.stderr or "runtime error:" in r.stderr \
            or "ERROR: LeakSanitizer" in r.stderr:
        raise RuntimeError("sanitizer report: " + r.stderr[-2000:])
    if ok and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                r.stderr.strip()[-2000:]))
    if not ok:
        return r
    return json.loads(r.stdout) if json_out else r.stdout


def batch(binary, core, lines):
    """The answers to lines, asked of one session (--batch -)."""
    cmd = shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
        [binary, "--core", core, "--json", "--batch", "-"] + \
        INTERP.py_heap_args()
    r = subprocess.run(cmd, input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=600)
    if "ERROR: AddressSanitizer" in r.stderr or "runtime error:" in r.stderr \
            or "ERROR: LeakSanitizer" in r.stderr or r.returncode != 0:
        raise RuntimeError("--batch: exit %d: %s" % (r.returncode,
                                                     r.stderr[-2000:]))
    out = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    if len(out) != len(lines):
        raise RuntimeError("--batch: %d answers to %d lines" % (len(out),
                                                                len(lines)))
    return out


# ---- DOT as graph writes it: one statement a line --------------------------

DOT_STR = r'"((?:[^"\\]|\\.)*)"'
NODE_RE = re.compile(r'^  ([orf][0-9a-f]+) \[label=' + DOT_STR + r'(.*)\];$')
EDGE_RE = re.compile(r'^  ([orf][0-9a-f]+) -> ([orf][0-9a-f]+) \[label=' +
                     DOT_STR + r'(.*)\];$')


def dot_unquote(s):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), s)


class Dot:
    def __init__(self, text):
        self.text = text
        self.nodes, self.edges = {}, []
        lines = text.split("\n")
        if not lines[0].startswith("digraph ") or lines[-2] != "}":
            raise ValueError("not a digraph: %r" % text[:200])
        for line in lines[1:-2]:
            m = EDGE_RE.match(line)
            if m:
                self.edges.append((m.group(1), m.group(2),
                                   dot_unquote(m.group(3)), m.group(4)))
                continue
            m = NODE_RE.match(line)
            if m:
                self.nodes[m.group(1)] = (dot_unquote(m.group(2)), m.group(3))
            elif not line.startswith("  graph [") and \
                    not line.startswith("  node [") and \
                    not line.startswith("  edge ["):
                raise ValueError("a line not understood: %r" % line)

    @staticmethod
    def addr(name):
        return int(name[1:], 16) if name.startswith("o") else None

    def objects(self):
        return {self.addr(n) for n in self.nodes if n.startswith("o")}


# ---- PNG ------------------------------------------------------------------

def png_read(data):
    """(width, height, rows of pixels as tuples) of an 8-bit RGB(A) PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("no PNG signature")
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    if w is None or not idat:
        raise ValueError("no IHDR or no IDAT")
    if depth != 8 or ctype not in (2, 6) or interlace:
        return w, h, None
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows


# ---- HTML: well-formed, as a parser that keeps a stack of open tags ------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class WellFormed(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.svgs, self.urls = [], [], 0, []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id":
                if v in self.ids:
                    self.errors.append("id %s twice" % v)
                self.ids.add(v)
            if k in ("src", "href", "action", "xlink:href") and v and \
                    not v.startswith("#"):
                self.urls.append(v)
        if tag == "svg":
            self.svgs += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        if tag == "svg":
            self.svgs += 1

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s>" % (
                tag, self.stack[-1] if self.stack else "nothing"))
            return
        self.stack.pop()


def html_checks(label, page):
    p = WellFormed()
    p.feed(page)
    p.close()
    check("%s: well-formed HTML" % label,
          not p.errors and not p.stack and page.startswith("<!DOCTYPE html>"),
          (p.errors[:5], p.stack[:5]))
    check("%s: no URL (nothing loaded from the network)" % label,
          not re.search(r"(?i)https?:|//[a-z0-9]|url\(|@import", page)
          and not p.urls, p.urls[:3] or re.findall(r"(?i).{40}https?:.{40}",
                                                   page)[:3])
    check("%s: at most 5 MB" % label, len(page) <= 5 << 20, len(page))
    return p


# ---- graph ------------------------------------------------------------------

def graph_checks(binary, core, t, work):
    target = "0x%x" % t["target"]
    # backrefs: the chain of twenty holders, path's
    try:
        d = Dot(run(binary, core, "graph", target, json_out=False))
        j = run(binary, core, "graph", target)
        path = run(binary, core, "path", target)
        drawn = d.objects()
        check("graph: the object asked about is drawn, marked",
              t["target"] in drawn and "penwidth=2" in
              d.nodes["o%x" % t["target"]][1], sorted(drawn)[:5])
        lab = d.nodes["o%x" % t["target"]][0]
        check("graph: its label: type, address, sys.getsizeof",
              lab.startswith("__main__.Target\n") and target in lab and
              "%d B" % t["target_size"] in lab, lab)
        # every edge between objects is a reference py-heap reports (the
        # referents of every holder drawn, asked in one batch)
        bad = []
        holders = sorted({Dot.addr(src) for src, dst, _, _ in d.edges
                          if src.startswith("o") and dst.startswith("o")})
        refs = {int(r["address"], 16): {(int(x["address"], 16), x["via"])
                                         for x in r["referents"]}
                for r in batch(binary, core, ["referents 0x%x" % a
                                              for a in holders])}
        for src, dst, via, _ in d.edges:
            a, b = Dot.addr(src), Dot.addr(dst)
            if a is None or b is None:
                continue
            if (b, via) not in refs.get(a, ()):
                bad.append((src, dst, via))
        check("graph: every edge drawn is a referent py-heap reports "
              "(%d edges)" % len(d.edges), not bad and d.edges, bad[:5])
        into = {Dot.addr(s) for s, dd, _, _ in d.edges
                if dd == "o%x" % t["target"] and s.startswith("o")}
        check("graph: the Target's holders are gc.get_referrers()'s",
              into == set(t["target_referrers"]),
              (into, t["target_referrers"]))
        chain = [int(x["address"], 16) for x in path["paths"][0]["path"]] \
            if "paths" in path else \
            [int(x["address"], 16) for x in path["path"]]
        blue = [(Dot.addr(s), Dot.addr(dd)) for s, dd, _, st in d.edges
                if "#1f5fa8" in st and s.startswith("o")]
        want = list(zip(chain, chain[1:]))
        check("graph: the blue chain is path's (%d steps)" % len(chain),
              sorted(blue) == sorted(want), (blue[:4], want[:4]))
        check("graph: all twenty holders of the chain, measured, on it",
              set(t["chain"]) <= set(chain) and set(t["chain"]) <= drawn,
              set(t["chain"]) - drawn)
        roots = [n for n in d.nodes if n.startswith("r")]
        check("graph: the chain starts at its root, drawn",
              any(d.nodes[n][0] == path.get("root", (path.get("paths") or
                                                     [{}])[0].get("root"))
                  for n in roots), [d.nodes[n][0] for n in roots])
        check("graph --json: the same nodes and edges as the DOT",
              len(j["nodes"]) == len(d.nodes) and
              len(j["edges"]) == len(d.edges) and
              j["direction"] == "backrefs", (len(j["nodes"]), len(d.nodes)))
    except Exception as e:
        check("graph backrefs", False, e)

    # refs: the fan-out folded
    try:
        d = Dot(run(binary, core, "graph", "0x%x" % t["sessions"], "--refs",
                    "--depth", "1", json_out=False))
        folds = [lab for lab, _ in d.nodes.values()
                 if lab.startswith("4,997 more __main__.Session")]
        check("graph --refs: 5,000 Sessions: 3 drawn, 4,997 folded",
              len(folds) == 1 and sum(
                  1 for n in d.nodes.values()
                  if n[0].startswith("__main__.Session\n")) == 3,
              [n[0] for n in d.nodes.values()][:8])
        check("graph --refs: each fold is an edge of the dict",
              all(s == "o%x" % t["sessions"] for s, dd, _, _ in d.edges
                  if dd.startswith("f")), d.edges[:4])
    except Exception as e:
        check("graph refs", False, e)

    # the loop of five classes, red
    try:
        d = Dot(run(binary, core, "graph", "0x%x" % t["loop"][0], "--refs",
                    "--depth", "12", json_out=False))
        red = {(Dot.addr(s), Dot.addr(dd)) for s, dd, _, st in d.edges
               if "#c62828" in st}
        on_red = {a for e in red for a in e}
        check("graph: the loop of five drawn red, through its members",
              set(t["loop"]) <= on_red, (len(red), t["loop"]))
    except Exception as e:
        check("graph loop", False, e)

    # the cap
    try:
        j = run(binary, core, "graph", "0x%x" % t["sessions"], "--refs",
                "--depth", "3", "--max-nodes", "10")
        check("graph --max-nodes 10: at most 10 nodes, and says it cut",
              len(j["nodes"]) <= 10 and j["truncated"], len(j["nodes"]))
    except Exception as e:
        check("graph max-nodes", False, e)

    # escaping: a key with quotes, a backslash, a newline and markup
    try:
        text = run(binary, core, "graph", "0x%x" % t["strange_target"],
                   json_out=False)
        d = Dot(text)
        vias = [via for s, dd, via, _ in d.edges
                if dd == "o%x" % t["strange_target"]]
        ref = [x["via"] for x in run(binary, core, "referents", "0x%x" %
                                     t["strange"])["referents"]
               if int(x["address"], 16) == t["strange_target"]]
        check("graph: a label with quotes, a backslash and a newline "
              "parses back as referents gives it (its first 30 "
              "characters)", len(vias) == 1 and len(ref) == 1 and
              vias[0] == ref[0][:30] + "..." and '"quoted"' in vias[0],
              (vias, ref))
    except Exception as e:
        check("graph escaping", False, e)

    # SVG and PNG, drawn by graphviz
    try:
        svg = os.path.join(work, "t.svg")
        png = os.path.join(work, "t.png")
        dotf = os.path.join(work, "t.dot")
        for f in (svg, png, dotf):
            run(binary, core, "graph", target, "--output", f, json_out=False)
        d = Dot(open(dotf).read())
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        w = float(re.sub("[a-z]+$", "", root.get("width", "0")))
        h = float(re.sub("[a-z]+$", "", root.get("height", "0")))
        titles = {g.find(ns + "title").text for g in root.iter(ns + "g")
                  if g.get("class") == "node"}
        check("graph --output .svg: graphviz's SVG, sized, a node for each "
              "of the DOT's", root.tag == ns + "svg" and w > 50 and h > 50
              and titles == set(d.nodes), (w, h, len(titles), len(d.nodes)))
        pw, ph, _ = png_read(open(png, "rb").read())
        check("graph --output .png: a PNG, sized", pw > 50 and ph > 50,
              (pw, ph))
    except Exception as e:
        check("graph svg/png", False, e)

    # errors, not crashes
    for args, what in ((["graph", target, "--output", work + "/x.jpg"],
                        "name a .svg, .png or .dot"),
                       (["graph", target, "--refs", "--backrefs"],
                        "not both"),
                       (["graph", target, "--depth", "0"], "--depth is"),
                       (["graph", "0x10"], "no Python object"),
                       (["graph", target, "--output",
                         work + "/no/such/dir/x.svg"], "No such file"),
                       (["report"], "--output")):
        try:
            r = run(binary, core, *args, json_out=False, ok=False)
            check("graph: %s: a clear error" % " ".join(args[2:] or args),
                  r.returncode not in (0, -11, -6) and what in r.stderr,
                  (r.returncode, r.stderr[-300:]))
        except Exception as e:
            check("graph error %s" % args, False, e)


# ---- without graphviz ---------------------------------------------------------

def soname_path(soname):
    """Where the dynamic linker finds soname (ldconfig's cache), or None."""
    r = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[0].split()[0] == soname:
            return os.path.realpath(parts[1].strip())
    return None


def no_graphviz_checks(binary, core, t, work):
    """graphviz is opened when a picture is drawn, not linked (issue 23):
    no run that draws nothing loads it, and without it graph and report
    say so."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True)
    linked = [x.split()[0] for x in r.stdout.splitlines()
              if re.search(r"lib(gvc|cgraph)\.so", x)]
    check("py-heap does not link graphviz (opened when a picture is drawn)",
          r.returncode == 0 and not linked, linked or r.stderr[-300:])
    # libgvc.so.6 covered by /dev/null, in a mount namespace of its own
    lib = soname_path("libgvc.so.6")
    ns = ["unshare", "-m", "--propagation", "private"] + \
        ([] if os.geteuid() == 0 else ["-r"]) + \
        ["sh", "-c", 'mount --bind /dev/null "$0" && exec "$@"', lib or "-"]
    probe = subprocess.run(ns + ["true"], capture_output=True, text=True) \
        if lib and shutil.which("unshare") else None
    if not probe or probe.returncode != 0:
        print("SKIP without libgvc: no mount namespace here (%s)"
              % (probe.stderr.strip()[-200:] if probe else
                 "no unshare or no libgvc.so.6"))
        return
    target = "0x%x" % t["target"]

    def run_ns(*args):
        cmd = ns + shlex.split(os.environ.get("PYHEAP_WRAPPER", "")) + \
            [binary, "--core", core] + INTERP.py_heap_args() + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if "ERROR: AddressSanitizer" in r.stderr or \
                "runtime error:" in r.stderr or \
                "ERROR: LeakSanitizer" in r.stderr:
            raise RuntimeError("sanitizer report: " + r.stderr[-2000:])
        return r
    want = "graphviz's libgvc could not be loaded"
    try:
        r = run_ns("graph", target)
        check("without libgvc: graph's DOT on stdout all the same",
              r.returncode == 0 and r.stdout.startswith("digraph "),
              (r.returncode, r.stderr[-300:]))
        r = run_ns("graph", target, "--output", work + "/nogv.svg")
        check("without libgvc: graph --output .svg: a clear error",
              r.returncode not in (0, -11, -6) and want in r.stderr and
              not os.path.exists(work + "/nogv.svg"),
              (r.returncode, r.stderr[-300:]))
        out = work + "/nogv.html"
        r = run_ns("report", "--output", out)
        page = open(out, encoding="utf-8").read() if r.returncode == 0 \
            else ""
        check("without libgvc: report writes its page, the reason in place "
              "of its pictures", r.returncode == 0 and "<svg" not in page
              and want.replace("'", "&#39;") in page,
              (r.returncode, r.stderr[-300:]))
    except Exception as e:
        check("without libgvc", False, e)


# ---- report -----------------------------------------------------------------

def report_checks(binary, core, t, work):
    out = os.path.join(work, "fixture.html")
    try:
        r = run(binary, core, "report", "--output", out)
        page = open(out, encoding="utf-8").read()
        p = html_checks("report", page)
        cycles = run(binary, core, "cycles", "--unreachable")
        leaks = run(binary, core, "leaks")
        want_svgs = 2 * len(leaks["suspects"]) + min(10, len(cycles["cycles"]))
        check("report: a picture for each suspect (2) and cycle (%d SVG)"
              % want_svgs, p.svgs == want_svgs, (p.svgs, want_svgs))
        check("report: the dropped loop's classes among its cycles",
              all("__main__.Loop%s" % c in page for c in "ABCDE"), "")
        check("report: JSON says what it wrote", r["output"] == out and
              r["bytes"] == len(page.encode()), r)
        check("report: escapes the process's text (no <script> of it)",
              "<script>alert" not in page, "")
    except Exception as e:
        check("report", False, e)


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(c):
            return c
    return None


def headless(browser, *args, timeout=120):
    with tempfile.TemporaryDirectory() as prof:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu",
               "--no-first-run", "--disable-extensions",
               "--disable-background-networking", "--disable-sync",
               "--host-resolver-rules=MAP * ~NOTFOUND",
               "--user-data-dir=" + prof] + list(args)
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


def chromium_checks(binary, cores_dir, work):
    browser = chromium()
    if not browser:
        check("chromium: installed (scripts/install-deps.sh)", False,
              "no chromium")
        return
    outdir = os.path.join(cores_dir, "demo_app-" + INTERP.tag)
    try:
        core = INTERP.take_core("demo_app.py", outdir)
    except Exception as e:
        check("demo core", False, e)
        return
    page_path = os.path.join(work, "demo.html")
    try:
        run(binary, core, "report", "--output", page_path)
        page = open(page_path, encoding="utf-8").read()
        p = html_checks("demo report", page)
        leaks = run(binary, core, "leaks")
        refcheck = run(binary, core, "refcheck")
        cycles = run(binary, core, "cycles", "--unreachable")
    except Exception as e:
        check("demo report", False, e)
        return
    try:
        r = headless(browser, "--dump-dom", "file://" + page_path)
        dom = r.stdout
        check("chromium: renders the page", "<h1>py-heap report</h1>" in dom
              and "Leak suspects" in dom, r.stderr[-500:])
        acc = leaks["suspects"][0]["accumulation"] \
            if "accumulation" in leaks["suspects"][0] else {}
        names = ["__main__.Session", "_SESSIONS", "__main__.Connection",
                 "__main__.Report", leaks["suspects"][0]["address"]]
        missing = [n for n in names if n not in dom]
        check("chromium: the DOM names the demo's leaks and their types",
              not missing, missing)
        check("chromium: the suspect's accumulation point, _SESSIONS",
              not acc or acc.get("address", "") in dom, acc)
        rep = [x for x in refcheck["excess"] if x["type"] == "__main__.Report"]
        check("chromium: the Report's 25 leaked references in its table",
              rep and re.search(r"<td>__main__\.Report</td><td[^>]*>1</td>"
                                r"<td[^>]*>%d</td>" % rep[0]["total"], dom),
              rep)
        check("chromium: every SVG is in the DOM (%d)" % p.svgs,
              dom.count("<svg") == p.svgs and p.svgs >= 2 +
              min(10, len(cycles["cycles"])), (dom.count("<svg"), p.svgs))
    except Exception as e:
        check("chromium dump-dom", False, e)
    # a click on "objects" sorts the types table, largest first
    try:
        clicked = os.path.join(work, "demo-click.html")
        with open(clicked, "w", encoding="utf-8") as f:
            f.write(page.replace("</body>", "<script>document.querySelector("
                                 "'#types-table th:nth-child(2)').click();"
                                 "</script></body>"))
        dom = headless(browser, "--dump-dom", "file://" + clicked).stdout
        body = dom[dom.index('id="types-table"'):]
        body = body[:body.index("</table>")]
        counts = [int(v) for v in re.findall(
            r'<tr><td>[^<]*</td><td class="n" data-v="(\d+)"', body)]
        check("chromium: a click on 'objects' sorts the types by count",
              len(counts) > 10 and counts == sorted(counts, reverse=True),
              counts[:10])
    except Exception as e:
        check("chromium sort", False, e)
    try:
        shot = os.path.join(work, "demo.png")
        headless(browser, "--hide-scrollbars", "--window-size=1280,2000",
                 "--screenshot=" + shot, "file://" + page_path)
        w, h, rows = png_read(open(shot, "rb").read())
        colours = set()
        for y in range(0, h, 7):
            row = rows[y] if rows else b""
            for x in range(0, len(row) - 3, 4 * 11):
                colours.add(row[x:x + 3])
        dark = sum(1 for y in range(0, h, 5) for x in range(0, w * 4, 20)
                   if rows and sum(rows[y][x:x + 3]) < 200)
        check("chromium: a screenshot, not blank (%dx%d, %d colours)"
              % (w, h, len(colours)), w == 1280 and h == 2000 and
              len(colours) > 20 and dark > 100, (w, h, len(colours), dark))
    except Exception as e:
        check("chromium screenshot", False, e)


def gdb_checks(core, work):
    out = os.path.join(work, "gdb.html")
    try:
        r = subprocess.run(
            ["gdb", "-batch", "-nx"] + INTERP.gdb_args() + [
             "-ex", "source %s" % os.path.join(ROOT, "gdb/py-heap.py"),
             "-ex", "py-heap report --output %s" % out,
             INTERP.exe, core], capture_output=True, text=True, timeout=300)
        ok = os.path.exists(out) and "py-heap report" in open(out).read()
        check("gdb: py-heap report --output FILE.html", ok and
              "report: wrote" in r.stdout, (r.stdout[-300:], r.stderr[-300:]))
    except Exception as e:
        check("gdb report", False, e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/py-heap"))
    ap.add_argument("--cores-dir", default=os.path.join(ROOT, "build/cores"))
    ap.add_argument("--python", default="/usr/bin/python3.11",
                    help="the interpreter to test")
    ap.add_argument("--chromium", action="store_true",
                    help="also render the demo's report in headless Chromium")
    ap.add_argument("--gdb", action="store_true", help="also ask GDB")
    a = ap.parse_args()
    global INTERP
    INTERP = Interp(a.python)
    binary = os.path.abspath(a.bin)
    cores_dir = os.path.abspath(a.cores_dir)
    print("interpreter: %s (%s)" % (a.python, INTERP.version))
    outdir = os.path.join(cores_dir, "heap_pictures-" + INTERP.tag)
    work = tempfile.mkdtemp(prefix="pictures-")
    try:
        try:
            core = INTERP.take_core("heap_pictures.py", outdir,
                                    need=("ready", "truth.txt"))
            with open(os.path.join(outdir, "truth.txt")) as f:
                t = ast.literal_eval(f.read())
        except Exception as e:
            check("heap_pictures: core", False, e)
            core = None
        if core:
            graph_checks(binary, core, t, work)
            report_checks(binary, core, t, work)
            no_graphviz_checks(binary, core, t, work)
            if a.gdb:
                gdb_checks(core, work)
        if a.chromium:
            chromium_checks(binary, cores_dir, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
