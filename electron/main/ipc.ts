/**
 * The one wrapped IPC registration (STYLE habit 3), Electron-free so its rejection path is
 * tested directly: one channel per API method, generated from the contract table; each
 * handler checks the sender, then the size, then lets the host service validate and run it.
 * Nothing reaches the service from an untrusted sender.
 */
import { API_METHODS, ApiError, IPC_CHANNEL_PREFIX, MAX_MESSAGE_BYTES, type ApiMethod, type ResponseEnvelope } from '../api/contract.ts';
import { toWireError } from '../host/wireRequests.ts';
import { senderProblem, type SenderEventLike, type SenderPolicy } from './senderCheck.ts';

export type Dispatch = (method: string, params: unknown) => Promise<unknown>;
export type IpcHandler = (event: SenderEventLike, params: unknown) => Promise<ResponseEnvelope>;

/** Every channel the main process registers, and the method each one calls. */
export function ipcChannels(): Array<{ channel: string; method: ApiMethod }> {
  return API_METHODS.map((method) => ({ channel: `${IPC_CHANNEL_PREFIX}${method}`, method }));
}

export function createIpcHandler(method: ApiMethod, dispatch: Dispatch, policy: SenderPolicy): IpcHandler {
  return async (event, params) => {
    try {
      const problem = senderProblem(event, policy);
      if (problem) throw new ApiError('bad-request', `refused: ${problem}`);
      let json: string;
      try {
        json = JSON.stringify(params ?? null) ?? 'null';
      } catch {
        throw new ApiError('bad-request', `${method}: params must be plain JSON data`);
      }
      const size = Buffer.byteLength(json, 'utf8');
      if (size > MAX_MESSAGE_BYTES) throw new ApiError('too-large', `${method}: params are ${size} bytes; the limit is ${MAX_MESSAGE_BYTES}`);
      // The service sees exactly what the WebSocket door would: plain JSON data. Structured
      // clone carries more (a Date, a Map, typed arrays), which must not pass as an empty object.
      return { ok: true, result: await dispatch(method, JSON.parse(json) as unknown) };
    } catch (error) {
      return { ok: false, error: toWireError(error) };
    }
  };
}
