/**
 * Jest's own order (by past duration, else size: slowest first), with the fault suite first and
 * the timing-sensitive files last: these run when the other worker has little or nothing left to
 * do, so what they measure is the service and not the suite around them.
 */
const Sequencer = require('@jest/test-sequencer').default;

const FIRST = ['test/fault/faults.test.ts'];
const LAST = ['test/integration/throttle.test.ts'];

const matches = (files) => (test) => files.some((file) => test.path.endsWith(file));
const isFirst = matches(FIRST);
const isLast = matches(LAST);

class TimingLastSequencer extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const middle = sorted.filter((test) => !isFirst(test) && !isLast(test));
    return [...sorted.filter(isFirst), ...middle, ...sorted.filter(isLast)];
  }
}

module.exports = TimingLastSequencer;
