/**
 * `__transaction_state` records in Kafka's TransactionLogKey/TransactionLogValue v0 layout (golden bytes written
 * by hand from the schema), a v1 (flexible) value as Kafka 4 writes it, and damaged input rejected with a typed
 * error before any allocation sized by it.
 */
import { describe, expect, it } from 'vitest';
import { decodeTxnKey, decodeTxnValue, encodeTxnKey, encodeTxnValue, TxnRecordError, TxnStatus } from '../../src/txn/index.js';

describe('transaction log records', () => {
  it('key v0: version 0, transactionalId as INT16 string', () => {
    expect(encodeTxnKey('tx').toString('hex')).toBe('0000' + '0002' + '7478');
    expect(decodeTxnKey(Buffer.from('000000027478', 'hex'))).toBe('tx');
    expect(decodeTxnKey(Buffer.from('0005', 'hex'))).toBeNull(); // another record type: skipped
  });

  it('value v0: golden bytes and round trip, null partitions for Empty', () => {
    const v = { producerId: 5, producerEpoch: 2, transactionTimeoutMs: 60000, status: TxnStatus.Ongoing, partitions: [{ topic: 't', partitions: [0, 3] }], lastUpdateTimestampMs: 10, startTimestampMs: 9 };
    const hex = [
      '0000', // version
      '0000000000000005', // producer id
      '0002', // epoch
      '0000ea60', // timeout
      '01', // status Ongoing
      '00000001', '0001' + '74', '00000002', '00000000', '00000003', // partitions
      '000000000000000a', '0000000000000009',
    ].join('');
    expect(encodeTxnValue(v).toString('hex')).toBe(hex);
    expect(decodeTxnValue(Buffer.from(hex, 'hex'))).toEqual(v);
    const empty = { ...v, status: TxnStatus.Empty, partitions: null };
    expect(encodeTxnValue(empty).subarray(17, 21).toString('hex')).toBe('ffffffff');
    expect(decodeTxnValue(encodeTxnValue(empty))).toEqual(empty);
  });

  it('value v1 (flexible, tagged fields) is read', () => {
    const hex = ['0001', '0000000000000005', '0002', '0000ea60', '04', '02', '02' + '74', '02', '00000007', '00', '000000000000000a', '0000000000000009', '01', '02', '02', '0001'].join('');
    expect(decodeTxnValue(Buffer.from(hex, 'hex'))).toEqual({ producerId: 5, producerEpoch: 2, transactionTimeoutMs: 60000, status: TxnStatus.CompleteCommit, partitions: [{ topic: 't', partitions: [7] }], lastUpdateTimestampMs: 10, startTimestampMs: 9 });
  });

  it('damaged values: typed error, counts checked against the bytes left', () => {
    expect(() => decodeTxnValue(Buffer.from('0009', 'hex'))).toThrow(TxnRecordError);
    const huge = Buffer.from(['0000', '0000000000000005', '0002', '0000ea60', '01', '7fffffff'].join(''), 'hex');
    expect(() => decodeTxnValue(huge)).toThrow(TxnRecordError);
    const badStatus = Buffer.from(['0000', '0000000000000005', '0002', '0000ea60', '09', 'ffffffff', '000000000000000a', '0000000000000009'].join(''), 'hex');
    expect(() => decodeTxnValue(badStatus)).toThrow(/status 9/);
  });
});
