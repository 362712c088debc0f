// Types of the part of procs.js that test/bench/services.test.ts uses.
import type { ChildProcess } from 'node:child_process';
export function track<T extends ChildProcess>(child: T, label: string): T;
/** Kills every tracked process and removes the tracked temporary folders. */
export function killAllSync(): void;
