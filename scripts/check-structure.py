#!/usr/bin/env python3
"""Checks the workspace's module structure: no import cycle among the modules
of a crate, and no file with more than 600 lines of non-test code (lines
that are not blank, comments or `#[cfg(test)]` items) but those allowed
below, each with its reason.

An edge A -> B means a file A names an item of module file B: through a
`use crate::…`/`super::…`/`self::…` path, a path written in the code, or a
name a module re-exports (`pub use`) from B. A module's use of its own
submodules is no edge: the parent composes its children (`mod x;`,
`pub use x::Item`, calls into them); what a child takes from its parent, or
any module from a sibling or cousin, is.
Test modules (`#[cfg(test)] mod … { … }`) are left out: tests may reach
anywhere. A cycle of two or more files fails the check.

Usage: scripts/check-structure.py [--sizes] [ROOT]
  --sizes   also list the files over 600 lines of non-test code, allowed or not.
"""

import re
import sys
from pathlib import Path

LIMIT = 600

# Cycles known and not yet broken, each exactly as it stands: a cycle that
# grows, or any other, fails. None is left: the Spark Connect expression
# translator's parts recurse through a trait object (connect/src/scope.rs).
KNOWN_CYCLES = []
# Files allowed over LIMIT, each with why it cannot be split yet. A file not
# listed that grows past LIMIT fails; a listed one that no longer needs its
# entry is reported (remove the entry).
LARGE_FILES = {}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_code(text):
    """The text without comments and string/char literals (kept as blanks so
    line numbers stay), so that a `crate::x` in prose is no edge."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    if text[i] == "\n":
                        out.append("\n")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            out.append("\n" * text.count("\n", i, end) + '""')
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("\n" * text.count("\n", i, j) + '""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1)
            i = j + 1
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_tests(code):
    """The code without `#[cfg(test)]` items (a module or a single item)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        if m.start() < i:
            continue
        out.append(code[i:m.start()])
        j = m.end()
        # The item ends at its first `;` or at the brace that closes its body.
        depth = 0
        while j < len(code):
            ch = code[j]
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif ch == ";" and depth == 0:
                j += 1
                break
            j += 1
        out.append("\n" * code.count("\n", m.start(), j))
        i = j
    out.append(code[i:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e as f}}` -> [(['a','b'], 'b'), (['a','c','d'], 'd'), (['a','c','e'], 'f')]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+", "@", tree))
    brace = tree.find("{")
    if brace < 0:
        path, _, alias = tree.partition("@")
        parts = path.split("::")
        return [(parts, alias or parts[-1])]
    prefix = tree[:brace].rstrip(":").split("::") if brace else []
    prefix = [p for p in prefix if p]
    inner = tree[brace + 1:tree.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    res = []
    for it in items:
        if it:
            for path, alias in expand_use(it):
                res.append((prefix + path, alias))
    return res


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path tuple -> file
        roots = [p for p in ("lib.rs", "main.rs") if (src / p).exists()]
        for root in roots:
            self.files[()] = src / root
            break
        for f in src.rglob("*.rs"):
            rel = f.relative_to(src)
            if rel.parts[0] == "bin" or rel.name in ("lib.rs", "main.rs") and len(rel.parts) == 1:
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "mod":
                parts.pop()
            self.files[tuple(parts)] = f
        self.code = {}
        self.uses = {}  # module -> list of (abs path, alias, is_pub)
        for mod, f in self.files.items():
            self.code[mod] = drop_tests(strip_code(f.read_text()))
        for mod in self.files:
            self.uses[mod] = self.parse_uses(mod)

    def absolute(self, mod, path):
        """A `use`/code path as segments from the crate root, or None when it
        leaves the crate."""
        path = list(path)
        if not path:
            return None
        if path[0] == "crate":
            return path[1:]
        base = list(mod)
        if path[0] == "self":
            return base + path[1:]
        if path[0] == "super":
            while path and path[0] == "super":
                if not base:
                    return None
                base.pop()
                path.pop(0)
            return base + path
        # A bare path: a child module of this one, else something outside.
        if tuple(base + [path[0]]) in self.files:
            return base + path
        return None

    def parse_uses(self, mod):
        res = []
        for m in re.finditer(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", self.code[mod]):
            for path, alias in expand_use(m.group(2)):
                ap = self.absolute(mod, path)
                if ap is not None:
                    res.append((ap, alias, bool(m.group(1))))
        return res

    def resolve(self, path, seen=None):
        """The file that defines what `path` (segments from the root) names."""
        seen = seen or set()
        key = tuple(path)
        if key in seen:
            return None
        seen.add(key)
        # The longest prefix that is a module file.
        for k in range(len(path), -1, -1):
            mod = tuple(path[:k])
            if mod in self.files:
                break
        rest = path[k:]
        if not rest or rest == ["self"] or rest == ["*"]:
            return mod
        name = rest[0]
        for ap, alias, is_pub in self.uses.get(mod, []):
            if is_pub and alias == name and ap[-1] != "*":
                target = self.resolve(ap + rest[1:], seen)
                if target is not None:
                    return target
        return mod

    def edges(self):
        res = {}
        for mod in self.files:
            targets = {}
            code = self.code[mod]
            aliases = {}
            for ap, alias, _ in self.uses[mod]:
                t = self.resolve(ap)
                if t is not None:
                    targets.setdefault(t, set()).add("::".join(ap))
                    if tuple(ap) in self.files:
                        aliases[alias] = ap
            for child in self.files:
                if len(child) == len(mod) + 1 and child[:len(mod)] == mod:
                    aliases.setdefault(child[-1], list(child))
            # Paths written in the code.
            for m in re.finditer(rf"(?<![\w:])((?:{IDENT}::)+{IDENT})", code):
                segs = m.group(1).split("::")
                if segs[0] in ("crate", "self", "super"):
                    ap = self.absolute(mod, segs)
                elif segs[0] in aliases:
                    ap = aliases[segs[0]] + segs[1:]
                else:
                    continue
                if ap is None:
                    continue
                t = self.resolve(ap)
                if t is not None:
                    targets.setdefault(t, set()).add("::".join(ap))
            # A module composes its own submodules: using them is the tree's
            # direction, not an import back up.
            res[mod] = {t: n for t, n in targets.items() if t[:len(mod)] != mod}
        return res


def cycles(graph):
    """Strongly connected components of two or more nodes (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
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
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0] if args else Path(__file__).resolve().parent.parent)
    sizes = "--sizes" in sys.argv
    members = re.search(r"members\s*=\s*\[([^\]]*)\]", (root / "Cargo.toml").read_text()).group(1)
    failed = False
    big = []
    for member in re.findall(r'"([^"]+)"', members):
        src = root / member / "src"
        if not src.is_dir():
            continue
        crate = Crate(src)
        graph = crate.edges()
        for comp in cycles(graph):
            files = {str(crate.files[m].relative_to(root)) for m in comp}
            known = files in KNOWN_CYCLES
            failed = failed or not known
            print(f"{'known ' if known else ''}import cycle in {member}:")
            for a in comp:
                for b in comp:
                    if b in graph[a]:
                        names = ", ".join(sorted(graph[a][b]))
                        print(f"  {crate.files[a].relative_to(root)} -> {crate.files[b].relative_to(root)}: {names}")
        for mod, f in crate.files.items():
            lines = sum(1 for line in crate.code[mod].splitlines() if line.strip())
            if lines > LIMIT:
                big.append((lines, f.relative_to(root)))
    if sizes:
        print(f"files over {LIMIT} non-blank lines outside comments and tests:")
        for lines, f in sorted(big, reverse=True):
            print(f"  {lines:5} {f}" + (" (allowed)" if str(f) in LARGE_FILES else ""))
    too_big = [(n, f) for n, f in big if str(f) not in LARGE_FILES]
    for lines, f in too_big:
        print(f"{f}: {lines} lines of non-test code, over {LIMIT}: split it by responsibility")
    stale = sorted(set(LARGE_FILES) - {str(f) for _, f in big})
    for f in stale:
        print(f"note: {f} is allowed over {LIMIT} lines but no longer is: remove it from LARGE_FILES")
    if failed:
        print("module import cycles found: move what both sides share into a module that imports neither")
    if failed or too_big:
        sys.exit(1)
    print(f"no import cycles among the workspace's modules but the known ones listed; "
          f"no file over {LIMIT} lines of non-test code but the allowed ones")


if __name__ == "__main__":
    main()
