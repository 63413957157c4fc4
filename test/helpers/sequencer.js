/**
 * Jest's own order (by past duration, else size: slowest first), with the timing-sensitive files
 * last: they run when the other worker has little or nothing left to do, so what they measure is
 * the service and not the suite around them.
 */
const Sequencer = require('@jest/test-sequencer').default;

const LAST = ['test/integration/throttle.test.ts'];

const isLast = (test) => LAST.some((file) => test.path.endsWith(file));

class TimingLastSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((test) => !isLast(test)), ...sorted.filter(isLast)];
  }
}

module.exports = TimingLastSequencer;
