"""The readable graph view, on the book's chapter-1 example F(x) = cos(2x²) at x = 3."""
import math

import deepmath as dm


def book_graph():
    x = dm.tensor(3.0, dtype="float64", requires_grad=True, name="x")
    return x, dm.cos(2 * x ** 2)


def test_explain_shows_values_local_derivatives_and_totals():
    x, z = book_graph()
    text = dm.graph.explain(z)
    lines = text.splitlines()
    assert lines[-1].startswith("v3 = cos(v2) = 0.660317")
    assert f"[dv3/dv2={-math.sin(18):.6g}]" in lines[-1]        # local derivative -sin 18
    assert "[dv1/dx=6]" in text and "[dv2/dv1=2]" in text        # d(x²)=2x, d(2y)=2
    assert f"x = 3   {{{{{-12 * math.sin(18):.6g}}}}}" in text   # {{F'(3)}} = -12 sin 18
    assert "(constant)" in text
    z.backward()  # the view kept the graph usable
    assert x.grad.item() == -12 * math.sin(18)


def test_to_dot_is_graphviz_source():
    _, z = book_graph()
    dot = dm.graph.to_dot(z)
    assert dot.startswith("digraph deepmath {") and dot.rstrip().endswith("}")
    assert '"x" -> "v1" [label="[6]"];' in dot
    assert dot.count("->") == 5


def test_explain_after_backward_and_for_arrays():
    x = dm.tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (x * x).sum()
    y.backward()
    text = dm.graph.explain(y)  # graph freed: values still shown, no derivatives
    assert "w = array(2,)" in text and "{{" not in text
    assert "sum(" in text
