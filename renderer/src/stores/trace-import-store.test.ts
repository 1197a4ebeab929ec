import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TRACE_CHUNK_BYTES, type TraceImportStatus } from '../api/contract';
import { installFakeApi, type FakeApi } from '../testing/fake-api';
import { summary, timeline } from '../testing/fixtures';
import { useTraceImportStore } from './trace-import-store';

let fake: FakeApi;
beforeEach(() => (fake = installFakeApi()));
afterEach(() => fake.verify());

const status = (over: Partial<TraceImportStatus>): TraceImportStatus => ({
  importId: 'imp-0123456789abcdef',
  fileName: 'trace.txt',
  state: 'uploading',
  receivedBytes: 0,
  totalBytes: 0,
  fraction: 0,
  lines: 0,
  ...over,
});

describe('useTraceImportStore', () => {
  it('uploads the file in order in chunks, imports it, then opens the new session', async () => {
    const bytes = new Uint8Array(TRACE_CHUNK_BYTES * 2 + 10).map((_, i) => (i * 31) % 251);
    const file = new File([bytes], 'trace.txt');
    const received: number[] = [];
    let got = Buffer.alloc(0);
    fake.expect('traces.begin', status({ totalBytes: bytes.length }), { params: { fileName: 'trace.txt', sizeBytes: bytes.length } });
    fake.expect(
      'traces.upload',
      ({ offset, data }) => {
        const chunk = Buffer.from(data, 'base64');
        expect(offset).toBe(got.length);
        got = Buffer.concat([got, chunk]);
        received.push(chunk.length);
        return status({ receivedBytes: got.length, totalBytes: bytes.length });
      },
      { repeat: true },
    );
    fake.expect('traces.import', () => {
      // the host answers at once and pushes the end as an event
      setTimeout(() => fake.emit('traces.progress', status({ state: 'done', fraction: 1, sessionId: 'trace.mmulab', message: 'imported 3 exits' })), 0);
      return status({ state: 'importing', fraction: 0.3 });
    });
    fake.expect('sessions.list', [{ id: 'trace.mmulab', name: 'trace', sizeBytes: 1, modifiedMs: 1 }]);
    fake.expect('sessions.open', summary({ endNs: 100 }), { params: { id: 'trace.mmulab' } });
    fake.expect('sessions.timeline', timeline([3]));
    const store = useTraceImportStore();
    expect(await store.importFile(file)).toBe('trace.mmulab');
    expect(received).toEqual([TRACE_CHUNK_BYTES, TRACE_CHUNK_BYTES, 10]);
    expect(Buffer.compare(got, Buffer.from(bytes))).toBe(0); // the same bytes, in order
    expect(store.lastMessage).toBe('imported 3 exits');
    expect(store.busy).toBe(false);
  });

  it('a failed import keeps its one-line reason and opens nothing', async () => {
    fake.expect('traces.begin', status({ totalBytes: 3 }));
    fake.expect('traces.upload', status({ receivedBytes: 3, totalBytes: 3 }));
    fake.expect('traces.import', () => {
      setTimeout(() => fake.emit('traces.progress', status({ state: 'failed', message: 'no trace records found in trace.txt' })), 0);
      return status({ state: 'importing' });
    });
    const store = useTraceImportStore();
    expect(await store.importFile(new File(['abc'], 'trace.txt'))).toBeUndefined();
    expect(store.error).toBe('no trace records found in trace.txt');
  });

  it('Cancel during the import asks the host and opens nothing', async () => {
    fake.expect('traces.begin', status({ totalBytes: 3 }));
    fake.expect('traces.upload', status({ receivedBytes: 3, totalBytes: 3 }));
    fake.expect('traces.import', status({ state: 'importing' }));
    fake.expect('traces.cancel', () => {
      setTimeout(() => fake.emit('traces.progress', status({ state: 'cancelled', message: 'cancelled; nothing kept' })), 0);
      return status({ state: 'importing' });
    });
    const store = useTraceImportStore();
    const done = store.importFile(new File(['abc'], 'trace.txt'));
    await expect.poll(() => store.status?.state).toBe('importing');
    await store.cancel();
    expect(await done).toBeUndefined();
    expect(store.error).toBeUndefined();
    expect(store.status?.state).toBe('cancelled');
  });
});
