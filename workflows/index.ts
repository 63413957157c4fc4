export { deliveryWorkflow } from './delivery';
export { subscriberWorkflow } from './subscriber';
