/**
 * Refinery's Publish for JupyterLab: a Publish button in every notebook's toolbar, "Publish
 * notebook…" and "My publications" in the command palette and the File menu.
 *
 * The browser never holds a hub token: it asks its own Jupyter server (`/refinery-publish/...`, the
 * server extension in python/refinery_publish, behind Jupyter's authentication and XSRF checks), which
 * reads the saved file and calls the hub with the server's own token.
 */
import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard, Dialog, ICommandPalette, showDialog, showErrorMessage, ToolbarButton } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';
import { Widget } from '@lumino/widgets';

const PLUGIN_ID = '@refinery/publish:plugin';
const CMD_PUBLISH = 'refinery-publish:publish';
const CMD_LIST = 'refinery-publish:list';

interface Version {
  version: number;
  created: string;
  size: number;
  url: string;
}

interface Publication {
  id: string;
  title: string;
  visibility: string;
  url: string;
  download_url: string | null;
  created: string;
  updated: string;
  latest_version: number | null;
  source_path: string;
  versions: Version[];
}

interface Info {
  configured: boolean;
  user: string;
  groups: string[];
  hub_origin: string;
}

interface PublishChoice {
  title: string;
  visibility: string;
  update: string | null;
}

class RequestError extends Error {}

/** Call the server extension; errors carry the hub's message. */
async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'refinery-publish', path);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new RequestError(`Could not reach the Jupyter server: ${String(error)}`);
  }
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = (data as { message?: string } | null)?.message || `${response.status} ${response.statusText}`;
    throw new RequestError(message);
  }
  return data as T;
}

/** Links the hub made from its internal address are shown with the address this browser uses. */
function shownUrl(url: string, info: Info | undefined): string {
  if (info?.hub_origin && url.startsWith(`${info.hub_origin}/`)) return `${window.location.origin}${url.slice(info.hub_origin.length)}`;
  return url;
}

function visibilityText(visibility: string): string {
  if (visibility === 'public') return 'Anyone with the link';
  if (visibility === 'users') return 'Signed-in hub users';
  if (visibility.startsWith('group:')) return `Members of ${visibility.slice('group:'.length)}`;
  return visibility;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & Record<string, unknown> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith('data-') || key.startsWith('aria-') || key === 'for') node.setAttribute(key, String(value));
    else (node as unknown as Record<string, unknown>)[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

/** The dialog's form: title, who can open it, and (when this file was published before) update or new link. */
class PublishForm extends Widget {
  private readonly titleInput: HTMLInputElement;
  private readonly visibility: HTMLSelectElement;
  private readonly targets: HTMLInputElement[] = [];

  constructor(defaultTitle: string, info: Info, existing: Publication[]) {
    super();
    this.addClass('refinery-publish-form');
    const previous = existing[0];
    this.titleInput = element('input', { type: 'text', id: 'refinery-publish-title', value: previous?.title ?? defaultTitle, maxLength: 200 });
    this.visibility = element('select', { id: 'refinery-publish-visibility' });
    const options: [string, string][] = [['public', 'Anyone with the link'], ['users', 'Signed-in hub users']];
    for (const group of info.groups) options.push([`group:${group}`, `Members of the group ${group}`]);
    for (const [value, label] of options) this.visibility.append(element('option', { value, textContent: label }));
    this.visibility.value = previous && options.some(([v]) => v === previous.visibility) ? previous.visibility : 'public';

    this.node.append(
      element('div', {}, element('label', { for: 'refinery-publish-title', textContent: 'Title' }), this.titleInput),
      element('div', {},
        element('label', { for: 'refinery-publish-visibility', textContent: 'Who can open it' }),
        this.visibility,
        element('p', { className: 'refinery-publish-hint', textContent: 'The page is read-only: nothing in it runs. Anyone who can open it can also download the notebook.' })),
    );
    if (existing.length) {
      const fieldset = element('fieldset', {}, element('legend', { textContent: 'This notebook was published before' }));
      existing.forEach((publication, i) => {
        const radio = element('input', { type: 'radio', name: 'refinery-publish-target', value: publication.id, checked: i === 0 });
        this.targets.push(radio);
        fieldset.append(element('label', { className: 'refinery-publish-choice' }, radio,
          `Update “${publication.title}” (v${(publication.latest_version ?? 0) + 1} at the same link)`));
      });
      const fresh = element('input', { type: 'radio', name: 'refinery-publish-target', value: '' });
      this.targets.push(fresh);
      fieldset.append(element('label', { className: 'refinery-publish-choice' }, fresh, 'Publish as a new link'));
      this.node.append(fieldset);
    }
  }

  getValue(): PublishChoice {
    const target = this.targets.find((t) => t.checked)?.value || null;
    return { title: this.titleInput.value.trim(), visibility: this.visibility.value, update: target };
  }

  protected onAfterAttach(): void {
    this.titleInput.focus();
    this.titleInput.select();
  }
}

/** The link, with Copy and Open. */
class LinkBody extends Widget {
  constructor(url: string, publication: Publication) {
    super();
    this.addClass('refinery-publish-form');
    const input = element('input', { type: 'text', readOnly: true, value: url, id: 'refinery-publish-url', 'aria-label': 'Link to the published notebook' });
    input.addEventListener('focus', () => input.select());
    const status = element('div', { className: 'refinery-publish-status', 'aria-live': 'polite' });
    const copy = element('button', { className: 'jp-Button jp-mod-styled jp-mod-accept', textContent: 'Copy', type: 'button' });
    copy.addEventListener('click', () => {
      Clipboard.copyToSystem(url);
      status.textContent = 'Link copied to the clipboard.';
    });
    const open = element('a', { href: url, target: '_blank', rel: 'noopener noreferrer', textContent: 'Open', className: 'jp-Button jp-mod-styled' });
    this.node.append(
      element('p', { textContent: `Version ${publication.latest_version ?? 1} · ${visibilityText(publication.visibility)}` }),
      element('div', { className: 'refinery-publish-link' }, element('label', { for: 'refinery-publish-url', className: 'jp-mod-hidden', textContent: 'Link' }), input, copy, open),
      status,
    );
  }
}

/** "My publications": links, versions, who can open them, unpublish. */
class PublicationsBody extends Widget {
  constructor(private readonly info: Info) {
    super();
    this.addClass('refinery-publish-list');
    void this.refresh();
  }

  async refresh(): Promise<void> {
    this.node.textContent = 'Loading…';
    let list: Publication[];
    try {
      list = await call<Publication[]>('publications');
    } catch (error) {
      this.node.replaceChildren(element('p', { className: 'refinery-publish-error', textContent: String((error as Error).message) }));
      return;
    }
    if (!list.length) {
      this.node.replaceChildren(element('p', { textContent: 'Nothing published yet. Open a notebook and press Publish in its toolbar.' }));
      return;
    }
    const rows = list.map((p) => {
      const url = shownUrl(p.url, this.info);
      // confirmed in place: JupyterLab shows one dialog at a time, so a second one would wait for this one to close
      const actions = element('td', { className: 'refinery-publish-actions' });
      const ask = () => {
        const unpublish = element('button', { className: 'jp-Button jp-mod-styled jp-mod-warn', textContent: 'Unpublish', type: 'button', 'aria-label': `Unpublish ${p.title}` });
        unpublish.addEventListener('click', confirm);
        actions.replaceChildren(unpublish);
      };
      const confirm = () => {
        const yes = element('button', { className: 'jp-Button jp-mod-styled jp-mod-warn', textContent: 'Yes, unpublish', type: 'button' });
        const no = element('button', { className: 'jp-Button jp-mod-styled jp-mod-reject', textContent: 'Keep', type: 'button' });
        no.addEventListener('click', ask);
        yes.addEventListener('click', async () => {
          yes.disabled = true;
          try {
            await call(`publications/${encodeURIComponent(p.id)}`, { method: 'DELETE' });
            await this.refresh();
          } catch (error) {
            actions.replaceChildren(element('span', { className: 'refinery-publish-error', textContent: `Unpublish failed: ${(error as Error).message}` }));
          }
        });
        actions.replaceChildren(element('div', { className: 'refinery-publish-confirm', textContent: 'The link stops working for everyone.' }), yes, no);
        yes.focus();
      };
      ask();
      return element('tr', { 'data-publication': p.id },
        element('td', {}, element('a', { href: url, target: '_blank', rel: 'noopener noreferrer', textContent: p.title }),
          element('div', { className: 'refinery-publish-path', textContent: p.source_path })),
        element('td', { textContent: visibilityText(p.visibility) }),
        element('td', { textContent: `${p.versions.length} version${p.versions.length === 1 ? '' : 's'}` }),
        element('td', { textContent: new Date(p.updated).toLocaleString() }),
        actions);
    });
    const head = element('tr', {}, ...['Title', 'Who can open it', 'Versions', 'Updated', ''].map((t) => element('th', { textContent: t })));
    this.node.replaceChildren(element('table', {}, element('thead', {}, head), element('tbody', {}, ...rows)));
  }
}

async function loadInfo(): Promise<Info> {
  return call<Info>('info');
}

async function publish(panel: NotebookPanel): Promise<void> {
  const context = panel.context;
  const path = context.path;
  let info: Info;
  let existing: Publication[];
  try {
    [info, existing] = await Promise.all([loadInfo(), call<Publication[]>('publications')]);
  } catch (error) {
    await showErrorMessage('Cannot publish', String((error as Error).message));
    return;
  }
  const mine = existing.filter((p) => p.source_path === path);
  const name = path.split('/').pop() ?? path;
  const form = new PublishForm(name.replace(/\.ipynb$/i, ''), info, mine);
  const result = await showDialog({
    title: `Publish ${name}`,
    body: form,
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Publish' })],
    focusNodeSelector: '#refinery-publish-title',
  });
  if (!result.button.accept || !result.value) return;
  const choice = result.value;
  if (!choice.title) {
    await showErrorMessage('Cannot publish', 'Give the publication a title.');
    return;
  }
  // the page shows what is saved: save first
  if (context.model.dirty) await context.save();
  let publication: Publication;
  try {
    publication = await call<Publication>('publish', { method: 'POST', body: JSON.stringify({ path, ...choice }) });
  } catch (error) {
    await showErrorMessage('Publishing failed', String((error as Error).message));
    return;
  }
  const url = shownUrl(publication.url, info);
  await showDialog({
    title: choice.update ? 'Published a new version' : 'Published',
    body: new LinkBody(url, publication),
    buttons: [Dialog.okButton({ label: 'Done' })],
  });
}

/** The Publish button in each notebook's toolbar. */
class PublishButtonExtension implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(private readonly app: JupyterFrontEnd) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new ToolbarButton({
      className: 'refinery-publish-button',
      label: 'Publish',
      tooltip: 'Publish this notebook as a read-only page',
      onClick: () => void this.app.commands.execute(CMD_PUBLISH, { origin: panel.id }),
    });
    button.node.setAttribute('data-command', CMD_PUBLISH);
    panel.toolbar.insertItem(10, 'refinery-publish', button);
    return new DisposableDelegate(() => button.dispose());
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Publish notebooks as read-only pages through Refinery.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    const current = (args: { origin?: unknown }): NotebookPanel | null => {
      if (typeof args.origin === 'string') {
        const found = tracker.find((p) => p.id === args.origin);
        if (found) return found;
      }
      return tracker.currentWidget;
    };
    app.commands.addCommand(CMD_PUBLISH, {
      label: 'Publish Notebook…',
      caption: 'Publish the current notebook as a read-only page anyone with the link can open',
      isEnabled: () => tracker.currentWidget !== null,
      execute: async (args) => {
        const panel = current(args as { origin?: unknown });
        if (panel) await publish(panel);
      },
    });
    app.commands.addCommand(CMD_LIST, {
      label: 'My Publications',
      caption: 'Notebooks you published: links, versions, unpublish',
      execute: async () => {
        let info: Info;
        try {
          info = await loadInfo();
        } catch (error) {
          await showErrorMessage('My publications', String((error as Error).message));
          return;
        }
        await showDialog({ title: 'My publications', body: new PublicationsBody(info), buttons: [Dialog.okButton({ label: 'Close' })] });
      },
    });
    if (palette) {
      palette.addItem({ command: CMD_PUBLISH, category: 'Refinery' });
      palette.addItem({ command: CMD_LIST, category: 'Refinery' });
    }
    app.docRegistry.addWidgetExtension('Notebook', new PublishButtonExtension(app));
  },
};

export default plugin;
