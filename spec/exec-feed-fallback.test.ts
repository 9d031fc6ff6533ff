/** A handle's stdin through Node's own pipe, as without the addon (PIGEON_NATIVE=0). */
import test from 'ava';

process.env.PIGEON_NATIVE = '0';
const { nativeModule } = await import('../src/native.js');
const { feedCases } = await import('./helpers/feed-cases.js');

test('PIGEON_NATIVE=0: no addon', (t) => {
  t.is(nativeModule(), null);
});

feedCases(test, 'node pipe');
