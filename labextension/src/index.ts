/**
 * Highlights `%%sql` cells as SQL in JupyterLab 4.
 *
 * A kernel cannot choose the editor language of one cell: JupyterLab gives every code cell
 * of a notebook the kernel's mime type (`text/x-ipython`), and the CodeMirror editor follows
 * its cell model's `mimeType`. So this plugin watches each code cell's source and gives a
 * cell whose first line is `%%sql ...` the PostgreSQL mime type (DuckDB's SQL is closest to
 * PostgreSQL's), and gives it back the notebook's mime type when the magic is removed.
 * The notebook re-assigns its mime type when the kernel's language arrives and when a cell
 * is inserted; the plugin answers each re-assignment, so the SQL type stays.
 *
 * An editor loads the language of each mime type it is given and applies whichever loads
 * last, not the latest one. So a switch waits until the cell's current language has loaded
 * (and the editor has applied it) before setting the new type.
 *
 * The mime type lives in the open editor only: nothing is written to the notebook file,
 * and the kernel runs the cell exactly as before.
 */
import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import type { ICellModel } from '@jupyterlab/cells';
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { INotebookTracker, type Notebook } from '@jupyterlab/notebook';

/** The mime type of a `%%sql` cell: JupyterLab's PostgreSQL dialect of @codemirror/lang-sql. */
export const SQL_MIME = 'text/x-pgsql';

/** A cell magic must open the cell; IPython drops leading blank lines and indent first. */
const SQL_MAGIC = /^\s*%%sql(\s|$)/;

/** Whether a cell's source is a `%%sql` cell. */
export function isSqlCell(source: string): boolean {
  return SQL_MAGIC.test(source);
}

/** Keeps the mime types of one notebook's code cells in step with their first line. */
function follow(notebook: Notebook, languages: IEditorLanguageRegistry): void {
  const watched = new WeakSet<ICellModel>();

  const wanted = (cell: ICellModel): string =>
    isSqlCell(cell.sharedModel.getSource()) ? SQL_MIME : notebook.codeMimetype;

  const apply = async (cell: ICellModel): Promise<void> => {
    if (cell.type !== 'code' || cell.isDisposed || cell.mimeType === wanted(cell)) {
      return;
    }
    // Let the editor finish applying the current language first (see the module's note).
    await languages.getLanguage(cell.mimeType).catch(() => null);
    await new Promise(resolve => setTimeout(resolve));
    if (!cell.isDisposed && cell.mimeType !== wanted(cell)) {
      cell.mimeType = wanted(cell);
    }
  };

  const watch = (cell: ICellModel): void => {
    if (watched.has(cell)) {
      return;
    }
    watched.add(cell);
    cell.sharedModel.changed.connect((_, change) => {
      if (change.sourceChange) {
        void apply(cell);
      }
    });
    // The notebook sets every code cell to the kernel's type (kernel start, cell insert).
    cell.mimeTypeChanged.connect(() => void apply(cell));
    void apply(cell);
  };

  const attach = (): void => {
    const cells = notebook.model?.cells;
    if (!cells) {
      return;
    }
    for (const cell of cells) {
      watch(cell);
    }
    cells.changed.connect((_, change) => change.newValues.forEach(watch));
  };

  notebook.modelChanged.connect(attach);
  attach();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'workbench-sql-highlight:plugin',
  description: 'Highlights the body of %%sql cells as SQL.',
  autoStart: true,
  requires: [INotebookTracker, IEditorLanguageRegistry],
  activate: (
    _app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    languages: IEditorLanguageRegistry
  ): void => {
    notebooks.forEach(panel => follow(panel.content, languages));
    notebooks.widgetAdded.connect((_, panel) => follow(panel.content, languages));
  }
};

export default plugin;
