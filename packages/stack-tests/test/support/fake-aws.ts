import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Just enough of STS, CloudFormation and S3 on 127.0.0.1 for `sls deploy`
 * to run up to the point where it asks CloudFormation to validate the
 * template (which this fake refuses, ending the deployment): the stack
 * exists, its deployment bucket is `bucket`, and every object put into S3 is
 * kept with its metadata. The AWS SDK reaches it through AWS_ENDPOINT_URL.
 */

export interface StoredObject {
  key: string;
  body: Buffer;
  metadata: Record<string, string>;
}

export interface FakeAws {
  url: string;
  bucket: string;
  /** Objects put into the bucket, in order. */
  objects: StoredObject[];
  /** Every request: "METHOD path" or "POST Action". */
  requests: string[];
  close(): Promise<void>;
}

const ACCOUNT = '123456789012';

/** Decodes an `aws-chunked` body (the SDK's streaming uploads with trailing checksums). */
function decodeAwsChunked(buffer: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const end = buffer.indexOf('\r\n', at);
    if (end < 0) throw new Error('malformed aws-chunked body');
    const size = Number.parseInt(buffer.toString('latin1', at, end).split(';')[0] as string, 16);
    at = end + 2;
    if (size === 0) return Buffer.concat(parts);
    parts.push(buffer.subarray(at, at + size));
    at += size + 2;
  }
}

function xml(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'text/xml');
  res.end(`<?xml version="1.0" encoding="UTF-8"?>${body}`);
}

function queryResponse(res: ServerResponse, action: string, result: string): void {
  xml(
    res,
    200,
    `<${action}Response><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></${action}Response>`,
  );
}

export async function startFakeAws(
  partition: string,
  region: string,
  bucket = 'fake-deployment-bucket',
): Promise<FakeAws> {
  const objects: StoredObject[] = [];
  const requests: string[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const form = req.method === 'POST' && url.pathname === '/' ? new URLSearchParams(body.toString('utf8')) : undefined;
    const action = form?.get('Action') ?? undefined;
    requests.push(action !== undefined ? `POST ${action}` : `${req.method} ${decodeURIComponent(url.pathname)}`);

    switch (action) {
      case undefined:
        break;
      case 'GetCallerIdentity':
        return queryResponse(
          res,
          action,
          `<Arn>arn:${partition}:iam::${ACCOUNT}:user/deployer</Arn><UserId>AIDAFAKE</UserId><Account>${ACCOUNT}</Account>`,
        );
      case 'DescribeStacks':
        return queryResponse(
          res,
          action,
          `<Stacks><member><StackName>${form?.get('StackName')}</StackName><StackId>arn:${partition}:cloudformation:${region}:${ACCOUNT}:stack/${form?.get('StackName')}/1</StackId>` +
            `<StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>2020-01-01T00:00:00Z</CreationTime>` +
            `<Outputs><member><OutputKey>ServerlessDeploymentBucketName</OutputKey><OutputValue>${bucket}</OutputValue></member></Outputs></member></Stacks>`,
        );
      case 'DescribeStackResource':
        return queryResponse(
          res,
          action,
          `<StackResourceDetail><StackName>stack</StackName><LogicalResourceId>${form?.get('LogicalResourceId')}</LogicalResourceId><PhysicalResourceId>${bucket}</PhysicalResourceId>` +
            `<ResourceType>AWS::S3::Bucket</ResourceType><LastUpdatedTimestamp>2020-01-01T00:00:00Z</LastUpdatedTimestamp><ResourceStatus>UPDATE_COMPLETE</ResourceStatus></StackResourceDetail>`,
        );
      default:
        // ValidateTemplate and anything later: the deployment ends here.
        return xml(
          res,
          400,
          `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>fake AWS ends the deployment at ${action}</Message></Error><RequestId>fake</RequestId></ErrorResponse>`,
        );
    }

    const [, bucketName, ...rest] = url.pathname.split('/');
    const key = decodeURIComponent(rest.join('/'));
    if (bucketName !== bucket)
      return xml(res, 404, '<Error><Code>NoSuchBucket</Code><Message>no such bucket</Message></Error>');
    if (req.method === 'PUT' && key !== '') {
      const encoding = String(req.headers['content-encoding'] ?? '');
      const content = encoding.includes('aws-chunked') ? decodeAwsChunked(body) : body;
      const metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (name.startsWith('x-amz-meta-') && typeof value === 'string')
          metadata[name.slice('x-amz-meta-'.length)] = value;
      }
      objects.push({ key, body: content, metadata });
      res.setHeader('ETag', '"fake"');
      res.statusCode = 200;
      res.end();
      return;
    }
    if ((req.method === 'HEAD' || req.method === 'GET') && key === '') {
      if (url.searchParams.has('location')) return xml(res, 200, `<LocationConstraint>${region}</LocationConstraint>`);
      if (url.searchParams.get('list-type') === '2')
        return xml(
          res,
          200,
          `<ListBucketResult><Name>${bucket}</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>`,
        );
      res.statusCode = 200;
      res.end();
      return;
    }
    return xml(res, 404, '<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>');
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks));
      } catch (error) {
        xml(res, 500, `<Error><Code>InternalError</Code><Message>${String(error)}</Message></Error>`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    objects,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
