/** Which host serves the page ('electron' or 'browser'), asked once (`app.info`). */
import { api } from './api';

let asked: Promise<'electron' | 'browser' | undefined> | undefined;

export function hostKind(): Promise<'electron' | 'browser' | undefined> {
  asked ??= api()
    .call('app.info', {})
    .then((info) => info.host)
    .catch(() => {
      asked = undefined;
      return undefined;
    });
  return asked;
}
