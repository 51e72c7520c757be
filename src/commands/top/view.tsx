// The `top` screen, rendered with Ink: fits an 80x24 terminal, keys r/t/p/c sort, q or Ctrl-C quit.
import { Box, Text, useApp, useInput, useWindowSize } from 'ink';
import { useEffect, useState } from 'react';
import type { Snapshot } from '../../aggregation/snapshot.js';
import { SORT_KEYS, humanBytes, topRows, type SortKey, type TopRow } from './model.js';

export interface Feed {
  /** Calls back with each new snapshot; returns an unsubscribe function. */
  subscribe(listener: (snapshot: Snapshot) => void): () => void;
  /** Which source serves which family, for the header. */
  sources(): string;
}

// 78 columns in all, so a row never wraps in an 80-column terminal.
const COLUMNS: ReadonlyArray<[title: string, width: number, cell: (r: TopRow) => string]> = [
  ['PID', 7, (r) => (r.pid === undefined ? '-' : String(r.pid))],
  ['NAME', 14, (r) => r.name],
  ['CONTAINER', 10, (r) => r.where || '-'],
  ['RX/s', 7, (r) => humanBytes(r.rxRate)],
  ['TX/s', 7, (r) => humanBytes(r.txRate)],
  ['RX', 7, (r) => humanBytes(r.rxTotal)],
  ['TX', 7, (r) => humanBytes(r.txTotal)],
  ['PKT/s', 6, (r) => String(Math.round(r.packetRate))],
  ['CONN', 5, (r) => String(r.connections)],
];

function line(cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const width = COLUMNS[i]![1];
      const text = cell.length > width ? `${cell.slice(0, width - 1)}…` : cell;
      return i < 3 ? text.padEnd(width) : text.padStart(width);
    })
    .join(' ');
}

export function TopView({ feed, initialSort }: { feed: Feed; initialSort: SortKey }) {
  const { exit } = useApp();
  const { rows: height } = useWindowSize();
  const [sort, setSort] = useState<SortKey>(initialSort);
  const [snapshots, setSnapshots] = useState<{ previous?: Snapshot; current?: Snapshot }>({});

  useEffect(
    () => feed.subscribe((snapshot) => setSnapshots((s) => ({ previous: s.current, current: snapshot }))),
    [feed],
  );
  useInput((input) => {
    if (input === 'q') exit();
    const next = SORT_KEYS[input as keyof typeof SORT_KEYS];
    if (next) setSort(next);
  });

  // Header, column titles and footer take 3 rows; one spare keeps Ink from clearing the screen.
  const room = Math.max(1, (height || 24) - 4);
  const rows = snapshots.current ? topRows(snapshots.previous, snapshots.current, sort).slice(0, room) : [];
  return (
    <Box flexDirection="column">
      <Text inverse>{`netproc-agent top  ${feed.sources()}  sort: ${sort}`.slice(0, 79).padEnd(79)}</Text>
      <Text bold>{line(COLUMNS.map(([title]) => title))}</Text>
      {snapshots.current ? (
        rows.map((r) => <Text key={`${r.pid ?? ""}-${r.name}-${r.where}`}>{line(COLUMNS.map(([, , cell]) => cell(r)))}</Text>)
      ) : (
        <Text dimColor>collecting…</Text>
      )}
      <Text dimColor>sort: r received  t transmitted  p packets  c connections   q quit</Text>
    </Box>
  );
}
