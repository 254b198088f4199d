/**
 * Builds the AWS SDK client for one S3 (or S3-compatible) target: endpoint and addressing style, credentials, the
 * custom CA, a proxy used by this client only, and timeouts. Every secret is registered with `redact` on the way in.
 */
import type { ClientRequest } from "node:http";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { checkServerIdentity as tlsCheckServerIdentity, rootCertificates } from "node:tls";
import type { ConnectionOptions, PeerCertificate } from "node:tls";
import { S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { HttpsProxyAgent } from "https-proxy-agent";
import { UserError } from "../util/errors.js";
import { redactText, registerSecret } from "../util/redact.js";
import type { S3Settings } from "../config/s3-settings.js";
import { normaliseFolder, parseEndpoint } from "./s3-location.js";

/** The store's view of `S3Settings`: the same settings, plus the timeouts (never sent over the wire). */
export type S3Config = S3Settings & {
  /** connectMs: TCP+TLS connect; requestMs: one request until its answer, and the longest idle gap in a transfer. */
  timeouts?: S3Timeouts;
};

export interface S3Timeouts {
  connectMs: number;
  requestMs: number;
}

export const DEFAULT_TIMEOUTS = { connectMs: 10_000, requestMs: 120_000 } as const;

export interface S3Connection {
  client: S3Client;
  /** Where requests go, without credentials or path, for messages: "http://127.0.0.9:9000". */
  endpoint: string;
  /** The folder, normalised: "" or "a/b". */
  folder: string;
  timeouts: S3Timeouts;
}

/**
 * Creates the SDK client for `config`; throws `UserError` for an endpoint or proxy that does not parse, or for only
 * one of access_key and secret_key.
 */
export function connectS3(config: S3Config): S3Connection {
  for (const secret of [config.accessKey, config.secretKey, config.sessionToken]) registerSecret(secret);
  if (!config.accessKey !== !config.secretKey) {
    throw new UserError("S3 access_key and secret_key must be given together (or both left empty for the AWS chain)");
  }
  const region = config.region || "us-east-1";
  const url = parseEndpoint(config.endpoint);
  const timeouts = config.timeouts ?? DEFAULT_TIMEOUTS;
  const client = new S3Client({
    region,
    ...(url ? { endpoint: url.href } : {}),
    forcePathStyle: pathStyle(config.addressing ?? "auto", url?.hostname ?? "s3.amazonaws.com"),
    ...(config.accessKey || config.secretKey ? { credentials: staticCredentials(config) } : {}),
    // The SDK's default streaming checksums use aws-chunked bodies that many S3-compatible servers reject; `put`
    // verifies every upload itself.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: timeouts.connectMs,
      requestTimeout: timeouts.requestMs,
      throwOnRequestTimeout: true,
      socketTimeout: timeouts.requestMs,
      ...agents(config),
    }),
  });
  const endpoint = url ? url.origin : `https://s3.${region}.amazonaws.com`;
  return { client, endpoint: redactText(endpoint), folder: normaliseFolder(config.folder ?? ""), timeouts };
}

/** RKE and minio-go: DNS (virtual-host) style for AWS and Aliyun, path style elsewhere (MinIO, Ceph, IPs). */
function pathStyle(addressing: "path" | "virtual" | "auto", host: string): boolean {
  if (addressing !== "auto") return addressing === "path";
  return !(host === "amazonaws.com" || host.endsWith(".amazonaws.com") || host.includes("aliyun"));
}

function staticCredentials(config: S3Config) {
  return {
    accessKeyId: config.accessKey ?? "",
    secretAccessKey: config.secretKey ?? "",
    ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
  };
}

/** Agent instances (not options): the handler then uses them for every request, "Expect: 100-continue" ones too. */
function agents(config: S3Config): { httpAgent: HttpAgent; httpsAgent: HttpsAgent } {
  const tls: ConnectionOptions = config.customCaPem ? { ca: [...rootCertificates, config.customCaPem] } : {};
  if (config.proxy) {
    let proxy: URL;
    try {
      proxy = new URL(config.proxy);
    } catch (err) {
      throw new UserError(`invalid S3 proxy URL ${JSON.stringify(redactText(config.proxy))}`, undefined, {
        cause: err,
      });
    }
    return { httpAgent: new TunnelAgent(proxy, {}), httpsAgent: new TunnelAgent(proxy, tls) };
  }
  return {
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 16, ...tls }),
  };
}

/**
 * HttpsProxyAgent applies its own options to the proxy hop only; this one also gives the target's TLS our CA, and
 * checks the certificate against the target host: for an IP address HttpsProxyAgent sets no servername, and node
 * would then check the certificate against "localhost".
 */
class TunnelAgent extends HttpsProxyAgent<string> {
  constructor(
    proxy: URL,
    private readonly targetTls: ConnectionOptions,
  ) {
    super(proxy, { keepAlive: true });
  }

  override connect(req: ClientRequest, opts: Parameters<HttpsProxyAgent<string>["connect"]>[1]) {
    if (!opts.secureEndpoint) return super.connect(req, opts);
    const host = opts.host ?? "";
    const checkServerIdentity = (_: string, cert: PeerCertificate) => tlsCheckServerIdentity(host, cert);
    return super.connect(req, { ...opts, ...this.targetTls, checkServerIdentity });
  }
}
