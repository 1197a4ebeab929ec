/**
 * The keys that name a table across views and the API: the page-table view lists tables by
 * them and the diff's changes point at them, so both must build them the same way.
 */
import { toHex } from '../../core/events.ts';

export const gKey = (vm: number, base: number) => `g${vm}:${toHex(base)}`;

export const sKey = (vm: number, id: number) => `s${vm}:${id}`;

/** A nested VM's table: its role in the key, since L1's and L0's tables have ids of their own. */
export const nKey = (vm: number, role: string, id: number) => `s${vm}:${role}:${id}`;
