/**
 * `node dist/bench/tools/bare-list.js <endpoint> <bucket> <prefix>`: the listing baseline, a bare ListObjectsV2 of
 * one folder with the AWS SDK (path-style, every page), credentials from the environment. Prints `{"keys":n}`.
 */
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";

async function main(argv: string[]): Promise<void> {
  const [endpoint, bucket, prefix] = argv;
  if (!endpoint || !bucket || prefix === undefined) throw new Error("usage: bare-list.js <endpoint> <bucket> <prefix>");
  const client = new S3Client({ endpoint, region: "us-east-1", forcePathStyle: true });
  let keys = 0;
  let token: string | undefined;
  try {
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys += page.Contents?.length ?? 0;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  process.stdout.write(JSON.stringify({ keys }) + "\n");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
