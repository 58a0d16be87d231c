"""The one palette and table style of everything Workbench displays, light and dark.

Every colour is one of JupyterLab's theme variables with a fallback, e.g.
``var(--jp-ui-font-color1, #1f2328)``: in JupyterLab the theme decides (so a dark theme gets
light text and dim rules), elsewhere (nbconvert exports, an SVG opened as a file) the fallback
shows. This is the only module that names a colour; the rest of ``workbench.display`` asks it.

Status colours are the theme's success / warn / error / brand colours, mid-tones that read on
both a white and a near-black background. SVG takes them through ``style=`` (``fill:var(...)``),
never as ``fill="var(...)"`` attributes, which not every renderer resolves.
"""

from __future__ import annotations

from html import escape


def _jp(name: str, fallback: str) -> str:
    return f"var(--jp-{name}, {fallback})"


# -- the palette -------------------------------------------------------------------------------
INK = _jp("ui-font-color1", "#1f2328")          # text
MUTED = _jp("ui-font-color2", "#57606a")        # notes, axes, neutral states
FAINT = _jp("ui-font-color3", "#8c959f")        # edges and bars without a status
RULE = _jp("border-color2", "#d0d7de")          # table rules, box outlines
SURFACE = _jp("layout-color1", "white")         # the background of a picture
GOOD = _jp("success-color1", "#2e7d32")
WARN = _jp("warn-color1", "#b26a00")
BAD = _jp("error-color1", "#d32f2f")
ACTIVE = _jp("brand-color1", "#1976d2")         # running, highlighted, links
OTHER = _jp("info-color1", "#00838f")           # a fourth hue, for steps

# every state any object shows -> its colour; upper case for Prefect's states
STATUS = {
    **dict.fromkeys(("success", "pass", "done", "finished", "fresh", "ready", "served",
                     "completed", "online"), GOOD),
    **dict.fromkeys(("warn", "late", "cancelling", "paused"), WARN),
    **dict.fromkeys(("error", "fail", "failed", "stale", "crashed", "unreachable"), BAD),
    **dict.fromkeys(("running", "pending", "scheduled"), ACTIVE),
    **dict.fromkeys(("queued", "skipped", "cancelled", "idle", "unknown", "never loaded",
                     "no sla", "not_ready", "offline"), MUTED),
}

# a node's kind -> its accent: the lineage's kind tag, stripe and (faintly) box fill
KIND = {"source": ACTIVE, "seed": WARN, "model": MUTED, "snapshot": MUTED, "step": OTHER,
        "action": GOOD, "test": FAINT}


def colour(state: str, default: str = MUTED) -> str:
    """The colour of a state, whatever its case (``"COMPLETED"`` and ``"completed"`` agree)."""
    return STATUS.get(state, STATUS.get(str(state).lower(), default))


# -- type and tables ---------------------------------------------------------------------------
MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px"
SANS = "ui-sans-serif,system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"

# table-layout: JupyterLab's rendered HTML fixes it, which squeezes the columns of a table that
# is width:100% (every name column cut to fit the first row's widths); ours size by content
TABLE = f"border-collapse:collapse;table-layout:auto;{MONO};color:{INK}"
CELL = f"padding:2px 10px;border-bottom:1px solid {RULE};text-align:left;vertical-align:top"
NUM = CELL.replace("text-align:left", "text-align:right")
HEAD = f"{CELL};font-weight:600"
NOTE = f"color:{MUTED}"
# a table's last column taking the width left, cut to it with an ellipsis (max-width:0 lets a
# cell shrink below its text; the table must be width:100%)
FILL = "width:100%;max-width:0;overflow:hidden;text-overflow:ellipsis;white-space:nowrap"


def badge(state: str, text: str | None = None, *, css: str = "") -> str:
    """``state`` (or ``text``) in the state's colour, bold: the one way a status is shown."""
    klass = f" class='{escape(css)}'" if css else ""
    return (f"<span{klass} style='color:{colour(state)};font-weight:600'>"
            f"{escape(state if text is None else text)}</span>")


def note(text: str) -> str:
    """Secondary text: readable on both themes, quieter than the rest."""
    return f"<span style='{NOTE}'>{escape(text)}</span>"


# -- SVG ---------------------------------------------------------------------------------------
def fill(colour_: str, opacity: float | None = None) -> str:
    """A ``style=`` attribute that fills with a theme colour (an attribute cannot hold var())."""
    alpha = "" if opacity is None else f";fill-opacity:{opacity:g}"
    return f'style="fill:{colour_}{alpha}"'


def stroke(colour_: str, width: float = 1, *, fill_: str = "none", extra: str = "") -> str:
    """A ``style=`` attribute that strokes with a theme colour."""
    more = f";{extra}" if extra else ""
    return f'style="stroke:{colour_};stroke-width:{width:g};fill:{fill_}{more}"'


def background() -> str:
    """The backdrop of a picture: the notebook's own background, white in a file."""
    return f'<rect width="100%" height="100%" {fill(SURFACE)}/>'
