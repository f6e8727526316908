#!/usr/bin/env python3
"""Check that no module of a crate imports another in a circle (docs/architecture.md).

For each crate source directory given (`sim/machine/src` ...), every module (a file) gets an
edge to each module of the same crate it names: `crate::a::b` paths, `super::` paths, and in a
parent module (`lib.rs`, `main.rs`, `mod.rs`) the paths through its own child modules. Doc
comments, comments, string literals and `#[cfg(test)]` modules are left out: a test module
reaching back into its parent is not a dependency of the crate. The crates' own graph is
Cargo's to check (it refuses a cycle between packages).

Prints every circle found (as `a -> b -> a`) and exits 1, else prints the module count and
exits 0.
"""

import os
import re
import sys


def modules(src):
    """Module path (tuple) -> file, for every .rs file under src."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            out[tuple(parts)] = os.path.join(dirpath, f)
    return out


def strip(text):
    """The code without comments, string literals and #[cfg(test)] items."""
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\])'", "''", text)
    text = re.sub(r"/\*(?:.|\n)*?\*/", "", text)
    text = re.sub(r"//[^\n]*", "", text)
    # Drop `#[cfg(test)] mod name { ... }` (balanced braces).
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m:
            break
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]
    return text


def paths(text):
    """Every path of two or more segments, with `use a::{b, c::d}` groups expanded."""
    found = []

    def expand(prefix, body):
        depth, start, items = 0, 0, []
        for i, c in enumerate(body):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 0:
                items.append(body[start:i])
                start = i + 1
        items.append(body[start:])
        for item in items:
            item = item.strip()
            if not item:
                continue
            m = re.match(r"([\w:]*?)::\{(.*)\}$", item, re.S)
            if m:
                expand(prefix + [s for s in m.group(1).split("::") if s], m.group(2))
            else:
                found.append(prefix + [s for s in re.split(r"\s+as\s+", item)[0].split("::") if s])

    for m in re.finditer(r"\buse\s+([^;]+);", text):
        expand([], m.group(1))
    for m in re.finditer(r"(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)", text):
        found.append(m.group(1).split("::"))
    return found


def resolve(me, path, mods, is_parent):
    """The module of this crate a path names (the longest module prefix), or None."""
    if path[0] == "crate":
        base, rest = (), path[1:]
    elif path[0] in ("super", "self"):
        base, rest = me, path
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif is_parent and me + (path[0],) in mods:
        base, rest = me, path
    else:
        return None
    best = base if base in mods else None
    for i in range(1, len(rest) + 1):
        if base + tuple(rest[:i]) in mods:
            best = base + tuple(rest[:i])
    return best


def cycles(src):
    mods = modules(src)
    graph = {}
    for me, f in mods.items():
        is_parent = os.path.basename(f) in ("mod.rs", "lib.rs", "main.rs")
        text = strip(open(f, encoding="utf-8").read())
        edges = set()
        for p in paths(text):
            target = resolve(me, p, mods, is_parent)
            if target is not None and target != me:
                edges.add(target)
        graph[me] = edges
    # Tarjan's strongly connected components.
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return len(mods), graph, out


def name(m):
    return "::".join(m) or "(crate root)"


def main():
    bad = 0
    total = 0
    for src in sys.argv[1:]:
        n, graph, comps = cycles(src)
        total += n
        for comp in comps:
            bad += 1
            members = set(comp)
            detail = "; ".join(
                f"{name(a)} -> {', '.join(name(b) for b in sorted(graph[a] & members))}" for a in comp
            )
            print(f"{src}: modules import each other in a circle: {detail}")
    if bad:
        return 1
    print(f"module-cycles: {total} modules in {len(sys.argv) - 1} crates, no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
