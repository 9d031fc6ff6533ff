import test from 'ava';
import { floorRowOf, rowMet, rowOf, summaryTable, type SummaryRow } from '../bench/lib.js';

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

test('floor rows print in a table of their own, with whether the floor is within the target, and are not counted as met or missed', (t) => {
  const s = (seconds: number) => ({ seconds, cpuSeconds: 0, maxRssKiB: 0 });
  const over = floorRowOf('toss, 256 MiB', 'NNCPNOSYNC=1', [s(0.3), s(0.29), s(0.5)], [s(0.36), s(0.35), s(0.4)], 'nncp-toss', 0.8);
  const under = floorRowOf('file, 256 MiB', 'NNCPNOSYNC=1', [s(0.1)], [s(0.5)], 'nncp-file', 0.8);
  t.true(over.floor);
  t.is(over.rssMB, undefined);
  const table = summaryTable([row([1], [2], 0.8), over, under]);
  t.regex(table, /1 of 1 met\./);
  const [targets, floors] = table.split('Floors:');
  t.notRegex(targets, /256 MiB/);
  t.regex(floors, /\| toss, 256 MiB \| NNCPNOSYNC=1 \| 0\.300 \(0\.290–0\.500\) \| nncp-toss \| 0\.360 \(0\.350–0\.400\) \| 0\.83 \| ≤ 0\.8 \| \*\*no\*\* \|/);
  t.regex(floors, /\| file, 256 MiB \| NNCPNOSYNC=1 \| 0\.100 \(0\.100–0\.100\) \| nncp-file \| 0\.500 \(0\.500–0\.500\) \| 0\.20 \| ≤ 0\.8 \| yes \|/);
  t.notRegex(summaryTable([row([1], [2], 0.8)]), /Floors:/);
});

test('a row whose other side did not finish (median Infinity) is neither met nor missed, and says so', (t) => {
  const unfinished = row([6.3, 6.2, 7.2], [18.5, Infinity, Infinity], 0.7, 68);
  t.is(rowMet(unfinished), null);
  t.false(rowMet(row([Infinity, Infinity, 1], [1, 1, 1], 0.7))); // ours unfinished: missed
  const table = summaryTable([unfinished, row([1], [2], 0.8)]);
  t.regex(table, /\| unfinished \(18\.50–unfinished\) \| – \| ≤ 0\.7 \| 68 \| not measured: theirs did not finish \|/);
  t.regex(table, /1 of 2 met \(1 not measured: the other side's median run did not finish\)\./);
  t.notRegex(table, /0\.00/);
});
