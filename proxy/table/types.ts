/** What a printer makes of one object: a Table row without its object. */
export interface PrintedRow {
  cells: unknown[];
  /** Row conditions (pods: Completed when Succeeded/Failed). */
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

export type Printer = (obj: Record<string, unknown>, now: number) => PrintedRow;
