"""Attention inspection of `deepmath.gpt.inspect` (book, "ChatGPT – partie 2", §6.5): the
weights of a tiny GPT against a numpy reference, the matrix and head-view figures, and the
self-contained HTML page, its script run in node with a small fake DOM and, when a Chromium is
installed, in a headless browser."""
import html
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from deepmath.gpt import GPT, GPTConfig
from deepmath.gpt.inspect import (attention, head_view_html, plot_attention_matrix,
                                  plot_head_view)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)
IDS = np.array([3, 1, 4, 1, 5, 9, 2, 6])

# The book's matrix h of GPT-2, layer 4, head 11, for "The dog is black"
# (deepmath-book.txt, lines 9879-9880) and its tokens (line 9882).
BOOK_H = np.array([[1.0000e+00, 0.0, 0.0, 0.0],
                   [9.9992e-01, 7.8670e-05, 0.0, 0.0],
                   [2.3590e-06, 9.9987e-01, 1.2841e-04, 0.0],
                   [9.9210e-08, 1.6798e-08, 1.0000e+00, 1.6479e-07]])
BOOK_TOKENS = ["The", "_dog", "_is", "_black"]
ODD_LABELS = ["<b>", "&", '"q"', "\n", " ", ""]
ODD_SHOWN = ["<b>", "&", '"q"', "\\n", "␣", "∅"]       # what the page shows for them


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot
    matplotlib.pyplot.close("all")


@pytest.fixture(scope="module")
def model():
    gpt = GPT(GPTConfig(**TINY), seed=1, dtype=np.float64)
    for i in range(TINY["n_layer"]):           # larger q, k so that the heads differ
        gpt.params[f"transformer.h.{i}.attn.c_attn.weight"].data *= 40
    return gpt


def reference_layer0(gpt, ids):
    """softmax(q kᵀ/√d) of layer 0 computed here from the weights, (H, T, T)."""
    p = {k: v.data for k, v in gpt.params.items()}
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][:len(ids)]
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    x = x * p["transformer.h.0.ln_1.weight"] + p["transformer.h.0.ln_1.bias"]
    qkv = x @ p["transformer.h.0.attn.c_attn.weight"] + p["transformer.h.0.attn.c_attn.bias"]
    t, h = len(ids), TINY["n_head"]
    q, k, _ = qkv.reshape(t, 3, h, -1).transpose(1, 2, 0, 3)
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    scores[:, np.triu(np.ones((t, t), bool), 1)] = -np.inf
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ---- attention --------------------------------------------------------------------------------
def test_attention_shapes_rows_and_causal_mask(model):
    w = attention(model, IDS)
    assert w.shape == (2, 2, 8, 8) and w.dtype == np.float64
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-12)
    assert np.all(w[..., np.triu_indices(8, 1)[0], np.triu_indices(8, 1)[1]] == 0)
    assert not np.allclose(w[0, 0], w[0, 1])                 # the heads look elsewhere
    np.testing.assert_allclose(w[0], reference_layer0(model, IDS), rtol=1e-9, atol=1e-12)


def test_attention_picks_layer_and_head(model):
    w = attention(model, IDS[None, :5])
    np.testing.assert_array_equal(attention(model, list(IDS[:5])), w)
    assert w.shape == (2, 2, 5, 5)
    np.testing.assert_array_equal(attention(model, IDS[:5], layer=1), w[1])
    np.testing.assert_array_equal(attention(model, IDS[:5], head=0), w[:, 0])
    np.testing.assert_array_equal(attention(model, IDS[:5], layer=1, head=1), w[1, 1])


@pytest.mark.parametrize("kw, match", [(dict(layer=2), "layer must be in 0..1"),
                                       (dict(layer=-1), "layer"),
                                       (dict(head=2), "head must be in 0..1"),
                                       (dict(head=1.0), "head must be an integer")])
def test_attention_rejects_bad_layer_or_head(model, kw, match):
    with pytest.raises(ValueError, match=match):
        attention(model, IDS, **kw)


def test_attention_rejects_a_batch_and_bad_tokens(model):
    with pytest.raises(ValueError, match="one sequence"):
        attention(model, np.stack([IDS, IDS]))
    with pytest.raises(ValueError, match="vocabulary"):
        attention(model, [1, 11])
    with pytest.raises(ValueError, match="block_size"):
        attention(model, np.arange(9) % 11)
    with pytest.raises(TypeError, match="model must be a GPT"):
        attention(np.eye(3), IDS)


# ---- figures ----------------------------------------------------------------------------------
def test_matrix_plot_shows_the_weights_with_labelled_ticks(model, tmp_path):
    w = attention(model, IDS[:6], layer=1, head=0)
    labels = list("abcdef")
    fig = plot_attention_matrix(w, labels, file=tmp_path / "m.png", title="couche 1, tête 0")
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), w)
    assert [t.get_text() for t in ax.get_xticklabels()] == labels
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert len(fig.axes) == 2                                   # the colour bar
    assert ax.get_title() == "couche 1, tête 0"
    assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_matrix_plot_writes_the_book_values_and_shows_odd_labels():
    fig = plot_attention_matrix(BOOK_H, BOOK_TOKENS)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts[:4] == ["1.00", "0.00", "0.00", "0.00"] and texts[14] == "1.00"
    fig = plot_attention_matrix(np.eye(6), ODD_LABELS)
    shown = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert shown == ODD_SHOWN
    fig = plot_head_view(np.eye(2), ["$x$", "a\tb"])
    assert {t.get_text() for t in fig.axes[0].texts} >= {r"\$x\$", "a\\tb"}  # no mathtext


def test_head_view_has_one_line_per_pair_with_alpha_the_weight(tmp_path):
    fig = plot_head_view(BOOK_H, BOOK_TOKENS, file=tmp_path / "h.png")
    lines = fig.axes[0].collections[0]
    segments, colours = lines.get_segments(), lines.get_colors()
    assert len(segments) == len(colours) == 16
    np.testing.assert_allclose(colours[:, 3], BOOK_H.ravel(), atol=1e-15)
    y = {label.get_text(): label.get_position()[1] for label in fig.axes[0].texts
         if label.get_position()[0] < 0 and label.get_text() in BOOK_TOKENS}
    # line 3·4 + 2 joins query _black (left) to key _is (right), the book's strongest link
    (x0, y0), (x1, y1) = segments[14]
    assert (x0, x1) == (0.0, 1.0) and y0 == y["_black"] and y1 == y["_is"]
    assert sum(t.get_text() in BOOK_TOKENS for t in fig.axes[0].texts) == 8
    assert (tmp_path / "h.png").stat().st_size > 1000


@pytest.mark.parametrize("function", [plot_attention_matrix, plot_head_view])
def test_figures_reject_bad_input(function):
    with pytest.raises(ValueError, match="square"):
        function(np.ones((2, 3)) / 3, ["a", "b"])
    with pytest.raises(ValueError, match="3 token_labels for 4 tokens"):
        function(BOOK_H, ["a", "b", "c"])
    with pytest.raises(ValueError, match="finite"):
        function(np.full((2, 2), np.nan), "ab")


def test_head_view_rejects_weights_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_head_view(2 * BOOK_H, BOOK_TOKENS)


# ---- HTML -------------------------------------------------------------------------------------
class Page(HTMLParser):
    """The page's elements: lines, token texts, options, scripts; and unclosed tags."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.lines, self.tokens, self.options, self.scripts, self.open = [], [], [], [], []
        self._data = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):     # <line/> comes here too, then to endtag
        attrs = dict(attrs)
        if tag == "line":
            self.lines.append(attrs)
        if tag != "meta":
            self.open.append(tag)
        if tag in ("text", "option", "script"):
            self._data = (tag, attrs, [])

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing"
        if self._data and self._data[0] == tag:
            kind, attrs, parts = self._data
            item = {**attrs, "text": "".join(parts)}
            {"text": self.tokens, "option": self.options, "script": self.scripts}[kind] \
                .append(item)
            self._data = None

    def handle_data(self, data):
        if self._data:
            self._data[2].append(data)


def check_lines(lines, w):
    t = len(w)
    assert len(lines) == t * t
    assert sorted((int(a["data-q"]), int(a["data-k"])) for a in lines) == \
        [(i, j) for i in range(t) for j in range(t)]
    for a in lines:
        assert abs(float(a["stroke-opacity"]) - w[int(a["data-q"]), int(a["data-k"])]) <= 1e-6


@pytest.fixture(scope="module")
def weights(model):
    return attention(model, IDS[:6])


def test_html_page_is_self_contained_and_shows_layer_0_head_0(weights, tmp_path):
    page = head_view_html(weights, ODD_LABELS, file=tmp_path / "v.html",
                          layer_names=["bas", "haut <2>"])
    assert (tmp_path / "v.html").read_text(encoding="utf-8") == page
    assert [p.name for p in tmp_path.iterdir()] == ["v.html"]      # no temporary file left
    parsed = Page(page)
    assert parsed.open == []
    check_lines(parsed.lines, weights[0, 0])
    tokens = [t for t in parsed.tokens if t.get("class") == "tok"]
    assert [t["text"] for t in tokens if t["data-role"] == "q"] == ODD_SHOWN
    assert [t["text"] for t in tokens if t["data-role"] == "k"] == ODD_SHOWN
    assert "&lt;b&gt;" in page and "&quot;q&quot;" in page and "<b>" not in page
    assert [o["text"] for o in parsed.options] == ["bas", "haut <2>", "0", "1"]
    data = json.loads(next(s["text"] for s in parsed.scripts if s.get("id") == "hv-data"))
    np.testing.assert_allclose(data["weights"], weights, atol=1e-6)
    assert "http" not in page and "src=" not in page and "@import" not in page


def test_html_accepts_one_head_and_the_models_maps(model):
    parsed = Page(head_view_html(BOOK_H, BOOK_TOKENS))
    check_lines(parsed.lines, BOOK_H)
    maps = model.attention_maps(IDS[None, :4])
    assert head_view_html(maps, "abcd") == head_view_html(attention(model, IDS[:4]), "abcd")


def test_html_rejects_bad_input(weights):
    with pytest.raises(ValueError, match="square heads"):
        head_view_html(np.ones((2, 3, 4)), "abcd")
    with pytest.raises(ValueError, match="5 token_labels for 6 tokens"):
        head_view_html(weights, "abcde")
    with pytest.raises(ValueError, match="1 layer_names for 2 layers"):
        head_view_html(weights, "abcdef", layer_names=["x"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        head_view_html(-weights, "abcdef")


# ---- the page's script ------------------------------------------------------------------------
# A fake DOM, just what the script uses, built from the parsed page; the script then runs for
# "#layer=1&head=1", a query token is hovered, and the selects switch to layer 0, head 1.
FAKE_DOM = r"""
const page = JSON.parse(require("fs").readFileSync(0, "utf8"));
function element(attrs) {
  const classes = new Set(), listeners = {};
  return {attrs: {...attrs}, value: "0", textContent: "", dataset: {}, listeners,
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); },
    addEventListener(type, f) { (listeners[type] = listeners[type] || []).push(f); },
    fire(type) { (listeners[type] || []).forEach(f => f()); },
    classList: {toggle(c, on) { on ? classes.add(c) : classes.delete(c); },
                contains(c) { return classes.has(c); }}};
}
const lines = page.lines.map(element), tokens = page.tokens.map(element);
const svg = element({});
svg.querySelectorAll = s => ({"line": lines, "text.tok": tokens})[s];
const ids = {"hv-svg": svg, "hv-layer": element({}), "hv-head": element({}),
             "hv-title": element({}), "hv-data": element({})};
ids["hv-data"].textContent = page.data;
global.document = {getElementById: id => ids[id], body: element({})};
global.location = {hash: "#layer=1&head=1"};
const opacities = () => lines.map(l => [+l.attrs["data-q"], +l.attrs["data-k"],
                                         +l.attrs["stroke-opacity"]]);
new Function(page.script)();
const out = {ready: document.body.dataset.ready, shown: svg.attrs["data-shown"],
             title: ids["hv-title"].textContent, first: opacities()};
tokens.find(t => t.attrs["data-role"] === "q" && t.attrs["data-i"] === "2").fire("mouseenter");
out.focus = svg.classList.contains("focus");
out.hi = lines.filter(l => l.classList.contains("hi")).map(l => +l.attrs["data-k"]);
tokens.find(t => t.attrs["data-role"] === "q" && t.attrs["data-i"] === "2").fire("mouseleave");
out.unfocus = !svg.classList.contains("focus") && !lines.some(l => l.classList.contains("hi"));
ids["hv-layer"].value = "0"; ids["hv-head"].value = "1"; ids["hv-head"].fire("change");
out.second = opacities();
console.log(JSON.stringify(out));
"""


def test_script_switches_heads_and_highlights_in_node(weights):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    parsed = Page(head_view_html(weights, list("abcdef"), layer_names=["bas", "haut"]))
    scripts = {s.get("id"): s["text"] for s in parsed.scripts}
    page = {"lines": parsed.lines, "data": scripts["hv-data"], "script": scripts[None],
            "tokens": [t for t in parsed.tokens if t.get("class") == "tok"]}
    run = subprocess.run([node, "-e", FAKE_DOM], input=json.dumps(page), text=True,
                         capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert (out["ready"], out["shown"], out["title"]) == ("1", "1,1", "haut, tête 1")
    for key, (layer, head) in (("first", (1, 1)), ("second", (0, 1))):
        got = np.zeros((6, 6))
        for q, k, v in out[key]:
            got[q, k] = v
        np.testing.assert_allclose(got, weights[layer, head], atol=1e-6)
    assert out["focus"] and sorted(out["hi"]) == list(range(6)) and out["unfocus"]


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium installed")
def test_page_renders_in_a_headless_browser(weights, tmp_path):
    file = tmp_path / "view.html"
    head_view_html(weights, ODD_LABELS, file=file)
    command = [_chromium(), "--headless", "--disable-gpu", "--dump-dom",
               "--virtual-time-budget=2000", f"--user-data-dir={tmp_path / 'profile'}",
               file.as_uri() + "#layer=1&head=0"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.insert(1, "--no-sandbox")
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.skip("the browser did not answer within 60 s")
    dom = run.stdout
    assert 'data-ready="1"' in dom, run.stderr[-2000:]
    assert 'data-shown="1,0"' in dom
    parsed = Page(dom[dom.index("<html"):])
    check_lines(parsed.lines, weights[1, 0])
    tokens = [t["text"] for t in parsed.tokens if t.get("class") == "tok"]
    assert tokens == ODD_SHOWN * 2
    assert html.escape("<b>") in dom
