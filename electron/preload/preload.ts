/**
 * The preload bridge, generated from the API table: `window.mmulab` with exactly two
 * functions and nothing else from Electron or Node. Methods and events outside the contract
 * are refused here already; the main process validates everything again.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import {
  API_EVENTS,
  IPC_CHANNEL_PREFIX,
  IPC_DROP_CHANNEL,
  IPC_EVENT_CHANNEL,
  IPC_LISTEN_CHANNEL,
  isApiMethod,
  type EventMessage,
  type MmulabBridge,
  type ResponseEnvelope,
} from '../api/contract.ts';

const listeners = new Map<string, Set<(payload: unknown) => void>>();

ipcRenderer.on(IPC_EVENT_CHANNEL, (_event: IpcRendererEvent, message: EventMessage) => {
  const set = message && typeof message.event === 'string' ? listeners.get(message.event) : undefined;
  if (!set) return;
  for (const listener of [...set]) {
    try {
      listener(message.payload);
    } catch (error) {
      console.error('mmulab event listener failed', error);
    }
  }
});

const bridge: MmulabBridge = {
  call(method: string, params: unknown): Promise<ResponseEnvelope> {
    if (!isApiMethod(method)) {
      return Promise.resolve({ ok: false, error: { code: 'unknown-method', message: `unknown method "${String(method).slice(0, 100)}"` } });
    }
    return ipcRenderer.invoke(`${IPC_CHANNEL_PREFIX}${method}`, params) as Promise<ResponseEnvelope>;
  },
  on(event: string, listener: (payload: unknown) => void): () => void {
    if (!Object.prototype.hasOwnProperty.call(API_EVENTS, event) || typeof listener !== 'function') {
      throw new Error(`unknown event "${String(event).slice(0, 100)}"`);
    }
    let set = listeners.get(event);
    if (!set) {
      listeners.set(event, (set = new Set()));
      ipcRenderer.send(IPC_LISTEN_CHANNEL, event);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  },
};

contextBridge.exposeInMainWorld('mmulab', bridge);

/**
 * Drag and drop of sessions (`.mmulab`), scenario files and trace text onto the window. The
 * path comes from the dropped File object itself (webUtils, here in the isolated preload),
 * never from the page's scripts, and the main process still checks the sender, the path and
 * the file's kind and contents before it uses it (electron/host/shellFiles.ts).
 */
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => {
  event.preventDefault();
  for (const file of Array.from(event.dataTransfer?.files ?? []).slice(0, 16)) {
    const path = webUtils.getPathForFile(file);
    if (path) ipcRenderer.send(IPC_DROP_CHANNEL, path);
  }
});
