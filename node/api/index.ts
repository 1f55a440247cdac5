export { callerOf, requireRole, type Caller } from './auth.js';
export { ApiError } from './errors.js';
export {
  BLOCK_LIST_MAX,
  EVENT_STREAMS_MAX,
  REQUEST_BODY_BYTES_MAX,
  startApiServer,
  type ApiOptions,
  type ApiServer,
} from './server.js';
