"""`model.summary()`: Keras 3's table of layers, output shapes and parameter counts (the book
checks 130 394 parameters for its MNIST CNN this way)."""
from ..layers.base import shape_str

_WIDTHS = (33, 24, 15)


def _size(n_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024


def _count(weights):
    n = sum(w.size for w in weights)
    return f"{n:,} ({_size(sum(w.data.nbytes for w in weights))})"


def _row(cells, left="│", mid="│", right="│"):
    texts = []
    for i, (cell, width) in enumerate(zip(cells, _WIDTHS)):
        cell = cell if len(cell) <= width - 2 else cell[:width - 3] + "…"
        texts.append(" " + (cell.rjust(width - 2) if i == 2 else cell.ljust(width - 2)) + " ")
    return left + mid.join(texts) + right


def _rule(left, mid, right, fill):
    return left + mid.join(fill * w for w in _WIDTHS) + right


def _layer_rows(model):
    out_of = {id(layer): out for layer, _, out in getattr(model, "_nodes", ())}
    for t in model.inputs:
        if hasattr(t, "input_layer"):
            out_of.setdefault(id(t.input_layer), t)
    for layer in model.layers:
        out = out_of.get(id(layer))
        params = f"{sum(w.size for w in layer._own_weights()):,}" if layer.built else \
            "0 (unbuilt)"
        yield [f"{layer.name} ({type(layer).__name__})",
               shape_str(out.shape) if out is not None else "?", params]


def print_summary(model, line_length=None, print_fn=None):
    emit = print_fn or print
    lines = [f'Model: "{model.name}"',
             _rule("┏", "┳", "┓", "━"),
             _row(["Layer (type)", "Output Shape", "Param #"], "┃", "┃", "┃"),
             _rule("┡", "╇", "┩", "━")]
    rows = list(_layer_rows(model))
    for i, cells in enumerate(rows):
        lines.append(_row(cells))
        if i < len(rows) - 1:
            lines.append(_rule("├", "┼", "┤", "─"))
    lines.append(_rule("└", "┴", "┘", "─"))
    trainable, fixed = model.trainable_weights, model.non_trainable_weights
    lines += [f" Total params: {_count(trainable + fixed)}",
              f" Trainable params: {_count(trainable)}",
              f" Non-trainable params: {_count(fixed)}"]
    for line in lines:
        emit(line)
