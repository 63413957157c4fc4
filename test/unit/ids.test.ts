import { newId } from '../../core/ids';
import { deliveryWorkflowId } from '../../core/workflow-ids';

describe('newId', () => {
  test('ids made in a burst (many per millisecond) sort in the order they were made, and all differ', () => {
    const ids = Array.from({ length: 5_000 }, () => newId('sub'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  test('prefix, 10 time characters and 16 random ones, in Crockford base 32', () => {
    expect(newId('evt')).toMatch(/^evt_[0-9a-hjkmnp-tv-z]{26}$/);
  });
});

test('deliveryWorkflowId names the event and the subscription, or the callback', () => {
  expect(deliveryWorkflowId('evt_1', 'sub_2')).toBe('delivery/evt_1/sub_2');
  expect(deliveryWorkflowId('evt_1', null)).toBe('delivery/evt_1/callback');
});
