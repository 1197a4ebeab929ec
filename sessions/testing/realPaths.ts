/**
 * Where the real-KVM material lives in the repository, so the tests and the bench find it on a
 * fresh clone: the 6.18 trace samples (copied from shared/fixtures/traces/real-6.18, with their
 * README) and the C harness guest that records traces on /dev/kvm (copied from shared/realkvm).
 */
import { fileURLToPath } from 'node:url';

export const REAL_618_DIR = fileURLToPath(new URL('../import/fixtures/real-6.18/', import.meta.url));
export const REALKVM_DIR = fileURLToPath(new URL('../../tools/realkvm/', import.meta.url));
