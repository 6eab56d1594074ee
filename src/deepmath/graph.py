"""A readable view of a computational graph, in the book's chapter-1 notation: each node with
its value, the local derivative of each edge in brackets [·], and the derivative of the final
output with respect to the node in double braces {{·}}. As text, or as Graphviz DOT source."""
from .tensor import run_backward


def _all_nodes(output):
    """Every tensor the output was computed from (constants included), operands first."""
    order, seen, stack = [], set(), [(output, False)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
        elif id(t) not in seen:
            seen.add(id(t))
            stack.append((t, True))
            if t._node is not None:
                stack.extend((p, False) for p in reversed(t._node.parents))
    return order


def _fmt(array):
    if array is None:
        return "?"
    if array.size == 1:
        return f"{float(array.reshape(())):.6g}"
    return f"array{tuple(array.shape)}"


def _names(nodes):
    names, counts = {}, {"x": 0, "c": 0, "v": 0}
    for t in nodes:
        if t.name:
            names[id(t)] = t.name
            continue
        kind = "v" if t._node is not None else ("x" if t.requires_grad else "c")
        counts[kind] += 1
        names[id(t)] = f"{kind}{counts[kind]}"
    return names


def _analyse(output):
    """Nodes, names, d(output)/d(node) and the local derivative of every edge."""
    nodes = _all_nodes(output)
    names = _names(nodes)
    live = output.requires_grad and output.size == 1 and all(
        t._node is None or t._node.backward is not None for t in nodes)
    totals, local = {}, {}
    if live:
        tracked = [t for t in nodes if t.requires_grad]
        found = run_backward([output], [None], inputs=tracked, retain_graph=True)
        totals = {id(t): g for t, g in zip(tracked, found)}
        for t in nodes:
            if t._node is not None and t.size == 1:
                ones = t.data * 0 + 1
                for p, d in zip(t._node.parents, t._node.backward(ones)):
                    if d is not None and p.requires_grad and p.size == 1:
                        local[(id(t), id(p))] = d.sum()
    return nodes, names, totals, local


def explain(output):
    """The graph of `output` as text, one node a line, operands before results:

        x  = 3                                   {{-8.99}}
        v1 = pow(x, c1)  = 9        [6]          {{-2.99}}
    """
    nodes, names, totals, local = _analyse(output)
    lines = []
    for t in nodes:
        name = names[id(t)]
        if t._node is None:
            head = f"{name} = {_fmt(t.data)}" + ("" if t.requires_grad else "  (constant)")
        else:
            args = ", ".join(names[id(p)] for p in t._node.parents)
            head = f"{name} = {t._node.op}({args}) = {_fmt(t.data)}"
        parts = [head]
        if t._node is not None:
            edges = [f"d{name}/d{names[id(p)]}={_fmt(local[(id(t), id(p))])}"
                     for p in t._node.parents if (id(t), id(p)) in local]
            if edges:
                parts.append("[" + ", ".join(edges) + "]")
        if id(t) in totals and totals[id(t)] is not None:
            parts.append("{{" + _fmt(totals[id(t)]) + "}}")
        lines.append("   ".join(parts))
    return "\n".join(lines)


def to_dot(output):
    """Graphviz DOT source of the graph (render with `dot -Tpng`)."""
    nodes, names, totals, local = _analyse(output)
    out = ["digraph deepmath {", "  rankdir=LR;", '  node [shape=box, fontname="monospace"];']
    for t in nodes:
        name = names[id(t)]
        label = name if t._node is None else f"{name} = {t._node.op}"
        label += f"\\n{_fmt(t.data)}"
        if totals.get(id(t)) is not None:
            label += "\\n{{" + _fmt(totals[id(t)]) + "}}"
        style = "" if t.requires_grad else ", style=dashed"
        out.append(f'  "{name}" [label="{label}"{style}];')
    for t in nodes:
        for p in (t._node.parents if t._node is not None else ()):
            d = local.get((id(t), id(p)))
            attr = f' [label="[{_fmt(d)}]"]' if d is not None else ""
            out.append(f'  "{names[id(p)]}" -> "{names[id(t)]}"{attr};')
    out.append("}")
    return "\n".join(out)

