import type { Column, InferredColumns } from '../../src/sdk/columns.js';
import type { JournalColumn, JournalSheet, JournalState, JournalWriter } from './journal.js';
import type { SheetNames } from './naming.js';
import type { RunHeader } from './run-output.js';

/** One .xlsx being written: its journal and what the journal says. */
export interface OpenFile {
  state: JournalState;
  writer: JournalWriter;
  identity: string;
  names: SheetNames;
  /** The current sheet of each key (the last part). */
  sheetOf: Map<string, JournalSheet>;
  /** Configured columns, or the columns inferred so far. */
  columns: Column[];
  inferred: InferredColumns | undefined;
  /** Journal length at the last build: nothing new to build when unchanged. */
  builtLength: number;
  /** `rotate: run`: the run it is written for; built only at the run's end. */
  run?: RunHeader | undefined;
}

/** A journal on disk and what it says. */
export interface Journal {
  state: JournalState;
  path: string;
}

/** A copy of the state for a build, taken between two appends. */
export function copyState(state: JournalState): JournalState {
  return {
    ...state,
    columns: [...state.columns],
    sheets: state.sheets.map((s) => ({ ...s })),
    widths: [...state.widths],
    batches: [],
  };
}

export function columnRecord(column: Column): JournalColumn {
  return { header: column.header, value: column.value, type: column.type, format: column.format };
}
