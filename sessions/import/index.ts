/** Trace import: real KVM trace text (raw ftrace, trace-cmd report, perf script) → a session. */
export { importTrace, ImportError, IMPORTER, type ImportOptions, type ImportProgress, type ImportResult, type ImportedVm, type ImportedThread } from './importer.ts';
export { detectFlavour, detectText, type Detection } from './detect.ts';
export { LineAssembler, parseRecord, type Flavour, type TraceRecord } from './lines.ts';
export { normalizeReason } from './reasons.ts';
export { importRecords, type FieldRecord, type FieldRecordBatch, type RecordSource } from './records.ts';
export type { FieldValue, Fields } from './fields.ts';
