import { MyDhtError } from '../src/runtime/errors.ts';

/** A transport's failure, by stable code: ERR_DIAL_FAILED, ERR_DIAL_TIMEOUT, ERR_ADDRESS_INVALID, ERR_CONNECTION_RESET, ... */
export class TransportError extends MyDhtError {}
