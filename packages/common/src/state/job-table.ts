import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * The job table's definition, for local runs and tests (the deployed table is
 * declared in serverless.yml with the same key and index, plus point-in-time
 * recovery and TTL on `expiresAt`).
 */
export const JOB_TABLE_KEY = 'jobKey';
export const JOB_TABLE_TTL_ATTRIBUTE = 'expiresAt';
/** The index of the jobs of one destination repository (key destinationRepository, sort jobKey). */
export const JOB_TABLE_REPOSITORY_INDEX = 'byRepository';

/** Creates the job table (on-demand billing) and waits until it is ACTIVE. */
export async function createJobTable(client: DynamoDBClient, tableName: string, timeoutMs = 10_000): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: JOB_TABLE_KEY, AttributeType: 'S' },
        { AttributeName: 'destinationRepository', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: JOB_TABLE_KEY, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: JOB_TABLE_REPOSITORY_INDEX,
          KeySchema: [
            { AttributeName: 'destinationRepository', KeyType: 'HASH' },
            { AttributeName: JOB_TABLE_KEY, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`table "${tableName}" did not become ACTIVE within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
