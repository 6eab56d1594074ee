"""What the attention heads of a GPT look at (book, "ChatGPT – partie 2", §6.5 "Exemple de
GPT2"): the attention matrix h of one head, row i the weights h_ij query i gives to key j, drawn
as a matrix and as the book's head view, where "on relie le mot numéro i (colonne de gauche, la
requête) au mot numéro j (colonne de droite, la clé) en traçant un segment plus ou moins visible
selon la valeur du coefficient h_ij" (what `bertviz`'s head_view shows).

- `attention(model, tokens, layer, head)`: the weights, one head or all of them;
- `plot_attention_matrix`, `plot_head_view`: matplotlib figures (PNG with `file=`);
- `head_view_html`: one self-contained HTML page (inline CSS, SVG and JavaScript, nothing
  fetched) with every layer and head, a select to switch, hovering a token to isolate its lines.

Token labels are shown as visible text: a newline as the two characters \\n (tab \\t, carriage
return \\r), a label of spaces as ␣, an empty one as ∅. A string given as `token_labels` is
taken as one label per character (a `CharTokenizer`'s tokens).
"""
import html
import json

import numpy as np

from ..plot import finish, pyplot
from ..saving.io import atomic_path

_LINE_RGB = (0.12, 0.47, 0.71)          # the head view's colour (matplotlib's tab:blue)
_TOLERANCE = 1e-6                       # how far outside [0, 1] a weight may be rounded


# ---- the weights ------------------------------------------------------------------------------
def attention(model, tokens, layer=None, head=None):
    """The attention weights of `model` (a `GPT`) on one token sequence (ids, 1-D or (1, T)):
    an array (n_layer, n_head, T, T) in float64, row i the weights of query i over keys 0..i
    (causal, each row sums to 1); `layer` and/or `head` pick one: (n_head, T, T),
    (n_layer, T, T) or the (T, T) matrix h of the book."""
    if not callable(getattr(model, "attention_maps", None)):
        raise TypeError(f"model must be a GPT (with attention_maps), got "
                        f"{type(model).__name__}")
    ids = np.asarray(tokens)
    if ids.ndim == 2 and ids.shape[0] != 1 or ids.ndim not in (1, 2):
        raise ValueError(f"tokens must be one sequence of ids, (T,) or (1, T), got shape "
                         f"{ids.shape}")
    maps = np.stack([m[0] for m in model.attention_maps(ids.reshape(1, -1))])
    n_layer, n_head = maps.shape[:2]
    if layer is not None:
        maps = maps[_index(layer, n_layer, "layer")]
    if head is not None:
        maps = maps[..., _index(head, n_head, "head"), :, :]
    return maps


def _index(value, count, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= value < count:
        raise ValueError(f"{name} must be in 0..{count - 1}, got {value}")
    return int(value)


# ---- checks shared by the views ---------------------------------------------------------------
def _labels(token_labels, count, caller):
    """The labels as visible strings, one per token."""
    labels = list(token_labels) if isinstance(token_labels, str) else \
        [str(t) for t in token_labels]
    if len(labels) != count:
        raise ValueError(f"{caller}: {len(labels)} token_labels for {count} tokens: they must "
                         f"match")
    return [_visible(t) for t in labels]


def _visible(label):
    """A label that shows: control characters escaped, blank ones as ␣, empty as ∅."""
    shown = label.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "∅" if not shown else "␣" * len(shown) if shown.isspace() else shown


def _weights(weights, caller, unit=True):
    """A (T, T) head as float64, finite (and in [0, 1] when `unit`, then clipped to it)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.size == 0:
        raise ValueError(f"{caller}: weights must be a square matrix (T, T) of one head, got "
                         f"shape {w.shape}")
    return _finite(w, caller, unit)


def _finite(w, caller, unit):
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{caller}: weights must be finite")
    if unit and (w.min() < -_TOLERANCE or w.max() > 1 + _TOLERANCE):
        raise ValueError(f"{caller}: attention weights must lie in [0, 1], got values in "
                         f"[{w.min():.6g}, {w.max():.6g}]")
    return np.clip(w, 0.0, 1.0) if unit else w


def _mathtext_safe(label):
    return label.replace("$", r"\$")


# ---- matplotlib figures -----------------------------------------------------------------------
def plot_attention_matrix(weights, token_labels, file=None, show=False, title=None):
    """The attention matrix h (T, T) of one head as coloured cells (`imshow`, colour bar),
    queries down the rows, keys along the columns, the tokens on both axes, each value
    written in its cell up to 10 tokens (the book's table for "The dog is black"). Any finite
    values are drawn (scores before the softmax too)."""
    w = _weights(weights, "plot_attention_matrix", unit=False)
    labels = [_mathtext_safe(t) for t in _labels(token_labels, len(w), "plot_attention_matrix")]
    size = 2.5 + 0.4 * len(w)
    fig, ax = pyplot().subplots(figsize=(size + 1.2, size))
    image = ax.imshow(w, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = np.arange(len(w))
    ax.set_xticks(ticks, labels, rotation=90)
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("clé")
    ax.set_ylabel("requête")
    if len(w) <= 10:
        _write_values(ax, w)
    if title is not None:
        ax.set_title(str(title))
    fig.tight_layout()
    return finish(fig, file, show)


def _write_values(ax, w):
    middle = (w.max() + w.min()) / 2
    for (i, j), v in np.ndenumerate(w):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                color="white" if v > middle else "black")


def plot_head_view(weights, token_labels, file=None, show=False, title=None):
    """The book's head view of one head: the tokens in a column on the left (queries) and
    again on the right (keys), a segment from each left token i to each right token j whose
    opacity is the weight h_ij. The segments are one `LineCollection` (`fig.axes[0]
    .collections[0]`) of T×T lines, line i·T + j joining query i to key j with colour
    alpha = h_ij exactly (the weights must lie in [0, 1])."""
    w = _weights(weights, "plot_head_view")
    labels = [_mathtext_safe(t) for t in _labels(token_labels, len(w), "plot_head_view")]
    from matplotlib.collections import LineCollection
    t = len(w)
    y = np.arange(t - 1, -1, -1, dtype=float)           # token 0 on top
    segments = [[(0.0, y[i]), (1.0, y[j])] for i in range(t) for j in range(t)]
    colours = np.column_stack([np.tile(_LINE_RGB, (t * t, 1)), w.ravel()])
    fig, ax = pyplot().subplots(figsize=(4.5, 1.0 + 0.35 * t))
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=2))
    for i, label in enumerate(labels):
        ax.text(-0.04, y[i], label, ha="right", va="center")
        ax.text(1.04, y[i], label, ha="left", va="center")
    ax.text(-0.04, t - 0.2, "requêtes", ha="right", va="bottom", style="italic")
    ax.text(1.04, t - 0.2, "clés", ha="left", va="bottom", style="italic")
    margin = 0.2 + 0.06 * max(len(label) for label in labels)
    ax.set_xlim(-margin, 1 + margin)
    ax.set_ylim(-0.6, t + 0.4)
    ax.axis("off")
    if title is not None:
        ax.set_title(str(title))
    return finish(fig, file, show)


# ---- a self-contained HTML page ---------------------------------------------------------------
_ROW, _TOP, _SPAN = 22, 34, 160         # SVG geometry in pixels: row height, top, line length

_CSS = """body{font-family:sans-serif;margin:1.5em}
#hv-svg line{stroke:#1f77b4;stroke-width:2}
#hv-svg.focus line{visibility:hidden}
#hv-svg.focus line.hi{visibility:visible}
#hv-svg text{font:14px monospace;white-space:pre}
#hv-svg text.tok{cursor:pointer}
#hv-svg text.tok:hover{font-weight:bold;fill:#d62728}
#hv-svg text.head{font-style:italic;fill:#555}"""

# The page's script: sets every line's opacity from the weights of the selected layer and head
# (the select boxes, or #layer=L&head=H in the address), isolates the lines of a hovered token,
# and marks <body data-ready="1"> once done.
_SCRIPT = r"""(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("hv-data").textContent);
  var svg = document.getElementById("hv-svg");
  var layer = document.getElementById("hv-layer"), head = document.getElementById("hv-head");
  var title = document.getElementById("hv-title");
  var lines = svg.querySelectorAll("line"), tokens = svg.querySelectorAll("text.tok");
  function show() {
    var l = Number(layer.value), h = Number(head.value), w = data.weights[l][h];
    for (var n = 0; n < lines.length; n++) {
      var q = Number(lines[n].getAttribute("data-q")), k = Number(lines[n].getAttribute("data-k"));
      lines[n].setAttribute("stroke-opacity", String(w[q][k]));
    }
    svg.setAttribute("data-shown", l + "," + h);
    title.textContent = data.layers[l] + ", tête " + h;
  }
  function focus(role, i) {
    svg.classList.toggle("focus", i !== null);
    for (var n = 0; n < lines.length; n++) {
      lines[n].classList.toggle("hi", lines[n].getAttribute("data-" + role) === i);
    }
  }
  function hover(token) {
    var role = token.getAttribute("data-role"), i = token.getAttribute("data-i");
    token.addEventListener("mouseenter", function () { focus(role, i); });
    token.addEventListener("mouseleave", function () { focus(role, null); });
  }
  for (var n = 0; n < tokens.length; n++) hover(tokens[n]);
  var wanted = /layer=(\d+)&head=(\d+)/.exec(location.hash);
  if (wanted && Number(wanted[1]) < data.weights.length &&
      Number(wanted[2]) < data.weights[0].length) {
    layer.value = wanted[1];
    head.value = wanted[2];
  }
  layer.addEventListener("change", show);
  head.addEventListener("change", show);
  show();
  document.body.dataset.ready = "1";
})();"""


def head_view_html(weights, token_labels, file=None, layer_names=None):
    """The head view of every layer and head as one self-contained HTML page (no external
    resource: inline CSS, SVG and JavaScript): select boxes choose the layer and the head
    (or the address ends with #layer=L&head=H), hovering a token keeps only its lines.
    `weights`: (T, T), (n_head, T, T), (n_layer, n_head, T, T) as `attention` gives, or the
    list `GPT.attention_maps` returns for one sequence. The page as written shows layer 0,
    head 0: T×T <line> elements (data-q, data-k) with stroke-opacity = h_ij (6 significant
    digits). Returns the HTML text; with `file`, also writes it (UTF-8, atomically)."""
    w = _all_heads(weights)
    labels = _labels(token_labels, w.shape[-1], "head_view_html")
    names = _layer_names(layer_names, len(w))
    data = {"layers": names, "weights": _rounded(w).tolist()}
    page = _page(_rounded(w[0, 0]), labels, names, w.shape[1], data)
    if file is not None:
        with atomic_path(file) as tmp, open(tmp, "w", encoding="utf-8") as out:
            out.write(page)
    return page


def _all_heads(weights):
    """The weights as (n_layer, n_head, T, T), checked."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 5 and w.shape[1] == 1:                  # GPT.attention_maps: L × (1, H, T, T)
        w = w[:, 0]
    if w.ndim not in (2, 3, 4) or w.shape[-1] != w.shape[-2] or w.size == 0:
        raise ValueError(f"head_view_html: weights must be (T, T), (n_head, T, T) or "
                         f"(n_layer, n_head, T, T) with square heads, got shape {w.shape}")
    return _finite(w.reshape((1,) * (4 - w.ndim) + w.shape), "head_view_html", unit=True)


def _layer_names(layer_names, count):
    if layer_names is None:
        return [f"couche {i}" for i in range(count)]
    names = [str(n) for n in layer_names]
    if len(names) != count:
        raise ValueError(f"head_view_html: {len(names)} layer_names for {count} layers: they "
                         f"must match")
    return names


def _rounded(w):
    """Weights to 6 significant digits, as written in the page."""
    return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[float])(w)


def _page(w, labels, names, n_head, data):
    layer_options = "".join(f'<option value="{i}">{html.escape(n)}</option>'
                            for i, n in enumerate(names))
    head_options = "".join(f'<option value="{h}">{h}</option>' for h in range(n_head))
    return f"""<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>Têtes d'attention</title>
<style>
{_CSS}
</style>
</head>
<body>
<p><label>Couche <select id="hv-layer">{layer_options}</select></label>
<label>Tête <select id="hv-head">{head_options}</select></label></p>
<p id="hv-title">{html.escape(names[0])}, tête 0</p>
{_svg(w, labels)}
<script type="application/json" id="hv-data">{_json(data)}</script>
<script>
{_SCRIPT}
</script>
</body>
</html>
"""


def _svg(w, labels):
    """The head view of one head as inline SVG: token columns and T×T lines."""
    t = len(w)
    label_px = 12 + 9 * max(len("requêtes"), *(len(label) for label in labels))
    x_left, x_right = label_px, label_px + 16 + _SPAN
    y = [_TOP + _ROW * i for i in range(t)]
    tokens = "\n".join(
        f'<text class="tok" data-role="{role}" data-i="{i}" x="{x}" y="{y[i] + 5}" '
        f'text-anchor="{anchor}">{html.escape(label)}</text>'
        for role, x, anchor in (("q", x_left, "end"), ("k", x_right, "start"))
        for i, label in enumerate(labels))
    lines = "\n".join(
        f'<line data-q="{i}" data-k="{j}" x1="{x_left + 8}" y1="{y[i]}" x2="{x_right - 8}" '
        f'y2="{y[j]}" stroke-opacity="{w[i, j]:.6g}"/>'
        for i in range(t) for j in range(t))
    return (f'<svg id="hv-svg" width="{x_right + label_px}" height="{_TOP + _ROW * t}" '
            f'role="img" aria-label="head view">\n'
            f'<text class="head" x="{x_left}" y="16" text-anchor="end">requêtes</text>\n'
            f'<text class="head" x="{x_right}" y="16">clés</text>\n'
            f'<g>\n{lines}\n</g>\n{tokens}\n</svg>')


def _json(data):
    """JSON that cannot close the <script> element it sits in."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace(
        "<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
