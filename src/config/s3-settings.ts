/**
 * Where an S3 store points, as one schema: the config resolves cluster.yml (or the `--s3` flags) into it, the CLI
 * sends it in agent API bodies, the agent keeps it in its schedule, and the store (src/store/open.ts) connects with it.
 */
import { z } from "zod";

export const S3Settings = z.object({
  /** "host[:port]" (https), "http://host:port" or "https://host:port". */
  endpoint: z.string().min(1),
  bucket: z.string().min(1),
  /** Default "us-east-1". */
  region: z.string().optional(),
  /** Keys live under "<folder>/" (RKE's rule); leading, trailing and doubled slashes are dropped. */
  folder: z.string().optional(),
  /** Both absent: the AWS SDK default chain (environment, ~/.aws, web identity, instance role), as rke-tools does. */
  accessKey: z.string().optional(),
  secretKey: z.string().optional(),
  sessionToken: z.string().optional(),
  /** PEM CA certificate(s) trusted in addition to the system roots. */
  customCaPem: z.string().optional(),
  /** "auto" (default): virtual-host style for AWS and Aliyun hosts, path style for everything else. */
  addressing: z.enum(["auto", "path", "virtual"]).optional(),
  /** http(s) proxy URL for this client only (CONNECT tunnel); environment proxy settings are not consulted. */
  proxy: z.string().optional(),
});
export type S3Settings = z.infer<typeof S3Settings>;
