"""The lineage picture made explorable in JupyterLab: pan, zoom, search, follow a node.

The SVG stays the static picture (exports, files, a notebook whose output is not trusted);
a small script beside it, which JupyterLab runs in a trusted output, adds a toolbar (search,
zoom in/out, fit: the whole picture in the notebook's width, where it opens at a readable size
that may scroll sideways) and mouse handling: drag to pan, Ctrl/⌘ + wheel to zoom, click a node to
light up its upstream and downstream (click the background to clear). It works on the
SVG's own ``data-name`` / ``data-from`` / ``data-to`` attributes, so it needs no data of its
own and no library.
"""

from __future__ import annotations

import itertools
from html import escape

from . import theme

_IDS = itertools.count(1)

_SCRIPT = """
(function () {
  const root = document.getElementById(%(id)s);
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const svg = root.querySelector("svg.workbench-lineage");
  const tools = root.querySelector(".workbench-lineage-tools");
  tools.hidden = false;
  const [w0, h0] = [svg.viewBox.baseVal.width, svg.viewBox.baseVal.height];
  let view = {x: 0, y: 0, w: w0, h: h0};
  const apply = () => svg.setAttribute("viewBox", `${view.x} ${view.y} ${view.w} ${view.h}`);
  const zoom = (f, cx, cy) => {
    cx = cx ?? view.x + view.w / 2; cy = cy ?? view.y + view.h / 2;
    const w = Math.min(Math.max(view.w * f, w0 / 8), w0 * 2), k = w / view.w;
    view = {x: cx - (cx - view.x) * k, y: cy - (cy - view.y) * k, w: w, h: view.h * k};
    apply();
  };
  tools.querySelector(".wb-in").onclick = () => zoom(1 / 1.25);
  tools.querySelector(".wb-out").onclick = () => zoom(1.25);
  // the picture opens at a readable size, scrolling sideways when wider than the notebook;
  // "fit" shows all of it in the notebook's width (then zoom in where you look)
  tools.querySelector(".wb-fit").onclick = () => {
    svg.style.minWidth = "0"; view = {x: 0, y: 0, w: w0, h: h0}; apply();
  };
  svg.addEventListener("wheel", (e) => {
    if (!(e.ctrlKey || e.metaKey)) return;          // plain wheel scrolls the notebook
    e.preventDefault();
    const box = svg.getBoundingClientRect();
    zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, view.x + (e.clientX - box.left) / box.width * view.w,
         view.y + (e.clientY - box.top) / box.height * view.h);
  }, {passive: false});
  let drag = null, moved = false;
  svg.addEventListener("pointerdown", (e) => { drag = [e.clientX, e.clientY, view.x, view.y]; moved = false; });
  window.addEventListener("pointerup", () => { drag = null; });
  svg.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const box = svg.getBoundingClientRect(), k = view.w / box.width;
    if (Math.abs(e.clientX - drag[0]) + Math.abs(e.clientY - drag[1]) > 3) moved = true;
    if (!moved) return;
    view.x = drag[2] - (e.clientX - drag[0]) * k; view.y = drag[3] - (e.clientY - drag[1]) * k;
    apply();
  });

  const nodes = [...svg.querySelectorAll("g.node")];
  const edges = [...svg.querySelectorAll("g.edge")];
  const up = {}, down = {};
  for (const e of edges) {
    (down[e.dataset.from] ??= []).push(e.dataset.to);
    (up[e.dataset.to] ??= []).push(e.dataset.from);
  }
  const reach = (start, links) => {
    const seen = new Set(start), todo = [...start];
    while (todo.length) for (const n of links[todo.pop()] || []) if (!seen.has(n)) { seen.add(n); todo.push(n); }
    return seen;
  };
  const status = tools.querySelector(".wb-found");
  const show = (lit, what) => {
    for (const n of nodes) n.style.opacity = !lit || lit.has(n.dataset.name) ? "" : "0.2";
    for (const e of edges) e.style.opacity = !lit || (lit.has(e.dataset.from) && lit.has(e.dataset.to)) ? "" : "0.1";
    status.textContent = what || "";
  };
  const follow = (names) => {
    const lit = new Set([...reach(names, up), ...reach(names, down)]);
    show(lit, `${names.join(", ")}: ${lit.size - names.length} up- and downstream`);
  };
  for (const n of nodes) {
    n.style.cursor = "pointer";
    n.addEventListener("click", (e) => { if (!moved) { e.stopPropagation(); follow([n.dataset.name]); } });
  }
  svg.addEventListener("click", () => { if (!moved) show(null); });
  const search = tools.querySelector(".wb-search");
  search.oninput = () => {
    const text = search.value.trim().toLowerCase();
    if (!text) return show(null);
    const hits = nodes.map((n) => n.dataset.name).filter((n) => n.toLowerCase().includes(text));
    show(new Set(hits), `${hits.length} match${hits.length === 1 ? "" : "es"}`);
  };
  search.onkeydown = (e) => {
    if (e.key !== "Enter") return;
    const text = search.value.trim().toLowerCase();
    const hits = nodes.map((n) => n.dataset.name).filter((n) => n.toLowerCase().includes(text));
    if (hits.length) follow(hits);
  };
})();
"""


def interactive(title: str, svg: str) -> str:
    """The lineage's HTML: a title, a toolbar the script reveals, the SVG and the script."""
    box = f"workbench-lineage-{next(_IDS)}"
    button = (f"font:inherit;color:{theme.INK};background:{theme.SURFACE};border:1px solid "
              f"{theme.RULE};border-radius:3px;padding:0 7px;cursor:pointer")
    tools = (f'<div class="workbench-lineage-tools" hidden style="display:flex;gap:6px;'
             f'align-items:center;margin:2px 0 4px;font:12px {theme.SANS};color:{theme.INK}">'
             f'<input class="wb-search" type="search" placeholder="search nodes…" '
             f'style="font:inherit;color:{theme.INK};background:{theme.SURFACE};border:1px '
             f'solid {theme.RULE};border-radius:3px;padding:1px 5px;width:14em">'
             f'<button class="wb-in" title="zoom in" style="{button}">+</button>'
             f'<button class="wb-out" title="zoom out" style="{button}">−</button>'
             f'<button class="wb-fit" title="show all" style="{button}">fit</button>'
             f'<span class="wb-found" style="{theme.NOTE}"></span>'
             f'<span style="{theme.NOTE};margin-left:auto">click a node to follow it; drag to '
             f'pan; Ctrl + wheel to zoom</span></div>')
    return (f'<div class="workbench-lineage" id="{box}" style="max-width:100%">'
            f'<div style="font:600 13px {theme.SANS};margin:4px 0;color:{theme.INK}">'
            f"{escape(title)}</div>{tools}"
            f'<div style="overflow-x:auto;max-width:100%">{svg}</div>'
            f"<script>{_SCRIPT % {'id': repr(box)}}</script></div>")
