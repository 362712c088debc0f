import { createHash } from 'node:crypto';
import type { CellValue } from '../../src/sdk/columns.js';
import { MAX_CELLS } from './spec.js';
import type { ChunkStatus, ColumnSpec } from './state.js';

/** Google recommends at most 2 MB per request; requests are cut below it. */
export const MAX_REQUEST_BYTES = 2_000_000;
/**
 * Message data per chunk (the unit a batch id is given to). Cut from the cells' own sizes, not the
 * tab's width, so a retry cuts the batch the same way after the header grew; the margin leaves
 * room for the empty cells and the batch ids in the request.
 */
export const MAX_CHUNK_BYTES = 1_500_000;

/** Rows of one batch for one tab, under one batch id: sent, checked and confirmed together. */
export interface Chunk {
  family: string;
  title: string;
  /** The batch id: the same messages give the same id; every row carries it. */
  key: string;
  status: ChunkStatus;
  /** The tab's header when the rows were laid out (the rows are as wide as it). */
  header: ColumnSpec[];
  rows: CellValue[][];
  /** Number format per column position (RAW cells carry their format). */
  formats: (string | undefined)[];
  /** Request size estimate of the rows. */
  bytes: number;
}

/** A row laid out for a tab, with the id of its message and its size in a request. */
export interface LaidOutRow {
  row: CellValue[];
  id: string;
  bytes: number;
}

/** The rows of one chunk, before the shared state gave it its tab part and status. */
export interface ChunkCut {
  key: string;
  rows: CellValue[][];
  bytes: number;
}

/**
 * Cuts a family's rows into chunks by the configured row cap (not the width-dependent one) and by
 * the cells' own sizes: a retry after the header grew must cut the batch the same way, or its ids
 * would change. Writes each chunk's batch id into the column at `markerAt`.
 */
export function cutChunks(
  family: string,
  rows: LaidOutRow[],
  maxRows: number,
  width: number,
  markerAt: number | undefined,
): ChunkCut[] {
  const cuts: ChunkCut[] = [];
  for (let start = 0, index = 0; start < rows.length; index++) {
    let end = start;
    let bytes = 0;
    while (
      end < rows.length &&
      end - start < maxRows &&
      (end === start || bytes + rows[end]!.bytes <= MAX_CHUNK_BYTES)
    )
      bytes += rows[end++]!.bytes;
    const part = rows.slice(start, end);
    start = end;
    const key = batchKey(
      family,
      index,
      part.map((r) => r.id),
    );
    if (markerAt !== undefined) for (const p of part) p.row[markerAt] = key;
    cuts.push({
      key,
      rows: part.map((p) => p.row),
      bytes: bytes + part.length * (width * 3 + key.length + 40),
    });
  }
  return cuts;
}

/** Groups chunks into requests of at most MAX_REQUEST_BYTES (a chunk is never split). */
export function packRequests(chunks: Chunk[]): Chunk[][] {
  const out: Chunk[][] = [];
  let current: Chunk[] = [];
  let bytes = 0;
  for (const c of chunks) {
    if (current.length > 0 && bytes + c.bytes > MAX_REQUEST_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c);
    bytes += c.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Rows of data per tab: the configured cap, and never past Google's 10 million cells in one tab. */
export function rowCap(maxRowsPerTab: number, width: number): number {
  return Math.max(1, Math.min(maxRowsPerTab, Math.floor(MAX_CELLS / Math.max(width, 1)) - 1));
}

/** The batch id of a chunk: the same messages give the same id (22 characters, 128 bits). */
function batchKey(family: string, chunk: number, ids: string[]): string {
  const h = createHash('sha256');
  h.update(family);
  h.update(`\u0000${chunk}`);
  for (const id of ids) h.update(`\u0000${id}`);
  return h.digest('base64url').slice(0, 22);
}
