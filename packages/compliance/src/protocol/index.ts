export { runProtocolCompliance, checkProtocolScenario, protocolAdapter, PROTOCOL_SCENARIOS } from './protocol-compliance.js';
export type { ProtocolScenario, ProtocolComplianceOptions } from './protocol-compliance.js';
