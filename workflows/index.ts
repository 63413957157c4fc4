export { deliveryWorkflow } from './delivery';
export { subscriberWorkflow } from './subscriber';
export { retentionWorkflow } from './retention';
export { operationWorkflow } from './operation';
