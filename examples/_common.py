"""Helpers shared by the example scripts: the figure folder and the "computed vs book" lines."""
import sys
from pathlib import Path


def figures_dir():
    """The output folder: the first command-line argument, else ./figures (created if needed)."""
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def compare(label, value, book, source="livre"):
    """Print a computed value beside the value the book prints (or an exact formula's)."""
    print(f"{label}: {value} ({source} : {book})")


def saved(fig, path):
    """Close a figure already written by a deepmath plot function and report its file."""
    import matplotlib.pyplot as plt
    plt.close(fig)
    print(f"figure : {path}")


def truncate(value, decimals):
    """`value` with its first `decimals` decimals, truncated as the book prints them; a
    sequence gives "(v1, v2, ...)"."""
    if hasattr(value, "__len__"):
        return "(" + ", ".join(truncate(v, decimals) for v in value) + ")"
    text = f"{value:.{decimals + 4}f}"
    return text[:len(text) - 4]
