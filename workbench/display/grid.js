// The explorer's grid (workbench/display/grid.py): draws the page the kernel sends and turns
// clicks into the model's sort / filters / offset, which the kernel answers from DuckDB.
// No data is sorted, filtered or counted here.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el: root }) {
  root.classList.add("wb-grid");
  const bar = el("div", "wb-grid-bar");
  const count = el("span", "wb-grid-count");
  const buttons = {};
  for (const [key, label, title] of [["first", "«", "first page"], ["prev", "‹", "previous page"],
                                     ["next", "›", "next page"], ["last", "»", "last page"]]) {
    buttons[key] = el("button", `wb-grid-${key}`, label);
    buttons[key].title = title;
  }
  const clear = el("button", "wb-grid-clear", "clear filters");
  bar.append(buttons.first, buttons.prev, count, buttons.next, buttons.last, clear);
  const error = el("div", "wb-grid-error");
  const scroll = el("div", "wb-grid-scroll");
  const table = el("table", "wb-grid-table");
  const thead = el("thead");
  const tbody = el("tbody");
  table.append(thead, tbody);
  scroll.append(table);
  root.append(bar, error, scroll);

  const size = () => model.get("page_size");
  const go = (offset) => { model.set("offset", Math.max(0, offset)); model.save_changes(); };
  buttons.first.onclick = () => go(0);
  buttons.prev.onclick = () => go(model.get("offset") - size());
  buttons.next.onclick = () => go(model.get("offset") + size());
  buttons.last.onclick = () => go(Math.floor(Math.max(model.get("total") - 1, 0) / size()) * size());
  clear.onclick = () => { model.set("filters", {}); model.set("offset", 0); model.save_changes(); };

  function header() {
    thead.replaceChildren();
    const names = el("tr", "wb-grid-names");
    const filters = el("tr", "wb-grid-filters");
    const sort = model.get("sort"), descending = model.get("descending");
    for (const column of model.get("columns")) {
      const th = el("th");
      th.title = `${column.name} (${column.type}): click to sort`;
      const arrow = sort === column.name ? (descending ? " ▼" : " ▲") : "";
      th.append(el("span", "wb-grid-name", column.name + arrow), el("span", "wb-grid-type", column.type));
      if (sort === column.name) th.classList.add("wb-grid-sorted");
      // none -> ascending -> descending -> none
      th.onclick = () => {
        if (sort !== column.name) { model.set("sort", column.name); model.set("descending", false); }
        else if (!descending) model.set("descending", true);
        else { model.set("sort", null); model.set("descending", false); }
        model.set("offset", 0);
        model.save_changes();
      };
      names.append(th);
      const cell = el("th");
      const input = el("input", "wb-grid-filter");
      input.type = "text";
      input.placeholder = "contains…";
      input.value = model.get("filters")[column.name] || "";
      input.dataset.column = column.name;
      // applied on Enter or when the box loses focus, not on every key: each is a query
      const apply = () => {
        if ((model.get("filters")[column.name] || "") === input.value) return;
        model.set("filters", { ...model.get("filters"), [column.name]: input.value });
        model.set("offset", 0);
        model.save_changes();
      };
      input.onchange = apply;
      input.onkeydown = (e) => { if (e.key === "Enter") apply(); };
      cell.append(input);
      filters.append(cell);
    }
    thead.append(names, filters);
  }

  function body() {
    tbody.replaceChildren();
    const columns = model.get("columns");
    for (const row of model.get("rows")) {
      const tr = el("tr");
      row.forEach((value, i) => {
        const td = el("td");
        if (value === null) { td.className = "wb-null"; td.title = `${columns[i].name}: null`; }
        else { td.textContent = value; td.title = value; }
        if (columns[i] && columns[i].numeric) td.classList.add("wb-num");
        tr.append(td);
      });
      tbody.append(tr);
    }
    const offset = model.get("offset"), total = model.get("total");
    count.textContent = model.get("status");
    buttons.first.disabled = buttons.prev.disabled = offset <= 0;
    buttons.next.disabled = buttons.last.disabled = offset + size() >= total;
    clear.hidden = !Object.values(model.get("filters")).some((v) => v);
    error.textContent = model.get("error");
    error.hidden = !model.get("error");
  }

  header();
  body();
  model.on("change:columns", header);
  model.on("change:sort", header);
  model.on("change:descending", header);
  model.on("change:filters", header);
  model.on("change:rows", body);
  model.on("change:status", body);
  model.on("change:error", body);
}

export default { render };
