/**
 * The entry of the import's reading thread (one worker file in every bundle): the text import's
 * (textReadWorker.ts, started by startParseWorker in recordBatch.ts) or, with `kind: 'tracedat'`
 * in its workerData, the trace.dat import's (sessions/tracedat/readWorker.ts). Each is loaded
 * alone: a thread's start is part of the import's time, and the trace.dat one needs none of the
 * text parser (nor the text one the trace.dat decoder).
 */
import { workerData } from 'node:worker_threads';

if ((workerData as { kind?: string }).kind === 'tracedat') void import('../tracedat/readWorker.ts');
else void import('./textReadWorker.ts');
