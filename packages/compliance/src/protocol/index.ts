export { runProtocolCompliance, checkProtocolScenario, toAdapter, PROTOCOL_SCENARIOS } from './protocol-compliance.js';
export type { ProtocolScenario, ProtocolComplianceOptions } from './protocol-compliance.js';
