/**
 * Kubernetes-like etcd values for the benchmark fill: JSON-ish objects of 1-100 KB under `/registry/...` keys.
 * A share of them (Secrets) carry random base64, which deflate cannot shrink below ~75%; the rest carry text drawn
 * from a small vocabulary, which compresses about as well as real manifests do. Deterministic for a given seed so
 * that two runs fill the same bytes.
 */
import { randomBytes } from "node:crypto";

export interface KubeObject {
  key: string;
  value: Buffer;
  /** True for the random-base64 objects deflate cannot compress. */
  incompressible: boolean;
}

export interface ValueMix {
  /** Share of objects whose payload is random base64 (0..1). */
  incompressibleShare: number;
  minBytes: number;
  maxBytes: number;
}

export const DEFAULT_MIX: ValueMix = { incompressibleShare: 0.25, minBytes: 1024, maxBytes: 100 * 1024 };

const WORDS = (
  "name namespace kube-system default app tier frontend backend replica container image registry port protocol " +
  "TCP UDP targetPort selector matchLabels template spec status conditions type Ready True False lastTransitionTime " +
  "reason message volumeMounts mountPath readOnly resources limits requests cpu memory 100m 256Mi env value " +
  "valueFrom secretKeyRef configMapKeyRef key livenessProbe httpGet path /healthz initialDelaySeconds periodSeconds " +
  "nodeSelector tolerations effect NoSchedule operator Exists serviceAccountName restartPolicy Always dnsPolicy " +
  "ClusterFirst terminationGracePeriodSeconds securityContext runAsUser fsGroup annotations labels ownerReferences " +
  "controller blockOwnerDeletion uid resourceVersion generation creationTimestamp managedFields manager kubectl " +
  "Update fieldsType FieldsV1 apiVersion apps/v1 v1 Deployment ReplicaSet Pod Service ConfigMap Endpoints Event"
).split(" ");
const WORD_BUFS = WORDS.map((w) => Buffer.from(w + " "));
const RESOURCES = ["configmaps", "pods", "deployments", "events", "services", "endpointslices"];

/** xorshift32: fast and reproducible; the content only needs to look varied to deflate. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** Object number `i` of the mix: its key, its value (exactly sized) and whether it is incompressible. */
export function kubeObject(i: number, mix: ValueMix, rand: () => number): KubeObject {
  const size = Math.floor(mix.minBytes + rand() * (mix.maxBytes - mix.minBytes));
  const incompressible = rand() < mix.incompressibleShare;
  const resource = incompressible ? "secrets" : RESOURCES[i % RESOURCES.length]!;
  const ns = `ns-${i % 37}`;
  const name = `${resource.slice(0, -1)}-${i.toString(36)}`;
  const head = Buffer.from(
    `{"apiVersion":"v1","kind":"${resource}","metadata":{"name":"${name}","namespace":"${ns}",` +
      `"uid":"${uid(rand)}","resourceVersion":"${i + 1}","labels":{"app":"${name}"}},"data":{"payload":"`,
  );
  const tail = Buffer.from(`"}}`);
  const body = Math.max(0, size - head.length - tail.length);
  const payload = incompressible ? base64Payload(body) : textPayload(body, rand);
  return { key: `/registry/${resource}/${ns}/${name}`, value: Buffer.concat([head, payload, tail]), incompressible };
}

function base64Payload(length: number): Buffer {
  return Buffer.from(
    randomBytes(Math.ceil((length * 3) / 4))
      .toString("base64")
      .slice(0, length),
  );
}

function textPayload(length: number, rand: () => number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  while (at < length) {
    const word = WORD_BUFS[Math.floor(rand() * WORD_BUFS.length)]!;
    at += word.copy(out, at, 0, Math.min(word.length, length - at));
  }
  return out;
}

function uid(rand: () => number): string {
  const hex = () =>
    Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, "0");
  return `${hex()}-${hex().slice(0, 4)}-${hex().slice(0, 4)}-${hex().slice(0, 4)}-${hex()}${hex().slice(0, 4)}`;
}
