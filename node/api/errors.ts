import type { NextFunction, Request, Response } from 'express';
import { ContractError } from '../contracts/index.js';
import { LedgerError } from '../ledger/index.js';
import { PeerError } from '../peer/index.js';
import { ProtocolError } from '../protocol/index.js';

/** An error the API reports as is: an HTTP status, a stable code and a message for the caller. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const PEER_STATUS: Record<string, number> = {
  PEER_BAD_PROPOSAL: 400,
  PEER_BAD_SIGNATURE: 401,
  PEER_UNAUTHORIZED: 403,
  PEER_CONTRACT_NOT_FOUND: 404,
  PEER_CONTRACT_FAILED: 422,
  PEER_ENDORSEMENTS_DIVERGE: 409,
  PEER_ENDORSEMENT_UNAVAILABLE: 503,
  PEER_SUBMIT_FAILED: 503,
  PEER_BAD_CONFIG_UPDATE: 400,
  PEER_COMMIT_TIMEOUT: 504,
};

/** Turns any error into `{ error: { code, message } }` with a fitting status; internals are logged, not shown. */
export function errorHandler(log: (err: unknown) => void) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    let status = 500;
    let code = 'API_INTERNAL';
    let message = 'internal error (see the node log)';
    if (err instanceof ApiError) ({ status, code, message } = err);
    else if (err instanceof PeerError)
      ({ status, code, message } = {
        status: PEER_STATUS[err.code] ?? 500,
        code: err.code,
        message: err.message,
      });
    else if (err instanceof ProtocolError)
      ({ status, code, message } = { status: 400, code: err.code, message: err.message });
    else if (err instanceof ContractError)
      ({ status, code, message } = { status: 422, code: err.code, message: err.message });
    else if (err instanceof SyntaxError && 'status' in err)
      ({ status, code, message } = {
        status: 400,
        code: 'API_BAD_JSON',
        message: 'request body is not valid JSON',
      });
    else if ((err as { type?: string }).type === 'entity.too.large')
      ({ status, code, message } = {
        status: 413,
        code: 'API_TOO_LARGE',
        message: 'request body is too large',
      });
    else if (isClientHttpError(err))
      // Other refusals of the body parser (an unsupported charset or content encoding, a body
      // that does not decompress or does not match its length): the caller's fault, said as such.
      ({ status, code, message } = {
        status: err.status,
        code: err.status === 415 ? 'API_UNSUPPORTED_MEDIA_TYPE' : 'API_BAD_REQUEST',
        message: `request body refused: ${err.message}`,
      });
    else if (err instanceof LedgerError) log(err);
    else log(err);
    res.status(status).json({ error: { code, message } });
  };
}

/** An http-errors error of express' body parser: a 4xx whose message is meant for the client. */
function isClientHttpError(err: unknown): err is Error & { status: number } {
  if (!(err instanceof Error)) return false;
  const { status, expose } = err as { status?: unknown; expose?: unknown };
  return typeof status === 'number' && status >= 400 && status < 500 && expose === true;
}
