export { GROUP_DOMAIN, MAX_GROUP_SIZE, createRequestAuthenticator, groupMessage, groupOf, requestDigest, signGroup, signRequests } from './group.js';
export type { AuthenticatorOptions, SigningScope, UnsignedRequest } from './group.js';
export { readRequestList, requestListValue } from './wire.js';
export type { RequestListLimits } from './wire.js';
