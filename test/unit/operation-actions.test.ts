/**
 * What a recover's or replay's batch does with each delivery it took, from what the delivery was
 * then and is now (activities/operations.ts actionFor): the rule that keeps a batch run again
 * after a crash from resending anything twice.
 */
import { actionFor, type ItemAction } from '../../activities/operations';
import type { OperationItem } from '../../activities/operation-records';
import type { OperationKind } from '../../core/model';

const item = (status: OperationItem['status'], attemptCount: number, attemptsBefore = 1): OperationItem => ({
  deliveryId: 'dlv_1',
  attemptsBefore,
  status,
  attemptCount,
});

test.each<[string, OperationKind, OperationItem, ItemAction]>([
  ['recover: failed, as when taken', 'recover', item('failed', 1), 'resend'],
  ['recover: cancelled, as when taken', 'recover', item('cancelled', 1), 'resend'],
  ['recover: failed again after an attempt of its resend', 'recover', item('failed', 2), 'none'],
  [
    'recover: pending, marked so by its resend (its run may not have started)',
    'recover',
    item('pending', 1),
    'ensure-running',
  ],
  ['recover: pending and attempted since', 'recover', item('pending', 2), 'none'],
  ['recover: succeeded since', 'recover', item('succeeded', 2), 'none'],
  ['recover: gone (retention)', 'recover', item(undefined, 0), 'none'],
  ['replay: written, not attempted yet', 'replay', item('pending', 0, 0), 'start'],
  ['replay: first attempt recorded', 'replay', item('pending', 1, 0), 'none'],
  ['replay: ended', 'replay', item('succeeded', 1, 0), 'none'],
  ['replay: gone', 'replay', item(undefined, 0, 0), 'none'],
])('%s', (_name, kind, taken, action) => {
  expect(actionFor(kind, taken)).toBe(action);
});
