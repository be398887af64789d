/**
 * Authorized-operations bit sets (KIP-430) reported by Metadata and DescribeCluster. Tern has no ACLs yet, so a
 * client that asks is told every operation that applies to the resource is allowed. Bit n = AclOperation n.
 */
const READ = 3;
const WRITE = 4;
const CREATE = 5;
const DELETE = 6;
const ALTER = 7;
const DESCRIBE = 8;
const CLUSTER_ACTION = 9;
const DESCRIBE_CONFIGS = 10;
const ALTER_CONFIGS = 11;
const IDEMPOTENT_WRITE = 12;

const bits = (ops: number[]): number => ops.reduce((acc, op) => acc | (1 << op), 0);

/** Kafka's "not requested" sentinel (INT32 min). */
export const NO_AUTHORIZED_OPERATIONS = -2147483648;
export const TOPIC_OPERATIONS = bits([READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS]);
export const CLUSTER_OPERATIONS = bits([CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE]);

/** Operations on a consumer group (KIP-430): READ, DELETE, DESCRIBE. */
export const GROUP_OPERATIONS = bits([READ, DELETE, DESCRIBE]);
