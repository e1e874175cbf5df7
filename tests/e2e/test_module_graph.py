"""The shape of the workspace: no module imports another that imports it back, directly or around
a loop, anywhere under crates/; and the crates depend on each other one way only.

A module's imports are the `crate::<module>` paths it names (in `use` lines, paths and doc links);
unit tests (`#[cfg(test)] mod tests`) are left out.
"""

import os
import re
import tomllib

from testutil import REPO_ROOT

CRATES = os.path.join(REPO_ROOT, "crates")
# Lower crates first: each may depend only on crates before it.
LAYERS = ["types", "http", "store", "sandbox", "engine", "events", "api", "kumo"]


def modules(src):
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            if parts[-1] in ("lib", "main", "mod"):
                parts = parts[:-1]
            with open(path) as fh:
                text = fh.read()
            mods["::".join(parts) or "(root)"] = re.sub(
                r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", text, flags=re.S)
    return mods


def import_graph(mods):
    graph = {m: set() for m in mods}
    for m, text in mods.items():
        names = set(re.findall(r"crate::([a-z_0-9]+)", text))
        for group in re.findall(r"crate::\{([^}]*)\}", text):
            names.update(re.findall(r"\b([a-z_0-9]+)\b", group))
        graph[m] = {n for n in names if n in mods and n != m}
    return graph


def loops(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_around_a_loop():
    found = {}
    for crate in sorted(os.listdir(CRATES)):
        src = os.path.join(CRATES, crate, "src")
        if os.path.isdir(src):
            cycles = loops(import_graph(modules(src)))
            if cycles:
                found[crate] = cycles
    assert found == {}, f"modules importing each other around a loop: {found}"


def test_crates_depend_one_way():
    for i, crate in enumerate(LAYERS):
        with open(os.path.join(CRATES, crate, "Cargo.toml"), "rb") as f:
            deps = tomllib.load(f).get("dependencies", {})
        internal = {d.removeprefix("kumo-") for d in deps if d.startswith("kumo-")}
        assert internal <= set(LAYERS[:i]), f"{crate} depends on {internal - set(LAYERS[:i])}"


def test_asynchronous_machinery_lives_below_the_http_layer():
    api = set(modules(os.path.join(CRATES, "api", "src")))
    assert not api & {"dispatch", "settle", "schedule", "scheduler", "cron"}
    events = set(modules(os.path.join(CRATES, "events", "src")))
    assert {"dispatch", "settle", "scheduler", "cron"} <= events
