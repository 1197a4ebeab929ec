/**
 * The one place the stores get their API client from. The app installs the real client at
 * start-up (`installApiClient(createApiClient())`); tests install a fake that rejects any
 * call they did not expect. Stores never touch `window.*` themselves.
 */
import type { ApiClient } from './contract';

let current: ApiClient | undefined;

export function installApiClient(client: ApiClient): void {
  current = client;
}

export function api(): ApiClient {
  if (!current) throw new Error('No API client installed: call installApiClient() before using the stores.');
  return current;
}
