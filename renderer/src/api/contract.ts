/**
 * The renderer's one door to the API contract (electron/api/contract.ts): everything in
 * renderer/ imports the contract through this file.
 *
 * The lint rule that keeps Electron out of the renderer matches the pattern `electron/*`,
 * which also catches the path of the pure contract module; the contract is exactly what the
 * renderer is meant to depend on, hence the one exception here.
 */
// eslint-disable-next-line no-restricted-imports -- the pure API contract, see above
export * from '../../../electron/api/contract';
