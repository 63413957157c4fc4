export { deliveryWorkflow } from './delivery';
