// Unit test for render.js's timingText under node: the elapsed time of a running
// prediction never goes back when started_at arrives.
import { test } from "node:test";
import assert from "node:assert/strict";
import { timingText } from "../../web/render.js";

test("the elapsed time counts from created_at, so started_at arriving does not set it back", () => {
  const created = Date.parse("2026-01-01T00:00:00Z");
  const starting = { status: "starting", created_at: "2026-01-01T00:00:00Z", started_at: null };
  const processing = { ...starting, status: "processing", started_at: "2026-01-01T00:00:02.500Z" };
  assert.equal(timingText(starting, created + 3000), "3.00 s");
  assert.equal(timingText(processing, created + 3200), "3.20 s");
  assert.equal(timingText({ ...processing, status: "succeeded", metrics: { predict_time: 1.5, total_time: 4 } }, created + 9000), "ran 1.50 s, total 4.00 s");
});
