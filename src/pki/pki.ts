/**
 * The cluster's small PKI: a CA, leaf certificates for etcd members, agents and the CLI, and a synchronous check of a
 * certificate against a CA. New keys are ECDSA P-256 (accepted by Go's crypto/tls, so by etcd, and by node's tls).
 * Existing CAs from an RKE state file are RSA: `issueCertificate` signs with whatever key type the CA holds, and
 * can give the leaf an RSA key too (`keyAlgorithm`).
 *
 * Default validity: CA 10 years, leaf 5 years. Leaves are backdated a few minutes so that a node whose clock is
 * slightly behind the issuer still accepts a certificate issued a moment ago.
 */
import { X509Certificate as NodeX509, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import type * as X509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type SigningAlgorithm = webcrypto.RsaHashedImportParams | webcrypto.EcdsaParams;

/**
 * @peculiar/x509 (with asn1js and tsyringe, ~0.1 s to load) is needed only to make certificates, not to check them:
 * loaded on first use, so that commands that issue nothing (listing, saving) start without it.
 */
let loaded: Promise<typeof X509> | undefined;
function x509lib(): Promise<typeof X509> {
  return (loaded ??= (async () => {
    // The shim must load before @peculiar/x509 (its dependency tsyringe checks for Reflect metadata at import time).
    await import("./reflect-shim.js");
    // A CommonJS package: Node's import gives its exports both by name and as `default`, the bundles
    // (scripts/bundle.mjs) as `default` only.
    const mod = (await import("@peculiar/x509")) as typeof X509 & { default?: typeof X509 };
    const lib = mod.default ?? mod;
    lib.cryptoProvider.set(webcrypto);
    return lib;
  })());
}

/** A certificate and its private key, both PEM; the key is PKCS#8 ("-----BEGIN PRIVATE KEY-----"). */
export type CertKeyPair = { certificatePEM: string; keyPEM: string };

export type CertUsage = "server" | "client";

/** Key type of a new leaf. RKE can only read RSA keys from its state file, so leaves under an RSA CA should be RSA. */
export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

export type IssueOptions = {
  commonName: string;
  /** Default "ecdsa-p256". */
  keyAlgorithm?: KeyAlgorithm;
  ips?: string[];
  dnsNames?: string[];
  usage: CertUsage[];
  validDays?: number;
  now?: Date;
};

export type CertCheck = { ok: true; notAfter: Date; subject: string } | { ok: false; reason: string };

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_DAYS = 3650;
const LEAF_DAYS = 1825;
const BACKDATE_MS = 5 * 60 * 1000;
const EC_PARAMS = { name: "ECDSA", namedCurve: "P-256" } as const;
const RSA_PARAMS = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
} as const;
const EKU_OID: Record<CertUsage, string> = {
  server: "1.3.6.1.5.5.7.3.1",
  client: "1.3.6.1.5.5.7.3.2",
};

/** Creates a self-signed CA (ECDSA P-256, SHA-256) valid for `validDays` (default 10 years) from `now`. */
export async function createCA(
  commonName: string,
  opts: { validDays?: number; now?: Date } = {},
): Promise<CertKeyPair> {
  const x509 = await x509lib();
  const keys = await newKeyPair();
  const { notBefore, notAfter } = validity(opts.now, opts.validDays ?? CA_DAYS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePEM: cert.toString("pem") + "\n", keyPEM: await exportKeyPEM(keys.privateKey) };
}

/**
 * Issues a leaf certificate signed by `ca` (ECDSA or RSA key, any PEM key format) with a fresh key (ECDSA P-256 unless
 * `keyAlgorithm` says otherwise), a random serial, SANs for `ips` and `dnsNames`, and the extended key usages in `usage`. Valid `validDays`
 * (default 5 years) from `now`, capped at the CA's own expiry so a chain never outlives its root.
 */
export async function issueCertificate(ca: CertKeyPair, opts: IssueOptions): Promise<CertKeyPair> {
  const x509 = await x509lib();
  const caCert = new x509.X509Certificate(ca.certificatePEM);
  const signer = await importSigningKey(ca.keyPEM);
  const keys = await newKeyPair(opts.keyAlgorithm);
  const window = validity(opts.now, opts.validDays ?? LEAF_DAYS);
  const notAfter = window.notAfter > caCert.notAfter ? caCert.notAfter : window.notAfter;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [opts.commonName] }],
    issuer: caCert.subjectName,
    notBefore: window.notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions: await leafExtensions(caCert, keys.publicKey, opts),
  });
  return { certificatePEM: cert.toString("pem") + "\n", keyPEM: await exportKeyPEM(keys.privateKey) };
}

/**
 * Checks a PEM certificate without I/O: it parses, `now` (default: the current time) is inside its validity window,
 * it was signed by `caPEM` (when given), and its extended key usage allows `usage` (when given; a certificate without
 * the extension allows any usage, as in Go and OpenSSL). Never throws.
 */
export function checkCertificate(
  certPEM: string,
  opts: { caPEM?: string; now?: Date; usage?: CertUsage } = {},
): CertCheck {
  let cert: NodeX509;
  try {
    cert = new NodeX509(certPEM);
  } catch (err) {
    return { ok: false, reason: `not a valid PEM certificate (${(err as Error).message})` };
  }
  const now = opts.now ?? new Date();
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  const subject = cert.subject.replace(/\n/g, ", ");
  if (now < notBefore) return { ok: false, reason: `${subject}: not valid before ${notBefore.toISOString()}` };
  if (now > notAfter) return { ok: false, reason: `${subject}: expired on ${notAfter.toISOString()}` };
  if (opts.caPEM !== undefined) {
    const chain = checkSignedBy(cert, opts.caPEM);
    if (chain) return { ok: false, reason: `${subject}: ${chain}` };
  }
  if (opts.usage !== undefined) {
    const ekus = cert.keyUsage as string[] | undefined;
    if (ekus && !ekus.includes(EKU_OID[opts.usage]) && !ekus.includes("2.5.29.37.0")) {
      return { ok: false, reason: `${subject}: not valid for ${opts.usage} authentication (extended key usage)` };
    }
  }
  return { ok: true, notAfter, subject };
}

function checkSignedBy(cert: NodeX509, caPEM: string): string | undefined {
  let ca: NodeX509;
  try {
    ca = new NodeX509(caPEM);
  } catch {
    return "the CA certificate does not parse";
  }
  if (!cert.checkIssued(ca)) return `not issued by ${ca.subject.replace(/\n/g, ", ")}`;
  if (!cert.verify(ca.publicKey)) return "signature does not verify against the CA";
  return undefined;
}

async function leafExtensions(caCert: X509.X509Certificate, publicKey: CryptoKey, opts: IssueOptions) {
  const x509 = await x509lib();
  const names: X509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: "ip" as const, value: checkedIP(value) })),
  ];
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(
      opts.usage.map((u) => EKU_OID[u]),
      false,
    ),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  return extensions;
}

function checkedIP(value: string): string {
  if (isIP(value) === 0) throw new Error(`not an IP address for a certificate SAN: ${value}`);
  return value;
}

function validity(now: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  const start = (now ?? new Date()).getTime();
  return { notBefore: new Date(start - BACKDATE_MS), notAfter: new Date(start + days * DAY_MS) };
}

/** 16 random bytes with the top bit cleared: a positive DER integer, as RFC 5280 asks. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString("hex");
}

async function newKeyPair(algorithm: KeyAlgorithm = "ecdsa-p256"): Promise<CryptoKeyPair> {
  const params = algorithm === "rsa-2048" ? RSA_PARAMS : EC_PARAMS;
  return webcrypto.subtle.generateKey(params, true, ["sign", "verify"]);
}

/** The key type of a PEM private key, for choosing leaves that match their CA. */
export function keyAlgorithmOf(keyPEM: string): KeyAlgorithm {
  return createPrivateKey(keyPEM).asymmetricKeyType === "rsa" ? "rsa-2048" : "ecdsa-p256";
}

async function exportKeyPEM(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  const x509 = await x509lib();
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

/** Imports a CA key in any PEM form node reads (PKCS#8, PKCS#1 RSA, SEC1 EC), for signing with SHA-256. */
async function importSigningKey(pem: string): Promise<{ key: CryptoKey; algorithm: SigningAlgorithm }> {
  const nodeKey = createPrivateKey(pem);
  const der = nodeKey.export({ type: "pkcs8", format: "der" });
  if (nodeKey.asymmetricKeyType === "rsa") {
    const algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const key = await webcrypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"]);
    return { key, algorithm };
  }
  if (nodeKey.asymmetricKeyType === "ec") {
    const curve = nodeKey.asymmetricKeyDetails?.namedCurve;
    const namedCurve = curve === "secp384r1" ? "P-384" : curve === "secp521r1" ? "P-521" : "P-256";
    const key = await webcrypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve }, false, ["sign"]);
    return { key, algorithm: { name: "ECDSA", hash: "SHA-256" } };
  }
  throw new Error(`unsupported CA key type: ${nodeKey.asymmetricKeyType ?? "unknown"}`);
}
