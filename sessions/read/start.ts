/**
 * The start of every open: the preamble and the header chunk checked, or, when the header chunk
 * is damaged, its copy in the footer (format 1.1) found from the end of the file.
 */
import type { ByteSource } from '../byteSource.ts';
import { checkTypeTable } from '../codec.ts';
import { CAPS, CHUNK, CHUNK_OVERHEAD, FORMAT_MAJOR, MAGIC, PREAMBLE_BYTES, READER_VERSION, fmtInt, readU16, readU32 } from '../format.ts';
import type { SessionHeader } from '../writer.ts';
import { chunkAt, chunkEndingAt, parseJson, resync, type Diagnostics } from './framing.ts';
import { isNat } from './model.ts';

export interface Start {
  header: SessionHeader;
  /** Where the chunks after the header start. */
  bodyStart: number;
}

/**
 * Check the preamble and read the header. Returns the header, or 'failed' when the file cannot
 * be opened (an error diagnostic says why), or undefined when the header chunk is damaged and
 * `recover` is false (only a strict scan recovers it: it reads every chunk, as a damaged file needs).
 */
export function readStart(src: ByteSource, diags: Diagnostics, recover: boolean): Start | 'failed' | undefined {
  const size = src.size;
  const pre = src.read(0, PREAMBLE_BYTES);
  if (size < MAGIC.length || !MAGIC.every((b, i) => pre[i] === b)) {
    const sig = size >= MAGIC.length ? '' : ' (it is too short to hold one)';
    diags.add('error', 'not_a_session', `This is not an MMU Lab session: it does not start with the .mmulab signature${sig}.`, 0);
    return 'failed';
  }
  if (size < PREAMBLE_BYTES) {
    diags.add('error', 'truncated_header', `The session was cut short in its preamble (${size} of ${PREAMBLE_BYTES} bytes); nothing can be read.`, size);
    return 'failed';
  }
  const major = readU16(pre, 8);
  const minReader = readU16(pre, 10);
  if (major !== FORMAT_MAJOR) {
    diags.add('error', 'unsupported_version', `This session uses format version ${major}; this MMU Lab reads version ${FORMAT_MAJOR}.`, 8);
    return 'failed';
  }
  if (minReader > READER_VERSION) {
    diags.add('error', 'unsupported_version', `This session needs a newer MMU Lab (reader version ${minReader}; this one is ${READER_VERSION}).`, 10);
    return 'failed';
  }

  const head = chunkAt(src, PREAMBLE_BYTES, 'strict');
  if (head && head.type === CHUNK.HEAD) {
    const header = parseJson(head.payload);
    const problem = checkHeader(header);
    if (problem) {
      // an intact chunk with contents this reader cannot use: a copy would say the same
      const code = /reader version|format \d|does not know/.test(problem) ? 'unsupported_version' : 'header_damaged';
      diags.add('error', code, `The session header cannot be used: ${problem}.`, PREAMBLE_BYTES);
      return 'failed';
    }
    return { header: header as SessionHeader, bodyStart: head.offset + CHUNK_OVERHEAD + head.length };
  }
  if (!recover) return undefined;
  const copy = headerFromFooter(src);
  if (!copy) {
    const cut = PREAMBLE_BYTES + 8 <= size && PREAMBLE_BYTES + CHUNK_OVERHEAD + readU32(src.read(PREAMBLE_BYTES + 4, 4), 0) > size;
    if (cut || size < PREAMBLE_BYTES + CHUNK_OVERHEAD)
      diags.add('error', 'truncated_header', 'The session was cut short before its header was complete; nothing can be read.', PREAMBLE_BYTES);
    else
      diags.add(
        'error',
        'header_damaged',
        'The session header is damaged (its checksum does not match) and the file has no intact copy of it (a footer written by MMU Lab 1.1 or later); nothing can be read safely.',
        PREAMBLE_BYTES,
      );
    return 'failed';
  }
  // the file is damaged even though every event is readable: say so as loss (verify exits 2), not as a note
  diags.add(
    'dataLoss',
    'header_recovered',
    `The session header is damaged (its checksum does not match); its copy in the footer (byte ${fmtInt(copy.footerAt)}) was used instead, so every recorded event is still readable. \`mmu-lab verify --repair -o <file>\` writes a repaired file.`,
    PREAMBLE_BYTES,
  );
  return { header: copy.header, bodyStart: copy.bodyStart };
}

function checkHeader(h: unknown): string | undefined {
  if (!h || typeof h !== 'object') return 'the header is not a JSON object';
  const x = h as Partial<SessionHeader>;
  if (x.formatMajor !== FORMAT_MAJOR) return `the header says format ${String(x.formatMajor)}, this reader reads format ${FORMAT_MAJOR}`;
  if (!isNat(x.minReaderVersion) || x.minReaderVersion > READER_VERSION)
    return `the session needs reader version ${String(x.minReaderVersion)} or later (this is ${READER_VERSION}); open it with a newer MMU Lab`;
  if (!Array.isArray(x.vcpus) || x.vcpus.length < 1 || x.vcpus.length > CAPS.maxVms) return `the header declares no valid VM list (1..${CAPS.maxVms})`;
  for (const n of x.vcpus) if (!isNat(n) || n < 1 || n > CAPS.maxVcpusPerVm) return `the header declares a VM with ${String(n)} vCPUs (1..${CAPS.maxVcpusPerVm})`;
  if (x.vms !== x.vcpus.length) return 'the header VM count does not match its vCPU list';
  if (typeof x.producer !== 'string') return 'the header has no producer';
  return checkTypeTable(x.eventTypes);
}

/**
 * The copy of the header in the footer (format 1.1), for a file whose HEAD chunk is damaged; and
 * where the chunks after the header start. The footer is found from the end of the file, walking
 * back over the keyframes and notes appended after it by their trailing lengths (a few reads,
 * and none at all for a file cut short, whose last chunk is torn).
 */
function headerFromFooter(src: ByteSource): { header: SessionHeader; footerAt: number; bodyStart: number } | undefined {
  let found: { header: SessionHeader; footerAt: number } | undefined;
  for (let end = src.size; ; ) {
    const c = chunkEndingAt(src, end, PREAMBLE_BYTES, 'strict');
    if (!c) break;
    if (c.type === CHUNK.FOOT) {
      const f = parseJson(c.payload) as { header?: unknown } | undefined;
      if (f && typeof f === 'object' && !checkHeader(f.header)) found = { header: f.header as SessionHeader, footerAt: c.offset };
      break;
    }
    // only chunks appended after the footer lie between it and the end
    if (c.type === CHUNK.EVTS || c.type === CHUNK.INDX || c.type === CHUNK.HEAD) break;
    end = c.offset;
  }
  if (!found) return undefined;
  // the chunks after the header: where its own framing says, if its two lengths still agree
  const len = readU32(src.read(PREAMBLE_BYTES + 4, 4), 0);
  const end = PREAMBLE_BYTES + CHUNK_OVERHEAD + len;
  const framed = len <= CAPS.maxChunkBytes && end <= found.footerAt && readU32(src.read(end - 4, 4), 0) === len;
  const bodyStart = framed ? end : (resync(src, PREAMBLE_BYTES + 1)?.offset ?? found.footerAt);
  return { ...found, bodyStart };
}
