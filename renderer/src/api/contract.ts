/**
 * The renderer's one door to the API contract (electron/api/contract.ts): everything in
 * renderer/ imports the contract through this file, so a move of the contract touches one line.
 */
export * from '../../../electron/api/contract';
