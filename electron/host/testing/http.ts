/** Plain HTTP requests to a browser host under test, with the raw status, headers and body. */
import { request } from 'node:http';

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request to 127.0.0.1:`port`. A server that closes the connection before the whole body is
 * sent (413) is a reply too: status -1 with the error code as the body.
 */
export function httpRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? resolve({ status: -1, headers: {}, body: error.code }) : reject(error)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
