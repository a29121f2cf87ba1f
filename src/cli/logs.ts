export { formatEgressLine, runEgressLog as runLogs } from './egress.js';
