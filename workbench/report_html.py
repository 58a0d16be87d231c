"""An executed notebook as one HTML file that draws its widgets with no network.

nbconvert's ``lab`` template loads require.js and MathJax from cdnjs and, when the notebook
has widget state, the widget renderer from unpkg: offline, the control panel is blank. Here:

* the renderer is the vendored ``@jupyter-widgets/html-manager`` standalone build
  (``display/vendor/html-manager``, its README says what and why), inlined into the page with
  its icon fonts, so the ipywidgets a report saved (the panel) draw from the saved state;
* models that build cannot draw (anywidget's, as the explorer's grid; any third-party module)
  leave the page's widget state, with every model that refers to them: one such model would
  stop the renderer from drawing any widget. nbconvert shows the ``text/html`` of an output
  whose model is not in the state, so the explorer is its first page as a table;
* every drawn widget carries its output's ``text/html`` next to it, hidden by CSS once the
  renderer has drawn the widget: a viewer without JavaScript still reads the panel;
* require.js, MathJax and mermaid are loaded (from their CDNs, as nbconvert does) only when a
  cell needs them: an output with JavaScript, math in a markdown cell, a mermaid diagram.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from pathlib import Path

from .errors import ConfigError

__all__ = ["DRAWN_MODULES", "drawable_widget_state", "write_html"]

WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The modules the vendored renderer has built in; it loads no other.
DRAWN_MODULES = frozenset({"@jupyter-widgets/base", "@jupyter-widgets/controls",
                           "@jupyter-widgets/output"})
_VENDOR = Path(__file__).parent / "display" / "vendor" / "html-manager"
_REFERENCE = re.compile(r'(?:IPY_MODEL_|"model_id":\s*")([0-9A-Za-z]+)')
_PUBLIC_PATH = 'if(!e)throw new Error("Automatic publicPath is not supported in this browser");'
_MATH = re.compile(r"\$\$|\\\(|\\\[|\\begin\{|(?<![\\$\w])\$(?=\S)[^$\n]*\S\$(?![\w$])")
_REQUIRE = re.compile(r"\brequire(?:js)?(?:\(|\.config)|\bdefine\(")

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}
{%- if resources.workbench.requirejs -%}{{ super() }}{%- endif -%}
{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}
{%- if resources.workbench.mathjax -%}{{ super() }}{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}
{%- if resources.workbench.mermaid -%}{{ super() }}{%- endif -%}
{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}
{%- if resources.workbench.renderer %}
<style>.widget-subarea ~ .workbench-widget-fallback { display: none; }
.widget-subarea { font-family: var(--jp-ui-font-family); }  /* as in JupyterLab */</style>
<script>{{ resources.workbench.renderer }}</script>
{%- endif %}
{% endblock jupyter_widgets %}
{%- block data_widget_view scoped %}
<div class="jupyter-widgets jp-OutputArea-output {{ extra_class }}">
<script type="application/vnd.jupyter.widget-view+json">
{{ output.data['application/vnd.jupyter.widget-view+json'] | json_dumps | escape_html_script }}
</script>
{%- if 'text/html' in output.data %}
<div class="workbench-widget-fallback jp-RenderedHTMLCommon jp-RenderedHTML">
{{ output.data['text/html'] }}
</div>
{%- endif %}
</div>
{%- endblock data_widget_view -%}
"""


def write_html(executed: Path, html_path: Path, no_input: bool = False) -> bool:
    """Write the executed notebook ``executed`` as ``html_path``, atomically.

    Cells tagged ``hide-input`` show only their outputs; ``no_input`` hides every cell's code.
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(executed, as_version=4)
    state = drawable_widget_state(nb)
    if state:
        nb.metadata["widgets"] = {WIDGET_STATE: {**nb.metadata["widgets"][WIDGET_STATE],
                                                 "state": state}}
    else:
        nb.metadata.pop("widgets", None)
    config = Config({"TagRemovePreprocessor": {"enabled": True,
                                               "remove_input_tags": {"hide-input"}}})
    exporter = HTMLExporter(config=config, exclude_input=no_input,
                            exclude_input_prompt=no_input, exclude_output_prompt=no_input,
                            extra_loaders=[DictLoader({"workbench.html.j2": _TEMPLATE})],
                            template_file="workbench.html.j2")
    needs = _needs(nb)
    body, _ = exporter.from_notebook_node(nb, resources={
        "metadata": {"name": html_path.stem},
        "workbench": {**needs, "renderer": widget_renderer() if state else ""}})
    tmp = html_path.with_name(f".{html_path.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, html_path)        # a reader never sees half a report
    return True


def drawable_widget_state(nb) -> dict:
    """The notebook's saved widget models that the vendored renderer can draw: those of
    ``DRAWN_MODULES`` whose every referenced model (a box's children, a style, a layout, an
    Output's displayed widget) is drawable too. Empty if the notebook saved none."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    kept = {model_id: model for model_id, model in saved.items()
            if model.get("model_module") in DRAWN_MODULES
            and model.get("state", {}).get("_view_module") in (None, *DRAWN_MODULES)}
    refers = {model_id: set(_REFERENCE.findall(json.dumps(model.get("state", {}))))
              for model_id, model in kept.items()}
    while True:     # leaving a model out may orphan the models that refer to it
        orphans = [model_id for model_id in kept if refers[model_id] - kept.keys()]
        if not orphans:
            return kept
        for model_id in orphans:
            del kept[model_id]


@functools.cache
def widget_renderer() -> str:
    """The vendored renderer as inline script: its automatic public path (which throws
    without a ``src``) falls back to ``./``, and its icon fonts are ``data:`` URLs."""
    path = _VENDOR / "embed.js"
    script = _replace_once(path.read_text(encoding="utf-8"), path, re.escape(_PUBLIC_PATH),
                           'if(!e)e="./";')
    for font in sorted(_VENDOR.glob("*.woff2")):
        data = base64.b64encode(font.read_bytes()).decode("ascii")
        script = _replace_once(script, path, r'\w+\.p\+"' + re.escape(font.name) + '"',
                               f'"data:font/woff2;base64,{data}"')
    if "</script" in script.lower():
        raise ConfigError(f"{path} contains '</script' and cannot be inlined into HTML",
                          path=str(path))
    return script


def _replace_once(script: str, path: Path, pattern: str, new: str) -> str:
    """``pattern`` replaced by ``new``, which must match exactly once: else the vendored file
    is not the build the vendor README describes."""
    replaced, count = re.subn(pattern, lambda _: new, script)
    if count != 1:
        raise ConfigError(f"{path} is not the html-manager build workbench/display/vendor/"
                          f"html-manager/README.md describes: {pattern!r} found {count} "
                          f"times (expected once); reinstall the workbench",
                          path=str(path))
    return replaced


def _needs(nb) -> dict[str, bool]:
    """Which of nbconvert's CDN scripts a cell needs; the page loads only those."""
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    data = [o.get("data", {}) for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", [])]
    return {
        "requirejs": any("application/javascript" in d
                         or _REQUIRE.search(_text(d.get("text/html", ""))) for d in data),
        "mathjax": bool(_MATH.search(markdown)) or any(
            "text/latex" in d or _MATH.search(_text(d.get("text/markdown", "")))
            for d in data),
        "mermaid": "```mermaid" in markdown or any("text/vnd.mermaid" in d for d in data),
    }


def _text(value) -> str:
    """A mimebundle value as text (nbformat may keep it as a list of lines)."""
    return "".join(value) if isinstance(value, list) else str(value)
