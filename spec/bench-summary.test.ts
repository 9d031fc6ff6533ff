import test from 'ava';
import { rowMet, rowOf, summaryTable, type SummaryRow } from '../bench/lib.js';

const row = (pigeon: number[], versus: number[], target: number, rssMB?: number): SummaryRow => ({ work: 'w', mode: 'm', pigeon, versus, versusName: 'nncp', target, rssMB });

test('a row is met when the ratio of medians is within its target and RSS under 100 MB', (t) => {
  t.true(rowMet(row([0.8, 9, 0.7], [1, 1, 1], 0.8, 50))); // median 0.8 / 1
  t.false(rowMet(row([0.81, 0.9, 0.7], [1, 1, 1], 0.8, 50)));
  t.false(rowMet(row([0.5], [1], 0.8, 100))); // RSS limit is strict
  t.true(rowMet(row([0.5], [1], 0.8))); // RSS unmeasured
});

test('the summary table shows medians with ranges, the ratio, the target and a count of rows met', (t) => {
  const table = summaryTable([row([2, 3, 4], [4, 5, 6], 0.8, 61.5), row([0.12, 0.1, 0.2], [0.1, 0.1, 0.1], 1.6)]);
  t.regex(table, /\| w \| m \| 3\.00 \(2\.00–4\.00\) \| nncp \| 5\.00 \(4\.00–6\.00\) \| 0\.60 \| ≤ 0\.8 \| 62 \| yes \|/);
  t.regex(table, /\| 0\.120 \(0\.100–0\.200\) \| nncp \| 0\.100 \(0\.100–0\.100\) \| 1\.20 \| ≤ 1\.6 \| – \| yes \|/);
  t.regex(table, /2 of 2 met\./);
  t.regex(summaryTable([row([1], [1], 0.8)]), /\*\*no\*\* \|\n\n0 of 1 met\./);
});

test('rowOf takes wall seconds and the largest peak RSS of pigeon', (t) => {
  const s = (seconds: number, maxRssKiB: number) => ({ seconds, cpuSeconds: 0, maxRssKiB });
  const r = rowOf('x', 'y', [s(1, 1024), s(2, 4096)], [s(3, 10)], 'ref', 0.7);
  t.deepEqual(r.pigeon, [1, 2]);
  t.deepEqual(r.versus, [3]);
  t.is(r.rssMB, 4);
  t.is(r.target, 0.7);
});
