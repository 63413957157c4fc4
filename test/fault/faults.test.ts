/**
 * The fault suite (suite.ts) in both delivery modes, one after the other: a workflow per delivery
 * (the default), then throughput mode (subscriber workflows make the first attempts).
 */
import { defineFaultSuite } from './suite';

defineFaultSuite('per-delivery');
defineFaultSuite('per-subscriber');
