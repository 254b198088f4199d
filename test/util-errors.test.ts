/** `describeError`: a message and what each cause adds, every part said once. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeError, RemoteError } from "../src/util/errors.js";

void describe("describeError", () => {
  void it("appends each cause that says something new", () => {
    const root = new Error("connect ECONNREFUSED 127.0.0.2:7443");
    const mid = new Error("request failed", { cause: root });
    assert.equal(
      describeError(new Error("listing node1", { cause: mid })),
      "listing node1: request failed: connect ECONNREFUSED 127.0.0.2:7443",
    );
    assert.equal(describeError("plain text"), "plain text");
    assert.equal(describeError(new Error("", { cause: root })), "connect ECONNREFUSED 127.0.0.2:7443");
  });

  void it("skips a cause whose message is already said, but not what that cause adds", () => {
    const root = new Error("ENOSPC: no space left on device");
    const mid = new Error("write failed", { cause: root });
    const top = new Error("saving: write failed", { cause: mid });
    assert.equal(describeError(top), "saving: write failed: ENOSPC: no space left on device");
  });

  void it("a wrapper that shows its cause in other words is not followed by it", () => {
    const grpc = new Error(
      "14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.3:2379",
    );
    const shown = new RemoteError(
      "etcd member http://127.0.0.3:2379: status failed: connect ECONNREFUSED 127.0.0.3:2379",
      true,
      {
        cause: grpc,
        causeShown: true,
      },
    );
    assert.equal(describeError(shown), shown.message);
    const notShown = new RemoteError("status failed", true, { cause: grpc });
    assert.equal(describeError(notShown), `status failed: ${grpc.message}`);
  });

  void it("ends on a circular chain", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    Object.assign(a, { cause: b });
    assert.equal(describeError(b), "b: a");
  });
});
