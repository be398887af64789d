/** Producer ids, idempotence and transactions (issue 6). */
export * from './types.js';
